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
* Prompt caching (docs: prompt caching): a system prompt of at least
  ``CACHE_SYSTEM_MIN_CHARS`` goes as one text block with ``cache_control:
  {"type": "ephemeral"}``; usage then reports ``cache_creation_input_tokens``
  and ``cache_read_input_tokens``, which ``Usage`` counts apart.
* Tools (docs: tool use, implement-tool-use): ``tools: [{name, description,
  input_schema}]``; ``tool_choice: {"type": "auto" | "any" | "tool" | "none"}``
  (``name`` for ``tool``), ``disable_parallel_tool_use: true`` inside it when
  parallel calls are turned off. Answers hold ``tool_use`` blocks
  (``id``, ``name``, ``input``); streams open one with ``content_block_start``,
  send ``input_json_delta`` pieces (``partial_json``) and close it with
  ``content_block_stop``. Results go back as ``tool_result`` blocks
  (``tool_use_id``, ``content``) in a user turn; consecutive results share
  one turn. A forced tool (``any``/``tool``) cannot be combined with
  thinking, so such a call runs without thinking and says so.
* There is no embeddings API: ``embed`` raises a ProviderError that says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from providers.errors import MalformedResponse, MissingCredentials, ProviderError
from providers.structured import as_forced_tool, forced_tool_answer
from providers.tools import StreamedCalls, parse_arguments
from providers.types import ChatDelta, ChatRequest, ChatResult, Credentials, EmbedResult, Message, ToolCall, Usage
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
#: a system prompt at least this long is marked for prompt caching (``cache_control: ephemeral``). The docs'
#: smallest cacheable prefix is 1024 tokens (Opus, Sonnet; 2048 on Haiku), ~4 characters each in English;
#: a shorter prefix is silently not cached, so marking it would only cost the cache-write premium nothing
CACHE_SYSTEM_MIN_CHARS = 4096
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


def _content(message: Message) -> str | list[dict[str, Any]]:
    """A turn's content: plain text, or blocks when it carries tool calls or a tool result."""
    if message.role == "tool":
        return [{"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}]
    if message.tool_calls:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
        blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in message.tool_calls]
        return blocks
    return message.content


def anthropic_messages(messages: list[Message] | tuple[Message, ...]) -> list[dict[str, Any]]:
    """Non-system turns; tool results become user turns, and a user turn right after them joins theirs
    (the API wants user and assistant to alternate, with a call's results in the next user turn)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "user" if m.role == "tool" else m.role
        content = _content(m)
        if out and out[-1]["role"] == role == "user" and (m.role == "tool" or isinstance(out[-1]["content"], list)):
            previous = out[-1]["content"]
            blocks = previous if isinstance(previous, list) else [{"type": "text", "text": previous}]
            blocks += content if isinstance(content, list) else [{"type": "text", "text": content}]
            out[-1]["content"] = blocks
            continue
        out.append({"role": role, "content": content})
    return out


def tool_fields(req: ChatRequest) -> dict[str, Any]:
    """``tools`` and ``tool_choice`` for ``req`` (empty without tools)."""
    if not req.tools:
        return {}
    fields: dict[str, Any] = {
        "tools": [{"name": t.name, "description": t.description, "input_schema": dict(t.parameters)} for t in req.tools]
    }
    choice: dict[str, Any] = {}
    if req.tool_choice in ("auto", "none"):
        choice = {"type": req.tool_choice}
    elif req.tool_choice == "required":
        choice = {"type": "any"}
    elif req.tool_choice is not None:
        choice = {"type": "tool", "name": req.tool_choice}
    if req.parallel_tool_calls is False and choice.get("type") != "none":
        choice = {"type": "auto", **choice, "disable_parallel_tool_use": True}
    if choice:
        fields["tool_choice"] = choice
    return fields


def forces_tool(req: ChatRequest) -> bool:
    return bool(req.tools) and req.tool_choice not in (None, "auto", "none")


def build_body(req: ChatRequest, *, stream: bool = False) -> tuple[dict[str, Any], bool, str | None]:
    """The Messages request body, whether thinking is on, and a note when a setting had to give way.

    A response schema becomes a forced tool whose input schema it is (``as_forced_tool``)."""
    req = as_forced_tool(req, provider="anthropic")
    system = "\n\n".join(m.content for m in req.messages if m.role == "system")
    body: dict[str, Any] = {"model": req.model, "messages": anthropic_messages(list(req.messages))}
    if len(system) >= CACHE_SYSTEM_MIN_CHARS:  # agents resend the same long prompt: reads cost a tenth
        body["system"] = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
    elif system:
        body["system"] = system
    body.update(tool_fields(req))
    answer_room = req.max_tokens if req.max_tokens is not None else DEFAULT_MAX_TOKENS
    thinking = req.thinking_level not in (None, "off")
    note = None
    if thinking and forces_tool(req):
        thinking = False
        note = "Claude cannot think while a tool is forced (tool_choice any/tool); ran without thinking"
    elif thinking and any(m.tool_calls for m in req.messages):
        # with thinking on, each earlier tool_use turn must be sent back with its signed thinking block,
        # which tool-call messages do not carry: the API would answer 400
        thinking = False
        note = (
            "Claude thinking needs the signed thinking blocks of earlier tool-use turns, which are not kept; "
            "this turn ran without thinking"
        )
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
    texts, thoughts, calls = [], [], []
    for block in content:
        if not isinstance(block, dict):
            raise MalformedResponse(
                f"{provider} answer has a content block that is not an object", provider=provider, model=model
            )
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "thinking":
            thoughts.append(str(block.get("thinking", "")))
        elif block.get("type") == "tool_use":
            calls.append(_tool_use(block, provider=provider, model=model))
    return ChatResult(
        text="".join(texts),
        provider=provider,
        model=model,
        thinking="".join(thoughts) or None,
        usage=usage_from(data.get("usage")),
        thinking_applied=thinking,
        finish_reason=data.get("stop_reason"),
        metadata={"thinking_note": note} if note else {},
        tool_calls=tuple(calls),
    )


def _tool_use(block: dict[str, Any], *, provider: str, model: str) -> ToolCall:
    name = block.get("name")
    if not isinstance(name, str):
        raise MalformedResponse(f"{provider} sent a tool_use block without a name", provider=provider, model=model)
    return ToolCall(
        str(block.get("id") or ""), name, parse_arguments(block.get("input"), tool=name, provider=provider, model=model)
    )


def usage_from(usage: Any, *, output_tokens: int | None = None) -> Usage:
    """A Messages ``usage`` object: ``input_tokens`` leaves out cache reads and writes, which are added back."""
    usage = usage if isinstance(usage, dict) else {}
    read = int(usage.get("cache_read_input_tokens") or 0)
    write = int(usage.get("cache_creation_input_tokens") or 0)
    return Usage(
        input_tokens=int(usage.get("input_tokens") or 0) + read + write,
        output_tokens=int(usage.get("output_tokens") or 0) if output_tokens is None else output_tokens,
        cached_input_tokens=read,
        cache_write_tokens=write,
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
                env_var=API_KEY_ENV,
                provider=creds.provider,
            )
        return {"x-api-key": creds.api_key, "anthropic-version": ANTHROPIC_VERSION}

    async def chat(self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest) -> ChatResult:
        body, thinking, note = build_body(req)
        data = await request_json(
            client,
            "POST",
            f"{self._base(creds)}/v1/messages",
            provider=creds.provider,
            model=req.model,
            headers=self._headers(creds),
            body=body,
            timeout=req.timeout,
        )
        result = parse_message(data, provider=creds.provider, model=req.model, thinking=thinking, note=note)
        return forced_tool_answer(result, req)

    async def stream_chat(
        self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest
    ) -> AsyncIterator[ChatDelta]:
        """Deltas from the SSE events: text/thinking deltas; usage from message_start and message_delta."""
        body, _, note = build_body(req, stream=True)
        request = client.build_request(
            "POST",
            f"{self._base(creds)}/v1/messages",
            headers=self._headers(creds),
            json=body,
            timeout=timeout_arg(req.timeout),
        )
        provider = creds.provider
        start_usage: dict[str, Any] = {}
        output_tokens = 0
        finish: str | None = None
        calls = StreamedCalls(provider=provider, model=req.model)
        async with open_stream(client, request, provider=provider, model=req.model) as response:
            async for event in iter_sse(response, provider=provider):
                data = event.json(provider=provider)
                if not isinstance(data, dict):
                    raise MalformedResponse(
                        f"{provider} sent a stream event that is not an object", provider=provider, model=req.model
                    )
                kind = data.get("type", event.event)
                if kind == "error":
                    raise_stream_error(data, provider=provider, model=req.model)
                elif kind == "message_start":
                    start_usage = dict((data.get("message") or {}).get("usage") or {})
                    output_tokens = int(start_usage.get("output_tokens") or 0)
                elif kind == "content_block_start":
                    block = data.get("content_block") or {}
                    if block.get("type") == "tool_use":
                        calls.start(int(data.get("index", 0)), block.get("id"), block.get("name"))
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta":
                        yield ChatDelta(text=str(delta.get("text", "")))
                    elif delta.get("type") == "thinking_delta":
                        yield ChatDelta(thinking=str(delta.get("thinking", "")))
                    elif delta.get("type") == "input_json_delta":
                        calls.add(int(data.get("index", 0)), delta.get("partial_json"))
                elif kind == "content_block_stop":
                    finished = calls.finish(int(data.get("index", 0)))
                    if finished:
                        yield ChatDelta(tool_calls=finished)
                elif kind == "message_delta":
                    finish = (data.get("delta") or {}).get("stop_reason") or finish
                    # message_delta usage is cumulative for the message, so it replaces, never adds
                    delta_usage = data.get("usage") or {}
                    output_tokens = int(delta_usage.get("output_tokens") or output_tokens)
                    start_usage.update({k: v for k, v in delta_usage.items() if k != "output_tokens" and v})
                elif kind == "message_stop":
                    break
        if calls.open:
            raise calls.cut()
        yield ChatDelta(
            done=True,
            usage=usage_from(start_usage, output_tokens=output_tokens),
            finish_reason=finish,
            metadata={"thinking_note": note} if note else None,
        )

    async def embed(
        self,
        client: httpx.AsyncClient,
        creds: Credentials,
        model: str,
        texts: Sequence[str],
        dimensions: int | None = None,
    ) -> EmbedResult:
        raise ProviderError(
            "Anthropic has no embeddings API. Choose an embedding model from another provider "
            "(or the built-in local model) for QMD embeddings.",
            provider=creds.provider,
            model=model,
        )

    async def list_models(self, client: httpx.AsyncClient, creds: Credentials) -> list[dict[str, Any]]:
        data = await request_json(
            client,
            "GET",
            f"{self._base(creds)}/v1/models?limit={LIST_LIMIT}",
            provider=creds.provider,
            headers=self._headers(creds),
        )
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise MalformedResponse(f"{creds.provider} model list has no data array", provider=creds.provider)
        return [
            {"id": m["id"], "display_name": m.get("display_name", m["id"]), "created_at": m.get("created_at")}
            for m in models
            if isinstance(m, dict) and isinstance(m.get("id"), str)
        ]


ADAPTER = AnthropicAdapter()
