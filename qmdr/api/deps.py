"""Shared route dependencies as ``Annotated`` aliases; tests swap them with ``dependency_overrides``."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from qmdr.service import Service

#: the cookie the dashboard's login form sets (HttpOnly, SameSite=Strict)
SESSION_COOKIE = "qmdr_session"


def get_service(request: Request) -> Service:
    return request.app.state.service


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so response timing leaks nothing about the token."""
    if not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def presented_token(request: Request) -> str | None:
    """The bearer token of an agent, or the dashboard's session cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


def require_token(request: Request) -> None:
    """401 without detail unless the request carries QMDR_API_TOKEN (when one is set)."""
    expected = request.app.state.service.settings.qmdr_api_token
    if expected is None:
        return
    if not token_matches(presented_token(request), expected.get_secret_value()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="unauthorized",
                            headers={"WWW-Authenticate": "Bearer"})


ServiceDep = Annotated[Service, Depends(get_service)]
Authorized = Depends(require_token)
