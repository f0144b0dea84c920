"""POST /chat: one chat call through the provider layer, for agents (JSON or SSE stream)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, StrictBool, model_validator

from providers.errors import ConfigError, InvalidToolDefinition, ProviderError
from providers.resolver import load_pipeline, pipeline_step, resolve_agent
from providers.structured import as_response_schema
from providers.tools import as_tools
from providers.types import Message, Tool, ToolCall
from qmdr.api.deps import Authorized, ServiceDep
from qmdr.api.errors import error_body
from qmdr.errors import InvalidQuery, NotFound

router = APIRouter(tags=["chat"], dependencies=[Authorized])

#: a conversation longer than this is better summarised by the agent than shipped whole
MAX_MESSAGES = 200
MAX_MESSAGE_CHARS = 200_000
#: OpenAI's documented limit, the lowest of the APIs; providers.tools.MAX_TOOLS says the same
MAX_TOOLS = 128
#: calls one assistant turn may carry back; more is a runaway loop, not a conversation
MAX_TOOL_CALLS_PER_MESSAGE = 64


class ToolCallModel(BaseModel):
    """A tool call the model made (in an answer) or that an assistant turn carries back (in a request)."""

    id: str = Field(..., max_length=200)
    name: str = Field(..., max_length=64)
    arguments: dict[str, Any] = Field(default_factory=dict, description="the parsed JSON arguments")
    signature: str | None = Field(
        None,
        max_length=MAX_MESSAGE_CHARS,
        description="opaque provider state (Gemini 3's thought signature): send the call back with it unchanged",
    )


class ToolModel(BaseModel):
    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str = Field("", max_length=4000)
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema of the arguments (an object)",
    )


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = Field("", max_length=MAX_MESSAGE_CHARS)
    tool_calls: list[ToolCallModel] = Field(
        default_factory=list,
        max_length=MAX_TOOL_CALLS_PER_MESSAGE,
        description="assistant turns: the calls the model made",
    )
    tool_call_id: str | None = Field(None, max_length=200, description="tool turns: the call this result answers")
    name: str | None = Field(None, max_length=64, description="tool turns: the tool (found from the call if unset)")

    @model_validator(mode="after")
    def _tool_turns(self) -> ChatMessage:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id (the id of the call it answers)")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        return self

    def to_message(self) -> Message:
        calls = tuple(ToolCall(c.id, c.name, c.arguments, c.signature) for c in self.tool_calls)
        return Message(self.role, self.content, tool_calls=calls, tool_call_id=self.tool_call_id, name=self.name)


class ChatBody(BaseModel):
    model: str | None = Field(None, max_length=300, description="provider/model; or give agent (and step_model)")
    agent: str | None = Field(
        None,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="agent id: its agents/<id>/config.yml chooses the model",
    )
    step_model: str | None = Field(None, max_length=300, description="a pipeline step's model override")
    pipeline: str | None = Field(
        None,
        max_length=100,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
        description="a pipeline in QMDR_PIPELINES_DIR (<name>.yml); with step",
    )
    step: str | None = Field(None, max_length=100, description="the pipeline step whose agent and model to use")
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=MAX_MESSAGES)
    thinking_level: Literal["off", "low", "medium", "high"] | None = None
    fallbacks: list[str] = Field(default_factory=list, max_length=5)
    max_tokens: int | None = Field(None, ge=1, le=200_000)
    stream: StrictBool = False
    tools: list[ToolModel] = Field(default_factory=list, max_length=MAX_TOOLS)
    tool_choice: str | None = Field(
        None, max_length=64, description="auto, none, required, or the name of one of the tools"
    )
    parallel_tool_calls: StrictBool | None = None
    response_format: dict[str, Any] | None = Field(
        None,
        description='structured output: {"type": "json_schema", "json_schema": {"name", "schema", "strict"}} '
        '(or {"type": "json_object"}); the answer is validated and returned as parsed',
    )

    @model_validator(mode="after")
    def _model_or_agent(self) -> ChatBody:
        if self.model and self.agent:
            raise ValueError("give either model or agent, not both")
        if (self.pipeline is None) != (self.step is None):
            raise ValueError("pipeline and step go together: the step of that pipeline chooses agent and model")
        if self.pipeline and (self.model or self.agent or self.step_model):
            raise ValueError("give either pipeline + step, or model / agent, not both")
        return self


class ChatAnswer(BaseModel):
    text: str
    thinking: str | None
    provider: str
    model: str
    usage: dict[str, int]
    thinking_applied: bool
    finish_reason: str | None
    metadata: dict[str, Any]
    tool_calls: list[ToolCallModel] = Field(default_factory=list)
    cost_usd: float | None = Field(None, description="at the catalog's prices; null when the model has none")
    parsed: Any = Field(None, description="with response_format json_schema: the answer, validated against it")


def _pipeline_step(body: ChatBody, service: Any) -> tuple[str, str | None]:
    """(agent, step model) of ``body.step`` in the pipeline file ``body.pipeline`` names."""
    folder = Path(service.settings.qmdr_pipelines_dir)
    path = next(
        (
            folder / f"{body.pipeline}{suffix}"
            for suffix in (".yml", ".yaml")
            if (folder / f"{body.pipeline}{suffix}").is_file()
        ),
        None,
    )
    if path is None:
        raise NotFound(
            f"no pipeline {body.pipeline!r} in QMDR_PIPELINES_DIR (looked for {body.pipeline}.yml and .yaml)"
        )
    try:
        step = pipeline_step(load_pipeline(path), str(body.step), path=path.name)
    except ConfigError as exc:
        raise InvalidQuery(exc.message) from None
    return step.agent, step.model


def choose_model(body: ChatBody, service: Any) -> tuple[str, str | None]:
    """(model string, thinking level): request > pipeline step > agent config > global defaults."""
    defaults = service.secrets.get_defaults()
    if body.model:
        return body.model, body.thinking_level or defaults.thinking_level
    agent, step_model = body.agent, body.step_model
    if body.pipeline:
        agent, step_model = _pipeline_step(body, service)
    if agent or step_model:
        try:
            resolved = resolve_agent(
                agent or "default",
                step_model=step_model,
                defaults=defaults,
                agents_dir=service.settings.qmdr_agents_dir,
            )
        except ConfigError as exc:
            raise InvalidQuery(exc.message) from None
        level = body.thinking_level or resolved.thinking_level
        ref = resolved.thinking_model if (level and level != "off" and resolved.thinking_model) else resolved.model
        return f"{ref.provider}/{ref.model}", level
    level = body.thinking_level or defaults.thinking_level
    thinking = bool(level and level != "off" and defaults.thinking_model)
    model = defaults.thinking_model if thinking else defaults.working_model
    if not model:
        raise InvalidQuery(
            "no model given and no default working model set: pass model, or set one in "
            "Settings -> Models (PUT /settings/defaults)"
        )
    return model, level


@router.post("/chat", response_model=ChatAnswer)
async def chat(body: ChatBody, service: ServiceDep) -> Any:
    """Chat with any provider's model (``anthropic/claude-sonnet-4``, ``custom-myollama/llama3.3``), with
    thinking levels, fallbacks and retries. ``stream: true`` answers as Server-Sent Events: ``delta``
    events with ``text``/``thinking`` pieces, then one ``done`` event with ``finish_reason``, ``usage`` and
    ``metadata`` (models used, fallbacks taken, notes; as in the JSON answer), or an ``error`` event.

    ``tools`` (name, description, JSON Schema ``parameters``), ``tool_choice`` and ``parallel_tool_calls``
    offer tools; the answer's ``tool_calls`` (streamed: in ``delta`` events, each call whole) hold the
    calls with parsed arguments. Send results back as ``{"role": "tool", "tool_call_id", "content"}`` after
    the assistant turn with its ``tool_calls``. A call to a tool not offered, arguments that are not JSON
    or a stream cut inside a call answer 502 (``UnknownTool``, ``InvalidToolArguments``,
    ``IncompleteToolCall``); unusable definitions 422.

    ``response_format`` with a JSON Schema holds the answer to it (OpenAI ``json_schema``, Gemini
    ``responseJsonSchema``, a forced tool on Anthropic and Bedrock); the answer comes back validated as
    ``parsed``, after one repair request if needed (else 502 ``SchemaViolation``); a model that cannot do it
    answers 502 ``StructuredOutputUnsupported``."""
    model, level = choose_model(body, service)
    messages = [m.to_message() for m in body.messages]
    try:
        tools = as_tools([Tool(t.name, t.description, t.parameters) for t in body.tools], body.tool_choice)
        schema = as_response_schema(body.response_format)
    except InvalidToolDefinition as exc:
        raise InvalidQuery(exc.message) from None
    if schema is not None and body.stream:
        raise InvalidQuery(
            "structured output is validated as a whole and not streamed: send stream: false with response_format"
        )
    options = {
        "thinking_level": level,
        "fallbacks": tuple(body.fallbacks),
        "max_tokens": body.max_tokens,
        "tools": tools,
        "tool_choice": body.tool_choice,
        "parallel_tool_calls": body.parallel_tool_calls,
    }
    if body.response_format is not None:
        options["response_format"] = body.response_format
    if body.stream:
        return StreamingResponse(
            _sse(service, model, messages, options),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    try:
        result = await service.providers.chat(model, messages, **options)
    except InvalidToolDefinition as exc:  # a tool message answering no call, found while building the body
        raise InvalidQuery(exc.message) from None
    data = asdict(result)
    return ChatAnswer(
        text=data["text"],
        thinking=data["thinking"],
        provider=data["provider"],
        model=data["model"],
        usage=data["usage"],
        thinking_applied=data["thinking_applied"],
        finish_reason=data["finish_reason"],
        metadata=data["metadata"],
        tool_calls=data["tool_calls"],
        cost_usd=result.metadata.get("cost_usd"),
        parsed=result.parsed,
    )


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


async def _sse(service: Any, model: str, messages: list[Message], options: dict[str, Any]) -> AsyncIterator[bytes]:
    try:
        async for delta in service.providers.stream_chat(model, messages, **options):
            if delta.done:
                yield _event(
                    "done",
                    {
                        "finish_reason": delta.finish_reason,
                        "usage": asdict(delta.usage) if delta.usage else None,
                        "metadata": delta.metadata or {},
                    },
                )
            elif delta.text or delta.thinking or delta.tool_calls:
                yield _event(
                    "delta",
                    {
                        "text": delta.text,
                        "thinking": delta.thinking,
                        "tool_calls": [asdict(c) for c in delta.tool_calls],
                    },
                )
    except ProviderError as exc:  # headers are sent: the error travels as an event, never a secret
        yield _event("error", error_body(exc))
