"""Make the OpenAPI document describe the error bodies the API really sends.

FastAPI documents every 422 as its own ``HTTPValidationError`` (``detail`` is a
list). Our one error handler (``qmdr.api.errors``) also answers 422 for domain
validation (``InvalidQuery``, ``InvalidVault``) with ``{"error", "detail"}``,
and a few routes raise ``HTTPException`` with a plain string ``detail``. A
client generated from the spec, or a contract test (schemathesis), would see
those as violations; so every 422 is documented as either shape, and
``ErrorBody`` is added to the components.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_BODY = "ErrorBody"
ERROR_BODY_SCHEMA: dict[str, Any] = {
    "title": ERROR_BODY,
    "type": "object",
    "description": "An error: the exception type (when it is one of ours) and a message saying what to do.",
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
    "required": ["detail"],
}


def install_error_schemas(app: FastAPI) -> None:
    """Replace ``app.openapi`` with a version whose 422 responses allow both error shapes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                             description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {})[ERROR_BODY] = ERROR_BODY_SCHEMA
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                answer = operation.get("responses", {}).get("422")
                content = (answer or {}).get("content", {}).get("application/json")
                if content is None:
                    continue
                content["schema"] = {"anyOf": [content["schema"], {"$ref": f"#/components/schemas/{ERROR_BODY}"}]}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
