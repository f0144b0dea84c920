"""Shared route dependencies as ``Annotated`` aliases; tests swap them with ``dependency_overrides``."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from starlette.requests import HTTPConnection

from qmdr.access.scope import Access
from qmdr.access.stores import open_token_store
from qmdr.access.tokens import TokenStore, looks_like_token, token_hash
from qmdr.api.auth_throttle import AuthThrottle
from qmdr.api.origin import SAFE_METHODS, origin_problem
from qmdr.memory.vaults import DEFAULT_VAULT
from qmdr.service import Service

#: the cookie the dashboard's login form sets (HttpOnly, SameSite=Strict)
SESSION_COOKIE = "qmdr_session"
#: a dashboard login lasts this long; then the browser asks for the token again
SESSION_MAX_AGE_S = 12 * 3600
#: domain separation: the session MAC can never be confused with another use of the token as a key
_SESSION_CONTEXT = b"qmdr dashboard session v1|"
#: request-state key: this request's token was checked already (by the body gate)
_CHECKED = "qmdr_token_checked"
#: request-state key: the ``Access`` the request's credentials carry
_ACCESS = "qmdr_access"
_token_store_lock = threading.Lock()


def get_service(request: Request) -> Service:
    return request.app.state.service


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so response timing leaks nothing about the token."""
    if not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _session_mac(token: str, expires_at: int) -> str:
    return hmac.new(token.encode(), _SESSION_CONTEXT + str(expires_at).encode(), hashlib.sha256).hexdigest()


def session_cookie_value(token: str, *, now: float | None = None) -> str:
    """``<expiry>.<HMAC-SHA256(token, expiry)>``: the cookie proves the token without holding it,
    and stops working after SESSION_MAX_AGE_S (or as soon as QMDR_API_TOKEN changes)."""
    expires_at = int(now if now is not None else time.time()) + SESSION_MAX_AGE_S
    return f"{expires_at}.{_session_mac(token, expires_at)}"


def session_cookie_valid(value: str | None, token: str, *, now: float | None = None) -> bool:
    """Constant-time check of a session cookie against the token, expiry included."""
    expires, _, mac = (value or "").partition(".")
    if not expires.isdigit() or not mac:
        return False
    valid = hmac.compare_digest(mac.encode(), _session_mac(token, int(expires)).encode())
    return valid and int(expires) > (now if now is not None else time.time())


def presented_token(request: HTTPConnection) -> str | None:
    """The bearer token of an agent, or None (the dashboard's cookie is checked by ``request_authorized``)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def api_token(request: HTTPConnection) -> str | None:
    """QMDR_API_TOKEN, or None when the API is open."""
    expected = request.app.state.service.settings.qmdr_api_token
    return None if expected is None else expected.get_secret_value()


def token_store_of(conn: HTTPConnection) -> TokenStore:
    """The app's agent-token store, opened on first use (SQLite in the data dir, or PostgreSQL)."""
    state = conn.app.state
    store = getattr(state, "token_store", None)
    if store is None:
        with _token_store_lock:
            store = getattr(state, "token_store", None)
            if store is None:
                store = state.token_store = open_token_store(state.service.settings)
    return store


def authenticate(request: HTTPConnection) -> Access | None:
    """What the request's credentials allow: everything without QMDR_API_TOKEN, with it or with the
    dashboard's session; an agent token's vaults; None for missing or wrong credentials.

    Agent tokens count only while QMDR_API_TOKEN is set: without it the API is open to everyone anyway,
    and a token that narrowed nothing would only pretend to protect.
    """
    token = api_token(request)
    if token is None:
        return Access.admin()
    bearer = presented_token(request)
    if bearer is None:
        return Access.admin() if session_cookie_valid(request.cookies.get(SESSION_COOKIE), token) else None
    if token_matches(bearer, token):
        return Access.admin()
    if looks_like_token(bearer):
        info = token_store_of(request).find(token_hash(bearer))
        if info is not None:
            return Access.scoped(info)
    return None


def request_authorized(request: HTTPConnection) -> bool:
    """True when no QMDR_API_TOKEN is set, or the request carries it (bearer) or a valid session cookie."""
    token = api_token(request)
    if token is None:
        return True
    bearer = presented_token(request)
    if bearer is not None:
        return token_matches(bearer, token)
    return session_cookie_valid(request.cookies.get(SESSION_COOKIE), token)


def cross_origin_cookie(request: HTTPConnection) -> str | None:
    """Why a cookie-authenticated, state-changing API request is refused, or None when it is not one.

    A page on another origin can make the browser send the session cookie
    (another port of ``localhost`` is even the same site for ``SameSite``),
    never the bearer header; so the API accepts the cookie for a POST, PUT or
    DELETE only with the Origin check of the dashboard's forms.
    """
    if api_token(request) is None or presented_token(request) is not None:
        return None
    if request.scope.get("method", "GET") in SAFE_METHODS:
        return None
    return origin_problem(request)


def client_address(request: HTTPConnection) -> str:
    """Who the auth throttle counts a wrong token against: the peer address, which is the client's own
    address from X-Forwarded-For only when the peer is one of QMDR_TRUSTED_PROXIES (``qmdr serve``)."""
    return request.client.host if request.client else "unknown"


def throttle_of(request: HTTPConnection) -> AuthThrottle | None:
    return getattr(request.app.state, "auth_throttle", None)


def too_many_failures(wait_s: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"too many wrong tokens from this address; retry in {wait_s} s",
        headers={"Retry-After": str(wait_s)},
    )


def unauthorized(request: HTTPConnection) -> HTTPException:
    """401 that says what to send; it never says anything about the token itself."""
    if presented_token(request) is not None:
        detail = (
            "the bearer token is neither QMDR_API_TOKEN nor a live agent token (revoked?); "
            "send 'Authorization: Bearer <QMDR_API_TOKEN>' or an agent token the same way"
        )
    else:
        detail = "send the API token as 'Authorization: Bearer <QMDR_API_TOKEN>' (or an agent token the same way)"
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def check_token(request: HTTPConnection) -> None:
    """Raise 401 unless the request carries QMDR_API_TOKEN (when one is set); 429 during a lockout;
    403 for a cookie-authenticated write from another origin (``cross_origin_cookie``).

    Wrong bearer tokens are counted per client (``AuthThrottle``); past the
    free ones the client gets 429 with Retry-After and no token is checked.
    A request already checked (by the body gate, before its body was read) is
    not counted twice.
    """
    state = request.scope.setdefault("state", {})
    if state.get(_CHECKED):
        return
    throttle = throttle_of(request)
    bearer_given = api_token(request) is not None and presented_token(request) is not None
    client = client_address(request)
    if throttle is not None and bearer_given and (wait := throttle.retry_after(client)):
        raise too_many_failures(wait)
    access = authenticate(request)
    if access is not None:
        if throttle is not None and bearer_given:
            throttle.succeeded(client)
        if (refused := cross_origin_cookie(request)) is not None:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"{refused}: the session cookie is accepted for "
                f"{request.scope.get('method')} only from this server's own pages; agents send "
                "'Authorization: Bearer <QMDR_API_TOKEN>'",
            )
        state[_CHECKED] = True
        state[_ACCESS] = access
        return
    if throttle is not None and bearer_given:
        throttle.failed(client)
    raise unauthorized(request)


def request_access(request: HTTPConnection) -> Access:
    """The ``Access`` of an authenticated request (``check_token`` first: 401/429 otherwise)."""
    check_token(request)
    return request.scope["state"][_ACCESS]


def current_access(request: Request) -> Access:
    """Route dependency: the caller's ``Access``. A route that depends on it (directly or through
    ``ReadVault`` and the like) declares that it enforces an agent token's scope itself."""
    return request_access(request)


def enforces_scope(route: Any) -> bool:
    """Whether ``route`` depends on ``current_access`` anywhere in its dependency tree (a walk over a dozen
    nodes: cheaper than caching it, and routes are not hashable)."""
    pending = list(getattr(getattr(route, "dependant", None), "dependencies", []))
    while pending:
        dependant = pending.pop()
        if dependant.call is current_access:
            return True
        pending.extend(dependant.dependencies)
    return False


def require_token(request: Request) -> None:
    """Route dependency of every API router: ``check_token`` (401 with a hint what to send, 429 during a
    lockout), then default deny for agent tokens: a route that does not enforce a scope (``enforces_scope``)
    is the admin's alone, so a new route is never open to scoped tokens by accident."""
    access = request_access(request)
    if not access.is_admin:
        route = request.scope.get("route")
        if not enforces_scope(route):
            access.require_admin(f"{request.method} {getattr(route, 'path', request.url.path)}")


def readable_vault(vault: str, access: Annotated[Access, Depends(current_access)]) -> None:
    """Route dependency: the ``{vault}`` of the path is readable by the caller (else 403 naming it)."""
    access.require_read(vault)


def writable_vault(vault: str, access: Annotated[Access, Depends(current_access)]) -> None:
    """Route dependency: the caller may write the ``{vault}`` of the path (rw)."""
    access.require_write(vault)


def readable_default(access: Annotated[Access, Depends(current_access)]) -> None:
    """Route dependency of the default vault's aliases (``POST /search``, ``GET /notes/...``)."""
    access.require_read(DEFAULT_VAULT)


ServiceDep = Annotated[Service, Depends(get_service)]
AccessDep = Annotated[Access, Depends(current_access)]
Authorized = Depends(require_token)
#: any valid token may call the route (its answer holds nothing of a vault)
AnyToken = Depends(current_access)
ReadVault = Depends(readable_vault)
WriteVault = Depends(writable_vault)
ReadDefault = Depends(readable_default)
