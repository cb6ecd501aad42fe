"""The compact HTML a run shows in a notebook (``Run._repr_html_``)."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._run import Run

__all__ = ["format_value", "run_html", "with_unit"]

_DASH = "\u2013"  # an en dash: "no value"


def format_value(value: Any) -> str:
    """A number or text for a summary table: seconds get units, NaN shows as a dash."""
    if value is None:
        return _DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return _DASH
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


_UNITS = {"duration": "s", "mttr": "s", "max_time_to_recovery": "s", "call_latency_p50": "s",
          "call_latency_p99": "s", "llm_latency_mean": "s", "ttft_mean": "s", "cost_usd": "USD"}


def with_unit(key: str, value: Any) -> str:
    """A summary value (``key`` says which) as text with its unit: ``"0.25 s"``."""
    text = format_value(value)
    unit = _UNITS.get(key, "")
    return f"{text} {unit}" if unit and text != _DASH else text


def run_html(run: Run) -> str:
    """A two-column table of the run's headline numbers (a warning first if events
    were dropped)."""
    s = run.summary()
    rows = []
    for key, value in s.items():
        if key in ("run_id",):
            continue
        text = with_unit(key, value)
        style = ' style="color:#d62728;font-weight:bold"' if key == "dropped" and value else ""
        rows.append(
            f"<tr><td style='text-align:left'>{html.escape(key)}</td>"
            f"<td style='text-align:right'{style}>{html.escape(text)}</td></tr>"
        )
    warn = ""
    if s.get("dropped"):
        warn = (
            f"<div style='color:#d62728'>{s['dropped']:,} events were dropped: tables may miss "
            "starts and ends. Raise the recorder's capacity or use overflow='spill'.</div>"
        )
    return (
        f"<div><b>agentlab run {html.escape(str(s['run_id']))}</b>{warn}"
        "<table style='font-size:90%'>" + "".join(rows) + "</table></div>"
    )
