"""A call's total deadline covers every request, retry, backoff wait and fallback; each read keeps its timeout.

Issue 15: a server dripping one byte a second held a call with ``timeout=3``
for 12 s (every read arrived inside the read timeout), and with retries a 3 s
timeout became ~10 s. The servers here are real loopback sockets that drip
bytes, so only a deadline over the whole call can end them. Each test is
wrapped in a generous outer limit so a regression fails instead of hanging;
no test asserts a wall-clock figure.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from providers import Keys, Message, ProviderClient, SecretStore
from providers.errors import DeadlineExceeded, ProviderUnavailable, RateLimited
from providers.reliability import run_fallbacks, with_retries

#: an outer bound that only a hanging call reaches (the deadlines under test are 1 s)
HANG_GUARD_SECONDS = 120
DRIP_INTERVAL_SECONDS = 0.05


class DripServer:
    """Answers each request with headers at once, then a body one byte per DRIP_INTERVAL_SECONDS."""

    def __init__(self, head: bytes, body: bytes) -> None:
        self.head, self.body = head, body
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(self.head)
            await writer.drain()
            for byte in self.body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(DRIP_INTERVAL_SECONDS)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()


def _client(base_url: str) -> ProviderClient:
    store = SecretStore(memory=True)
    store.add_custom_provider("drip", base_url)
    return ProviderClient(Keys(store, {}), http=httpx.AsyncClient(timeout=httpx.Timeout(30.0)))


@pytest.mark.anyio
async def test_a_dripping_body_ends_at_the_deadline_not_at_the_last_byte():
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "x" * 20_000}}]}).encode()
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    drip = DripServer(head, body)  # 20 kB at 20 bytes/s: ~17 minutes if only the read timeout applied
    async with drip as base_url:
        client = _client(base_url)
        with pytest.raises(DeadlineExceeded) as info:
            await asyncio.wait_for(
                client.chat("custom-drip/m", [Message("user", "hi")], timeout=1.0), HANG_GUARD_SECONDS
            )
    assert "1 s deadline" in info.value.message and "retry" in info.value.message
    assert drip.requests == 1  # the deadline ended the call: no retry was started after it


@pytest.mark.anyio
async def test_a_stream_that_stalls_after_its_first_piece_ends_at_the_deadline():
    first = b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + first
    drip = DripServer(head, b": keep-alive\n" * 50_000)  # comments only: no piece, every read in time
    async with drip as base_url:
        client = _client(base_url)
        pieces = []

        async def read() -> None:
            async for delta in client.stream_chat("custom-drip/m", [Message("user", "hi")], timeout=1.0):
                pieces.append(delta.text)

        with pytest.raises(DeadlineExceeded, match="deadline"):
            await asyncio.wait_for(read(), HANG_GUARD_SECONDS)
    assert pieces == ["Hel"]


class Clock:
    """A fake clock that the fake sleep moves forward."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.anyio
async def test_backoff_that_would_end_past_the_deadline_is_not_waited_for():
    clock = Clock()
    calls = []

    async def fn():
        calls.append(clock.now)
        raise RateLimited("slow down", retry_after=2.0, provider="groq")

    with pytest.raises(DeadlineExceeded) as info:
        await with_retries(fn, sleep=clock.sleep, deadline=3.0, clock=clock)
    assert clock.sleeps == [2.0] and calls == [0.0, 2.0]  # the second 2 s wait would end at 4 s > 3 s
    assert isinstance(info.value.__cause__, RateLimited) and "deadline" in info.value.message


@pytest.mark.anyio
async def test_a_spent_deadline_ends_the_chain_without_trying_the_fallbacks():
    clock = Clock()
    tried = []

    async def call(model):
        tried.append(model)
        raise ProviderUnavailable("down", status=503, provider=model.split("/")[0])

    with pytest.raises(DeadlineExceeded):
        await run_fallbacks([("a/1", "a"), ("b/2", "b")], call, sleep=clock.sleep, deadline=0.1, clock=clock)
    assert tried == ["a/1"]
