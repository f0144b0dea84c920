"""The web dashboard under /ui: Settings -> Providers, Models, Agent tokens; Memory (search, reindex, notes).

Server-rendered Jinja2 pages with one small CSS file and a little plain
JavaScript (no build step). It shares the API's auth (QMDR_API_TOKEN as a
bearer header, or the login form's session cookie) and protects every form
with an Origin check and a signed CSRF token (``qmdr.ui.csrf``).

``install_dashboard(app)`` is all ``create_app`` needs to call.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from qmdr.ui import auth_pages, memory_pages, settings_pages, token_pages
from qmdr.ui.csrf import CsrfError, new_secret
from qmdr.ui.web import STATIC_DIR, UI_PREFIX, LoginRequired, forbidden_page, login_redirect

__all__ = ["install_dashboard"]


def install_dashboard(app: FastAPI) -> None:
    """Add the dashboard's routes, its static files at /ui/static, and its two error pages."""
    app.state.ui_secret = new_secret()

    async def on_login_required(request: Request, exc: Exception) -> Response:
        return login_redirect(exc.next_path if isinstance(exc, LoginRequired) else UI_PREFIX)

    async def on_csrf_error(request: Request, exc: Exception) -> Response:
        return forbidden_page(request, exc)

    app.add_exception_handler(LoginRequired, on_login_required)
    app.add_exception_handler(CsrfError, on_csrf_error)
    app.mount(f"{UI_PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    for router in (auth_pages.router, settings_pages.router, token_pages.router, memory_pages.router):
        app.include_router(router)
