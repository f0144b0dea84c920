"""CSRF protection for the dashboard's forms: a signed double-submit token plus an Origin check.

Every page that renders a form makes sure the browser holds a random nonce in
the ``qmdr_csrf`` cookie (HttpOnly, SameSite=Strict) and puts
``HMAC(secret, nonce)`` in the form's hidden ``csrf_token`` field. A POST is
accepted only when

1. its ``Origin`` (or, failing that, ``Referer``) is this server's own origin, and
2. the hidden field equals ``HMAC(secret, <nonce from the cookie>)``.

Signing the field (rather than copying the cookie into it) means that a page
able to plant a cookie for this host still cannot forge a matching field
without the per-process secret. The checks hold whether or not
QMDR_API_TOKEN is set: without a token the server listens on 127.0.0.1 only,
and any web page the user visits could otherwise post to it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from qmdr.api.origin import origin_problem

CSRF_COOKIE = "qmdr_csrf"
CSRF_FIELD = "csrf_token"
#: random bytes in a nonce: 128 bits cannot be guessed
NONCE_BYTES = 16
#: the nonce cookie outlives a working session; a stale form simply asks for a reload
CSRF_COOKIE_MAX_AGE_S = 24 * 3600
#: domain separation from the other MACs made with the same per-process secret
_CSRF_CONTEXT = b"qmdr csrf v1|"


class CsrfError(Exception):
    """A state-changing request that did not prove it came from our own page (answered with 403)."""


def new_secret() -> bytes:
    """The per-process signing key (forms rendered before a restart must be reloaded)."""
    return secrets.token_bytes(32)


def _nonce_ok(nonce: str | None) -> bool:
    return bool(nonce) and len(nonce) <= 2 * NONCE_BYTES + 8 and nonce.isalnum()


def sign(secret: bytes, nonce: str) -> str:
    return hmac.new(secret, _CSRF_CONTEXT + nonce.encode(), hashlib.sha256).hexdigest()


def ensure_nonce(request: Request) -> tuple[str, bool]:
    """The browser's nonce, or a fresh one; the flag says the response must set the cookie."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if _nonce_ok(nonce):
        return nonce, False  # type: ignore[return-value]  # _nonce_ok rules out None
    return secrets.token_hex(NONCE_BYTES), True


def set_nonce_cookie(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        nonce,
        max_age=CSRF_COOKIE_MAX_AGE_S,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def check_origin(request: Request) -> None:
    """The request must name our origin in Origin, or else in Referer; a request naming neither is refused."""
    problem = origin_problem(request)
    if problem is not None:
        raise CsrfError(problem)


def check_token(request: Request, form: FormData, secret: bytes) -> None:
    """The hidden field must be the signature of the nonce in the cookie (constant-time compare)."""
    nonce = request.cookies.get(CSRF_COOKIE)
    given = form.get(CSRF_FIELD)
    if not _nonce_ok(nonce) or not isinstance(given, str) or not given:
        raise CsrfError("the form's CSRF token or cookie is missing")
    if not hmac.compare_digest(given.encode(), sign(secret, nonce).encode()):  # type: ignore[arg-type]
        raise CsrfError("the form's CSRF token does not match")


async def verified_form(request: Request, secret: bytes) -> FormData:
    """Parse a POSTed form after checking its origin and CSRF token; CsrfError otherwise."""
    check_origin(request)
    form = await request.form()
    check_token(request, form, secret)
    return form
