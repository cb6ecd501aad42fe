"""agentlab: supervised AI agents on an Erlang/OTP-style asyncio runtime.

Start with :class:`Runtime`, :class:`Agent` and :class:`Supervisor`; the
failure rules are in ``help(agentlab.Supervisor)``.
"""

from ._agent import IGNORE, NOREPLY, Agent, Continue, Reply, Stop
from ._clock import Clock, RealClock, VirtualClock
from ._errors import (
    AgentLabError,
    CalleeExited,
    CallError,
    CallTimeout,
    NameTakenError,
    NoProcessError,
    ReceiveTimeout,
    RuntimeStateError,
    StartError,
    SupervisorError,
    TaskError,
)
from ._events import Event, EventBatch, EventKind, EventLog, record_data
from ._process import Process, ProcessExit
from ._reasons import KILL, KILLED, NOPROC, NORMAL, SHUTDOWN, Crash
from ._registry import PubSub, Registry
from ._runtime import Caller, Down, Exit, MonitorRef, Pid, Runtime, TimerRef, current_runtime
from ._supervisor import ChildSpec, DynamicSupervisor, Supervisor
from ._task import Task, TaskSupervisor

__version__ = "0.1.0.dev0"

__all__ = [
    "IGNORE",
    "KILL",
    "KILLED",
    "NOPROC",
    "NOREPLY",
    "NORMAL",
    "SHUTDOWN",
    "Agent",
    "AgentLabError",
    "CallError",
    "CallTimeout",
    "CalleeExited",
    "Caller",
    "ChildSpec",
    "Clock",
    "Continue",
    "Crash",
    "Down",
    "DynamicSupervisor",
    "Event",
    "EventBatch",
    "EventKind",
    "EventLog",
    "Exit",
    "MonitorRef",
    "NameTakenError",
    "NoProcessError",
    "Pid",
    "Process",
    "ProcessExit",
    "PubSub",
    "RealClock",
    "ReceiveTimeout",
    "Registry",
    "Reply",
    "Runtime",
    "RuntimeStateError",
    "StartError",
    "Stop",
    "Supervisor",
    "SupervisorError",
    "Task",
    "TaskError",
    "TaskSupervisor",
    "TimerRef",
    "VirtualClock",
    "current_runtime",
    "record_data",
]
