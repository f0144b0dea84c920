"""Anthropic's Messages API (api.anthropic.com).

Reference: https://docs.anthropic.com/en/api/messages, /en/api/messages-streaming,
/en/api/errors, /en/api/models-list and /en/docs/build-with-claude/extended-thinking.

* ``POST {base}/v1/messages`` with ``x-api-key`` and ``anthropic-version: 2023-06-01``
  (why that version: see ``ANTHROPIC_VERSION``).
* System messages become the top-level ``system`` string; the rest alternate
  user/assistant in ``messages``.
* ``max_tokens`` is required. Without thinking it is the caller's value or
  ``DEFAULT_MAX_TOKENS``. With thinking the API needs ``max_tokens >
  budget_tokens`` (the budget counts against it), so we send the thinking
  budget *plus* the answer room the caller asked for.
* Thinking: ``thinking: {type: "enabled", budget_tokens: N}`` with the budgets
  in ``THINKING_BUDGETS`` (1024 is the documented minimum). ``off`` and None
  omit the field: Claude does not think unless asked. Thinking requires the
  default temperature, so a temperature is dropped (with a note) when thinking.
  Claude counts thinking inside ``output_tokens``; ``Usage.thinking_tokens``
  stays 0 because the API does not split them.
* Anthropic has no JSON mode switch; ``json_output`` is left to the prompt.
* There is no embeddings API: ``embed`` raises a ProviderError that says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from providers.errors import MalformedResponse, MissingCredentials, ProviderError
from providers.types import ChatDelta, ChatRequest, ChatResult, Credentials, EmbedResult, Usage
from providers.wire.transport import iter_sse, open_stream, raise_in_stream_error, request_json, timeout_arg

PROVIDER = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
API_KEY_ENV = "ANTHROPIC_API_KEY"
#: The API version every request pins (header ``anthropic-version``). Everything this adapter sends is
#: documented under 2023-06-01: Messages, streaming, extended thinking (``budget_tokens``), tools and
#: ``tool_choice``, prompt caching (``cache_control``) and the models list, none behind a newer version or a
#: beta header. The newer 2026-10-21 (sent by SDK majors from Python 2.0.0 on) adds nothing we use and
#: refuses ``temperature``/``top_p``/``top_k`` with a 400, which callers of ``chat`` may set. A version
#: preserves its inputs and outputs (docs: API versioning), so the pin keeps answers' shape stable.
ANTHROPIC_VERSION = "2023-06-01"

#: answer room when the caller sets no max_tokens; the API requires the field and 4096 fits every Claude model
DEFAULT_MAX_TOKENS = 4096
#: thinking budgets; 1024 is the documented minimum, 16384 is where the docs say hard tasks start paying off
THINKING_BUDGETS: dict[str, int] = {"low": 1024, "medium": 4096, "high": 16384}
#: models.list page size maximum: one request returns the whole catalogue
LIST_LIMIT = 1000
#: Anthropic has no embeddings API; 1 keeps batching arithmetic safe and embed() raises the clear error
NO_EMBEDDINGS_BATCH = 1

#: error ``type`` in an error body or stream ``error`` event -> HTTP status it stands for (docs: API errors)
ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def build_body(req: ChatRequest, *, stream: bool = False) -> tuple[dict[str, Any], bool, str | None]:
    """The Messages request body, whether thinking is on, and a note when a setting had to give way."""
    system = "\n\n".join(m.content for m in req.messages if m.role == "system")
    body: dict[str, Any] = {
        "model": req.model,
        "messages": [{"role": m.role, "content": m.content} for m in req.messages if m.role != "system"],
    }
    if system:
        body["system"] = system
    answer_room = req.max_tokens if req.max_tokens is not None else DEFAULT_MAX_TOKENS
    thinking = req.thinking_level not in (None, "off")
    note = None
    if thinking:
        budget = THINKING_BUDGETS[req.thinking_level]  # type: ignore[index]
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        body["max_tokens"] = budget + answer_room
        if req.temperature is not None:
            note = "temperature ignored: Claude only thinks at its default temperature"
    else:
        body["max_tokens"] = answer_room
        if req.temperature is not None:
            body["temperature"] = req.temperature
    if stream:
        body["stream"] = True
    return body, thinking, note


def parse_message(data: Any, *, provider: str, model: str, thinking: bool, note: str | None) -> ChatResult:
    """A Messages API response (content blocks ``text`` / ``thinking``) as a ChatResult."""
    content = data.get("content") if isinstance(data, dict) else None
    if not isinstance(content, list):
        raise MalformedResponse(f"{provider} answer has no content list", provider=provider, model=model)
    texts, thoughts = [], []
    for block in content:
        if not isinstance(block, dict):
            raise MalformedResponse(f"{provider} answer has a content block that is not an object",
                                    provider=provider, model=model)
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "thinking":
            thoughts.append(str(block.get("thinking", "")))
    usage = data.get("usage") or {}
    return ChatResult(
        text="".join(texts), provider=provider, model=model, thinking="".join(thoughts) or None,
        usage=Usage(input_tokens=int(usage.get("input_tokens") or 0),
                    output_tokens=int(usage.get("output_tokens") or 0)),
        thinking_applied=thinking, finish_reason=data.get("stop_reason"),
        metadata={"thinking_note": note} if note else {},
    )


def raise_stream_error(data: dict[str, Any], *, provider: str, model: str) -> None:
    """An ``error`` event (e.g. overloaded_error after the 200) raised as the matching status error."""
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    status = ERROR_TYPE_STATUS.get(str(error.get("type")), 500)
    raise_in_stream_error(status, data, provider=provider, model=model)


class AnthropicAdapter:
    """The Messages API with an API key."""

    max_embed_batch = NO_EMBEDDINGS_BATCH

    def _base(self, creds: Credentials) -> str:
        return (creds.base_url or DEFAULT_BASE_URL).rstrip("/")

    def _headers(self, creds: Credentials) -> dict[str, str]:
        if not creds.api_key:
            raise MissingCredentials(
                f"No Anthropic API key: set {API_KEY_ENV} or add a key in Settings -> Providers.",
                env_var=API_KEY_ENV, provider=creds.provider)
        return {"x-api-key": creds.api_key, "anthropic-version": ANTHROPIC_VERSION}

    async def chat(self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest) -> ChatResult:
        body, thinking, note = build_body(req)
        data = await request_json(
            client, "POST", f"{self._base(creds)}/v1/messages", provider=creds.provider, model=req.model,
            headers=self._headers(creds), body=body, timeout=req.timeout,
        )
        return parse_message(data, provider=creds.provider, model=req.model, thinking=thinking, note=note)

    async def stream_chat(
        self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest
    ) -> AsyncIterator[ChatDelta]:
        """Deltas from the SSE events: text/thinking deltas; usage from message_start and message_delta."""
        body, _, _ = build_body(req, stream=True)
        request = client.build_request(
            "POST", f"{self._base(creds)}/v1/messages", headers=self._headers(creds), json=body,
            timeout=timeout_arg(req.timeout),
        )
        provider = creds.provider
        input_tokens = output_tokens = 0
        finish: str | None = None
        async with open_stream(client, request, provider=provider, model=req.model) as response:
            async for event in iter_sse(response, provider=provider):
                data = event.json(provider=provider)
                if not isinstance(data, dict):
                    raise MalformedResponse(f"{provider} sent a stream event that is not an object",
                                            provider=provider, model=req.model)
                kind = data.get("type", event.event)
                if kind == "error":
                    raise_stream_error(data, provider=provider, model=req.model)
                elif kind == "message_start":
                    usage = (data.get("message") or {}).get("usage") or {}
                    input_tokens = int(usage.get("input_tokens") or 0)
                    output_tokens = int(usage.get("output_tokens") or 0)
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta":
                        yield ChatDelta(text=str(delta.get("text", "")))
                    elif delta.get("type") == "thinking_delta":
                        yield ChatDelta(thinking=str(delta.get("thinking", "")))
                elif kind == "message_delta":
                    finish = (data.get("delta") or {}).get("stop_reason") or finish
                    # message_delta usage is cumulative for the message, so it replaces, never adds
                    output_tokens = int((data.get("usage") or {}).get("output_tokens") or output_tokens)
                elif kind == "message_stop":
                    break
        yield ChatDelta(done=True, usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
                        finish_reason=finish)

    async def embed(
        self, client: httpx.AsyncClient, creds: Credentials, model: str, texts: Sequence[str],
        dimensions: int | None = None,
    ) -> EmbedResult:
        raise ProviderError(
            "Anthropic has no embeddings API. Choose an embedding model from another provider "
            "(or the built-in local model) for QMD embeddings.", provider=creds.provider, model=model,
        )

    async def list_models(self, client: httpx.AsyncClient, creds: Credentials) -> list[dict[str, Any]]:
        data = await request_json(
            client, "GET", f"{self._base(creds)}/v1/models?limit={LIST_LIMIT}", provider=creds.provider,
            headers=self._headers(creds),
        )
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise MalformedResponse(f"{creds.provider} model list has no data array", provider=creds.provider)
        return [
            {"id": m["id"], "display_name": m.get("display_name", m["id"]), "created_at": m.get("created_at")}
            for m in models if isinstance(m, dict) and isinstance(m.get("id"), str)
        ]


ADAPTER = AnthropicAdapter()
