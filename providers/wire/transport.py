"""The HTTP plumbing every native wire adapter shares: one JSON request, or one stream.

Each adapter builds its own URL, headers and body; these helpers send them,
translate httpx failures into the provider error tree (through
``providers.http``) and hand back plain JSON or parsed Server-Sent Events, so
no adapter repeats the error handling and nothing above ``providers`` sees
httpx.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from providers.errors import MalformedResponse
from providers.http import raise_for_status, read_json, send

#: SSE comment lines start with this; servers send them as keep-alives
SSE_COMMENT_PREFIX = ":"


def timeout_arg(seconds: float | None) -> float | httpx._client.UseClientDefault:
    """Per-call timeout for httpx: None means "the client's default", never "wait forever"."""
    return httpx.USE_CLIENT_DEFAULT if seconds is None else seconds


async def request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    model: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    content: bytes | None = None,
    timeout: float | None = None,
) -> Any:
    """Send one request and return its JSON body, raising the provider error tree on failure.

    ``content`` is for bodies that were serialised (and perhaps signed) already,
    so the bytes on the wire are exactly the bytes that were signed.
    """
    request = client.build_request(
        method,
        url,
        headers=dict(headers or {}),
        json=body if content is None else None,
        content=content,
        timeout=timeout_arg(timeout),
    )
    response = await send(lambda: client.send(request), provider=provider)
    raise_for_status(response, provider=provider, model=model)
    return read_json(response, provider=provider)


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    provider: str,
    model: str | None = None,
) -> AsyncIterator[httpx.Response]:
    """Open a streamed response, raising the error tree (with the error body read) before any byte is used."""
    response = await send(lambda: client.send(request, stream=True), provider=provider)
    try:
        if not response.is_success:
            await send(response.aread, provider=provider)
            raise_for_status(response, provider=provider, model=model)
        yield response
    finally:
        await response.aclose()


async def iter_bytes(response: httpx.Response, *, provider: str) -> AsyncIterator[bytes]:
    """The raw body chunks, with a mid-stream timeout or drop mapped to our connection errors."""
    iterator = response.aiter_bytes().__aiter__()
    while True:
        try:
            chunk = await send(iterator.__anext__, provider=provider)
        except StopAsyncIteration:
            return
        yield chunk


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One Server-Sent Event: its ``event:`` name (default "message") and joined ``data:`` lines."""

    event: str
    data: str

    def json(self, *, provider: str) -> Any:
        """The data as JSON; a 2xx stream with an unreadable event is a MalformedResponse."""
        try:
            return json.loads(self.data)
        except ValueError as exc:
            raise MalformedResponse(
                f"{provider} sent a stream event that is not valid JSON ({len(self.data)} chars)",
                provider=provider,
            ) from exc


async def iter_sse(response: httpx.Response, *, provider: str) -> AsyncIterator[SseEvent]:
    """Parse a ``text/event-stream`` body into events (the WHATWG rules we need: event, data, blank line)."""
    lines = response.aiter_lines().__aiter__()
    event, data = "", []
    while True:
        try:
            line = await send(lines.__anext__, provider=provider)
        except StopAsyncIteration:
            break
        if line == "":
            if data:
                yield SseEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(SSE_COMMENT_PREFIX):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:  # a stream that ends without the final blank line still delivers its last event
        yield SseEvent(event or "message", "\n".join(data))


def raise_in_stream_error(status: int, error_body: Any, *, provider: str, model: str | None = None) -> None:
    """Raise the error tree for an error reported *inside* a 2xx stream (the HTTP status came too early).

    The same ``raise_for_status`` decides the class and message, so a 429 in
    a stream is a RateLimited exactly like a 429 status line.
    """
    body = error_body if isinstance(error_body, str) else json.dumps(error_body)
    raise_for_status(httpx.Response(status, text=body), provider=provider, model=model)
    # a 2xx status here would be a caller bug; still never let a stream error pass silently
    raise MalformedResponse(f"{provider} reported an error inside the stream", provider=provider, model=model)
