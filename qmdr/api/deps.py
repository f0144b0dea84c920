"""Shared route dependencies as ``Annotated`` aliases; tests swap them with ``dependency_overrides``."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from qmdr.api.auth_throttle import AuthThrottle
from qmdr.service import Service

#: the cookie the dashboard's login form sets (HttpOnly, SameSite=Strict)
SESSION_COOKIE = "qmdr_session"
#: a dashboard login lasts this long; then the browser asks for the token again
SESSION_MAX_AGE_S = 12 * 3600
#: domain separation: the session MAC can never be confused with another use of the token as a key
_SESSION_CONTEXT = b"qmdr dashboard session v1|"


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


def presented_token(request: Request) -> str | None:
    """The bearer token of an agent, or None (the dashboard's cookie is checked by ``request_authorized``)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def request_authorized(request: Request) -> bool:
    """True when no QMDR_API_TOKEN is set, or the request carries it (bearer) or a valid session cookie."""
    expected = request.app.state.service.settings.qmdr_api_token
    if expected is None:
        return True
    token = expected.get_secret_value()
    bearer = presented_token(request)
    if bearer is not None:
        return token_matches(bearer, token)
    return session_cookie_valid(request.cookies.get(SESSION_COOKIE), token)


def client_address(request: Request) -> str:
    """Who the auth throttle counts a wrong token against: the peer address."""
    return request.client.host if request.client else "unknown"


def throttle_of(request: Request) -> AuthThrottle | None:
    return getattr(request.app.state, "auth_throttle", None)


def too_many_failures(wait_s: int) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail="too many wrong tokens; retry later",
                         headers={"Retry-After": str(wait_s)})


def require_token(request: Request) -> None:
    """401 without detail unless the request carries QMDR_API_TOKEN (when one is set).

    Wrong bearer tokens are counted per client (``AuthThrottle``); past the
    free ones the client gets 429 with Retry-After and no token is checked.
    """
    throttle = throttle_of(request)
    configured = request.app.state.service.settings.qmdr_api_token is not None
    bearer_given = configured and presented_token(request) is not None
    client = client_address(request)
    if throttle is not None and bearer_given and (wait := throttle.retry_after(client)):
        raise too_many_failures(wait)
    if request_authorized(request):
        if throttle is not None and bearer_given:
            throttle.succeeded(client)
        return
    if throttle is not None and bearer_given:
        throttle.failed(client)
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="unauthorized", headers={"WWW-Authenticate": "Bearer"})


ServiceDep = Annotated[Service, Depends(get_service)]
Authorized = Depends(require_token)
