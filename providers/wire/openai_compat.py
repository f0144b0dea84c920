"""OpenAI-compatible wire format: ``/chat/completions`` (plain and SSE), ``/embeddings``, ``/models``.

Serves OpenAI, OpenRouter, xAI, Groq, Cerebras and every ``custom-<slug>``
server (Ollama, llama.cpp, vLLM, LM Studio ...), and Mistral / Hugging Face when
their own modules are absent. Each call is exactly one HTTP request; retries
and fallbacks live in ``providers.reliability``.

Thinking, per dialect:

* ``openai`` (OpenAI, xAI, Groq, Cerebras, custom): ``reasoning_effort`` set
  to ``low`` / ``medium`` / ``high``. For ``off`` there is no universal value:
  GPT-5.1 and later accept ``"none"``, the GPT-5 family's lowest is
  ``"minimal"``, and every other model (o-series cannot stop reasoning;
  non-reasoning models reject the field) gets no field at all.
* ``openrouter``: OpenRouter's normalised ``reasoning`` object,
  ``{"effort": level}`` or ``{"enabled": false}`` for ``off``; OpenRouter
  translates it per upstream model. OpenRouter also gets its documented
  app-attribution headers (``HTTP-Referer``, ``X-Title``).

Reasoning text is read from ``message.reasoning`` (OpenRouter, Groq) or
``message.reasoning_content`` (DeepSeek-style servers, vLLM) when present, and
from the same fields of streamed deltas.

Tools (OpenAI API reference, chat/create): ``tools: [{"type": "function",
"function": {name, description, parameters}}]``, ``tool_choice`` ``"auto"`` /
``"none"`` / ``"required"`` / ``{"type": "function", "function": {"name"}}``,
``parallel_tool_calls``. Answers carry ``message.tool_calls[]`` with
``function.arguments`` as JSON text; streams send ``delta.tool_calls[]`` pieces
keyed by ``index`` (id and name first, then argument fragments), complete at
``finish_reason``. Calls go back as an assistant message with ``tool_calls``,
results as ``{"role": "tool", "tool_call_id", "content"}``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal

import httpx

from providers.errors import MalformedResponse, ProviderStatusError
from providers.http import raise_for_status
from providers.registry import OPENAI_MAX_EMBED_BATCH
from providers.structured import openai_response_format
from providers.tools import StreamedCalls, parse_arguments
from providers.types import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    Credentials,
    EmbedResult,
    Message,
    ThinkingLevel,
    ToolCall,
    Usage,
)
from providers.wire.transport import iter_sse, open_stream, request_json, timeout_arg

log = logging.getLogger(__name__)

Dialect = Literal["openai", "openrouter"]

#: OpenRouter's attribution headers: identify the app in its rankings and analytics (optional, documented)
OPENROUTER_APP_URL = "https://github.com/qmdr/qmdr"
OPENROUTER_APP_TITLE = "qmdr"

#: GPT-5.1 and later accept reasoning_effort "none"
_NONE_EFFORT_MODELS = re.compile(r"^(?:.*/)?gpt-5\.\d+")
#: the GPT-5 family (gpt-5, gpt-5-mini, gpt-5-nano) bottoms out at "minimal"
_MINIMAL_EFFORT_MODELS = re.compile(r"^(?:.*/)?gpt-5(?:-|$)")
#: the o-series (o1, o3, o3-mini, o4-mini) always reasons; "low" is the least it takes
_LOW_EFFORT_MODELS = re.compile(r"^(?:.*/)?o\d(?:-|$)")
#: SSE payload that ends an OpenAI-style stream (Mistral follows the same convention)
SSE_DONE = "[DONE]"


def openai_reasoning_effort(model: str, level: ThinkingLevel | None) -> str | None:
    """The ``reasoning_effort`` to send for ``level`` on ``model``, or None to omit the field."""
    if level is None:
        return None
    if level != "off":
        return level
    if _NONE_EFFORT_MODELS.match(model):
        return "none"
    if _MINIMAL_EFFORT_MODELS.match(model):
        return "minimal"
    if _LOW_EFFORT_MODELS.match(model):
        return "low"
    return None


def off_substitute_note(model: str, level: ThinkingLevel | None, effort: str | None) -> str | None:
    """The note for a model that cannot stop reasoning and was sent its lowest effort for ``off``."""
    if level != "off" or effort in (None, "none"):
        return None
    return f"{model} cannot turn reasoning off; sent reasoning_effort {effort!r}, its lowest, for thinking 'off'"


def openrouter_reasoning(level: ThinkingLevel | None) -> dict[str, Any] | None:
    """OpenRouter's ``reasoning`` object for ``level``, or None to leave the model's default."""
    if level is None:
        return None
    if level == "off":
        return {"enabled": False}
    return {"effort": level}


def parse_usage(data: Any) -> Usage:
    """Token counts of an OpenAI-style ``usage`` object (any missing part counts as 0)."""
    if not isinstance(data, dict):
        return Usage()
    details = data.get("completion_tokens_details") or {}
    thinking = details.get("reasoning_tokens") if isinstance(details, dict) else None
    prompt_details = data.get("prompt_tokens_details") or {}
    cached = prompt_details.get("cached_tokens") if isinstance(prompt_details, dict) else None
    # DeepSeek-style servers report cache hits beside the prompt count instead
    cached = cached if cached is not None else data.get("prompt_cache_hit_tokens")
    return Usage(
        input_tokens=int(data.get("prompt_tokens") or 0),
        output_tokens=int(data.get("completion_tokens") or 0),
        thinking_tokens=int(thinking or 0),
        cached_input_tokens=int(cached or 0),
    )


def _reasoning_text(part: Mapping[str, Any]) -> str:
    for key in ("reasoning", "reasoning_content"):
        value = part.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _raise_body_error(data: Mapping[str, Any], *, provider: str, model: str) -> None:
    """Some gateways (OpenRouter) answer 200 with an ``error`` object, e.g. mid-stream; surface it."""
    err = data.get("error")
    if not isinstance(err, dict):
        return
    message = str(err.get("message") or "unknown error")
    code = err.get("code")
    if isinstance(code, int) and code >= 400:
        # reuse the status mapping so a 429/5xx inside a body is retried like a real one
        raise_for_status(httpx.Response(code, json={"error": {"message": message}}), provider=provider, model=model)
    raise ProviderStatusError(
        f"{provider} reported an error (model sent: {model!r}): {message}",
        status=502,
        body=message[:300],
        provider=provider,
        model=model,
    )


def openai_message(message: Message) -> dict[str, Any]:
    """One message in the chat/completions shape, tool calls and tool results included."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def openai_tool_fields(req: ChatRequest) -> dict[str, Any]:
    """``tools``, ``tool_choice`` and ``parallel_tool_calls`` for ``req`` (empty without tools)."""
    if not req.tools:
        return {}
    fields: dict[str, Any] = {
        "tools": [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": dict(t.parameters)},
            }
            for t in req.tools
        ]
    }
    if req.tool_choice in ("auto", "none", "required"):
        fields["tool_choice"] = req.tool_choice
    elif req.tool_choice is not None:
        fields["tool_choice"] = {"type": "function", "function": {"name": req.tool_choice}}
    if req.parallel_tool_calls is not None:
        fields["parallel_tool_calls"] = req.parallel_tool_calls
    return fields


def read_tool_calls(message: Mapping[str, Any], *, provider: str, model: str) -> tuple[ToolCall, ...]:
    """``message.tool_calls`` of an answer, arguments parsed."""
    raw = message.get("tool_calls") or []
    if not isinstance(raw, list):
        raise MalformedResponse(f"{provider} tool_calls is not a list", provider=provider, model=model)
    calls = []
    for n, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise MalformedResponse(
                f"{provider} sent a tool call without a function name", provider=provider, model=model
            )
        name = function["name"]
        arguments = parse_arguments(function.get("arguments"), tool=name, provider=provider, model=model)
        calls.append(ToolCall(str(item.get("id") or f"call_{n}"), name, arguments))
    return tuple(calls)


def _first_choice(data: Mapping[str, Any], *, provider: str, model: str) -> dict[str, Any]:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse(f"{provider} chat answer has no choices", provider=provider, model=model)
    return choices[0]


class OpenAICompatAdapter:
    """Stateless adapter for OpenAI-style APIs; ``dialect`` picks the thinking parameter and headers.

    Servers that are OpenAI-like with their own fields (Mistral, Azure, Hugging
    Face) subclass it and override the small hooks rather than whole calls:
    ``headers``, ``url``, ``chat_body``, ``reasoning_fields``, ``thinking_sent``,
    ``read_content`` (message/delta -> text and thinking), ``embed_body`` and
    ``stream_usage_option``.
    """

    #: ask streams to end with a usage chunk (OpenAI's ``stream_options.include_usage``); servers whose
    #: schema lacks the field and that send usage anyway (Mistral) turn this off
    stream_usage_option: bool = True

    def __init__(
        self,
        *,
        dialect: Dialect = "openai",
        max_embed_batch: int = OPENAI_MAX_EMBED_BATCH,
        app_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.dialect: Dialect = dialect
        self.max_embed_batch = max_embed_batch
        self.app_headers = dict(app_headers or {})

    # -- request building -------------------------------------------------

    def headers(self, creds: Credentials) -> dict[str, str]:
        headers = {"Accept": "application/json", **self.app_headers}
        if creds.api_key:
            headers["Authorization"] = f"Bearer {creds.api_key}"
        return headers

    @staticmethod
    def url(creds: Credentials, path: str) -> str:
        return f"{creds.base_url.rstrip('/')}/{path}"

    def reasoning_fields(self, req: ChatRequest) -> dict[str, Any]:
        """The body fields that carry ``req.thinking_level`` for this dialect (empty: send none)."""
        if self.dialect == "openrouter":
            reasoning = openrouter_reasoning(req.thinking_level)
            return {} if reasoning is None else {"reasoning": reasoning}
        effort = openai_reasoning_effort(req.model, req.thinking_level)
        return {} if effort is None else {"reasoning_effort": effort}

    def chat_body(self, creds: Credentials, req: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": req.model,
            "messages": [self.message(m) for m in req.messages],
        }
        if req.max_tokens is not None:
            # OpenAI's reasoning models refuse the older max_tokens; other servers mostly know only it
            body["max_completion_tokens" if creds.provider == "openai" else "max_tokens"] = req.max_tokens
        if req.temperature is not None:
            body["temperature"] = req.temperature
        if req.response_schema is not None:
            body["response_format"] = openai_response_format(req.response_schema)
        elif req.json_output:
            body["response_format"] = {"type": "json_object"}
        body.update(openai_tool_fields(req))
        body.update(self.thinking_plan(creds, req)[0])
        if stream:
            body["stream"] = True
            if self.stream_usage_option:
                body["stream_options"] = {"include_usage": True}
        return body

    def message(self, message: Message) -> dict[str, Any]:
        """One of ``req.messages`` as the API wants it (Mistral adds the tool's name to tool results)."""
        return openai_message(message)

    def thinking_sent(self, req: ChatRequest) -> bool:
        """Whether this request asks the model to think (used for ``ChatResult.thinking_applied``)."""
        return req.thinking_level not in (None, "off")

    def thinking_plan(self, creds: Credentials, req: ChatRequest) -> tuple[dict[str, Any], dict[str, str], bool]:
        """(body fields, metadata notes, whether the model thinks) for ``req.thinking_level``.

        Capabilities of the model (and, for Azure, of the API version) decide
        what is sent; whatever had to change is said in the notes.
        """
        fields = self.reasoning_fields(req)
        note = off_substitute_note(req.model, req.thinking_level, fields.get("reasoning_effort"))
        if note is not None:
            return fields, {"effort_note": note}, True
        return fields, {}, self.thinking_sent(req)

    def embed_body(self, model: str, texts: Sequence[str], dimensions: int | None) -> dict[str, Any]:
        """The ``/embeddings`` body; OpenAI names the size ``dimensions`` and is asked for plain floats."""
        body: dict[str, Any] = {"model": model, "input": list(texts), "encoding_format": "float"}
        if dimensions is not None:
            body["dimensions"] = dimensions
        return body

    # -- answer reading ---------------------------------------------------------

    def read_content(self, part: Mapping[str, Any], *, provider: str, model: str) -> tuple[str, str]:
        """(text, thinking) of an answer ``message`` or a streamed ``delta``.

        OpenAI's content is a string (or null); reasoning arrives beside it in
        ``reasoning`` (OpenRouter, Groq) or ``reasoning_content`` (DeepSeek-style, vLLM).
        """
        content = part.get("content")
        if content is not None and not isinstance(content, str):
            raise MalformedResponse(f"{provider} chat message content is not text", provider=provider, model=model)
        return content or "", _reasoning_text(part)

    # -- chat ---------------------------------------------------------------

    async def chat(self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest) -> ChatResult:
        provider = creds.provider
        log.debug("%s: POST chat/completions model=%s", provider, req.model)
        data = await request_json(
            client,
            "POST",
            self.url(creds, "chat/completions"),
            provider=provider,
            model=req.model,
            headers=self.headers(creds),
            body=self.chat_body(creds, req, stream=False),
            timeout=req.timeout,
        )
        if not isinstance(data, dict):
            raise MalformedResponse(f"{provider} chat answer is not a JSON object", provider=provider)
        _raise_body_error(data, provider=provider, model=req.model)
        choice = _first_choice(data, provider=provider, model=req.model)
        message = choice.get("message")
        if not isinstance(message, dict):
            raise MalformedResponse(f"{provider} chat answer has no message", provider=provider, model=req.model)
        text, thinking = self.read_content(message, provider=provider, model=req.model)
        _, notes, applied = self.thinking_plan(creds, req)
        return ChatResult(
            text=text,
            provider=provider,
            model=str(data.get("model") or req.model),
            thinking=thinking or None,
            usage=parse_usage(data.get("usage")),
            thinking_applied=applied,
            finish_reason=choice.get("finish_reason"),
            metadata=dict(notes),
            tool_calls=read_tool_calls(message, provider=provider, model=req.model),
        )

    async def stream_chat(
        self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest
    ) -> AsyncIterator[ChatDelta]:
        provider = creds.provider
        log.debug("%s: POST chat/completions (stream) model=%s", provider, req.model)
        request = client.build_request(
            "POST",
            self.url(creds, "chat/completions"),
            json=self.chat_body(creds, req, stream=True),
            headers={**self.headers(creds), "Accept": "text/event-stream"},
            timeout=timeout_arg(req.timeout),
        )
        usage: Usage | None = None
        finish_reason: str | None = None
        calls = StreamedCalls(provider=provider, model=req.model)
        ended = False
        async with open_stream(client, request, provider=provider, model=req.model) as response:
            async for event in iter_sse(response, provider=provider):
                if event.data == SSE_DONE:
                    ended = True
                    break
                chunk = event.json(provider=provider)
                if not isinstance(chunk, dict):
                    raise MalformedResponse(
                        f"{provider} sent a stream event that is not an object",
                        provider=provider,
                        model=req.model,
                    )
                _raise_body_error(chunk, provider=provider, model=req.model)
                if chunk.get("usage"):
                    usage = parse_usage(chunk["usage"])
                for choice in chunk.get("choices") or ():
                    finish_reason = choice.get("finish_reason") or finish_reason
                    delta = choice.get("delta") or {}
                    text, thinking = self.read_content(delta, provider=provider, model=req.model)
                    if text or thinking:
                        yield ChatDelta(text=text, thinking=thinking)
                    for piece in delta.get("tool_calls") or ():
                        function = piece.get("function") or {}
                        slot = int(piece.get("index", 0))
                        calls.start(slot, piece.get("id"), function.get("name"))
                        calls.add(slot, function.get("arguments"))
                    if choice.get("finish_reason") and calls.open:
                        yield ChatDelta(tool_calls=calls.finish())
        if calls.open:  # no finish_reason for the calls: complete after [DONE], cut short otherwise
            if not ended:
                raise calls.cut()
            yield ChatDelta(tool_calls=calls.finish())
        notes = self.thinking_plan(creds, req)[1]
        yield ChatDelta(done=True, usage=usage, finish_reason=finish_reason, metadata=dict(notes) or None)

    # -- embeddings and models ---------------------------------------------

    async def embed(
        self,
        client: httpx.AsyncClient,
        creds: Credentials,
        model: str,
        texts: Sequence[str],
        dimensions: int | None = None,
    ) -> EmbedResult:
        provider = creds.provider
        if not texts:  # the APIs refuse an empty input list; nothing to ask for
            return EmbedResult(vectors=[], model=model)
        log.debug("%s: POST embeddings model=%s inputs=%d", provider, model, len(texts))
        data = await request_json(
            client,
            "POST",
            self.url(creds, "embeddings"),
            provider=provider,
            model=model,
            headers=self.headers(creds),
            body=self.embed_body(model, texts, dimensions),
        )
        rows = data.get("data") if isinstance(data, dict) else None
        if not isinstance(rows, list) or len(rows) != len(texts):
            got = len(rows) if isinstance(rows, list) else "no"
            raise MalformedResponse(
                f"{provider} returned {got} embeddings for {len(texts)} inputs",
                provider=provider,
                model=model,
            )
        try:
            ordered = sorted(rows, key=lambda row: int(row.get("index", 0)))
            vectors = [[float(x) for x in row["embedding"]] for row in ordered]
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(
                f"{provider} embeddings are not lists of numbers", provider=provider, model=model
            ) from exc
        return EmbedResult(vectors=vectors, model=str(data.get("model") or model), usage=parse_usage(data.get("usage")))

    async def list_models(self, client: httpx.AsyncClient, creds: Credentials) -> list[dict[str, Any]]:
        provider = creds.provider
        log.debug("%s: GET models", provider)
        data = await request_json(
            client, "GET", self.url(creds, "models"), provider=provider, headers=self.headers(creds)
        )
        rows = data.get("data") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(row, dict) and "id" in row for row in rows):
            raise MalformedResponse(f"{provider} model list does not have the documented shape", provider=provider)
        return rows


#: the generic adapter for OpenAI, xAI, Groq, Cerebras and custom servers
ADAPTER = OpenAICompatAdapter()
#: OpenRouter: same wire, normalised ``reasoning`` object and app-attribution headers
OPENROUTER_ADAPTER = OpenAICompatAdapter(
    dialect="openrouter",
    app_headers={"HTTP-Referer": OPENROUTER_APP_URL, "X-Title": OPENROUTER_APP_TITLE},
)
