"""LLM agents streaming concurrently from a loopback server: agentlab vs plain httpx.

Run: ``python benchmarks/bench_llm.py`` (``--agents 1000 --tokens 50 --rounds 3``;
``--quick`` for 200 agents and one round).

What it does
------------
1. Starts an OpenAI-style server (uvicorn + starlette, ``text/event-stream``,
   one SSE event per token, ``--interval`` seconds between tokens) in a
   subprocess on 127.0.0.1: the server gets its own core, and nothing leaves
   the machine.
2. Runs each client mode in a fresh subprocess (so memory figures do not
   share an allocator), alternating, ``--rounds`` times:

   * ``plain``: one ``httpx.AsyncClient``, N concurrent ``client.stream``
     requests, ``aiter_lines`` + ``json.loads`` per event, text joined; the
     least a program can do to consume the same streams.
   * ``llm``: agentlab's LLM layer only: N concurrent ``complete(OpenAIChat)``
     through ``Retrying`` (SSE parsing, usage, events to a no-op callback).
   * ``agents``: N :class:`~agentlab.agents.LLMAgent` s under one supervisor
     on a real-clock runtime, asked concurrently; every token is an
     ``llm_token`` event in ``rt.events`` (the full stack).
   * ``agents_quiet``: the same with ``token_events=False`` (requests,
     responses, usage and errors are still events; the per-token ones are not).
   * ``mem_llm``, ``mem_agents``: the LLM layer and the agents on an
     in-memory model (no HTTP): what the layers themselves cost per token.

3. Reports, per mode (median over rounds): wall time, aggregate tokens/s,
   client CPU seconds, **CPU per token**, and the **overhead per token** of
   ``llm``/``agents`` over ``plain`` (CPU per token, same streams, same run);
   plus memory: RSS growth per streaming agent (peak during streaming) and
   per idle agent.

CPU per token is the figure to watch: wall time is bounded by the server
(a Python server on one core), while the client's CPU is what agentlab adds.
Target (issue 5): overhead < 20 % per token.

Output: one JSON line per client run, then a table and one summary JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "gpt-4o-mini"


# ---------------------------------------------------------------------------- server


def _payloads(tokens: int) -> tuple[list[bytes], bytes]:
    """The SSE events of one answer: one per token, then finish + usage + [DONE]."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {"id": "bench", "object": "chat.completion.chunk", "model": MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    pieces = [chunk({"content": f" tok{i}"}) for i in range(tokens)]
    usage = {"id": "bench", "object": "chat.completion.chunk", "model": MODEL, "choices": [],
             "usage": {"prompt_tokens": 20, "completion_tokens": tokens}}
    tail = chunk({}, "stop") + b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n"
    return pieces, tail


def serve_uvicorn(sock: socket.socket, tokens: int, interval: float) -> None:
    """uvicorn (h11) with a bare ASGI app (Starlette's StreamingResponse costs more per event)."""
    import uvicorn

    pieces, tail = _payloads(tokens)
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"text/event-stream")]}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # the request body
            more = (await receive()).get("more_body", False)
        await send(start)
        for p in pieces:
            await send({"type": "http.response.body", "body": p, "more_body": True})
            if interval:
                await asyncio.sleep(interval)
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            ws="none", http="h11", backlog=4096, timeout_keep_alive=60)
    uvicorn.Server(config).run(sockets=[sock])


def serve_asyncio(sock: socket.socket, tokens: int, interval: float) -> None:
    """A minimal HTTP/1.1 server on asyncio streams: chunked SSE, keep-alive, little else.

    Much cheaper per event than uvicorn, so the client, not the server, sets the pace.
    """
    pieces, tail = _payloads(tokens)
    frames = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces]
    last = b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail)
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                headers = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in headers.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(head)
                for f in frames:
                    writer.write(f)
                    if interval:
                        await writer.drain()
                        await asyncio.sleep(interval)
                writer.write(last)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, sock=sock, backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def serve(port: int, tokens: int, interval: float, kind: str) -> None:
    """The loopback server (runs in its own process); prints its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    print(sock.getsockname()[1], flush=True)
    (serve_uvicorn if kind == "uvicorn" else serve_asyncio)(sock, tokens, interval)


# ---------------------------------------------------------------------------- measuring


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Sampler:
    """Peak RSS while streaming, sampled every 10 ms on the loop; and the time the
    cyclic garbage collector took in that window (``gc_s``, from ``gc.callbacks``)."""

    def __init__(self) -> None:
        self.peak = rss()
        self._task: asyncio.Task[None] | None = None
        self.gc_s = 0.0
        self._gc_t0 = 0.0
        self.gc_by_gen = [[0, 0.0], [0, 0.0], [0, 0.0]]  # collections, seconds

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_t0 = time.perf_counter()
        else:
            dt = time.perf_counter() - self._gc_t0
            self.gc_s += dt
            g = self.gc_by_gen[info["generation"]]
            g[0] += 1
            g[1] += dt

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss())
            await asyncio.sleep(0.01)

    def __enter__(self) -> Sampler:
        import gc

        gc.callbacks.append(self._gc)
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        import gc

        gc.callbacks.remove(self._gc)
        self.peak = max(self.peak, rss())
        if self._task is not None:
            self._task.cancel()


def _client(n: int) -> Any:
    """The same client for every mode: n connections at once, httpx's default keep-alive pool.

    (httpcore 1.0's pool scans every connection once per *idle* connection on
    each request and each close; with hundreds of idle keep-alive connections
    that scan, not streaming, would dominate every mode.)
    """
    import httpx

    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=n + 16, max_keepalive_connections=20),
        timeout=httpx.Timeout(120.0),
    )


async def run_plain(url: str, n: int, tokens: int) -> dict[str, Any]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "stream_options": {"include_usage": True}}
    async with _client(n) as client:

        async def one() -> int:
            count = 0
            parts = []
            async with client.stream("POST", f"{url}/v1/chat/completions", json=body,
                                     headers={"authorization": "Bearer bench"}) as r:
                done = False
                async for line in r.aiter_lines():  # to the end, so the connection is reusable
                    if done or not line.startswith("data: "):
                        continue
                    data = line[6:]
                    if data == "[DONE]":
                        done = True
                        continue
                    payload = json.loads(data)
                    for choice in payload.get("choices") or ():
                        text = choice["delta"].get("content")
                        if text:
                            parts.append(text)
                            count += 1
            "".join(parts)
            return count

        base = rss()
        cpu0, t0 = time.process_time(), time.perf_counter()
        with Sampler() as s:
            counts = await asyncio.gather(*(one() for _ in range(n)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return _result("plain", n, sum(counts), wall, cpu, s.peak - base, None, s.gc_s)


async def run_llm(url: str, n: int, tokens: int) -> dict[str, Any]:
    from agentlab.llm import OpenAIChat, Retrying, complete

    def sink(kind: str, **fields: Any) -> None:
        pass

    async with _client(n) as client:
        model = Retrying(OpenAIChat(MODEL, api_key="bench", base_url=f"{url}/v1", client=client))
        base = rss()
        cpu0, t0 = time.process_time(), time.perf_counter()
        with Sampler() as s:
            responses = await asyncio.gather(*(complete(model, "hi", emit=sink) for _ in range(n)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    got = sum(r.usage.output_tokens or 0 for r in responses if r.usage)
    return _result("llm", n, got, wall, cpu, s.peak - base, None, s.gc_s)


async def run_agents(url: str, n: int, tokens: int, *, quiet: bool = False) -> dict[str, Any]:
    import gc

    from agentlab import Runtime, Supervisor
    from agentlab.agents import LLMAgent, agent_ask
    from agentlab.llm import OpenAIChat

    async with _client(n) as client, Runtime(lag_threshold=None, event_capacity=n * (tokens + 40)) as rt:
        model = OpenAIChat(MODEL, api_key="bench", base_url=f"{url}/v1", client=client)
        gc.collect()
        before_idle = rss()
        sup = rt.start(Supervisor, [LLMAgent.child_spec(i, system="Be brief.", model=model,
                                                        token_events=not quiet)
                                    for i in range(n)], intensity=n)
        pids = [pid for _, pid, _ in await Supervisor.which_children(sup)]
        gc.collect()
        base = rss()
        idle_per_agent = (base - before_idle) / n
        cpu0, t0 = time.process_time(), time.perf_counter()
        with Sampler() as s:
            answers = await asyncio.gather(*(agent_ask(rt, p, "hi", timeout=300) for p in pids))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        if quiet:
            streamed = sum(e.data["output_tokens"] for e in rt.events if e.kind == "llm_response")
        else:
            streamed = sum(1 for e in rt.events if e.kind == "llm_token")
        assert all(a.startswith(" tok0") for a in answers)
    return _result("agents_quiet" if quiet else "agents", n, streamed, wall, cpu, s.peak - base,
                   idle_per_agent, s.gc_s)


async def run_agents_quiet(url: str, n: int, tokens: int) -> dict[str, Any]:
    return await run_agents(url, n, tokens, quiet=True)


def _result(mode: str, n: int, toks: int, wall: float, cpu: float, grow: int,
            idle: float | None, gc_s: float | None = None) -> dict[str, Any]:
    return {
        "gc_s": None if gc_s is None else round(gc_s, 4),
        "mode": mode,
        "streams": n,
        "tokens": toks,
        "wall_s": round(wall, 4),
        "tokens_per_s": round(toks / wall, 1),
        "cpu_s": round(cpu, 4),
        "cpu_us_per_token": round(cpu / toks * 1e6, 3) if toks else None,
        "rss_bytes_per_stream": round(grow / n),
        "rss_bytes_per_idle_agent": None if idle is None else round(idle),
    }


class _MemoryModel:
    """An in-memory model for the breakdown: no HTTP, one loop wakeup per token."""

    @staticmethod
    def make(tokens: int) -> Any:
        from agentlab.llm import Finish, TextDelta, Usage
        from agentlab.llm._base import BaseModel

        class Memory(BaseModel):
            provider = "memory"

            async def _events(self, messages: Any, tools: Any, opts: Any, state: Any) -> Any:
                for i in range(tokens):
                    await asyncio.sleep(0)
                    yield TextDelta(f" tok{i}")
                yield Usage(20, tokens)
                yield Finish("stop")

        return Memory(MODEL)


async def run_mem_llm(url: str, n: int, tokens: int) -> dict[str, Any]:
    from agentlab.llm import Retrying, complete

    def sink(kind: str, **fields: Any) -> None:
        pass

    model = Retrying(_MemoryModel.make(tokens))
    base = rss()
    cpu0, t0 = time.process_time(), time.perf_counter()
    responses = await asyncio.gather(*(complete(model, "hi", emit=sink) for _ in range(n)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    got = sum(r.usage.output_tokens or 0 for r in responses if r.usage)
    return _result("mem_llm", n, got, wall, cpu, rss() - base, None)


async def run_mem_agents(url: str, n: int, tokens: int) -> dict[str, Any]:
    from agentlab import Runtime, Supervisor
    from agentlab.agents import LLMAgent, agent_ask

    async with Runtime(lag_threshold=None, event_capacity=n * (tokens + 40)) as rt:
        model = _MemoryModel.make(tokens)
        sup = rt.start(Supervisor, [LLMAgent.child_spec(i, model=model) for i in range(n)],
                       intensity=n)
        pids = [pid for _, pid, _ in await Supervisor.which_children(sup)]
        base = rss()
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(agent_ask(rt, p, "hi", timeout=300) for p in pids))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        streamed = sum(1 for e in rt.events if e.kind == "llm_token")
    return _result("mem_agents", n, streamed, wall, cpu, rss() - base, None)


MODES = {
    "plain": run_plain,
    "llm": run_llm,
    "agents": run_agents,
    "agents_quiet": run_agents_quiet,
    "mem_llm": run_mem_llm,
    "mem_agents": run_mem_agents,
}


def client_main(mode: str, url: str, n: int, tokens: int) -> None:
    result = asyncio.run(MODES[mode](url, n, tokens))
    print(json.dumps(result), flush=True)
    os._exit(0)  # the teardown of n connections is not part of the figures


# ---------------------------------------------------------------------------- orchestration


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--tokens", type=int, default=50)
    p.add_argument("--interval", type=float, default=0.005, help="seconds between tokens (server)")
    p.add_argument("--server", choices=("uvicorn", "asyncio"), default="uvicorn",
                   help="loopback server: uvicorn (default) or a minimal asyncio one")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--modes", default="plain,llm,agents,agents_quiet,mem_llm,mem_agents",
                   help="client modes (mem_*: the same layers on an in-memory model, no HTTP)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--client", default=None, help=argparse.SUPPRESS)
    p.add_argument("--url", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve is not None:
        serve(a.serve, a.tokens, a.interval, a.server)
        return 0
    if a.client is not None:
        client_main(a.client, a.url, a.agents, a.tokens)
        return 0
    if a.quick:
        a.agents, a.rounds = 200, 1
    modes = a.modes.split(",")
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "0", "--tokens", str(a.tokens),
         "--interval", str(a.interval), "--server", a.server],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        results: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
        for _ in range(a.rounds):
            for mode in modes:
                out = subprocess.run(
                    [sys.executable, __file__, "--client", mode, "--url", url,
                     "--agents", str(a.agents), "--tokens", str(a.tokens)],
                    capture_output=True, text=True, timeout=600,
                )
                if out.returncode != 0:
                    print(out.stderr, file=sys.stderr)
                    return 1
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(json.dumps(r))
                results[mode].append(r)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return report(results, a)


def report(results: dict[str, list[dict[str, Any]]], a: argparse.Namespace) -> int:
    def med(mode: str, key: str) -> float:
        vals = [r[key] for r in results[mode] if r.get(key) is not None]
        return statistics.median(vals) if vals else float("nan")

    base = med("plain", "cpu_us_per_token") if "plain" in results else float("nan")
    print(f"\n{a.agents} concurrent streams x {a.tokens} tokens, {a.rounds} round(s), "
          f"{a.server} server, {a.interval}s between tokens (medians)")
    print(f"{'mode':<12} {'wall s':>7} {'tokens/s':>10} {'cpu s':>7} {'cpu us/tok':>11} "
          f"{'overhead':>9} {'paired':>8} {'gc s':>6} {'KiB/stream':>11} {'KiB/idle agent':>15}")

    def paired(mode: str, ref_mode: str) -> float:
        """Median over rounds of this mode's CPU per token / the reference's in the same
        round (the modes of a round run back to back, so load drift cancels better)."""
        pairs = [r["cpu_us_per_token"] / q["cpu_us_per_token"]
                 for r, q in zip(results[mode], results.get(ref_mode, []), strict=False)
                 if r["cpu_us_per_token"] and q["cpu_us_per_token"]]
        return (statistics.median(pairs) - 1) * 100 if pairs else float("nan")

    summary: dict[str, Any] = {"bench": "llm_streaming", "streams": a.agents, "tokens": a.tokens,
                               "server": a.server, "interval": a.interval, "rounds": a.rounds}
    for mode in results:
        cpt = med(mode, "cpu_us_per_token")
        ref = base if not mode.startswith("mem_") else med("mem_llm", "cpu_us_per_token")
        over = (cpt / ref - 1) * 100 if mode not in ("plain", "mem_llm") else 0.0
        idle = med(mode, "rss_bytes_per_idle_agent")
        ref_mode = "plain" if not mode.startswith("mem_") else "mem_llm"
        pair = paired(mode, ref_mode) if mode not in ("plain", "mem_llm") else 0.0
        gc_s = med(mode, "gc_s") if any(r.get("gc_s") is not None for r in results[mode]) else float("nan")
        print(f"{mode:<12} {med(mode, 'wall_s'):>7.2f} {med(mode, 'tokens_per_s'):>10.0f} "
              f"{med(mode, 'cpu_s'):>7.2f} {cpt:>11.2f} {over:>8.1f}% {pair:>7.1f}% {gc_s:>6.2f} "
              f"{med(mode, 'rss_bytes_per_stream') / 1024:>11.1f} "
              f"{'' if idle != idle else f'{idle / 1024:.1f}':>15}")
        summary[mode] = {
            "tokens_per_s": med(mode, "tokens_per_s"),
            "cpu_us_per_token": cpt,
            "overhead_pct": round(over, 1),
            "paired_overhead_pct": round(pair, 1),
            "gc_s": gc_s,
            "overhead_us_per_token": round(cpt - ref, 3),
            "rss_bytes_per_stream": med(mode, "rss_bytes_per_stream"),
        }
    print("(overhead: CPU per token over plain httpx, from the medians; paired: the median of\n"
          " each round's ratio; gc s: the cyclic GC's share of the wall time; mem_agents: over\n"
          " mem_llm, i.e. what the agents layer and the runtime add per token with no HTTP)")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
