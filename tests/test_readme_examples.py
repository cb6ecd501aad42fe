"""The README's examples run, and print what the README says they print.

The rules, as a reader would follow them:

* **Python blocks.** Every ```` ```python ```` block of README.md runs, in README
  order, as the cells of one notebook: one namespace, top-level ``await`` allowed
  (compiled with ``PyCF_ALLOW_TOP_LEVEL_AWAIT``, as IPython compiles a cell), on one
  event loop that is running while each block runs and keeps running between them.
  They run twice: in this process (fast, with readable tracebacks) and as a notebook
  in a real Jupyter kernel through the README's own ``jupyter nbconvert --execute``
  command. The working folder is a fresh temporary one.
* **Printed output.** A line that ends in the comment ``# -> TEXT`` prints the line
  ``TEXT``. What a block prints must be exactly its ``# -> `` texts, in order: a
  block that prints has every printed line written down, and no more.
* **Blocks that must not run** are preceded by ``<!-- readme-test: skip: REASON -->``
  (REASON says why: a key, the network). None is today: every block runs offline on
  scripted models. The LLM block's commented alternative, ``OpenAIChat("gpt-4o-mini")``,
  would need a key and the network; it runs against the loopback server instead
  (:func:`test_the_llm_block_with_openai_chat_against_a_loopback_server`).
* **Shell commands.** Every command the README shows outside its Performance section
  (inline code or an ``sh`` block starting with ``python``, ``pip``, ``npm`` or
  ``jupyter``) is in :data:`COMMANDS`, which says which test runs it or why none
  does; the tests below run each in a temporary folder and check what the README
  says it prints or writes.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import json
import logging
import os
import re
import struct
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SHARED_SCENARIOS = ROOT.parent / "shared" / "otp" / "scenarios"
OWN_SCENARIOS = ROOT / "tests" / "conformance" / "scenarios"

SKIP = re.compile(r"<!--\s*readme-test:\s*skip:\s*(.+?)\s*-->")
EXPECT = re.compile(r"#\s*->\s?(.*?)\s*$")
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


def _fenced_blocks(text: str) -> list[tuple[str, str, str | None]]:
    """(language, code, skip reason) of every fenced block, in order."""
    blocks = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S):
        before = text[: m.start()].rstrip().splitlines()
        skip = SKIP.search(before[-1]) if before else None
        blocks.append((m.group(1), m.group(2), skip.group(1) if skip else None))
    return blocks


PYTHON_BLOCKS = [(code, skip) for lang, code, skip in _fenced_blocks(README) if lang == "python"]
RUN_BLOCKS = [code for code, skip in PYTHON_BLOCKS if skip is None]


def expected_output(code: str) -> list[str]:
    """The lines a block says it prints: its ``# -> TEXT`` comments, in order."""
    out = []
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT and (m := EXPECT.match(token.string)):
            out.append(m.group(1))
    return out


def _section(title: str) -> str:
    """The text of the README's ``## title`` section."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


# --------------------------------------------------------------------------- the blocks


def test_the_readme_has_the_blocks_this_file_expects():
    assert len(PYTHON_BLOCKS) >= 3, "the README lost its Python examples"
    for code, skip in PYTHON_BLOCKS:
        if skip is not None:
            assert len(skip) > 10, f"a skipped block needs a reason, not {skip!r}"
        else:
            compile(code, "<README>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    assert any(expected_output(code) for code in RUN_BLOCKS), "no block says what it prints"


async def run_cells(cells: list[str], ns: dict[str, Any]) -> list[str]:
    """Run ``cells`` as notebook cells on the running loop; what each printed."""
    printed = []
    for i, code in enumerate(cells):
        compiled = compile(
            code, f"<README python block {i + 1}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = eval(compiled, ns)  # a cell with top-level await gives a coroutine
            if inspect.iscoroutine(result):
                await result
        printed.append(out.getvalue())
        await asyncio.sleep(0)  # the kernel's loop turns between cells
    return printed


async def shut_down_what_is_left(ns: dict[str, Any]) -> None:
    import agentlab

    for value in list(ns.values()):
        if isinstance(value, agentlab.Runtime) and not value.closed:
            await value.shutdown()


def check_printed(cells: list[str], printed: list[str]) -> None:
    for i, (code, out) in enumerate(zip(cells, printed, strict=True)):
        want = expected_output(code)
        got = out.splitlines()
        assert got == want, (
            f"README python block {i + 1} printed {got!r}; its '# -> ' comments say {want!r}"
        )


async def test_readme_python_blocks_run_in_order_and_print_what_they_say(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.chdir(tmp_path)
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    ns: dict[str, Any] = {"__name__": "__main__"}
    with caplog.at_level(logging.WARNING, logger="agentlab"):
        try:
            printed = await run_cells(RUN_BLOCKS, ns)
        finally:
            await shut_down_what_is_left(ns)
    check_printed(RUN_BLOCKS, printed)
    # a reader sees no warning under any cell (a second live Runtime, a stalled loop...)
    assert [r.getMessage() for r in caplog.records] == []
    # "A saved run loads back to identical tables"; "a format version (now 2)"
    from agentlab import trace

    run, again = ns["run"], trace.load(tmp_path / "run.parquet")
    for table in ("events", "processes", "restarts"):
        assert getattr(again, table)().equals(getattr(run, table)()), table
    assert trace.FORMAT_VERSION == 2


def _openai_sse(text: str, model: str) -> str:
    chunks: list[dict[str, Any]] = [
        {"id": "c1", "object": "chat.completion.chunk", "model": model,
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]},
        {"id": "c1", "object": "chat.completion.chunk", "model": model,
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"id": "c1", "object": "chat.completion.chunk", "model": model, "choices": [],
         "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}},
    ]
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def _llm_block() -> str:
    (block,) = [code for code in RUN_BLOCKS if "LLMAgent" in code and "OpenAIChat" in code]
    return block


async def test_the_llm_block_with_openai_chat_against_a_loopback_server(
    server, tmp_path, monkeypatch
):
    """The block's ``# or OpenAIChat("gpt-4o-mini")``, with the key from the environment
    and the loopback server standing in for the API (base_url)."""
    block = _llm_block()
    scripted = re.search(r"ScriptedModel\(\[(.+?)\]\)", block)
    assert scripted and '# or OpenAIChat("gpt-4o-mini")' in block
    answer = ast.literal_eval(scripted.group(1))
    root = server.root(body=_openai_sse(answer, "gpt-4o-mini"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-readme-test-key")  # the key from the environment
    from agentlab.llm import OpenAIChat

    # the block as written, with OpenAIChat("gpt-4o-mini") in place of the scripted model;
    # made here (base_url: the loopback server) so that the test can close its client
    model = OpenAIChat("gpt-4o-mini", base_url=root + "/v1")
    real = block.replace(scripted.group(0), "readme_model")
    first = RUN_BLOCKS[0]  # the first look: its imports, and a runtime it shuts down
    ns: dict[str, Any] = {"__name__": "__main__", "readme_model": model}
    try:
        printed = await run_cells([first, real], ns)
    finally:
        await shut_down_what_is_left(ns)
        await model.aclose()
    check_printed([first, block], printed)
    (request,) = server.requests(root)
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer sk-readme-test-key"
    assert request["body"]["model"] == "gpt-4o-mini" and request["body"]["stream"] is True
    assert [m["role"] for m in request["body"]["messages"]] == ["system", "user"]
    assert [t["function"]["name"] for t in request["body"]["tools"]] == ["search"]


# --------------------------------------------------------------------------- the commands

# Every command the README shows outside Performance, and how it is checked.
COMMANDS = {
    "pip install -e . && python -m agentlab demo": "test_demo (pip install: tests/packaging)",
    'pip install -e ".[test]" && python -m pytest': "not run: it is this test suite",
    "npm install": "not run: needs the npm registry (tests/packaging covers the build hook)",
    "npm run build": "not run: needs the npm registry (tests/packaging covers the build hook)",
    "pip install -e .": "not run: installs into the machine (tests/packaging builds it)",
    'pip install -e ".[trace,ui]"': "not run: installs into the machine (tests/packaging checks the extras)",
    "npm ci && npm run build": "not run: needs the npm registry (.ci/run does it)",
    "npm ci": "not run: needs the npm registry (.ci/run does it)",
    "pip install .": "not run: installs into the machine (tests/packaging builds it)",
    "python -m build": "not run: tests/packaging builds the wheel and sdist",
    "python -m agentlab.conformance SCENARIO.json": "test_conformance_runner",
    "python -m agentlab demo": "test_demo",
    "python -m agentlab chat --provider {openai,anthropic,gemini,scripted} [--json] PROMPT":
        "test_chat_scripted, test_chat_on_a_provider_api",
    "python -m agentlab trace summary RUN.parquet": "test_trace_summary",
    "python -m agentlab trace plot RUN -o timeline.png": "test_trace_plot",
    "python -m agentlab demo --out runs/demo": "the demo_run fixture",
    "jupyter nbconvert --execute --ExecutePreprocessor.store_widget_state=False ...":
        "test_readme_blocks_in_a_real_kernel",
}


def _readme_commands() -> set[str]:
    text = README[: README.index("\n## Performance\n")] + _section("Project layout")
    found = set()
    for lang, code, _ in _fenced_blocks(text):
        if lang == "sh":
            found |= {line.split("  #")[0].strip() for line in code.splitlines() if line.strip()}
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    for span in re.findall(r"`([^`]+)`", prose):
        span = " ".join(span.split())
        if span.split(" ")[0] in ("python", "pip", "npm", "jupyter"):
            found.add(span)
    return found


def test_every_readme_command_is_checked_or_says_why_not():
    found = _readme_commands()
    assert found == set(COMMANDS), (
        f"commands in the README but not in COMMANDS: {sorted(found - set(COMMANDS))}; "
        f"in COMMANDS but no longer in the README: {sorted(set(COMMANDS) - found)}"
    )


GUARD = '''\
"""No network: a connection to anything but this machine raises, before it is tried."""
import socket

_connect = socket.socket.connect
_create_connection = socket.create_connection
_HERE = ("127.0.0.1", "::1", "localhost")


def _check(address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host not in _HERE and not host.startswith("/"):
        raise OSError(f"readme test: no network, refused a connection to {address!r}")


def _guarded(self, address):
    _check(address)
    return _connect(self, address)


def _guarded_create(address, *args, **kwargs):
    _check(address)
    return _create_connection(address, *args, **kwargs)


socket.socket.connect = _guarded
socket.create_connection = _guarded_create
'''


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    """Run ``python -m ...`` in a temporary folder, with no API keys in the environment
    and no network (a sitecustomize refuses connections to other machines)."""
    where = tmp_path_factory.mktemp("readme-shell")
    guard = where / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env["PYTHONPATH"] = os.pathsep.join([str(guard), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("MPLBACKEND", None)

    def run(*args: str, extra_env: dict[str, str] | None = None, check: bool = True):
        done = subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, timeout=60,
            cwd=where, env={**env, **(extra_env or {})},
        )
        if check:
            assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stderr}"
        return done

    run.cwd = where  # type: ignore[attr-defined]
    return run


@pytest.fixture(scope="module")
def demo_run(shell):
    """``python -m agentlab demo --out runs/demo`` (the README's Live views command)."""
    done = shell("-m", "agentlab", "demo", "--out", "runs/demo")
    (path,) = (shell.cwd / "runs" / "demo").glob("*.parquet")
    return done, path


def test_the_network_guard_refuses_other_machines(shell):
    # (the assert first: without the guard, nothing is sent anywhere)
    code = ("import socket; assert socket.socket.connect.__name__ == '_guarded', 'no guard'; "
            "socket.socket().connect(('192.0.2.1', 80))")
    done = shell("-c", code, check=False)
    assert done.returncode != 0 and "readme test: no network" in done.stderr, done.stderr


def test_demo(shell, demo_run):
    """`python -m agentlab demo` runs offline, with the four seeded faults the README
    lists; `--seed N` repeats it exactly; `--out DIR` saves a parquet trace."""
    done = shell("-m", "agentlab", "demo")
    out = done.stdout
    assert out.startswith("agentlab demo: a supervised research team (seed 7, virtual clock, no network)")
    # "a rate limit retried with backoff"
    assert re.search(r"LLM call failed: rate_limit \(HTTP 429\), attempt 1\n.*retry layer: attempt 2 in", out)
    # "a provider outage that crashes an agent and its supervisor's restart"
    assert re.search(r"(\w+) +CRASHED: ServerError.*\n.*supervisor restarts \1", out)
    # "a failing tool reported to the model"
    assert "<- tool search FAILED: the tool failed: LookupError" in out
    # "an answer that fails validation and is asked again"
    assert re.search(r"answer did not validate \(.*\); re-asking", out)
    assert done.stderr == ""
    # --seed N repeats it exactly; another seed is another run
    a = shell("-m", "agentlab", "demo", "--seed", "3").stdout
    b = shell("-m", "agentlab", "demo", "--seed", "3").stdout
    assert a == b and "(seed 3," in a and a.split("\n", 1)[1] != out.split("\n", 1)[1]
    # --out DIR: the run as a parquet trace, the same run as without it
    saved, path = demo_run
    assert saved.stdout.startswith(out.rstrip("\n")) and path.read_bytes()[:4] == b"PAR1"


def test_trace_summary(shell, demo_run):
    from agentlab import trace

    _, path = demo_run
    done = shell("-m", "agentlab", "trace", "summary", str(path))
    summary = trace.load(path).summary()
    lines = dict(line.split(None, 1) for line in done.stdout.splitlines()[1:] if line.strip())
    assert path.stem in done.stdout.splitlines()[0]
    assert int(lines["restarts"]) == summary["restarts"] == 1  # the demo's one restart
    assert int(lines["processes"]) == summary["processes"]
    assert int(lines["events"]) == len(trace.load(path).events())


def test_trace_plot(shell, demo_run):
    _, path = demo_run
    for run in (path, path.parent):  # RUN: a trace file, or the folder of one run
        out = shell.cwd / f"timeline-{run.name}.png"
        done = shell("-m", "agentlab", "trace", "plot", str(run), "-o", str(out))
        assert done.stdout.strip() == f"wrote {out}"
        data = out.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert width > 400 and height > 100


def test_chat_scripted(shell):
    done = shell("-m", "agentlab", "chat", "--provider", "scripted", "hello")
    assert done.stdout == "(scripted) You said: hello\n"
    done = shell("-m", "agentlab", "chat", "--provider", "scripted", "--json", "hello")
    out = json.loads(done.stdout)
    assert out["text"] == "(scripted) You said: hello" and out["error"] is None


def _anthropic_sse(text: str) -> str:
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [], "stop_reason": None, "usage": {"input_tokens": 9, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": text}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 4}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def _gemini_sse(text: str) -> str:
    chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                             "finishReason": "STOP"}],
             "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4}}
    return f"data: {json.dumps(chunk)}\r\n\r\n"


@pytest.mark.parametrize(
    ("provider", "variable", "suffix", "body", "header"),
    [
        ("openai", "OPENAI_API_KEY", "/v1", lambda t: _openai_sse(t, "gpt-4o-mini"), "authorization"),
        ("anthropic", "ANTHROPIC_API_KEY", "", _anthropic_sse, "x-api-key"),
        ("gemini", "GEMINI_API_KEY", "", _gemini_sse, "x-goog-api-key"),
    ],
)
def test_chat_on_a_provider_api(shell, server, provider, variable, suffix, body, header):
    """`chat --provider P` speaks P's API (the loopback server stands in for it, through
    --base-url); the key comes from the environment or --api-key and is never printed."""
    key = f"{provider}-readme-key-7f3a"
    root = server.root(body=body("Wind grew."))
    args = ["-m", "agentlab", "chat", "--provider", provider, "--base-url", root + suffix]
    done = shell(*args, "Say hi", extra_env={variable: key})
    assert done.stdout == "Wind grew.\n" and done.stderr == ""
    done = shell(*args, "--json", "--api-key", key, "Say hi")
    out = json.loads(done.stdout)
    assert out["text"] == "Wind grew." and out["error"] is None and out["usage"]["output_tokens"] == 4
    assert key not in done.stdout + done.stderr
    sent = server.requests(root)
    assert len(sent) == 2 and all(key in r["headers"][header] for r in sent)


def test_conformance_runner(shell):
    """`python -m agentlab.conformance SCENARIO.json` prints each scenario's log, and all
    65 recorded on OTP 25 / Elixir 1.14 give the recorded log, identically."""
    if not SHARED_SCENARIOS.is_dir():
        pytest.skip("../shared/otp/scenarios is not beside the checkout")
    paths = sorted(SHARED_SCENARIOS.glob("*.json")) + sorted(OWN_SCENARIOS.glob("*.json"))
    m = re.search(r"(\d+) scenarios whose logs were recorded on\s+real Erlang/OTP 25 and Elixir 1.14", README)
    assert m and int(m.group(1)) == len(paths) == 65
    own = re.search(r"(\d+) of\s+them are in `tests/conformance/scenarios/`", README)
    shared = re.search(r"the other (\d+) are the reference set in `../shared/otp/scenarios/`", README)
    assert own and shared
    assert int(own.group(1)) == len(list(OWN_SCENARIOS.glob("*.json")))
    assert int(shared.group(1)) == len(list(SHARED_SCENARIOS.glob("*.json")))
    done = shell("-m", "agentlab.conformance", *map(str, paths))
    want = "".join(p.with_suffix(".expected.txt").read_text() for p in paths)
    assert done.stdout == want and done.stderr == ""
    bad = shell("-m", "agentlab.conformance", "no-such.json", check=False)
    assert bad.returncode == 2 and "no-such.json" in bad.stderr


# --------------------------------------------------------------------------- a real kernel


KEEP_LOG = """\
import logging
_readme_log = []
class _Keep(logging.Handler):
    def emit(self, record):
        _readme_log.append(record.getMessage())
logging.getLogger("agentlab").addHandler(_Keep(logging.INFO))
"""
SHOW_LOG = """\
import asyncio, json
await asyncio.sleep(0.3)  # a loop-lag probe's tick
print(json.dumps(_readme_log))
"""


@pytest.mark.kernel
def test_readme_blocks_in_a_real_kernel(shell, demo_run):
    """The README's blocks as the cells of one notebook, then the Live views example
    (``agentlab.ui.dashboard("runs/demo")`` after ``demo --out runs/demo``), executed
    by the README's ``jupyter nbconvert --execute
    --ExecutePreprocessor.store_widget_state=False`` command: no cell fails or warns,
    each prints what its ``# -> `` comments say, and the HTML export shows the
    dashboard's static HTML."""
    nbformat = pytest.importorskip("nbformat")
    view = 'agentlab.ui.dashboard("runs/demo")'
    assert f"`{view}`" in README
    cells = [*RUN_BLOCKS, f"import agentlab.ui\n{view}"]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    # A warning logged after a cell's code returned (the loop-lag probe reports a stall
    # at its next tick) shows under that cell in Jupyter, but nbconvert has moved on by
    # then and drops it: the first and last cells collect agentlab's log instead.
    nb.cells = [nbformat.v4.new_code_cell(code) for code in [KEEP_LOG, *cells, SHOW_LOG]]
    work = shell.cwd
    nbformat.write(nb, work / "readme.ipynb")
    nbconvert = [sys.executable, "-m", "jupyter", "nbconvert"]
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    subprocess.run(
        [*nbconvert, "--execute", "--ExecutePreprocessor.store_widget_state=False",
         "--ExecutePreprocessor.timeout=60", "--to", "notebook", "--output", "executed.ipynb",
         "readme.ipynb"],
        cwd=work, env=env, check=True, capture_output=True, text=True, timeout=120,
    )
    done = nbformat.read(work / "executed.ipynb", as_version=4)
    assert "widgets" not in done.metadata  # no widget state saved
    printed, others = [], []
    for cell in done.cells:
        out = "".join(o.get("text", "") for o in cell.outputs
                      if o.output_type == "stream" and o.name == "stdout")
        printed.append(out)
        others += [o for o in cell.outputs if o.output_type == "error"
                   or (o.output_type == "stream" and o.name == "stderr")]
    assert others == [], "a README cell failed or warned in the kernel:\n" + "\n".join(
        o.get("text") or "\n".join(o.get("traceback", [])) for o in others
    )
    logged = json.loads(printed.pop())
    assert logged == [], f"agentlab logged under the README's cells: {logged}"
    assert printed.pop(0) == ""
    check_printed(cells, printed)
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(done)  # = jupyter nbconvert --to html
    # "each view leaves static HTML of its state": the dashboard's four views
    for kind in ("tree", "stream", "timeline", "sequence"):
        assert f"al-static al-static-{kind}" in html, kind
    assert "ask_researcher" in html  # the recorded demo's own content, not an empty view


# --------------------------------------------------------------------------- names and numbers


def test_names_and_defaults_the_readme_states():
    import agentlab as al
    import agentlab.agents as agents
    import agentlab.llm as llm
    import agentlab.ui as ui
    from agentlab import trace
    from agentlab.ui._feed import LiveFeed
    from agentlab.ui._pump import Pump

    # the failure rules' defaults
    sup_init = inspect.signature(al.Supervisor.init).parameters
    assert sup_init["period"].default == 5 and sup_init["intensity"].default is None
    # Inside Jupyter and calls
    assert inspect.signature(al.Runtime).parameters["lag_interval"].default == 0.1
    assert inspect.signature(al.Runtime.call).parameters["timeout"].default == 5.0
    assert "replace" in inspect.signature(al.Runtime.start).parameters
    assert "object" in inspect.signature(al.Down).parameters
    assert inspect.isfunction(inspect.getattr_static(al.Supervisor, "why").__func__)
    # LLM agents
    readme_types = re.search(r"typed errors\s+\(([^)]*)\)", README)
    assert readme_types
    named = re.findall(r"`(\w+)`", readme_types.group(1))
    types = {cls.type for cls in vars(llm).values()
             if isinstance(cls, type) and issubclass(cls, llm.LLMError) and cls is not llm.LLMError}
    assert set(named) == types
    for name in ("OpenAIChat", "Anthropic", "Gemini", "Retrying", "ScriptedModel",
                 "FaultTransport", "FaultyModel", "ReplayModel", "Recorder"):
        assert hasattr(llm, name), name
    budget = agents.Budget()
    assert (budget.tokens, budget.cost_usd, budget.calls, budget.in_flight) == (0, 0.0, 0, 0)
    assert issubclass(agents.AskCycle, al.AgentLabError)
    assert agents.BUDGET_EXCEEDED == "budget_exceeded"
    tool_errors = inspect.getsource(sys.modules["agentlab.agents._agent"])
    assert "tool_errors must be 'report' or 'crash'" in tool_errors
    # Every run is data
    rec = inspect.signature(trace.Recorder).parameters
    assert rec["capacity"].default == 1_000_000 and rec["overflow"].default == "drop"
    assert "convert_after" in rec
    for name in ("processes", "restarts", "messages", "llm_calls", "tool_calls",
                 "plot_timeline", "save", "to_events"):
        assert callable(getattr(trace.Run, name)), name
    for name in ("mttr", "availability", "intensity_headroom", "load"):
        assert callable(getattr(trace, name)), name
    # Live views
    assert LiveFeed.BURST == 256
    assert inspect.signature(Pump).parameters["rate"].default == 30.0
    assert callable(ui.settle) and callable(ui.freeze_heap) and callable(ui.dashboard)


def test_the_notebooks_the_readme_lists_are_the_notebooks():
    listed = re.findall(r"^\d\. `(\w+)` — ", _section("Inside Jupyter"), re.M)
    assert listed == sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in (ROOT / "binder").iterdir()) == ["requirements.txt", "runtime.txt"]
    for image in re.findall(r"\]\((docs/img/[\w.-]+)\)", README):
        assert (ROOT / image).is_file(), image


def test_expected_output_reads_the_arrow_comments():
    code = textwrap.dedent('''\
        print(1)            # -> 1
        x = "# -> not a comment"
        print("a # b")      # -> a # b
        y = 2               # a plain comment
    ''')
    assert expected_output(code) == ["1", "a # b"]


async def test_the_first_look_on_a_virtual_clock_is_the_same_story_and_the_same_log():
    """"`al.Runtime(clock=al.VirtualClock(), seed=7)` runs the same story on a virtual
    clock ... the same seed gives the same event log"."""
    first = RUN_BLOCKS[0]
    assert first.count("rt = al.Runtime()") == 1
    virtual = first.replace("rt = al.Runtime()", "rt = al.Runtime(clock=al.VirtualClock(), seed=7)")
    logs = []
    for _ in range(2):
        ns: dict[str, Any] = {"__name__": "__main__"}
        try:
            printed = await run_cells([virtual], ns)
        finally:
            await shut_down_what_is_left(ns)
        check_printed([first], printed)
        logs.append([(e.seq, e.time, e.kind, e.pid, e.name, repr(e.reason), e.data)
                     for e in ns["rt"].events])
    assert logs[0] == logs[1] and len(logs[0]) > 10


async def test_what_the_failure_rules_section_says_about_signals_and_specs():
    """The prose around the rules table: start_spec, Down's object, link to the dead,
    the 5 s call timeout."""
    import agentlab as al
    from agentlab import Agent, ChildSpec, Supervisor

    class Quiet(Agent):
        def handle_call(self, request, caller):
            return al.NOREPLY  # never replies

    async with al.Runtime(clock=al.VirtualClock()) as rt:
        # a supervisor refusing its own list: ("start_spec", R), SupervisorError, why
        with pytest.raises(al.SupervisorError) as refused:
            rt.start(Supervisor, [ChildSpec("a", Quiet), ChildSpec("a", Quiet)], name="s")
        assert refused.value.reason == ("start_spec", ("duplicate_child_name", "a"))
        assert "did not start: duplicate child id 'a'" in await Supervisor.why(refused.value.process)
        assert not [e for e in rt.events if e.kind == "child_start"]  # "starts none"
        # monitors: Down with noproc, .object the pid or the name

        async def idle(proc):
            await proc.receive()

        dead = rt.spawn(idle)
        rt.exit(dead, "kill")
        await rt.sleep(0.01)
        got: list[Any] = []

        async def watcher(proc):
            proc.monitor(dead)
            got.append(await proc.receive())
            proc.monitor("nobody")
            got.append(await proc.receive())
            with pytest.raises(al.NoProcessError):
                proc.link(dead)  # link to a dead process raises, unless trapping
            proc.trap_exit = True
            proc.link(dead)
            got.append(await proc.receive())

        rt.spawn(watcher)
        await rt.sleep(0.01)
        assert [(type(m).__name__, m.reason) for m in got] == [
            ("Down", "noproc"), ("Down", "noproc"), ("Exit", "noproc")]
        assert got[0].object == dead and got[1].object == "nobody" and got[1].pid is None
        # calls time out after 5 s by default, naming the process
        rt.start(Quiet, name="quiet")
        t0 = rt.now()
        with pytest.raises(al.CallTimeout, match="'quiet'"):
            await rt.call("quiet", "hello")
        assert rt.now() - t0 == 5.0
