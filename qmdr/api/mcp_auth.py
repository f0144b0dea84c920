"""Bearer auth for ``qmdr mcp --http``, with the HTTP API's tokens: QMDR_API_TOKEN (everything) or an agent
token (its vaults), and the same lockout for wrong tokens.

An ASGI wrapper around the MCP SDK's streamable-HTTP app: it checks the
``Authorization`` header of every request before the SDK sees it (401 with
``WWW-Authenticate: Bearer`` otherwise) and leaves the caller's ``Access`` in the
request scope, where each tool finds it (``access_of``) and enforces the scope as
the API's routes do. Without QMDR_API_TOKEN every caller is the admin, as on the
API (and ``qmdr mcp --http`` then binds to loopback only). Over stdio the caller
is whoever started the process: the admin.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from qmdr.access.scope import Access
from qmdr.access.stores import open_token_store
from qmdr.access.tokens import TokenStore, looks_like_token, token_hash
from qmdr.api.auth_throttle import AuthThrottle
from qmdr.api.deps import token_matches
from qmdr.settings import Settings

#: where the wrapper leaves the caller's Access in the ASGI scope
ACCESS_SCOPE_KEY = "qmdr_access"


def bearer_of(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = value.decode("latin-1")
            return text[7:].strip() if text.lower().startswith("bearer ") else None
    return None


def access_of(request: Any) -> Access:
    """The caller's ``Access`` for a tool: from the HTTP request's scope, or the admin over stdio (no request)."""
    if request is None:
        return Access.admin()
    access = getattr(request, "scope", {}).get(ACCESS_SCOPE_KEY)
    if access is None:  # an HTTP request that did not pass McpBearerAuth: never more than nothing
        return Access(token_name="(unauthenticated)", vaults={})  # noqa: S106 - a label, not a secret
    return access


class McpBearerAuth:
    """``McpBearerAuth(app, settings)``: refuse requests without a valid token; tag the rest with their Access."""

    def __init__(self, app: ASGIApp, settings: Settings, *, throttle: AuthThrottle | None = None) -> None:
        self.app = app
        self.settings = settings
        self.throttle = throttle or AuthThrottle(settings.qmdr_auth_free_failures)
        self._store: TokenStore | None = None
        self._lock = threading.Lock()

    def store(self) -> TokenStore:
        with self._lock:
            if self._store is None:
                self._store = open_token_store(self.settings)
            return self._store

    def authenticate(self, bearer: str) -> Access | None:
        admin = self.settings.qmdr_api_token
        if admin is not None and token_matches(bearer, admin.get_secret_value()):
            return Access.admin()
        if looks_like_token(bearer):
            info = self.store().find(token_hash(bearer))
            if info is not None:
                return Access.scoped(info)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.settings.qmdr_api_token is None:
            scope[ACCESS_SCOPE_KEY] = Access.admin()
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        bearer = bearer_of(scope)
        if bearer is not None and (wait := self.throttle.retry_after(client)):
            await refuse(
                send, 429, f"too many wrong tokens from this address; retry in {wait} s", {"retry-after": str(wait)}
            )
            return
        access = await anyio.to_thread.run_sync(self.authenticate, bearer) if bearer else None
        if access is None:
            if bearer is not None:
                self.throttle.failed(client)
            await refuse(
                send,
                401,
                "send QMDR_API_TOKEN or an agent token as 'Authorization: Bearer <token>'",
                {"www-authenticate": "Bearer"},
            )
            return
        self.throttle.succeeded(client)
        scope[ACCESS_SCOPE_KEY] = access
        await self.app(scope, receive, send)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


async def refuse(send: Send, status: int, detail: str, headers: dict[str, str]) -> None:
    """A problem-details refusal, as the API's (never anything about the token itself)."""
    body = json.dumps({"type": "about:blank", "status": status, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *((name.encode(), value.encode()) for name, value in headers.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
