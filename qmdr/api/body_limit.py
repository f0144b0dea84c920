"""Request bodies: refused unauthenticated before a byte is read, counted as they arrive whatever the framing.

A ``Content-Length`` check alone lets a chunked body through (it has no
length), and checking the token in a route dependency comes after FastAPI has
read and parsed the body: a 200 MB chunked POST without a token once grew the
server by 760 MB before its 401. This ASGI middleware sits in front of
everything:

1. a request that has a body (``Content-Length`` above 0 or any
   ``Transfer-Encoding``) must pass ``gate`` first, with only its headers read;
   the gate answers 401/403/429 (the API token check) or a login redirect;
2. a declared ``Content-Length`` over the limit is 413 at once;
3. the bytes of every body are counted as the app receives them, and the
   first chunk over the limit raises ``BodyTooLarge`` (413) instead of being
   handed on, so nothing past the limit is ever buffered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: a gate looks at the headers of a request with a body: None lets it through, a Response refuses it
BodyGate = Callable[[Request], Awaitable[Response | None]]


class BodyTooLarge(HTTPException):
    """More body bytes arrived than the limit allows (answered 413 by the error handlers)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"the request body is over {limit} bytes")
        self.error = "PayloadTooLarge"


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body: a non-zero Content-Length or any Transfer-Encoding."""
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding":
            return True
        if name == b"content-length" and value.strip() not in (b"0", b""):
            return True
    return False


def declared_length(scope: Scope) -> int | None:
    """The Content-Length as a number; -1 when it is not one (refused like an oversized body)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.strip()
            return int(text) if text.isdigit() else -1
    return None


class BodyLimitMiddleware:
    """Gate bodies on authentication, then hold them to ``max_bytes`` however they are framed."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        gate: BodyGate,
        error_response: Callable[[Request, HTTPException], Awaitable[Response]],
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.gate = gate
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)  # headers only: reading the body here would defeat the point
        refusal = await self.gate(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None and (length < 0 or length > self.max_bytes):
            response = await self.error_response(request, BodyTooLarge(self.max_bytes))
            await response(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:  # the app let it escape (it read the body outside a route)
            if started:
                raise
            response = await self.error_response(Request(scope), exc)
            await response(scope, receive, send)
