"""``python -m agentlab.conformance SCENARIO.json [...]``: print each scenario's event log."""

from __future__ import annotations

import sys

from ._runner import ScenarioError, run_scenario_file


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m agentlab.conformance SCENARIO.json [SCENARIO.json ...]")
        if args:
            print(
                "\nPlay each scenario (the JSON scenario language) on agentlab and print its\n"
                "event log, one event per line, in the format real Erlang/OTP's\n"
                "run_scenario.escript prints, so the two can be diffed. Exit status 2 if a\n"
                "file cannot be read or is not a valid scenario."
            )
        return 0 if args else 2
    status = 0
    for path in args:
        try:
            lines = run_scenario_file(path)
        except (OSError, ScenarioError) as e:
            print(f"{path}: {e}", file=sys.stderr)
            status = 2
            continue
        sys.stdout.write("".join(line + "\n" for line in lines))
    return status


if __name__ == "__main__":
    from agentlab.__main__ import quiet_on_closed_stdout  # `| head` ends it without a traceback

    raise SystemExit(quiet_on_closed_stdout(main))
