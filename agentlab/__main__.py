"""``python -m agentlab``: the command line.

::

    python -m agentlab demo [--seed N] [--out DIR] [--real] [--quiet]  # a supervised team, offline
    python -m agentlab chat --provider scripted "Hello"                 # one prompt to one model
    python -m agentlab trace summary runs/                              # look at recorded runs

Each subcommand is a ``main(argv) -> int`` elsewhere in the package; this
module only dispatches (and imports nothing heavy until a command is chosen).
Output piped into a reader that stops early (``python -m agentlab demo | head -1``)
ends the command quietly with status 1, as the Python docs advise for SIGPIPE,
not with a ``BrokenPipeError`` traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

__all__ = ["main"]

USAGE = """usage: python -m agentlab <command> [options]

commands:
  demo    run a supervised research team on scripted models with seeded faults
  chat    send one prompt to a model (scripted, openai, anthropic, gemini)
  trace   summarise or plot recorded runs (needs agentlab[trace])

'python -m agentlab <command> --help' shows a command's options.
"""


def _demo() -> Callable[[Sequence[str]], int]:
    from agentlab.agents._demo import main

    return main


def _chat() -> Callable[[Sequence[str]], int]:
    from agentlab.llm._cli import main

    return main


def _trace() -> Callable[[Sequence[str]], int]:
    from agentlab.trace._cli import main

    return main


COMMANDS: dict[str, Callable[[], Callable[[Sequence[str]], int]]] = {
    "chat": _chat,
    "demo": _demo,
    "trace": _trace,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the exit status (2 for bad usage, 1 if the
    reader of stdout went away)."""
    return quiet_on_closed_stdout(lambda: _dispatch(argv))


def quiet_on_closed_stdout(run: Callable[[], int]) -> int:
    """``run()``'s exit status, or 1 without a traceback if stdout's reader went away.

    What the Python docs advise (signal module, "Note on SIGPIPE"): catch
    :class:`BrokenPipeError` at the top, and point stdout at ``os.devnull`` so
    that Python's own flush at exit does not fail again. Every command line entry
    point (``python -m agentlab ...``, the ``agentlab`` script,
    ``python -m agentlab.conformance``) runs through here.
    """
    try:
        status = run()
        sys.stdout.flush()  # what is still buffered fails here, not at exit
    except BrokenPipeError:
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):  # a stand-in stdout, or closed
            return 1
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
        return 1
    return status


def _dispatch(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    loader = COMMANDS.get(command)
    if loader is None:
        print(f"agentlab: unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
        return 2
    try:
        run = loader()
    except ImportError as e:
        # agentlab.trace's message names its extra; anything else is a broken install
        message = str(e) if "agentlab[" in str(e) else (
            f'a dependency is missing ({e.name or e}): pip install "agentlab[all]"')
        print(f"agentlab {command}: {message}", file=sys.stderr)
        return 1
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
