"""Make the OpenAPI document list the status codes each operation really returns, with their real body.

FastAPI documents only the success status and a 422 with its own
``HTTPValidationError``. Our answers differ in two ways: every error is a
problem-details body (``application/problem+json``, ``qmdr.api.errors``), and
errors come from more places than validation. So each operation's responses
are rewritten from rules that follow the code paths:

- every operation: 500 (an unexpected failure);
- every operation behind the token (all but ``/health``): 401 and 429; a
  write (POST, PUT, DELETE) also 403 (the session cookie from another origin);
- an operation with a body: 400 (unparseable or not valid Unicode), 413
  (over the body limit) and 422 (validation);
- an operation with parameters: 422; with path parameters: 404;
- what the route itself raises (``OPERATION_ERRORS``): e.g. 409 while a
  reindex runs, 502/503/504 when a provider fails.

A client generated from the spec, and the schemathesis contract test, see every answer documented.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from qmdr.api.errors import PROBLEM_CONTENT_TYPE
from qmdr.memory.vaults import VAULT_NAME_PATTERN

PROBLEM = "Problem"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": PROBLEM,
    "type": "object",
    "description": "RFC 9457 problem details: what went wrong and what to do about it.",
    "properties": {
        "type": {"type": "string", "description": "about:blank, or urn:qmdr:error:<Name> for qmdr's own errors"},
        "title": {"type": "string", "description": "the HTTP status phrase"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what happened and what to do; input is echoed only as a prefix"},
        "error": {"type": "string", "description": "the error's name (NotFound, PathOutsideVault, ...)"},
        "request_id": {"type": "string", "description": "as in the X-Request-ID header and the server log"},
        "errors": {
            "type": "array",
            "description": "validation: one entry per field",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                    "input": {},
                },
                "required": ["loc", "msg", "type"],
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}
#: what each status means, as the docs show it
DESCRIPTIONS = {
    400: "Bad request: unparseable body, text that is not valid Unicode, or a path outside the vault",
    401: "No or wrong API token: send 'Authorization: Bearer <QMDR_API_TOKEN>' (WWW-Authenticate: Bearer)",
    403: "The dashboard's session cookie on a write from another origin",
    404: "No such note, vault, provider or route",
    409: "Conflict: a reindex is running, the name is taken, the embedding model changed, or the key store "
    "cannot decrypt (SECRET_ENCRYPTION_KEY)",
    413: "The request body is over the limit (2 MiB)",
    422: "Validation failed: the errors member lists each field",
    429: "Too many wrong tokens from this address: wait Retry-After seconds",
    500: "Internal error: the server log has the details under the request_id",
    502: "A provider answered with an error",
    503: "A provider is rate limiting (Retry-After)",
    504: "A provider did not answer in time",
}
#: a provider (embeddings, rerank, chat) may fail on the way
PROVIDER = (502, 503, 504)
#: statuses an operation raises itself, beyond the rules in the module docstring
OPERATION_ERRORS: dict[str, tuple[int, ...]] = {
    "POST /search": (409, 422, *PROVIDER),
    "POST /reindex": (400, 404, 409),
    "PUT /providers/{provider_id}/key": (409,),
    "DELETE /providers/{provider_id}/key": (409,),
    "POST /providers/custom": (409,),
    "DELETE /providers/custom/{slug}": (409,),
    "POST /providers/{provider_id}/test": (400, 409),
    "GET /models/resolve": (404,),
    "POST /chat": (404, 409, *PROVIDER),
    "POST /vaults": (400, 409, *PROVIDER),
    "POST /vaults/search": (404, 409, *PROVIDER),
    "DELETE /vaults/{vault}": (409,),
    "POST /vaults/{vault}/reindex": (409, *PROVIDER),
    "POST /vaults/{vault}/notes": (409, *PROVIDER),
    "GET /vaults/{vault}/notes/{path}": (400,),
    "DELETE /vaults/{vault}/notes/{path}": (400, 409),
    "POST /context": (404, 409, *PROVIDER),
    "POST /feedback": (404,),
}
#: path parameters whose values the service checks beyond "a string": their rule goes into the schema, so
#: a generated client (or a fuzzer) knows that ``/vaults/Ünïcode`` is refused (422), not merely not found
PATH_PARAMETER_PATTERNS = {"vault": VAULT_NAME_PATTERN.pattern}
#: how the API wants its token (Swagger UI's Authorize button offers it)
BEARER = "bearer"
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "QMDR_API_TOKEN as 'Authorization: Bearer <token>' (when the server sets one)",
}
#: reachable without the token
OPEN_PATHS = frozenset({"/health"})
WRITE_METHODS = frozenset({"post", "put", "delete", "patch"})


def error_statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses one operation can answer (rules in the module docstring)."""
    statuses = {500}
    if path not in OPEN_PATHS:
        statuses |= {401, 429}
        if method in WRITE_METHODS:
            statuses.add(403)
    parameters = operation.get("parameters", [])
    if "requestBody" in operation:
        statuses |= {400, 413, 422}
    if parameters:
        statuses.add(422)
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    statuses.update(OPERATION_ERRORS.get(f"{method.upper()} {path}", ()))
    return statuses


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite every operation's error responses to the problem body and the statuses it really answers."""
    schema.setdefault("components", {})["securitySchemes"] = {BEARER: BEARER_SCHEME}
    components = schema["components"].setdefault("schemas", {})
    components[PROBLEM] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)  # FastAPI's own 422 body: we never send it
    problem = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": f"#/components/schemas/{PROBLEM}"}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if path not in OPEN_PATHS:
                operation["security"] = [{BEARER: []}]
            for parameter in operation.get("parameters", []):
                pattern = PATH_PARAMETER_PATTERNS.get(parameter.get("name", ""))
                if parameter.get("in") == "path" and pattern:
                    parameter.setdefault("schema", {})["pattern"] = pattern
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(method, path, operation)):
                responses[str(status)] = {"description": DESCRIPTIONS[status], "content": problem}
    return schema


def install_error_schemas(app: FastAPI) -> None:
    """Replace ``app.openapi`` with a version that documents the real error answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
