"""Run supervision scenarios written in the JSON scenario language on agentlab.

``python -m agentlab.conformance SCENARIO.json`` prints the scenario's event
log in the same normalized format that real Erlang/OTP produces with
``run_scenario.escript`` (one event per line), so the two can be diffed.
:func:`run_scenario` does the same from Python and returns the lines
(:func:`arun_scenario` inside a running event loop, e.g. a notebook).
"""

from ._runner import ScenarioError, arun_scenario, run_scenario, run_scenario_file

__all__ = ["ScenarioError", "arun_scenario", "run_scenario", "run_scenario_file"]
