"""/ui/login and /ui/logout: the browser's way to present QMDR_API_TOKEN.

The login form checks the token (constant time) and sets ``qmdr_session`` to
an expiring HMAC of it (``qmdr.api.deps.session_cookie_value``), HttpOnly and
SameSite=Strict, so the token itself is never stored in the browser and
scripts cannot read the cookie. Agents keep using the bearer header.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from starlette.responses import Response

from qmdr.api.deps import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    client_address,
    session_cookie_value,
    throttle_of,
    token_matches,
)
from qmdr.ui.forms import field_text
from qmdr.ui.web import UI_PREFIX, auth_enabled, posted_form, redirect, render, service_of

router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)

#: a pasted token beyond this is not a token; refuse before hashing it
MAX_TOKEN_CHARS = 1024


#: pages outside /ui that send a browser here to sign in (the API docs)
RETURN_PAGES = frozenset({"/docs", "/redoc"})


def safe_next(value: str | None) -> str:
    """Only paths inside the dashboard (or the API docs): a login link can never send the browser to another site."""
    if value in RETURN_PAGES:
        return value  # type: ignore[return-value]  # membership rules out None
    if value and value.startswith(f"{UI_PREFIX}/") and not value.startswith("//") and "\\" not in value:
        return value
    return f"{UI_PREFIX}/memory"


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    """The token form (straight to the dashboard when no QMDR_API_TOKEN is set)."""
    if not auth_enabled(request):
        return redirect(request, safe_next(next))
    return render(request, "login.html", {"title": "Sign in", "hide_nav": True, "next": safe_next(next)})


@router.post("/login")
async def login(request: Request) -> Response:
    form = await posted_form(request)
    next_path = safe_next(field_text(form, "next"))
    expected = service_of(request).settings.qmdr_api_token
    if expected is None:
        return redirect(request, next_path)
    throttle, client = throttle_of(request), client_address(request)
    if throttle is not None and (wait := throttle.retry_after(client)):
        response = render(
            request,
            "login.html",
            {
                "title": "Sign in",
                "hide_nav": True,
                "next": next_path,
                "error": f"Too many wrong tokens from this address. Try again in {wait} s.",
            },
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    token = field_text(form, "token")
    if len(token) > MAX_TOKEN_CHARS or not token_matches(token, expected.get_secret_value()):
        if throttle is not None:
            throttle.failed(client)
        return render(
            request,
            "login.html",
            {"title": "Sign in", "hide_nav": True, "next": next_path, "error": "That token is not QMDR_API_TOKEN."},
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    if throttle is not None:
        throttle.succeeded(client)
    response = redirect(request, next_path)
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie_value(expected.get_secret_value()),
        max_age=SESSION_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await posted_form(request)
    response = redirect(request, f"{UI_PREFIX}/login", flash=("info", "Signed out."))
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
