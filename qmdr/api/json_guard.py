"""Refuse JSON bodies whose strings are not valid Unicode (a lone UTF-16 surrogate such as ``"\\ud800"``).

JSON lets ``\\ud800`` stand alone; Python's parser turns it into a ``str`` that
UTF-8 cannot encode, so it failed deep inside a route (SQLite, a provider
call, the error handler echoing it) as a 500. Checking at the edge, once,
answers every route the same 400 with the field's location.

The middleware runs after the body gate (``qmdr.api.body_limit``): only
authorised bodies, at most the body limit, are read. A body is parsed here
only when its raw bytes hold a ``\\uD800``-``\\uDFFF`` escape at all, so the
common request pays one byte scan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: a surrogate escape: the only way a lone surrogate can get into a JSON text that is valid UTF-8
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class InvalidUnicode(HTTPException):
    """A JSON string holds a lone surrogate (answered 400 by the error handlers)."""

    def __init__(self, where: str) -> None:
        super().__init__(
            400,
            detail=f"the JSON body holds a lone UTF-16 surrogate (\\ud800-\\udfff) in {where}: "
            "strings must be valid Unicode (pair the surrogates, or send the text as UTF-8)",
        )
        self.error = "InvalidUnicode"


def unencodable_strings(value: Any, path: str = "body") -> Iterator[str]:
    """The locations of strings (keys or values) in parsed JSON that UTF-8 cannot encode."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from unencodable_strings(key, f"{path} (a key)")
            yield from unencodable_strings(item, f"{path}.{key.encode('utf-8', 'replace').decode()}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unencodable_strings(item, f"{path}[{index}]")


def bad_unicode_location(body: bytes) -> str | None:
    """Where the first lone surrogate is, or None (also for bodies that are not JSON: routes answer those)."""
    if not SURROGATE_ESCAPE.search(body):
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return next(unencodable_strings(parsed), None)


def is_json(scope: Scope) -> bool:
    """A JSON body, or one without a content type (FastAPI parses those as JSON too)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return True


class JsonUnicodeMiddleware:
    """Read a JSON body whole (it is bounded by the body limit), check it, and hand the same bytes on."""

    def __init__(
        self, app: ASGIApp, *, error_response: Callable[[Request, HTTPException], Awaitable[Response]]
    ) -> None:
        self.app = app
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD") or not is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replay(b"", message, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        where = bad_unicode_location(body)
        if where is not None:
            response = await self.error_response(Request(scope), InvalidUnicode(where))
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, None, receive), send)


def _replay(body: bytes, pending: Message | None, receive: Receive) -> Receive:
    """A receive that gives the app ``body`` in one message (or ``pending``), then the real stream's next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return pending if pending is not None else {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
