"""The one place where errors become HTTP answers, all in one body shape: RFC 9457 problem details.

Every 4xx and 5xx the API sends (our error trees, ``HTTPException``, request
validation, routing's 404/405, auth, throttling, body limits, unexpected
exceptions) is ``application/problem+json``::

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "detail": "no note 'a.md' in vault 'default'", "error": "NotFound", "request_id": "..."}

``type`` is ``about:blank`` for plain HTTP conditions (the ``title`` is then the
status phrase) and ``urn:qmdr:error:<Name>`` for our own errors; ``error`` (an
extension member) repeats the exception's name for clients that switch on it.
Validation problems add ``errors``: one entry per field with ``loc``, ``msg``,
``type`` and at most a short prefix of the offending ``input`` (a 10,000-
character query is never echoed whole). Every string is made encodable first,
so even input holding a lone UTF-16 surrogate gets its answer instead of a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from providers.errors import (
    AuthError,
    MissingCredentials,
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    RateLimited,
    SecretStoreError,
    UnknownProvider,
)
from qmdr.errors import (
    Conflict,
    Forbidden,
    IndexBusy,
    InvalidQuery,
    ModelMismatch,
    NotFound,
    QmdrError,
    StoreUnavailable,
)
from vault.errors import IngestError, PathOutsideVault

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
#: ``type`` of an error that is just its HTTP status (RFC 9457 section 4.2.1)
BLANK_TYPE = "about:blank"
#: ``type`` prefix of our own errors: a stable identifier, not a link
ERROR_TYPE_PREFIX = "urn:qmdr:error:"
#: echoed input is cut to this many characters: enough to recognise it, never a pasted document back
MAX_ECHO_CHARS = 80
#: field errors listed in one answer; a body wrong in thousands of places says so in the first few
MAX_FIELD_ERRORS = 20

#: most specific first; the first match wins
STATUS_BY_ERROR: list[tuple[type[Exception], int]] = [
    (NotFound, 404),
    (Forbidden, 403),  # a scoped agent token outside its vaults, or on an admin-only route
    (InvalidQuery, 422),
    (PathOutsideVault, 400),
    (IndexBusy, 409),
    (StoreUnavailable, 503),  # the database is down or restarting: retry after Retry-After seconds
    (Conflict, 409),  # a vault name taken, a folder that is no vault's or would empty one
    (ModelMismatch, 409),
    (UnknownProvider, 404),
    (MissingCredentials, 400),
    (SecretStoreError, 409),  # SECRET_ENCRYPTION_KEY missing or wrong: the message says which
    (AuthError, 502),  # the *provider* rejected our key: not the caller's auth problem
    (RateLimited, 503),
    (ProviderStatusError, 502),
    (ProviderConnectionError, 504),
    (ProviderError, 502),
    (IngestError, 400),
    (QmdrError, 500),
]


def status_for(exc: Exception) -> int:
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return status
    return 500


def encodable(text: str) -> str:
    """``text`` with anything UTF-8 cannot carry (lone surrogates) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def short(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """An encodable prefix of ``text``, marked with an ellipsis when cut."""
    text = encodable(text)
    return text if len(text) <= limit else text[:limit] + "…"


def status_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(status: int, detail: str, *, error: str | None = None, **extra: Any) -> dict[str, Any]:
    """A problem-details body. ``error`` names one of our exception types (it becomes ``type``)."""
    body: dict[str, Any] = {
        "type": f"{ERROR_TYPE_PREFIX}{error}" if error else BLANK_TYPE,
        "title": status_title(status),
        "status": status,
        "detail": short(detail, 2000),
    }
    if error:
        body["error"] = error
    body.update(extra)
    return body


def error_body(exc: Exception) -> dict[str, Any]:
    """The problem body of one of our errors; messages are written never to hold a secret."""
    extra = {"vault": exc.vault} if isinstance(exc, Forbidden) and exc.vault is not None else {}
    return problem(status_for(exc), str(getattr(exc, "message", None) or exc), error=type(exc).__name__, **extra)


class ProblemResponse(Response):
    """``application/problem+json``; strings are made encodable, so rendering the body never fails."""

    media_type = PROBLEM_CONTENT_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def problem_response(request: Request, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """Send ``body`` with its status, tagged with the request id (when the request has one)."""
    request_id = getattr(request.state, "request_id", None)
    if request_id:  # also as a header: an unexpected 500 never passes the middleware that adds it
        body = {**body, "request_id": request_id}
        headers = {**(headers or {}), "X-Request-ID": request_id}
    status = int(body["status"])
    if status in (204, 304) or request.method == "HEAD":  # no body allowed or wanted
        return Response(status_code=status, headers=headers)
    return ProblemResponse(body, status_code=status, headers=headers)


def _field_error(error: dict[str, Any]) -> dict[str, Any]:
    """One validation error without the whole offending input: its type and, for text, a short prefix."""
    entry: dict[str, Any] = {
        "loc": [encodable(str(part)) if isinstance(part, str) else part for part in error["loc"]],
        "msg": encodable(str(error.get("msg", ""))),
        "type": str(error.get("type", "")),
    }
    value = error.get("input")
    if isinstance(value, str):
        entry["input"] = short(value)
    elif isinstance(value, bool | int | float) or value is None:
        entry["input"] = value
    return entry


def validation_problem(exc: RequestValidationError) -> dict[str, Any]:
    errors = [_field_error(dict(e)) for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"]) or "request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return problem(
        422, f"{where}: {first['msg']}{more}", error="RequestValidationError", errors=errors[:MAX_FIELD_ERRORS]
    )


def leaf_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every endpoint route; FastAPI >= 0.165 keeps included routers as entries that expand lazily."""
    for route in routes:
        expand = getattr(route, "effective_route_contexts", None)
        if callable(expand):
            yield from expand()
        else:
            yield route


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: the honest ``Allow`` of a 405.

    Starlette names only the methods of the first route that matched the path;
    ``GET /vaults/{vault}`` and ``DELETE /vaults/{vault}`` are two routes.
    """
    methods: set[str] = set()
    scope = {**request.scope, "method": "GET"}  # a GET probe: a partial match means the path fits, any method
    for route in leaf_routes(request.app.router.routes):
        route_methods = getattr(route, "methods", None)
        if route_methods is None:
            continue
        match, _ = route.matches(scope)
        if match in (Match.FULL, Match.PARTIAL):
            methods.update(route_methods)
    return sorted(methods)


async def http_problem(request: Request, exc: StarletteHTTPException) -> Response:
    """The problem answer of an ``HTTPException`` (also used by the middlewares that refuse before routing)."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, default=str)
    if detail == status_title(exc.status_code) and exc.status_code in (404, 405):
        detail = (
            f"no route {request.url.path!r}"
            if exc.status_code == 404
            else f"{request.method} is not allowed here; use {headers['Allow']}"
        )
    return problem_response(request, problem(exc.status_code, detail, error=getattr(exc, "error", None)), headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as problem details (see the module docstring)."""

    async def on_ours(request: Request, exc: Exception) -> Response:
        status = status_for(exc)
        if status >= 500:
            log.warning("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        headers = {}
        if isinstance(exc, RateLimited | StoreUnavailable) and exc.retry_after is not None:
            headers["Retry-After"] = str(int(exc.retry_after + 0.999))
        return problem_response(request, error_body(exc), headers)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return await http_problem(request, exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(request, validation_problem(exc))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=exc)
        return problem_response(
            request,
            problem(500, "internal error; the server log has the details under this request_id", error="InternalError"),
        )

    for error_type in (QmdrError, ProviderError, IngestError):
        app.add_exception_handler(error_type, on_ours)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)
