"""``agentlab trace``: look at recorded runs from a shell.

::

    agentlab trace summary runs/flaky.parquet          # headline numbers
    agentlab trace summary runs/                       # every run in a folder, side by side
    agentlab trace plot runs/flaky.parquet -o timeline.png
    agentlab trace plot runs/flaky.parquet --kind restarts -o restarts.png

``summary`` prints one column per run, named by its file (``flaky`` for
``runs/flaky.parquet``), seconds marked ``s``; a file in the list or folder that
is not a trace is named on stderr and skipped, and the others are still shown.

``main(argv)`` takes the arguments after ``trace`` and returns the exit status
(0 ok, 1 a file could not be read, 2 bad usage).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from ._run import Run

__all__ = ["main"]

_PLOTS = ("timeline", "restarts", "tokens")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentlab trace", description="Summarise and plot recorded agentlab runs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="print the headline numbers of one or more runs")
    s.add_argument("runs", nargs="+", help="trace files (.parquet) or folders of them")
    p = sub.add_parser("plot", help="draw a run to an image file")
    p.add_argument("run", help="a trace file (.parquet), or the folder of one run")
    p.add_argument("-o", "--output", default=None, help="image file to write (default: <run>.<kind>.png)")
    p.add_argument("--kind", choices=_PLOTS, default="timeline", help="which plot (default: timeline)")
    p.add_argument("--max-lanes", type=_positive, default=40,
                   help="timeline lanes before aggregating (default: 40)")
    p.add_argument("--dpi", type=_positive, default=120, help="image resolution (default: 120)")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive (give 1 or more)")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``trace`` command with ``argv`` (default: ``sys.argv[1:]``)."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["trace"]:
        args_in = args_in[1:]
    parser = _parser()
    try:
        args = parser.parse_args(args_in)
    except SystemExit as e:  # argparse printed the usage
        return int(e.code or 0)
    from ._files import TraceFormatError

    try:
        if args.command == "summary":
            return _summary(args.runs)
        return _plot(args)
    except (TraceFormatError, FileNotFoundError) as e:
        print(f"agentlab trace: {e}", file=sys.stderr)
        return 1


def _summary(paths: list[str]) -> int:
    """Print the runs' summaries side by side, one column per run (named by its
    file); files that are not traces are reported and skipped (status 1)."""
    from ._analysis import compare
    from ._files import gather

    runs, problems = gather(paths)
    for problem in problems:
        print(f"agentlab trace: skipped {problem}", file=sys.stderr)
    if not runs:
        if not problems:
            print("agentlab trace: no runs (.parquet files) found in " + ", ".join(paths),
                  file=sys.stderr)
        return 1
    table = compare(*(run for run, _ in runs), names=_labels(runs))
    print(_as_text(table))
    for run, _ in runs:
        if run.info.dropped:
            print(f"warning: run {run.run_id} dropped {run.info.dropped:,} events", file=sys.stderr)
    return 1 if problems else 0


def _labels(runs: list[tuple[Run, list[Path]]]) -> list[str]:
    """A column name per run: its file's name without ``.parquet`` (the run id for a
    run in several files); the whole path where two files have the same name."""
    stems = [files[0].stem if len(files) == 1 else run.run_id for run, files in runs]
    return [
        str(files[0]) if len(files) == 1 and stems.count(stem) > 1 else stem
        for stem, (_, files) in zip(stems, runs, strict=True)
    ]


def _as_text(table: pd.DataFrame) -> str:
    """The summary table as text: values as the notebook shows them (seconds with
    their unit, thousands separated, a dash for none), metric names on the left."""
    import pandas as pd

    from ._html import with_unit

    shown = pd.DataFrame(
        {col: [with_unit(key, v) for key, v in table[col].items()] for col in table.columns},
        index=table.index.rename(None),  # no "metric" line above the rows
    )
    return shown.to_string()


def _output(args: argparse.Namespace) -> Path | None:
    """The image file to write: ``-o`` (a format matplotlib writes; ``.png`` added
    when it has no suffix) or ``<run>.<kind>.png``. ``None`` after printing why not."""
    if not args.output:
        return Path(args.run).with_suffix(f".{args.kind}.png")
    out = Path(args.output)
    if out.is_dir():
        print(
            f"agentlab trace plot: {out} is a folder; give a file name, such as "
            f"{out / (args.kind + '.png')}",
            file=sys.stderr,
        )
        return None
    if not out.suffix:
        return out.with_suffix(".png")
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    if out.suffix[1:].lower() not in formats:
        print(
            f"agentlab trace plot: cannot write a {out.suffix} image; use one of "
            + ", ".join("." + f for f in sorted(formats)),
            file=sys.stderr,
        )
        return None
    return out


def _plot(args: argparse.Namespace) -> int:
    from ._files import load
    from ._plots import plot_restarts, plot_timeline, plot_tokens

    out = _output(args)
    if out is None:
        return 2
    if Path(args.run).is_dir():
        from ._files import gather

        found, problems = gather(args.run)
        if len(found) > 1:
            names = ", ".join(str(f) for _, files in found for f in files[:1])
            print(
                f"agentlab trace plot: {args.run} holds {len(found)} runs; plot one of them: "
                f"{names}",
                file=sys.stderr,
            )
            return 2
        # one run, all read: what load() gives; else load() says what is wrong
        run = found[0][0] if found and not problems else load(args.run)
    else:
        run = load(args.run)
    if args.kind == "timeline":
        fig = plot_timeline(run, max_lanes=args.max_lanes)
    elif args.kind == "restarts":
        fig = plot_restarts(run)
    else:
        fig = plot_tokens(run)
    try:
        fig.savefig(out, dpi=args.dpi)
    except OSError as e:
        print(f"agentlab trace plot: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0
