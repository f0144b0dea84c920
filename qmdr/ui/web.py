"""What every dashboard route shares: templates, security headers, login guard, CSRF-checked forms.

Pages are rendered on the server (Jinja2, autoescaped); a page response also
makes sure the browser holds a CSRF nonce and consumes any pending flash
message. State-changing routes call ``posted_form`` (Origin + CSRF token) and
answer with ``redirect`` (303, so a reload never resubmits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, status
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from qmdr.api.deps import request_authorized
from qmdr.service import Service
from qmdr.ui import csrf
from qmdr.ui.flash import FlashKind, clear_flash, set_flash, take_flash

PACKAGE_DIR = Path(__file__).resolve().parents[1]
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
UI_PREFIX = "/ui"
LOGIN_PATH = f"{UI_PREFIX}/login"

#: scripts and styles only from our own /ui/static, no inline code, never framed, forms post only to us
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages show key status; never keep them in a shared cache
}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True
)


class LoginRequired(Exception):
    """A dashboard page was asked for without a session while QMDR_API_TOKEN is set."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def ui_secret(request: Request) -> bytes:
    return request.app.state.ui_secret


def service_of(request: Request) -> Service:
    return request.app.state.service


def auth_enabled(request: Request) -> bool:
    return service_of(request).settings.qmdr_api_token is not None


def require_login(request: Request) -> None:
    """Route dependency: with QMDR_API_TOKEN set, no session means the login page (then back here)."""
    if not request_authorized(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else UI_PREFIX)


def login_redirect(next_path: str) -> RedirectResponse:
    response = RedirectResponse(f"{LOGIN_PATH}?next={quote(next_path, safe='/')}", status.HTTP_303_SEE_OTHER)
    response.headers.update(SECURITY_HEADERS)
    return response


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """Render a page with the shared context (CSRF token, flash message, navigation)."""
    secret = ui_secret(request)
    nonce, new_nonce = csrf.ensure_nonce(request)
    flash = take_flash(request, secret)
    token = csrf.sign(secret, nonce)
    page = {
        "request": request,
        "csrf_field": csrf.CSRF_FIELD,
        "csrf_token": token,
        "csrf_input": Markup('<input type="hidden" name="{}" value="{}">').format(csrf.CSRF_FIELD, token),
        "flash": flash,
        "auth_enabled": auth_enabled(request),
        "path": request.url.path,
        **(context or {}),
    }
    response = HTMLResponse(_env.get_template(template).render(page), status_code=status_code, headers=SECURITY_HEADERS)
    if new_nonce:
        csrf.set_nonce_cookie(response, request, nonce)
    if flash is not None:
        clear_flash(response)
    return response


def redirect(request: Request, path: str, *, flash: tuple[FlashKind, str] | None = None) -> RedirectResponse:
    """303 See Other to ``path`` (a reload of the next page never re-posts), with an optional message."""
    response = RedirectResponse(path, status.HTTP_303_SEE_OTHER, headers=SECURITY_HEADERS)
    if flash is not None:
        set_flash(response, request, ui_secret(request), *flash)
    return response


async def posted_form(request: Request) -> FormData:
    """The POSTed form, once its Origin and CSRF token check out (CsrfError, answered 403, otherwise)."""
    return await csrf.verified_form(request, ui_secret(request))


def forbidden_page(request: Request, exc: Exception) -> Response:
    """The 403 page of a failed CSRF check; it carries a fresh nonce so going back and reloading works."""
    detail = f"This form could not be verified ({exc}). Go back, reload the page and try again."
    return render(
        request, "error.html", {"title": "Request refused", "detail": detail}, status_code=status.HTTP_403_FORBIDDEN
    )


def error_page(request: Request, title: str, detail: str, status_code: int) -> Response:
    return render(request, "error.html", {"title": title, "detail": detail}, status_code=status_code)
