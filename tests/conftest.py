"""Shared test helpers: run ``async def`` tests, and the real/virtual clock fixture.

There is no pytest-asyncio. Instead:

* ``async def test_*`` functions are run by :func:`arun` (see the
  ``pytest_pyfunc_call`` hook below): a fresh ``asyncio.run`` per test, with a
  loop exception handler that turns "Task was destroyed but it is pending",
  "Task exception was never retrieved" and friends into test failures.
* Synchronous code (Hypothesis tests, helpers) can ask for the session-scoped
  ``arun`` fixture and call ``arun(coro)`` itself.
* After its full collection, ``arun`` calls ``gc.freeze()``: what survives a
  test is not scanned again (this makes the suite about 4x faster), but it is
  also never freed as a reference cycle. A test that checks that something is
  garbage-collected must drop it before its ``arun`` ends.
* ``clock`` is parametrized over a real and a virtual clock; a test that takes
  it runs twice, once on each. Create the runtime inside the test:
  ``async with Runtime(clock=clock) as rt: ...``.
* ``server`` is a loopback HTTP server speaking the LLM providers' wire
  formats, one for the session, and ``transcripts`` the recorded provider
  streams it can serve (``tests/wire_server.py`` has the details). Providers
  are tested over it, on real HTTP, not with mock transports.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import warnings
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

DEFAULT_TIMEOUT = 30.0


def arun(
    coro: Coroutine[Any, Any, Any],
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    collect: bool = True,
) -> Any:
    """Run ``coro`` in a fresh event loop and return its result.

    Fails if the loop reported anything to its exception handler (a task
    destroyed while pending, an exception never retrieved, a callback that
    raised), including what surfaces when the garbage collector runs after
    the loop closed. ``collect=False`` skips that full collection (about
    10 ms), for Hypothesis tests that run hundreds of examples.
    """
    problems: list[dict[str, Any]] = []

    def on_problem(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        problems.append(context)

    async def main() -> Any:
        asyncio.get_running_loop().set_exception_handler(on_problem)
        if timeout is None:
            return await coro
        return await asyncio.wait_for(coro, timeout)

    try:
        result = asyncio.run(main())
    finally:
        if collect:
            gc.collect()
            # Survivors are long-lived (modules, pytest and Hypothesis state): freeze
            # them so the next test's full collection scans only what it created.
            gc.freeze()
    if problems:
        lines = [f"- {c.get('message')}: {c.get('exception') or c.get('task') or ''}" for c in problems]
        raise AssertionError("the event loop reported problems:\n" + "\n".join(lines))
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` test functions with :func:`arun`."""
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    marker = pyfuncitem.get_closest_marker("arun_timeout")
    timeout = marker.args[0] if marker else DEFAULT_TIMEOUT
    arun(fn(**kwargs), timeout=timeout)
    return True


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "arun_timeout(seconds): overall timeout of an async test (default 30 s)"
    )
    # When a Hypothesis test fails, its plugin imports libcst to write a patch, and
    # libcst's import warns (DeprecationWarning from mypy_extensions). Under
    # filterwarnings=error that becomes an INTERNALERROR that hides the failing
    # example, so import it once here with that warning silenced.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import hypothesis.extra._patching  # noqa: F401
        except Exception:
            pass


@pytest.fixture(scope="session", name="arun")
def arun_fixture() -> Any:
    """:func:`arun`, for synchronous tests (Hypothesis) that drive coroutines themselves."""
    return arun


@pytest.fixture(params=["real", "virtual"])
def clock(request: pytest.FixtureRequest) -> Any:
    """A fresh clock: the loop's real one, or a :class:`agentlab.VirtualClock`."""
    from agentlab import RealClock, VirtualClock

    return RealClock() if request.param == "real" else VirtualClock()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API leaves an event loop
    running in the main thread, after which ``asyncio.run`` refuses to start."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


@pytest.fixture(scope="session")
def transcripts() -> dict[str, dict[str, Any]]:
    """The recorded provider streams of ``shared/llm-wire``, by name (skips without them)."""
    from wire_server import TRANSCRIPTS, WIRE_DIR

    if not TRANSCRIPTS:
        pytest.skip(
            f"no LLM wire transcripts at {WIRE_DIR / 'transcripts'} "
            "(shared/llm-wire is not beside the repo)"
        )
    return TRANSCRIPTS


@pytest.fixture(scope="session")
def server() -> Iterator[Any]:
    """A loopback server speaking the providers' wire formats (``wire_server.LoopbackServer``)."""
    from wire_server import serving

    with serving() as running:
        yield running
