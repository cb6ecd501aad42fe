#!/usr/bin/env python3
"""Run every system x workload as a fresh process, round-robin, and print a Markdown table.

Usage
    python benchmarks/run_all.py [--rounds R] [--quick] [--systems a,b] [--workloads x,y]
                                 [--jsonl FILE]

Systems: ``beam`` (``escript benchmarks/beam/bench.escript``, one scheduler: BEAM S1;
skipped when ``escript``/``erl`` is missing), ``asyncio`` (``baseline_asyncio.py``, the
idiomatic Task-per-process design) and ``agentlab`` (``bench_runtime.py``, default
settings: lifecycle and message events on). Restart workloads need
``agentlab.Supervisor``. Every round runs each (workload, system) once, so a burst of
machine noise hits all systems alike (the method of /work/shared/perf/RESULTS.md).

Each cell is the median over rounds with the min-max in parentheses. Ratios compare
medians: ``agentlab / BEAM S1`` and ``agentlab / asyncio``; for rates higher is
better, for bytes and microseconds lower is better. agentlab-only figures (tracing
cost, the event log's share of memory, the 1M spawn) follow the main table.

``--jsonl FILE`` appends every raw result (one JSON object a line).
``--agentlab-trace lifecycle`` runs agentlab with message-level events off (lifecycle
events stay on), the setting the performance targets are stated for.

``--overheads`` adds two agentlab variants to every round, interleaved with the rest:
``agentlab-untraced`` (``--trace=off``: no events at all, a measurement device) and
``agentlab-recorded`` (an ``agentlab.trace.Recorder`` attached, ``--record``), and prints
a second table: what the events cost on each workload (agentlab against
agentlab-untraced) and what a recorder adds on top (agentlab-recorded against agentlab).
Both are stated as the slowdown, the time (or bytes) with over without: 1.00x is free.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# workload -> N per system (None: not run for that system)
FULL: dict[str, dict[str, int | None]] = {
    "idle_memory": {"beam": 100_000, "asyncio": 100_000, "agentlab": 100_000},
    "spawn": {"beam": 1_000_000, "asyncio": 100_000, "agentlab": 1_000_000},
    "send": {"beam": 1_000_000, "asyncio": 1_000_000, "agentlab": 1_000_000},
    "ping_pong": {"beam": 200_000, "asyncio": 200_000, "agentlab": 200_000},
    "call": {"beam": 200_000, "asyncio": 200_000, "agentlab": 200_000},
    "restart_latency": {"beam": 1000, "asyncio": 1000, "agentlab": 1000},
    "restart_throughput": {"beam": 20_000, "asyncio": 20_000, "agentlab": 20_000},
    "tracing": {"beam": None, "asyncio": None, "agentlab": 200_000},
}
QUICK_DIV = 10  # --quick: every N divided by this

SYSTEMS = ("beam", "asyncio", "agentlab")
LABEL = {"beam": "BEAM S1", "asyncio": "idiomatic asyncio", "agentlab": "agentlab"}
# --overheads: agentlab with no events at all, and with a trace recorder attached
VARIANTS = ("agentlab-untraced", "agentlab-recorded")


def command(system: str, workload: str, n: int) -> list[str]:
    if system == "beam":
        return ["escript", str(HERE / "beam" / "bench.escript"), workload, str(n)]
    if system == "asyncio":
        return [sys.executable, str(HERE / "baseline_asyncio.py"), workload, str(n)]
    trace = "off" if system == "agentlab-untraced" else AGENTLAB_TRACE
    extra = [f"--trace={trace}"] if trace else []
    if system == "agentlab-recorded":
        extra.append("--record")
    return [sys.executable, str(HERE / "bench_runtime.py"), workload, str(n), *extra]


AGENTLAB_TRACE: str | None = None  # set by --agentlab-trace


def have_beam() -> bool:
    return shutil.which("escript") is not None and shutil.which("erl") is not None


def have_supervisor() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", "import agentlab; agentlab.Supervisor"],
        cwd=HERE.parent,
        capture_output=True,
    )
    return probe.returncode == 0


def run_one(system: str, workload: str, n: int, timeout: float) -> dict[str, Any] | None:
    cmd = command(system, workload, n)
    t0 = time.monotonic()
    try:
        out = subprocess.run(
            cmd, cwd=HERE.parent, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        print(f"  {system} {workload} {n}: timed out after {timeout:.0f} s", file=sys.stderr)
        return None
    if out.returncode != 0:
        err = out.stderr.strip().splitlines()[-1:] or ["?"]
        print(f"  {system} {workload} {n}: exit {out.returncode}: {err[0]}", file=sys.stderr)
        return None
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1])
    result["wall_seconds"] = time.monotonic() - t0
    print(
        f"  {system:8s} {workload:18s} n={n:<8d} {fmt(result['value'], result['unit']):>12s}"
        f"  ({result['wall_seconds']:.1f} s)",
        file=sys.stderr,
    )
    return result


# ---------------------------------------------------------------------------- formatting


def fmt(v: float, unit: str) -> str:
    if unit.endswith("/s"):
        if v >= 1e6:
            return f"{v / 1e6:.2f}M"
        if v >= 1e3:
            return f"{v / 1e3:.1f}k"
        return f"{v:.0f}"
    if unit == "bytes/process":
        return f"{v:,.0f} B"
    if unit == "us":
        return f"{v:.1f} µs"
    if unit == "ratio":
        return f"{v:.2f}x"
    return f"{v:.3g}"


def cell(results: list[dict[str, Any]]) -> str:
    if not results:
        return "-"
    vals = [r["value"] for r in results]
    unit = results[0]["unit"]
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt(med, unit)
    return f"{fmt(med, unit)} ({fmt(min(vals), unit)}-{fmt(max(vals), unit)})"


def ratio(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> str:
    if not a or not b:
        return "-"
    ma = statistics.median(r["value"] for r in a)
    mb = statistics.median(r["value"] for r in b)
    if mb == 0:
        return "-"
    return f"{ma / mb:.2f}x"


def unit_note(unit: str) -> str:
    if unit.endswith("/s"):
        return f"{unit}, higher is better"
    return f"{unit}, lower is better"


def table(res: dict[tuple[str, str], list[dict[str, Any]]], workloads: list[str]) -> str:
    head = (
        "| workload | BEAM S1 | idiomatic asyncio | agentlab | agentlab / BEAM S1 "
        "| agentlab / asyncio |\n|---|---|---|---|---|---|"
    )
    rows = [head]
    for w in workloads:
        if w == "tracing":
            continue
        cells = {s: res.get((s, w), []) for s in SYSTEMS}
        any_r = next((r for rs in cells.values() for r in rs), None)
        if any_r is None:
            continue
        ns = "/".join(
            sorted({f"{r['n']:,}" for rs in cells.values() for r in rs}, key=len)
        )
        rows.append(
            f"| {w} (n={ns}; {unit_note(any_r['unit'])}) | {cell(cells['beam'])} "
            f"| {cell(cells['asyncio'])} | {cell(cells['agentlab'])} "
            f"| {ratio(cells['agentlab'], cells['beam'])} "
            f"| {ratio(cells['agentlab'], cells['asyncio'])} |"
        )
    return "\n".join(rows)


def slowdown(with_: list[dict[str, Any]], without: list[dict[str, Any]]) -> str:
    """How much slower (or bigger) ``with_`` is than ``without``: medians, and the
    range of the per-round ratios (each round ran both back to back)."""
    if not with_ or not without:
        return "-"
    unit = with_[0]["unit"]
    higher_better = unit.endswith("/s")

    def cost(a: float, b: float) -> float:
        return b / a if higher_better else a / b

    med = cost(statistics.median(r["value"] for r in with_), statistics.median(r["value"] for r in without))
    per_round = {r["round"]: r["value"] for r in without}
    rounds = [cost(r["value"], per_round[r["round"]]) for r in with_ if r["round"] in per_round]
    if len(rounds) > 1:
        return f"{med:.2f}x ({min(rounds):.2f}-{max(rounds):.2f})"
    return f"{med:.2f}x"


def overhead_table(res: dict[tuple[str, str], list[dict[str, Any]]], workloads: list[str]) -> str:
    rows = [
        "| workload | agentlab, no events | agentlab | events cost | agentlab + recorder "
        "| recorder cost |\n|---|---|---|---|---|---|"
    ]
    for w in workloads:
        base = res.get(("agentlab", w), [])
        off = res.get(("agentlab-untraced", w), [])
        rec = res.get(("agentlab-recorded", w), [])
        if w == "tracing" or not base:
            continue
        rows.append(
            f"| {w} (n={base[0]['n']:,}; {unit_note(base[0]['unit'])}) | {cell(off)} | {cell(base)} "
            f"| {slowdown(base, off)} | {cell(rec)} | {slowdown(rec, base)} |"
        )
    return "\n".join(rows)


def med_extra(rs: list[dict[str, Any]], key: str) -> float | None:
    vals = [r["extra"].get(key) for r in rs if r["extra"].get(key) is not None]
    return statistics.median(vals) if vals else None


def agentlab_notes(res: dict[tuple[str, str], list[dict[str, Any]]]) -> str:
    lines = []
    mem = res.get(("agentlab", "idle_memory"), [])
    if mem:
        lines.append(
            f"- idle agent: {med_extra(mem, 'with_event_log_bytes'):,.0f} B with the event "
            f"log's share, RSS {med_extra(mem, 'rss_bytes_per_process'):,.0f} B/agent"
        )
    sp = res.get(("agentlab", "spawn"), [])
    if sp:
        n = sp[0]["n"]
        lines.append(
            f"- spawn {n:,} agents: {med_extra(sp, 'total_seconds'):.2f} s, "
            f"RSS +{med_extra(sp, 'total_memory_bytes') / 2**20:,.0f} MiB"
        )
    tr = res.get(("agentlab", "tracing"), [])
    if tr:
        for key, text in (
            ("ping_pong_lifecycle_vs_off", "ping-pong, lifecycle events only vs all off"),
            ("ping_pong_default_vs_off", "ping-pong, message events on vs all off"),
            ("spawn_exit_lifecycle_vs_off", "spawn+exit, lifecycle events vs all off"),
        ):
            vals = [r["extra"][key] for r in tr]
            lines.append(
                f"- tracing cost, {text}: {statistics.median(vals):.2f}x "
                f"({min(vals):.2f}-{max(vals):.2f})"
            )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help=f"every N divided by {QUICK_DIV}")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--workloads", default=",".join(FULL))
    ap.add_argument("--timeout", type=float, default=600.0, help="per run, seconds")
    ap.add_argument("--jsonl", type=Path, default=None)
    ap.add_argument(
        "--agentlab-trace",
        choices=("default", "lifecycle", "off"),
        default=None,
        help="agentlab's tracing (the targets are stated for lifecycle events only)",
    )
    ap.add_argument(
        "--overheads",
        action="store_true",
        help="also run agentlab with no events and with a recorder; print what each costs",
    )
    args = ap.parse_args(argv)
    global AGENTLAB_TRACE
    AGENTLAB_TRACE = args.agentlab_trace

    systems = [s for s in args.systems.split(",") if s]
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = [w for w in workloads if w not in FULL] + [s for s in systems if s not in SYSTEMS]
    if args.overheads:
        if "agentlab" not in systems:
            ap.error("--overheads compares agentlab's variants with agentlab: keep agentlab in --systems")
        systems += list(VARIANTS)
    if unknown:
        ap.error(f"unknown: {unknown}")
    if "beam" in systems and not have_beam():
        print("escript/erl not found: skipping BEAM", file=sys.stderr)
        systems.remove("beam")
    if not have_supervisor():
        print("agentlab.Supervisor missing: skipping restart workloads", file=sys.stderr)
        workloads = [w for w in workloads if not w.startswith("restart")]

    plan = []
    for w in workloads:
        for s in systems:
            n = FULL[w]["agentlab" if s in VARIANTS else s]
            if n is None or (s in VARIANTS and w == "tracing"):
                continue
            if args.quick:
                n = max(1, n // QUICK_DIV)
            plan.append((s, w, n))

    res: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
        for s, w, n in plan:
            out = run_one(s, w, n, args.timeout)
            if out is None:
                continue
            out["round"] = r
            res.setdefault((s, w), []).append(out)
            if args.jsonl is not None:
                with args.jsonl.open("a") as f:
                    f.write(json.dumps(out) + "\n")

    print(f"Median (min-max) of {args.rounds} round(s), each run a fresh process.\n")
    print(table(res, workloads))
    if args.overheads:
        print("\nWhat agentlab's events and a recorder cost, per workload (slowdown, 1.00x is free):\n")
        print(overhead_table(res, workloads))
    notes = agentlab_notes(res)
    if notes:
        print("\nagentlab only:\n")
        print(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
