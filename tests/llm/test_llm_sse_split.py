"""Property: however the bytes of a stream are split, the decoded result is the same."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llm_helpers import PROVIDERS, TRANSCRIPTS, check_response, model_name, serve_pieces

from agentlab.llm import complete

OK = sorted(n for n, t in TRANSCRIPTS.items() if t["response"]["status"] == 200)


def decode(server, transcript, pieces):
    """What the provider's model makes of the transcript's answer, read over loopback HTTP
    in exactly these pieces."""

    async def main():
        cls = PROVIDERS[transcript["provider"]]
        base_url = serve_pieces(server, transcript, pieces)
        # plain HTTP: a client that loads no certificates (~50 ms each, for every example)
        async with (
            httpx.AsyncClient(verify=False) as client,
            cls(model_name(transcript), api_key="k-1234", base_url=base_url, client=client) as m,
        ):
            return await complete(m, "hi")

    return asyncio.run(main())


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


@pytest.mark.parametrize("name", OK)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=40))
def test_any_split_decodes_the_same(server, transcripts, name, cuts):
    t = transcripts[name]
    data = t["response"]["body"].encode("utf-8")
    check_response(t, decode(server, t, split_at(data, cuts)))


@pytest.mark.parametrize("name", OK)
def test_one_byte_at_a_time(server, transcripts, name):
    t = transcripts[name]
    data = t["response"]["body"].encode("utf-8")
    check_response(t, decode(server, t, [data[i : i + 1] for i in range(len(data))]))
