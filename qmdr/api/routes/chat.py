"""POST /chat: one chat call through the provider layer, for agents (JSON or SSE stream)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, StrictBool, model_validator

from providers.errors import ProviderError
from providers.resolver import resolve_agent
from providers.types import Message
from qmdr.api.deps import Authorized, ServiceDep
from qmdr.api.errors import error_body
from qmdr.errors import InvalidQuery

router = APIRouter(tags=["chat"], dependencies=[Authorized])

#: a conversation longer than this is better summarised by the agent than shipped whole
MAX_MESSAGES = 200
MAX_MESSAGE_CHARS = 200_000


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(..., max_length=MAX_MESSAGE_CHARS)


class ChatBody(BaseModel):
    model: str | None = Field(None, max_length=300, description="provider/model; or give agent (and step_model)")
    agent: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                              description="agent id: its agents/<id>/config.yml chooses the model")
    step_model: str | None = Field(None, max_length=300, description="a pipeline step's model override")
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=MAX_MESSAGES)
    thinking_level: Literal["off", "low", "medium", "high"] | None = None
    fallbacks: list[str] = Field(default_factory=list, max_length=5)
    max_tokens: int | None = Field(None, ge=1, le=200_000)
    stream: StrictBool = False

    @model_validator(mode="after")
    def _model_or_agent(self) -> ChatBody:
        if self.model and self.agent:
            raise ValueError("give either model or agent, not both")
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


def choose_model(body: ChatBody, service: Any) -> tuple[str, str | None]:
    """(model string, thinking level): request > agent config > global defaults."""
    defaults = service.secrets.get_defaults()
    if body.model:
        return body.model, body.thinking_level or defaults.thinking_level
    if body.agent or body.step_model:
        resolved = resolve_agent(body.agent or "default", step_model=body.step_model, defaults=defaults,
                                 agents_dir=service.settings.qmdr_agents_dir)
        level = body.thinking_level or resolved.thinking_level
        ref = resolved.thinking_model if (level and level != "off" and resolved.thinking_model) else resolved.model
        return f"{ref.provider}/{ref.model}", level
    level = body.thinking_level or defaults.thinking_level
    thinking = bool(level and level != "off" and defaults.thinking_model)
    model = defaults.thinking_model if thinking else defaults.working_model
    if not model:
        raise InvalidQuery("no model given and no default working model set: pass model, or set one in "
                           "Settings -> Models (PUT /settings/defaults)")
    return model, level


@router.post("/chat", response_model=ChatAnswer)
async def chat(body: ChatBody, service: ServiceDep) -> Any:
    """Chat with any provider's model (``anthropic/claude-sonnet-4``, ``custom-myollama/llama3.3``), with
    thinking levels, fallbacks and retries. ``stream: true`` answers as Server-Sent Events: ``delta``
    events with ``text``/``thinking`` pieces, then one ``done`` event with ``finish_reason``, ``usage`` and
    ``metadata`` (models used, fallbacks taken, notes; as in the JSON answer), or an ``error`` event."""
    model, level = choose_model(body, service)
    messages = [Message(m.role, m.content) for m in body.messages]
    if body.stream:
        return StreamingResponse(_sse(service, model, messages, level, body), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    result = await service.providers.chat(model, messages, thinking_level=level, fallbacks=tuple(body.fallbacks),
                                          max_tokens=body.max_tokens)
    data = asdict(result)
    return ChatAnswer(text=data["text"], thinking=data["thinking"], provider=data["provider"], model=data["model"],
                      usage=data["usage"], thinking_applied=data["thinking_applied"],
                      finish_reason=data["finish_reason"], metadata=data["metadata"])


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


async def _sse(service: Any, model: str, messages: list[Message], level: str | None,
               body: ChatBody) -> AsyncIterator[bytes]:
    try:
        async for delta in service.providers.stream_chat(model, messages, thinking_level=level,
                                                         fallbacks=tuple(body.fallbacks), max_tokens=body.max_tokens):
            if delta.done:
                yield _event("done", {"finish_reason": delta.finish_reason,
                                      "usage": asdict(delta.usage) if delta.usage else None,
                                      "metadata": delta.metadata or {}})
            elif delta.text or delta.thinking:
                yield _event("delta", {"text": delta.text, "thinking": delta.thinking})
    except ProviderError as exc:  # headers are sent: the error travels as an event, never a secret
        yield _event("error", error_body(exc))
