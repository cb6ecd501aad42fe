"""``agentlab chat``: main() in-process and as a subprocess, against the loopback server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from llm_helpers import base_url_for, expected_usage, model_name

from agentlab.llm._cli import main

REPO = Path(__file__).resolve().parents[2]
PROVIDER = {"openai.chat.completions": "openai", "anthropic.messages": "anthropic", "google.gemini": "gemini"}


def cli_args(server, t, *extra, **spec):
    root = server.root(t["name"], **spec)
    return [
        "chat", "--provider", PROVIDER[t["provider"]], "--base-url", base_url_for(t, root),
        "--api-key", "cli-key-1234", "--model", model_name(t), *extra, "hi",
    ]


@pytest.mark.parametrize(
    "name", ["openai_chat_tool_call_include_usage", "anthropic_text_basic", "gemini_text_sse"]
)
def test_json_output(server, transcripts, capsys, name):
    t = transcripts[name]
    assert main(cli_args(server, t, "--json", mode="chunks")) == 0
    out = json.loads(capsys.readouterr().out)
    exp = t["expected"]
    assert out == {
        "text": exp["text"] or "",
        "tool_calls": [{"id": c["id"], "name": c["name"], "arguments": c["arguments"]} for c in exp["tool_calls"]],
        "usage": dict(zip(("input_tokens", "output_tokens"), expected_usage(t), strict=True)),
        "stop_reason": exp.get("stop_reason", exp.get("finish_reason")),
        "error": None,
    }


def test_streams_text(server, transcripts, capsys):
    t = transcripts["anthropic_text_basic"]
    assert main(cli_args(server, t)) == 0
    assert capsys.readouterr().out == t["expected"]["text"] + "\n"


def test_error_as_json_and_exit_status(server, transcripts, capsys):
    t = transcripts["openai_chat_error_429"]
    assert main(cli_args(server, t, "--json", "--max-retries", "0")) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["error"]["type"] == "rate_limit" and out["error"]["retry_after"] is None
    assert "Rate limit reached" in out["error"]["message"]
    assert out["text"] == "" and out["usage"] == {"input_tokens": None, "output_tokens": None}


def test_error_in_text_mode(server, transcripts, capsys):
    t = transcripts["gemini_text_sse"]
    assert main(cli_args(server, t, "--max-retries", "0", fault="500")) == 1
    captured = capsys.readouterr()
    assert "error:" in captured.err and "HTTP 500" in captured.err
    assert "cli-key-1234" not in captured.err + captured.out


def test_scripted_needs_nothing(capsys):
    assert main(["--provider", "scripted", "--json", "Hello"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["text"] == "(scripted) You said: Hello" and out["stop_reason"] == "stop"
    assert out["error"] is None and out["usage"]["output_tokens"] > 0


@pytest.mark.parametrize(
    ("provider", "variables"),
    [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY"),
     ("gemini", "GEMINI_API_KEY or GOOGLE_API_KEY")],
)
def test_a_missing_key_names_the_option_and_the_variable(monkeypatch, capsys, provider, variables):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["chat", "--provider", provider, "--json", "hi"]) == 1
    message = json.loads(capsys.readouterr().out)["error"]["message"]
    assert message == (
        f"{provider}: no API key; pass --api-key or the {variables} environment variable."
    )
    assert main(["chat", "--provider", provider, "hi"]) == 1
    assert "pass --api-key or the" in capsys.readouterr().err
    # the Python API says how to pass it in Python
    from agentlab.llm import Anthropic, Gemini, OpenAIChat

    cls = {"openai": OpenAIChat, "anthropic": Anthropic, "gemini": Gemini}[provider]
    assert cls("m").key_hint == f"api_key= or {variables}"


def test_a_refused_key_names_the_option(server, transcripts, capsys):
    t = transcripts["openai_chat_text_basic"]
    assert main(cli_args(server, t, "--json", "--max-retries", "0", fault="echo_key")) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "auth"
    assert "(--api-key or the OPENAI_API_KEY environment variable)" in error["message"]
    assert "cli-key-1234" not in error["message"]


def test_help_explains_every_option():
    from agentlab.llm._cli import _parser

    text = " ".join(_parser().format_help().split())  # argparse wraps to the terminal's width
    assert "--provider {anthropic,gemini,openai,scripted} who answers: scripted" in text
    assert "--max-retries MAX_RETRIES retries on transient errors (default: 2)" in text
    assert "gpt-4o-mini for openai" in text and "claude-haiku-4-5 for anthropic" in text
    assert "gemini-2.0-flash for gemini" in text
    assert "GEMINI_API_KEY or GOOGLE_API_KEY" in text


def test_bad_usage():
    assert main(["chat", "--provider", "nope", "x"]) == 2


def test_as_a_subprocess(server, transcripts):
    t = transcripts["openai_chat_text_basic"]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    code = "from agentlab.llm._cli import main; raise SystemExit(main())"
    done = subprocess.run(
        [sys.executable, "-c", code, *cli_args(server, t, "--json", mode="chunks")],
        capture_output=True, text=True, timeout=60, env=env, cwd=REPO, check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["text"] == t["expected"]["text"] and out["usage"] == {"input_tokens": 14, "output_tokens": 30}

    failed = subprocess.run(
        [sys.executable, "-c", code, *cli_args(server, t, "--max-retries", "0", fault="529")],
        capture_output=True, text=True, timeout=60, env=env, cwd=REPO, check=False,
    )
    assert failed.returncode == 1 and "overloaded" in failed.stderr


def test_a_malformed_event_is_one_json_error(server, transcripts, capsys):
    t = transcripts["openai_chat_text_basic"]
    event = 'data: {"choices":[{"index":0,"delta":{"tool_calls":[null]}}]}\n\ndata: [DONE]\n\n'
    assert main(cli_args(server, t, "--json", "--max-retries", "0", body=event)) == 1
    out = json.loads(capsys.readouterr().out)  # exactly one JSON object
    assert out["error"]["type"] == "stream_interrupted"
    assert out["error"]["message"].startswith("openai: malformed event")


def test_a_bad_base_url_is_one_json_error(capsys):
    args = ["chat", "--provider", "anthropic", "--base-url", "http://127.0.0.1:99999", "--json", "hi"]
    assert main(args) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["error"]["type"] == "bad_request" and "http://127.0.0.1:99999" in out["error"]["message"]
    assert out["text"] == ""
