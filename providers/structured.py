"""Structured output: hold an answer to a JSON Schema, whatever the API.

Each API has its own control, mapped by its adapter:

* OpenAI-compatible (and Mistral, Azure): ``response_format: {"type":
  "json_schema", "json_schema": {name, schema, strict}}``;
* Gemini and Vertex: ``generationConfig.responseMimeType: application/json``
  with ``responseJsonSchema`` (the field that takes JSON Schema as written;
  ``responseSchema`` takes only an OpenAPI subset and refuses keywords such
  as ``additionalProperties``);
* Anthropic and Bedrock (Claude): a forced tool whose input schema is the
  schema; the tool's input is the answer (``FORCED_TOOL_NOTE``).

Whatever the API promises, the answer is checked here on return
(``parse_and_validate``): the JSON is parsed and validated with
``jsonschema``; the client asks once more with the error when it fails
(``repair_messages``) and raises SchemaViolation when the second answer
fails too.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

import jsonschema
import jsonschema.exceptions

from providers.errors import InvalidToolDefinition, SchemaViolation, StructuredOutputUnsupported
from providers.types import ChatRequest, ChatResult, Message, ResponseSchema, Tool

#: schema names the APIs accept (OpenAI: ^[a-zA-Z0-9_-]{1,64}$; the forced tool's name follows tool rules)
SCHEMA_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: the part of a failing answer quoted back to the model in the repair request
MAX_REPAIR_QUOTE_CHARS = 4000
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def as_response_schema(value: ResponseSchema | Mapping[str, Any] | None) -> ResponseSchema | None:
    """A ``ResponseSchema`` from ours or OpenAI's ``{"type": "json_schema", "json_schema": {...}}``.

    ``{"type": "json_object"}`` and ``{"type": "text"}`` are not schemas: None (the caller maps
    ``json_object`` to ``json_output``). The schema itself must be a valid JSON Schema.
    """
    if value is None or isinstance(value, ResponseSchema):
        schema = value
    elif isinstance(value, Mapping):
        if value.get("type") in ("json_object", "text"):
            return None
        spec = value.get("json_schema") if value.get("type") == "json_schema" else value
        if not isinstance(spec, Mapping) or not isinstance(spec.get("schema"), Mapping):
            raise InvalidToolDefinition(
                "response_format needs a JSON Schema: "
                '{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}'
            )
        schema = ResponseSchema(
            dict(spec["schema"]), str(spec.get("name") or "response"), bool(spec.get("strict", True))
        )
    else:
        raise InvalidToolDefinition(f"response_format must be an object, not {type(value).__name__}")
    if schema is None:
        return None
    if not SCHEMA_NAME.match(schema.name):
        raise InvalidToolDefinition(f"response_format name {schema.name[:80]!r}: use 1-64 letters, digits, _ or -")
    try:
        jsonschema.validators.validator_for(schema.schema).check_schema(schema.schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise InvalidToolDefinition(f"response_format schema is not a valid JSON Schema: {exc.message}") from None
    return schema


def openai_response_format(schema: ResponseSchema) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.name, "schema": dict(schema.schema), "strict": schema.strict},
    }


def forced_tool_description(schema: ResponseSchema) -> str:
    return f"Give the answer as the input of this tool ({schema.name}); its input schema is the answer's format."


def as_forced_tool(req: ChatRequest, *, provider: str) -> ChatRequest:
    """For APIs without a schema switch (Anthropic, Bedrock): the schema as the one tool, forced."""
    schema = req.response_schema
    if schema is None:
        return req
    if req.tools:
        raise unsupported(
            req.model,
            provider,
            "here a schema is a forced tool, which leaves no room for other "
            "tool calls; ask for the tool calls first, then for the structured "
            "answer in a call without tools",
        )
    if schema.schema.get("type", "object") != "object":
        raise unsupported(
            req.model,
            provider,
            "here a schema is a forced tool's input, which must be an object; wrap the value in an object property",
        )
    tool = Tool(schema.name, forced_tool_description(schema), dict(schema.schema))
    return dataclasses.replace(req, tools=(tool,), tool_choice=schema.name)


def forced_tool_answer(result: ChatResult, req: ChatRequest) -> ChatResult:
    """The forced tool's input as the answer's JSON text (the call itself is not the caller's to run)."""
    schema = req.response_schema
    if schema is None:
        return result
    inputs = [c.arguments for c in result.tool_calls if c.name == schema.name]
    text = json.dumps(inputs[0]) if inputs else result.text
    return dataclasses.replace(result, text=text, tool_calls=())


def parse_and_validate(text: str, schema: ResponseSchema) -> Any:
    """The answer's JSON value if it matches ``schema``; ValueError with a message fit to show the model."""
    body = _FENCE.sub("", text.strip())
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from None
    error = jsonschema.exceptions.best_match(
        jsonschema.validators.validator_for(schema.schema)(schema.schema).iter_errors(value)
    )
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top level"
        raise ValueError(f"the answer does not match the schema at {where}: {error.message}")
    return value


def repair_messages(messages: list[Message], answer: str, problem: str) -> list[Message]:
    """The conversation once more, with the failing answer and what is wrong with it."""
    quoted = answer[:MAX_REPAIR_QUOTE_CHARS]
    return [
        *messages,
        Message("assistant", quoted),
        Message(
            "user",
            f"That answer cannot be used: {problem}. Answer again with only JSON that matches "
            f"the required schema, nothing else.",
        ),
    ]


def violation(model: str, provider: str, problem: str, answer: str | None = None) -> SchemaViolation:
    return SchemaViolation(
        f"{model} did not answer with JSON matching the schema, also after one repair request: {problem}",
        provider=provider,
        model=model,
        answer=answer,
    )


def unsupported(model: str, provider: str, why: str) -> StructuredOutputUnsupported:
    return StructuredOutputUnsupported(
        f"{model} cannot be held to a JSON schema: {why}", provider=provider, model=model
    )
