"""Every run is data: record the runtime's events, then ask pandas.

::

    import agentlab
    from agentlab import trace

    rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
    rec = trace.Recorder(rt)                # subscribes to the event stream
    ...                                     # start supervisors, crash things
    run = rec.stop()

    run.processes()                         # one row per process lifetime
    run.restarts()                          # who, why, strategy, time to recovery
    run.messages()                          # sends and calls joined to receives/replies
    run.llm_calls(), run.tool_calls()       # one row per request attempt / tool call
    run.mttr(), run.availability(), run.intensity_headroom()
    run.plot_timeline()                     # swimlanes with crash marks and restart links
    run.save("run.parquet"); trace.load("run.parquet")
    trace.compare(run_a, run_b)             # two runs side by side

The columns and dtypes of each table are documented with the function that
builds it (``help(trace.processes)``). Needs ``pip install "agentlab[trace]"``
(pandas, pyarrow, matplotlib); the runtime itself never imports them.
"""

from .._extras import require

# first: if the extra is missing, the error names it
require("agentlab.trace", "trace", ("numpy", "pandas", "pyarrow", "matplotlib"))

from ._analysis import (
    availability,
    compare,
    intensity_headroom,
    llm_usage,
    message_latency,
    mttr,
    restart_rate,
    summary,
)
from ._files import TraceFormatError, load, load_all, save
from ._frame import expand_data
from ._llm import llm_calls, tool_calls
from ._messages import messages
from ._plots import plot_restarts, plot_timeline, plot_tokens
from ._recorder import Recorder
from ._run import Run, RunInfo
from ._schema import FORMAT_VERSION
from ._tables import processes, restarts

__all__ = [
    "FORMAT_VERSION",
    "Recorder",
    "Run",
    "RunInfo",
    "TraceFormatError",
    "availability",
    "compare",
    "expand_data",
    "intensity_headroom",
    "llm_calls",
    "llm_usage",
    "load",
    "load_all",
    "message_latency",
    "messages",
    "mttr",
    "plot_restarts",
    "plot_timeline",
    "plot_tokens",
    "processes",
    "restart_rate",
    "restarts",
    "save",
    "summary",
    "tool_calls",
]
