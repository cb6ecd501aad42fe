"""Helpers for the view-model and pump tests (no kernel, no browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import agentlab.ui

# A live view freezes the process's heap once (agentlab.ui._heap): right for a
# kernel, not for a test process that makes thousands of objects per test.
# test_heap.py checks the behaviour itself, in fresh processes.
agentlab.ui.freeze_heap(False)


@pytest.fixture
def run() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Run a coroutine on a fresh event loop (the tests need no asyncio plugin)."""

    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run(coro)

    return runner


class FakeSink:
    """Records what a pump sends, with the loop time of each message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.snapshots: list[dict[str, Any]] = []
        self.times: list[float] = []  # when each custom message was sent
        self.snapshot_times: list[float] = []

    def send(self, msg: dict[str, Any]) -> None:
        self.messages.append(msg)
        self.times.append(asyncio.get_running_loop().time())

    def publish(self, snap: dict[str, Any]) -> None:
        self.snapshots.append(snap)
        self.snapshot_times.append(asyncio.get_running_loop().time())


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()
