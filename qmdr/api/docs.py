"""The API docs, served from this machine: ``/docs`` (Swagger UI), ``/redoc`` and ``/openapi.json``.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so offline (or behind
a strict firewall) ``/docs`` was a blank page. The scripts and styles here come
from the ``fastapi-offline`` package, a runtime dependency that ships the
Swagger UI 5 bundle (Apache-2.0) and ReDoc 2 (MIT) as plain files; nothing is
fetched from anywhere else (the pages' Content-Security-Policy says so too).

With ``QMDR_API_TOKEN`` set the docs are behind it like the rest of the API:
``/openapi.json`` needs the bearer header or the dashboard's session, and a
browser without a session is sent to the login page, then back. Signed in,
Swagger UI's "Try it out" works with the session cookie (a write from the docs
page carries our own Origin). Only the static bundles under ``/docs/static``
are open: they are the public Swagger UI and ReDoc files and hold nothing of
this server.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from qmdr.api.deps import AnyToken, Authorized, request_authorized
from qmdr.ui.web import LOGIN_PATH

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OPENAPI_PATH = "/openapi.json"
STATIC_PATH = f"{DOCS_PATH}/static"
#: Swagger UI and ReDoc as files (swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png)
ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
#: everything from this server; the bundles need inline start-up code and styles, ReDoc a blob worker
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
router = APIRouter(include_in_schema=False)


def _page(request: Request, render: Response) -> Response:
    """The page, or the dashboard's login (which sends the browser back here) when a token is needed."""
    if not request_authorized(request):
        return RedirectResponse(f"{LOGIN_PATH}?next={request.url.path}", status_code=303)
    render.headers.update(PAGE_HEADERS)
    return render


@router.get(OPENAPI_PATH, dependencies=[Authorized, AnyToken])
async def openapi_document(request: Request) -> JSONResponse:
    """The OpenAPI document (any token, agent tokens too, or a dashboard session when QMDR_API_TOKEN is set)."""
    return JSONResponse(request.app.openapi())


@router.get(DOCS_PATH)
async def swagger_ui(request: Request) -> Response:
    root = request.scope.get("root_path", "")
    return _page(
        request,
        get_swagger_ui_html(
            openapi_url=f"{root}{OPENAPI_PATH}",
            title=f"{request.app.title} - API docs",
            swagger_js_url=f"{root}{STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
            oauth2_redirect_url=None,
        ),
    )


@router.get(REDOC_PATH)
async def redoc(request: Request) -> Response:
    root = request.scope.get("root_path", "")
    return _page(
        request,
        get_redoc_html(
            openapi_url=f"{root}{OPENAPI_PATH}",
            title=f"{request.app.title} - API reference",
            redoc_js_url=f"{root}{STATIC_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
            with_google_fonts=False,
        ),
    )


def install_docs(app: FastAPI) -> None:
    """Serve the docs pages and their bundles (create the app with ``docs_url``, ``redoc_url`` and
    ``openapi_url`` set to None, so FastAPI's CDN pages and open schema route are not there too)."""
    app.mount(STATIC_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-static")
    app.include_router(router)
