"""The one place where the error trees become HTTP status codes and one error body shape."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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
from qmdr.errors import IndexBusy, InvalidQuery, ModelMismatch, NotFound, QmdrError
from qmdr.memory.vaults import VaultExists
from vault.errors import IngestError, PathOutsideVault

log = logging.getLogger(__name__)

#: most specific first; the first match wins
STATUS_BY_ERROR: list[tuple[type[Exception], int]] = [
    (NotFound, 404),
    (InvalidQuery, 422),
    (PathOutsideVault, 400),
    (IndexBusy, 409),
    (VaultExists, 409),
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


def error_body(exc: Exception) -> dict[str, str]:
    """``{"error": <type>, "detail": <message>}``; messages are written never to hold a secret."""
    return {"error": type(exc).__name__, "detail": str(getattr(exc, "message", None) or exc)}


def install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.warning("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        headers = {}
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            headers["Retry-After"] = str(int(exc.retry_after + 0.999))
        return JSONResponse(error_body(exc), status_code=status, headers=headers)

    for error_type in (QmdrError, ProviderError, IngestError):
        app.add_exception_handler(error_type, handle)
