"""Google's Gemini API (generativelanguage.googleapis.com), and the shapes Vertex AI shares.

Reference: https://ai.google.dev/api (generateContent, streamGenerateContent,
batchEmbedContents, models.list) and https://ai.google.dev/gemini-api/docs/thinking.

Request and response translation are plain module functions
(``build_generate_body``, ``parse_generate_response``, ``delta_from_chunk``,
``thinking_config``) because Vertex AI speaks the same JSON at another URL
with another credential; ``providers.wire.vertex`` reuses them.

Thinking levels, as sent:

======  ==========================================  ==========================================
level   Gemini 2.5 (``thinkingBudget``)             Gemini 3 (``thinkingLevel``)
======  ==========================================  ==========================================
off     0 (Flash, Flash-Lite); 2.5 Pro cannot turn  "minimal" (Flash); Pro cannot go below
        it off, so its minimum 128 + a note         "low", so "low" + a note
low     1024                                        "low"
medium  8192                                        "medium" (Flash); "high" on Pro + a note
high    24576 (2.5 Flash's maximum)                 "high"
None    no thinkingConfig: the model's default      no thinkingConfig: the model's default
======  ==========================================  ==========================================

Tools (docs: function calling): ``tools: [{"functionDeclarations": [{name,
description, parametersJsonSchema}]}]`` (the JSON Schema field, so schemas
are sent as the caller wrote them), ``toolConfig.functionCallingConfig``
with ``mode`` AUTO / ANY / NONE and ``allowedFunctionNames`` for one tool.
Answers and stream chunks hold whole ``functionCall`` parts (``name``,
``args``, ``id`` when given; several for parallel calls). Calls go back as
``model`` turns with ``functionCall`` parts, results as ``user`` turns with
``functionResponse`` parts (``name``, ``response`` object); results of one
round share a turn. Gemini has no switch against parallel calls. A call's
``thoughtSignature`` (Gemini 3 puts one on the first call of a turn) is kept
in ``ToolCall.signature`` and sent back with the call; Gemini 3 answers 400
without it, so a turn that has none gets Google's documented placeholder.

Any level but off also sets ``includeThoughts`` so the thought summaries come
back as parts marked ``thought: true``. Models that cannot think (Gemini 2.0,
Gemma, ...) get no thinkingConfig (the API rejects it) and report
``thinking_applied=False``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from providers.errors import MalformedResponse, MissingCredentials, ProviderError
from providers.tools import parse_arguments, result_object, tool_name_for
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
from providers.wire.transport import iter_sse, open_stream, raise_in_stream_error, request_json, timeout_arg

PROVIDER = "gemini"
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_KEY_ENV = "GEMINI_API_KEY"
API_VERSION = "v1beta"  # thinkingConfig, includeThoughts and batchEmbedContents are documented on v1beta

#: batchEmbedContents accepts at most 100 requests per call (documented limit)
MAX_EMBED_BATCH = 100
#: models.list pageSize maximum; one page is one request, which covers every public Gemini model
LIST_PAGE_SIZE = 1000

#: Gemini 2.5 thinking budgets; 24576 is the largest 2.5 Flash accepts (2.5 Pro goes to 32768)
GEMINI_25_BUDGETS: dict[str, int] = {"low": 1024, "medium": 8192, "high": 24576}
#: 2.5 Pro cannot switch thinking off; 128 is the smallest budget it accepts
GEMINI_25_PRO_MIN_BUDGET = 128
#: thinking budget 0 switches thinking off on 2.5 Flash and Flash-Lite
THINKING_OFF_BUDGET = 0

ROLE_TO_GEMINI = {"user": "user", "assistant": "model"}
#: Google's documented stand-in for a function call's thoughtSignature when the real one is not available
GEMINI3_PLACEHOLDER_SIGNATURE = "skip_thought_signature_validator"


@dataclass(frozen=True, slots=True)
class ThinkingChoice:
    """What to send for a thinking level, and what to tell the caller about it."""

    config: dict[str, Any] | None  # the generationConfig.thinkingConfig object, or None to send none
    applied: bool  # the model thinks in this call
    note: str | None = None  # why the level could not be honoured exactly


def model_id(model: str) -> str:
    """The bare model id: callers may pass the API's resource name ``models/gemini-2.5-flash``."""
    return model.removeprefix("models/")


def _is_gemini3(model: str) -> bool:
    return model.startswith("gemini-3")


def _can_think(model: str) -> bool:
    """Gemini 2.5 and 3 think; the ``-latest`` aliases point at them. Older models reject thinkingConfig."""
    alias = model.startswith("gemini-") and model.endswith("-latest")
    return model.startswith(("gemini-2.5", "gemini-3")) or alias


def thinking_config(model: str, level: ThinkingLevel | None) -> ThinkingChoice:
    """Map our thinking level onto the model generation's own knob (see the module table)."""
    model = model_id(model)
    if level is None:
        return ThinkingChoice(None, applied=_can_think(model))
    if not _can_think(model):
        note = None if level == "off" else f"{model} cannot think; ran without thinking"
        return ThinkingChoice(None, applied=False, note=note)
    is_pro = "pro" in model
    if _is_gemini3(model):
        if level == "off":
            if is_pro:
                return ThinkingChoice(
                    {"thinkingLevel": "low"}, True, f"{model} cannot turn thinking off; used the lowest level"
                )
            return ThinkingChoice({"thinkingLevel": "minimal"}, False)
        if level == "medium" and is_pro:
            return ThinkingChoice(
                {"thinkingLevel": "high", "includeThoughts": True}, True, f"{model} has no medium level; used high"
            )
        return ThinkingChoice({"thinkingLevel": level, "includeThoughts": True}, True)
    if level == "off":
        if is_pro:
            return ThinkingChoice(
                {"thinkingBudget": GEMINI_25_PRO_MIN_BUDGET},
                True,
                f"{model} cannot turn thinking off; used the smallest budget",
            )
        return ThinkingChoice({"thinkingBudget": THINKING_OFF_BUDGET}, False)
    return ThinkingChoice({"thinkingBudget": GEMINI_25_BUDGETS[level], "includeThoughts": True}, True)


def _parts(messages: Sequence[Message], message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        name = tool_name_for(messages, message)
        return [{"functionResponse": {"name": name, "response": result_object(message.content)}}]
    parts: list[dict[str, Any]] = [{"text": message.content}] if message.content or not message.tool_calls else []
    for call in message.tool_calls:
        part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.arguments}}
        if call.signature:
            part["thoughtSignature"] = call.signature
        parts.append(part)
    return parts


def _sign_for_gemini3(contents: list[dict[str, Any]], model: str) -> None:
    """Gemini 3 answers 400 when a model turn's first function call has no thoughtSignature; calls that
    never had one (made by another model of a fallback chain, or history kept without it) get the
    placeholder Google documents for that case."""
    if not _is_gemini3(model_id(model)):
        return
    for content in contents:
        calls = [p for p in content["parts"] if "functionCall" in p] if content["role"] == "model" else []
        if calls and not any("thoughtSignature" in p for p in calls):
            calls[0]["thoughtSignature"] = GEMINI3_PLACEHOLDER_SIGNATURE


def contents_from_messages(messages: Sequence[Message]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Split our messages into Gemini's ``systemInstruction`` and ``contents`` (roles user/model); the
    results of one round of tool calls share one user turn."""
    system = [m.content for m in messages if m.role == "system"]
    contents: list[dict[str, Any]] = []
    previous_role = None
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "tool" and previous_role == "tool":
            contents[-1]["parts"] += _parts(messages, m)
        else:
            contents.append(
                {"role": "user" if m.role == "tool" else ROLE_TO_GEMINI[m.role], "parts": _parts(messages, m)}
            )
        previous_role = m.role
    instruction = {"parts": [{"text": "\n\n".join(system)}]} if system else None
    return instruction, contents


def tool_fields(req: ChatRequest) -> dict[str, Any]:
    """``tools`` and ``toolConfig`` for ``req`` (empty without tools)."""
    if not req.tools:
        return {}
    declarations = [
        {"name": t.name, "description": t.description, "parametersJsonSchema": dict(t.parameters)} for t in req.tools
    ]
    fields: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    if req.tool_choice in modes:
        fields["toolConfig"] = {"functionCallingConfig": {"mode": modes[req.tool_choice]}}
    elif req.tool_choice is not None:
        fields["toolConfig"] = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [req.tool_choice]}}
    return fields


def build_generate_body(req: ChatRequest) -> tuple[dict[str, Any], ThinkingChoice]:
    """The generateContent request body for ``req``, and the thinking decision behind it."""
    instruction, contents = contents_from_messages(req.messages)
    _sign_for_gemini3(contents, req.model)
    body: dict[str, Any] = {"contents": contents}
    if instruction:
        body["systemInstruction"] = instruction
    body.update(tool_fields(req))
    generation: dict[str, Any] = {}
    if req.max_tokens is not None:
        generation["maxOutputTokens"] = req.max_tokens
    if req.temperature is not None:
        generation["temperature"] = req.temperature
    if req.response_schema is not None:  # responseJsonSchema takes JSON Schema as written (responseSchema does not)
        generation["responseMimeType"] = "application/json"
        generation["responseJsonSchema"] = dict(req.response_schema.schema)
    elif req.json_output:
        generation["responseMimeType"] = "application/json"
    choice = thinking_config(req.model, req.thinking_level)
    if choice.config is not None:
        generation["thinkingConfig"] = choice.config
    if generation:
        body["generationConfig"] = generation
    return body, choice


def usage_from(data: dict[str, Any]) -> Usage:
    """Token counts from ``usageMetadata`` (absent counts are zero)."""
    meta = data.get("usageMetadata") or {}
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    return Usage(  # Gemini counts thoughts apart from candidates; both are billed as output
        input_tokens=int(meta.get("promptTokenCount") or 0),
        output_tokens=int(meta.get("candidatesTokenCount") or 0) + thoughts,
        thinking_tokens=thoughts,
        cached_input_tokens=int(meta.get("cachedContentTokenCount") or 0),
    )


def _split_parts(
    data: dict[str, Any],
    provider: str,
    model: str = "",
) -> tuple[str, str, str | None, tuple[ToolCall, ...]]:
    """(text, thinking, finishReason, tool calls) of the first candidate; a body without candidates list is
    malformed."""
    candidates = data.get("candidates", [])
    if not isinstance(candidates, list):
        raise MalformedResponse(f"{provider} response has no candidates list", provider=provider)
    if not candidates:
        return "", "", None, ()
    first = candidates[0]
    if not isinstance(first, dict):
        raise MalformedResponse(f"{provider} response candidate is not an object", provider=provider)
    parts = (first.get("content") or {}).get("parts") or []
    if not isinstance(parts, list):
        raise MalformedResponse(f"{provider} response parts is not a list", provider=provider)
    text, thinking, calls = [], [], []
    for part in parts:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            (thinking if part.get("thought") else text).append(part["text"])
        elif isinstance(part, dict) and isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            name = call.get("name")
            if not isinstance(name, str):
                raise MalformedResponse(f"{provider} sent a functionCall without a name", provider=provider)
            arguments = parse_arguments(call.get("args"), tool=name, provider=provider, model=model)
            # Gemini API answers often carry no id; ours only has to be unique (results go back by name)
            signature = part.get("thoughtSignature")
            calls.append(
                ToolCall(
                    str(call.get("id") or f"call_{uuid.uuid4().hex[:16]}"),
                    name,
                    arguments,
                    signature if isinstance(signature, str) else None,
                )
            )
    return "".join(text), "".join(thinking), first.get("finishReason"), tuple(calls)


def parse_generate_response(
    data: Any,
    *,
    provider: str,
    model: str,
    choice: ThinkingChoice,
) -> ChatResult:
    """A generateContent response as a ChatResult; a prompt blocked before any candidate keeps its reason."""
    if not isinstance(data, dict):
        raise MalformedResponse(f"{provider} returned a response that is not an object", provider=provider)
    text, thinking, finish, calls = _split_parts(data, provider, model)
    metadata: dict[str, Any] = {}
    block = (data.get("promptFeedback") or {}).get("blockReason")
    if block and not data.get("candidates"):
        finish = f"blocked:{block}"
        metadata["block_reason"] = block
    if choice.note:
        metadata["thinking_note"] = choice.note
    return ChatResult(
        text=text,
        provider=provider,
        model=model,
        thinking=thinking or None,
        usage=usage_from(data),
        thinking_applied=choice.applied,
        finish_reason=finish,
        metadata=metadata,
        tool_calls=calls,
    )


def delta_from_chunk(data: Any, *, provider: str, model: str) -> tuple[ChatDelta, Usage | None, str | None]:
    """One streamed GenerateContentResponse as a delta, plus its (cumulative) usage and finish reason."""
    if not isinstance(data, dict):
        raise MalformedResponse(f"{provider} sent a stream chunk that is not an object", provider=provider)
    if "error" in data:  # an error after the 200 status line arrives as one last event
        error = data["error"]
        status = error.get("code", 500) if isinstance(error, dict) else 500
        raise_in_stream_error(int(status), data, provider=provider, model=model)
    text, thinking, finish, calls = _split_parts(data, provider, model)
    usage = usage_from(data) if "usageMetadata" in data else None
    return ChatDelta(text=text, thinking=thinking, tool_calls=calls), usage, finish


async def stream_generate(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    provider: str,
    model: str,
) -> AsyncIterator[ChatDelta]:
    """Deltas of a ``streamGenerateContent?alt=sse`` response, ending with one ``done`` delta with usage."""
    usage, finish = None, None
    async with open_stream(client, request, provider=provider, model=model) as response:
        async for event in iter_sse(response, provider=provider):
            delta, chunk_usage, chunk_finish = delta_from_chunk(
                event.json(provider=provider), provider=provider, model=model
            )
            usage = chunk_usage or usage
            finish = chunk_finish or finish
            if delta.text or delta.thinking or delta.tool_calls:
                yield delta
    yield ChatDelta(done=True, usage=usage or Usage(), finish_reason=finish)


def embeddings_from_batch(data: Any, *, provider: str, expected: int) -> list[list[float]]:
    """``embeddings[].values`` of a batchEmbedContents response, one per input."""
    embeddings = data.get("embeddings") if isinstance(data, dict) else None
    if not isinstance(embeddings, list) or len(embeddings) != expected:
        raise MalformedResponse(f"{provider} returned no embeddings list of {expected} items", provider=provider)
    try:
        return [[float(v) for v in item["values"]] for item in embeddings]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse(f"{provider} returned an embedding without numeric values", provider=provider) from exc


def check_batch(texts: Sequence[str], limit: int, provider: str) -> None:
    """Refuse a batch larger than the provider allows: one call is one request, the caller splits."""
    if len(texts) > limit:
        raise ProviderError(
            f"{provider} embeds at most {limit} texts per request; got {len(texts)}. "
            f"Split the batch (max_embed_batch).",
            provider=provider,
        )


class GeminiAdapter:
    """The Gemini API with an API key (``x-goog-api-key``).

    ``_auth_headers`` and ``_model_url`` are the two seams Vertex AI overrides:
    the bodies and answers are the same, only where and as whom differ.
    """

    max_embed_batch = MAX_EMBED_BATCH

    def _base(self, creds: Credentials) -> str:
        return (creds.base_url or DEFAULT_BASE_URL).rstrip("/")

    async def _auth_headers(self, creds: Credentials) -> dict[str, str]:
        if not creds.api_key:
            raise MissingCredentials(
                f"No Gemini API key: set {API_KEY_ENV} or add a key in Settings -> Providers.",
                env_var=API_KEY_ENV,
                provider=creds.provider,
            )
        return {"x-goog-api-key": creds.api_key}

    def _model_url(self, creds: Credentials, model: str, method: str) -> str:
        return f"{self._base(creds)}/{API_VERSION}/models/{model_id(model)}:{method}"

    async def chat(self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest) -> ChatResult:
        body, choice = build_generate_body(req)
        headers = await self._auth_headers(creds)  # first: for Vertex, ADC may be what names the project
        data = await request_json(
            client,
            "POST",
            self._model_url(creds, req.model, "generateContent"),
            provider=creds.provider,
            model=req.model,
            headers=headers,
            body=body,
            timeout=req.timeout,
        )
        return parse_generate_response(data, provider=creds.provider, model=req.model, choice=choice)

    async def stream_chat(
        self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest
    ) -> AsyncIterator[ChatDelta]:
        body, _ = build_generate_body(req)
        headers = await self._auth_headers(creds)
        request = client.build_request(
            "POST",
            self._model_url(creds, req.model, "streamGenerateContent"),
            params={"alt": "sse"},
            headers=headers,
            json=body,
            timeout=timeout_arg(req.timeout),
        )
        async for delta in stream_generate(client, request, provider=creds.provider, model=req.model):
            yield delta

    async def embed(
        self,
        client: httpx.AsyncClient,
        creds: Credentials,
        model: str,
        texts: Sequence[str],
        dimensions: int | None = None,
    ) -> EmbedResult:
        check_batch(texts, self.max_embed_batch, creds.provider)
        if not texts:
            return EmbedResult(vectors=[], model=model)
        item: dict[str, Any] = {"model": f"models/{model_id(model)}"}
        if dimensions is not None:
            item["outputDimensionality"] = dimensions
        body = {"requests": [{**item, "content": {"parts": [{"text": text}]}} for text in texts]}
        headers = await self._auth_headers(creds)
        data = await request_json(
            client,
            "POST",
            self._model_url(creds, model, "batchEmbedContents"),
            provider=creds.provider,
            model=model,
            headers=headers,
            body=body,
        )
        return EmbedResult(
            vectors=embeddings_from_batch(data, provider=creds.provider, expected=len(texts)), model=model
        )

    async def list_models(self, client: httpx.AsyncClient, creds: Credentials) -> list[dict[str, Any]]:
        data = await request_json(
            client,
            "GET",
            f"{self._base(creds)}/{API_VERSION}/models?pageSize={LIST_PAGE_SIZE}",
            provider=creds.provider,
            headers=await self._auth_headers(creds),
        )
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise MalformedResponse(f"{creds.provider} model list has no models array", provider=creds.provider)
        return [
            {
                "id": model_id(m["name"]),
                "display_name": m.get("displayName", model_id(m["name"])),
                "methods": m.get("supportedGenerationMethods", []),
                "input_token_limit": m.get("inputTokenLimit"),
                "output_token_limit": m.get("outputTokenLimit"),
                "thinking": bool(m.get("thinking", False)),
            }
            for m in models
            if isinstance(m, dict) and isinstance(m.get("name"), str)
        ]


ADAPTER = GeminiAdapter()
