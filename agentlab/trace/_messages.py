"""Messages: each send, cast and call, joined to what happened to it.

``messages(events)`` has one row per ``send``, ``cast`` or ``call`` event:

==================  ========  ======================================================
column              dtype     meaning
==================  ========  ======================================================
``seq``, ``time``   int64,    the send/cast/call event
                    float64
``kind``            category  ``info`` (a raw ``send``), ``cast`` or ``call``
``sender``          int64     the event's pid (0: code outside any process)
``sender_name``     category  the event's name
``receiver``        Int64     the event's peer (NA: a cast to a name nobody held)
``receiver_name``   category  the receiver's name, from its ``spawn``/``exit`` events
``received``        float64   when the receiver took it out of its mailbox (the
                              matching ``receive`` event)
``queue_delay``     float64   ``received - time``
``handling_time``   float64   ``receive`` to the receiver's next ``receive``, when the
                              next message was already waiting; else, for a call
                              answered before the receiver took another message,
                              ``receive`` to the ``reply``; else NaN (the process
                              may have sat idle in between)
``replied``         float64   calls: when the caller got its answer (``reply``),
                              gave up (``call_timeout``) or the callee exited
``latency``         float64   calls: ``replied - time`` (queue delay and handling)
``outcome``         category  calls: ``reply``, ``timeout``, ``callee_exited``,
                              ``pending``; sends and casts: ``received``,
                              ``unread`` (the receiver exited before taking it),
                              ``dead`` (receiver not alive when it was sent),
                              ``pending`` (still in a live receiver's mailbox),
                              ``delivered`` (to a process that never takes mail
                              with a ``receive`` event, so no more is known)
==================  ========  ======================================================

What the events allow, and the approximations made:

* The runtime gives calls no reference, so replies and timeouts are matched to
  calls in order per (caller, callee) pair. A process makes one call at a time,
  so this is exact for process callers; concurrent calls from outside code to
  one callee answered out of order (``NOREPLY``) may be paired crosswise.
* ``receive`` events (an agent taking a message to handle it, or
  ``proc.receive()`` in a body process) carry no sender, so they are matched
  in order with everything delivered to that process (sends, casts, calls,
  timer messages, trapped exit signals, DOWN messages). A receive when none of
  those waits took a message put in the mailbox without an event (a
  supervisor's retry after a failed start, a stop request) and is skipped. A
  selective receive (``match=``) that skips a message makes the following
  pairs approximate.
* With sampled message tracing (``trace_messages=0.1``) nothing can be paired:
  only the send-side columns are filled.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._tables import as_events, category, of_kind, trim

__all__ = ["MESSAGE_COLUMNS", "messages"]

MESSAGE_COLUMNS = (
    "seq",
    "time",
    "kind",
    "sender",
    "sender_name",
    "receiver",
    "receiver_name",
    "received",
    "queue_delay",
    "handling_time",
    "replied",
    "latency",
    "outcome",
)

_KIND = {"send": "info", "cast": "cast", "call": "call"}


def messages(events: Any, *, sampled: bool | None = None) -> pd.DataFrame:
    """One row per send, cast and call (columns and caveats in this module's docstring),
    from a run or its events DataFrame. ``sampled`` (default: from the run's info)
    says message tracing was sampled, so nothing is paired."""
    if sampled is None:
        rate = getattr(getattr(events, "info", None), "trace_messages", None)
        sampled = rate is not None and 0 < rate < 1
    events = as_events(events)
    msg = of_kind(events, "send", "cast", "call")
    n = len(msg)
    seq = msg["seq"].to_numpy(np.int64)
    time = msg["time"].to_numpy(np.float64)
    kind = np.array([_KIND[k] for k in msg["kind"].astype(object)], dtype=object)
    sender = msg["pid"].to_numpy(np.int64)
    receiver = msg["peer"].to_numpy(np.float64, na_value=np.nan)

    ident = of_kind(events, "spawn", "exit").drop_duplicates("pid")
    name_of = pd.Series(ident["name"].to_numpy(object), index=ident["pid"].to_numpy(np.int64))
    exit_rows = of_kind(events, "exit").drop_duplicates("pid")
    exit_seq = pd.Series(exit_rows["seq"].to_numpy(np.int64), index=exit_rows["pid"].to_numpy(np.int64))
    exit_time = pd.Series(exit_rows["time"].to_numpy(np.float64), index=exit_rows["pid"].to_numpy(np.int64))
    recv_key = np.nan_to_num(receiver, nan=-1).astype(np.int64)
    receiver_name = name_of.reindex(recv_key).to_numpy(object)

    received = np.full(n, np.nan)
    handling = np.full(n, np.nan)
    next_take = np.full(n, np.nan)
    replied = np.full(n, np.nan)
    outcome = np.full(n, None, dtype=object)
    receivers: set[int] = set()
    if not sampled:
        receivers = _match_receives(events, msg, received, handling, next_take)
        reply_seq = _match_calls(events, msg, replied, outcome, exit_seq, exit_time)
        # a call the receiver answered before it took another message: the reply
        # ends its handling (one answered later was put off: NOREPLY)
        answered = (outcome == "reply") & np.isnan(handling) & (replied >= received)
        answered &= ~(reply_seq > next_take)
        handling[answered] = replied[answered] - received[answered]

    # sends and casts: what became of them
    dead_at = exit_seq.reindex(recv_key).to_numpy(np.float64)
    is_call = kind == "call"
    dead = np.isnan(receiver) | (~np.isnan(dead_at) & (dead_at < seq))
    has_recv = np.isin(recv_key, np.fromiter(receivers, np.int64, len(receivers)))
    if not sampled:
        plain = ~is_call
        waits = plain & ~dead & has_recv & np.isnan(received)
        gone_later = ~np.isnan(dead_at) & (dead_at > seq)
        outcome[plain & dead] = "dead"
        outcome[plain & ~dead & has_recv & ~np.isnan(received)] = "received"
        outcome[waits & gone_later] = "unread"
        outcome[waits & ~gone_later] = "pending"
        outcome[plain & ~dead & ~has_recv] = "delivered"

    frame = pd.DataFrame(
        {
            "seq": seq,
            "time": time,
            "kind": category(kind),
            "sender": sender,
            "sender_name": trim(msg["name"]).array,
            "receiver": pd.array(msg["peer"].array, dtype="Int64"),
            "receiver_name": category(receiver_name),
            "received": received,
            "queue_delay": received - time,
            "handling_time": handling,
            "replied": replied,
            "latency": replied - time,
            "outcome": category(outcome),
        }
    )
    return frame


def _match_calls(
    events: pd.DataFrame,
    msg: pd.DataFrame,
    replied: np.ndarray,
    outcome: np.ndarray,
    exit_seq: pd.Series,
    exit_time: pd.Series,
) -> np.ndarray:
    """Fill in when each call was answered and how; returns the seq of each call's
    ``reply`` event (NaN: none)."""
    reply_seq = np.full(len(msg), np.nan)
    calls_mask = (msg["kind"] == "call").to_numpy()
    if not calls_mask.any():
        return reply_seq
    calls = msg[calls_mask]
    rows = np.flatnonzero(calls_mask)
    left = pd.DataFrame(
        {
            "row": rows,
            "caller": calls["pid"].to_numpy(np.int64),
            "callee": calls["peer"].fillna(-1).to_numpy(np.int64),
        }
    )
    left["rank"] = left.groupby(["caller", "callee"]).cumcount()
    rep = of_kind(events, "reply")
    tmo = of_kind(events, "call_timeout")
    terms = pd.DataFrame(
        {
            "seq": np.concatenate([rep["seq"].to_numpy(np.int64), tmo["seq"].to_numpy(np.int64)]),
            "caller": np.concatenate(
                [rep["peer"].fillna(0).to_numpy(np.int64), tmo["pid"].to_numpy(np.int64)]
            ),
            "callee": np.concatenate(
                [rep["pid"].to_numpy(np.int64), tmo["peer"].fillna(-1).to_numpy(np.int64)]
            ),
            "t": np.concatenate([rep["time"].to_numpy(np.float64), tmo["time"].to_numpy(np.float64)]),
            "what": np.array(["reply"] * len(rep) + ["timeout"] * len(tmo), dtype=object),
        }
    ).sort_values("seq", kind="stable")
    terms["rank"] = terms.groupby(["caller", "callee"]).cumcount()
    joined = left.merge(terms, on=["caller", "callee", "rank"], how="left")
    r = joined["row"].to_numpy(np.int64)
    t = joined["t"].to_numpy(np.float64)
    what = joined["what"].to_numpy(object)
    matched = ~np.isnan(t)
    replied[r[matched]] = t[matched]
    outcome[r[matched]] = what[matched]
    is_reply = matched & (what == "reply")
    reply_seq[r[is_reply]] = joined["seq"].to_numpy(np.float64)[is_reply]
    # unmatched: the callee exited after the call (its caller got CalleeExited), or still pending
    callee = joined["callee"].to_numpy(np.int64)
    call_seq = calls["seq"].to_numpy(np.int64)[np.searchsorted(rows, r)]
    gone = exit_seq.reindex(callee).to_numpy(np.float64)
    gone_t = exit_time.reindex(callee).to_numpy(np.float64)
    exited = ~matched & ~np.isnan(gone) & (gone > call_seq)
    replied[r[exited]] = gone_t[exited]
    outcome[r[exited]] = "callee_exited"
    outcome[r[~matched & ~exited]] = "pending"
    return reply_seq


def _match_receives(
    events: pd.DataFrame,
    msg: pd.DataFrame,
    received: np.ndarray,
    handling: np.ndarray,
    next_take: np.ndarray,
) -> set[int]:
    """Pair each process's ``receive`` events with what was delivered to it, in order
    (filling, per message, when it was received, its handling time when the next
    message was waiting, and the seq of the receive that took the receiver's next one).

    A mailbox is first in, first out: the k-th receive takes the k-th message,
    except that some messages are put in a mailbox without an event of their own
    (a supervisor's retry after a failed start, a stop request). A receive when
    no traced message waits took one of those: it is skipped, so no message is
    ever received before it was sent. Per process, with ``S`` the running count
    of receives minus deliveries, the receives skipped so far are the running
    maximum of ``max(S, 0)``: a receive is skipped when it raises that maximum.
    """
    recv = of_kind(events, "receive")
    if recv.empty:
        return set()
    procs = np.unique(recv["pid"].to_numpy(np.int64))
    # everything delivered to those processes, with an event
    msg_to = msg["peer"].fillna(-1).to_numpy(np.int64)
    in_msg = np.isin(msg_to, procs)
    extra = of_kind(events, "timer_fire", "down", "exit_signal")
    extra = extra[extra["pid"].isin(procs)]
    trapped = (extra["kind"] != "exit_signal").to_numpy() | (
        extra["data"].fillna("").str.contains('"trapped":true', regex=False).to_numpy(bool)
    )
    extra = extra[trapped]
    n_in, n_extra, n_recv = int(in_msg.sum()), len(extra), len(recv)
    flow = pd.DataFrame(
        {
            "seq": np.concatenate(
                [msg["seq"].to_numpy(np.int64)[in_msg], extra["seq"].to_numpy(np.int64),
                 recv["seq"].to_numpy(np.int64)]
            ),
            "pid": np.concatenate(
                [msg_to[in_msg], extra["pid"].to_numpy(np.int64), recv["pid"].to_numpy(np.int64)]
            ),
            "row": np.concatenate(
                [np.flatnonzero(in_msg), np.full(n_extra + n_recv, -1)]
            ),
            "step": np.concatenate([np.full(n_in + n_extra, -1), np.ones(n_recv, np.int64)]),
            "t": np.concatenate(
                [np.full(n_in + n_extra, np.nan), recv["time"].to_numpy(np.float64)]
            ),
        }
    ).sort_values(["pid", "seq"], kind="stable", ignore_index=True)
    by_pid = flow.groupby("pid", sort=False)
    balance = by_pid["step"].cumsum().to_numpy(np.int64)  # receives minus deliveries
    skips = pd.Series(np.maximum(balance, 0)).groupby(flow["pid"].to_numpy()).cummax()
    skips_np = skips.to_numpy(np.int64)
    before = skips.groupby(flow["pid"].to_numpy()).shift(1, fill_value=0).to_numpy(np.int64)
    is_take = flow["step"].to_numpy(np.int64) > 0
    taken = is_take & (skips_np == before)  # took a traced message
    waiting = skips_np - balance  # traced messages still in the mailbox after each event
    # handling: this receive to the process's next receive, if a message was waiting
    takes = flow[is_take]
    by_proc = takes.groupby("pid", sort=False)
    next_t = by_proc["t"].shift(-1).to_numpy(np.float64)
    next_seq = by_proc["seq"].shift(-1).to_numpy(np.float64)
    take_t = takes["t"].to_numpy(np.float64)
    busy = waiting[is_take] > 0
    h_of_take = np.where(busy, next_t - take_t, np.nan)
    delivered = flow[~is_take]
    left = pd.DataFrame(
        {
            "pid": delivered["pid"].to_numpy(np.int64),
            "row": delivered["row"].to_numpy(np.int64),
        }
    )
    left["rank"] = left.groupby("pid", sort=False).cumcount()
    mine = taken[is_take]
    right = pd.DataFrame(
        {
            "pid": takes["pid"].to_numpy(np.int64)[mine],
            "rtime": take_t[mine],
            "h": h_of_take[mine],
            "next": next_seq[mine],
        }
    )
    right["rank"] = right.groupby("pid", sort=False).cumcount()
    merged = left.merge(right, on=["pid", "rank"], how="inner")
    rows = merged["row"].to_numpy(np.int64)
    ok = rows >= 0
    received[rows[ok]] = merged["rtime"].to_numpy(np.float64)[ok]
    handling[rows[ok]] = merged["h"].to_numpy(np.float64)[ok]
    next_take[rows[ok]] = merged["next"].to_numpy(np.float64)[ok]
    return {int(p) for p in procs}
