"""Mistral La Plateforme (api.mistral.ai/v1): OpenAI-like, with its own reasoning and embedding fields.

Reference: https://docs.mistral.ai/api/ (chat completions, embeddings, models) and
https://docs.mistral.ai/capabilities/reasoning/.

What differs from the OpenAI-compatible adapter it builds on (headers, URLs,
error handling and model listing are inherited):

* Reasoning answers carry ``message.content`` as a *list of chunks*:
  ``{"type": "thinking", "thinking": [{"type": "text", "text": ...}]}`` then
  ``{"type": "text", "text": ...}``; streamed deltas do the same while the
  model thinks and switch to plain strings after. Both forms are read here.
* Thinking: ``reasoning_effort`` exists on the adjustable-reasoning models
  only (Mistral Small 4 / ``mistral-small-latest``, Medium 3.5, Large 4).
  ``off`` sends ``"none"``; other levels send ``"high"`` (Small and Medium
  document only none/high), except Large 4, which takes low/medium/high as
  given. Magistral models always reason and take no setting; every other
  model gets no field, because Mistral refuses fields a request model lacks.
* Streaming sends no ``stream_options``: not in Mistral's schema, and usage
  already arrives with the last chunk.
* Embeddings: ``{"model", "input"}`` plus ``output_dimension`` (codestral-embed),
  not OpenAI's ``dimensions``.
* ``ChatRequest`` has no seed or safety switch, so ``random_seed`` and
  ``safe_prompt`` are never sent (Mistral's defaults apply).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from providers.errors import MalformedResponse
from providers.registry import MISTRAL_MAX_EMBED_BATCH
from providers.types import ChatDelta, ChatRequest, ChatResult, Credentials, EmbedResult, ThinkingLevel, Usage
from providers.wire.openai_compat import OpenAICompatAdapter, _usage
from providers.wire.transport import iter_sse, open_stream, request_json, timeout_arg

#: models with adjustable reasoning (``reasoning_effort``), by id prefix
ADJUSTABLE_REASONING = ("mistral-small-latest", "mistral-small-2603", "mistral-medium-3-5", "mistral-large-4")
#: of those, the ones that take low/medium/high rather than only none/high
GRADED_REASONING = ("mistral-large-4",)
#: native reasoning models: they always think and take no reasoning setting
NATIVE_REASONING = ("magistral-",)
#: SSE payload that ends the stream (OpenAI convention, which Mistral follows)
SSE_DONE = "[DONE]"


def mistral_reasoning_effort(model: str, level: ThinkingLevel | None) -> str | None:
    """The ``reasoning_effort`` to send, or None to send no field (see the module notes)."""
    if level is None or not model.startswith(ADJUSTABLE_REASONING):
        return None
    if level == "off":
        return "none"
    return level if model.startswith(GRADED_REASONING) else "high"


def split_content(content: Any, *, provider: str, model: str) -> tuple[str, str]:
    """(text, thinking) of a message or delta ``content``: a string, or a list of text/thinking chunks."""
    if content is None:
        return "", ""
    if isinstance(content, str):
        return content, ""
    if not isinstance(content, list):
        raise MalformedResponse(
            f"{provider} message content is neither text nor chunks", provider=provider, model=model
        )
    text, thinking = [], []
    for chunk in content:
        if not isinstance(chunk, dict):
            continue
        if chunk.get("type") == "text" and isinstance(chunk.get("text"), str):
            text.append(chunk["text"])
        elif chunk.get("type") == "thinking":
            inner = chunk.get("thinking")
            parts = inner if isinstance(inner, list) else [{"type": "text", "text": inner}]
            thinking.extend(
                p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
    return "".join(text), "".join(thinking)


def _first_choice(data: Any, *, provider: str, model: str) -> dict[str, Any]:
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse(f"{provider} chat answer has no choices", provider=provider, model=model)
    return choices[0]


class MistralAdapter(OpenAICompatAdapter):
    """OpenAI-compatible transport with Mistral's reasoning, chunked content and embedding fields."""

    def __init__(self) -> None:
        super().__init__(dialect="openai", max_embed_batch=MISTRAL_MAX_EMBED_BATCH)

    def chat_body(self, creds: Credentials, req: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().chat_body(creds, req, stream=stream)
        body.pop("reasoning_effort", None)
        body.pop("stream_options", None)
        effort = mistral_reasoning_effort(req.model, req.thinking_level)
        if effort is not None:
            body["reasoning_effort"] = effort
        return body

    def thinking_sent(self, req: ChatRequest) -> bool:
        if req.model.startswith(NATIVE_REASONING):
            return True
        effort = mistral_reasoning_effort(req.model, req.thinking_level)
        return effort is not None and effort != "none"

    async def chat(self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest) -> ChatResult:
        provider = creds.provider
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
        choice = _first_choice(data, provider=provider, model=req.model)
        message = choice.get("message")
        if not isinstance(message, dict):
            raise MalformedResponse(
                f"{provider} chat answer has no message", provider=provider, model=req.model
            )
        text, thinking = split_content(message.get("content"), provider=provider, model=req.model)
        return ChatResult(
            text=text,
            provider=provider,
            model=req.model,
            thinking=thinking or None,
            usage=_usage(data.get("usage")),
            thinking_applied=self.thinking_sent(req),
            finish_reason=choice.get("finish_reason"),
        )

    async def stream_chat(
        self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest
    ) -> AsyncIterator[ChatDelta]:
        provider = creds.provider
        request = client.build_request(
            "POST",
            self.url(creds, "chat/completions"),
            json=self.chat_body(creds, req, stream=True),
            headers={**self.headers(creds), "Accept": "text/event-stream"},
            timeout=timeout_arg(req.timeout),
        )
        usage: Usage | None = None
        finish: str | None = None
        async with open_stream(client, request, provider=provider, model=req.model) as response:
            async for event in iter_sse(response, provider=provider):
                if event.data == SSE_DONE:
                    break
                chunk = event.json(provider=provider)
                if not isinstance(chunk, dict):
                    raise MalformedResponse(
                        f"{provider} sent a stream chunk that is not an object",
                        provider=provider,
                        model=req.model,
                    )
                if chunk.get("usage"):
                    usage = _usage(chunk["usage"])
                for choice in chunk.get("choices") or ():
                    finish = choice.get("finish_reason") or finish
                    text, thinking = split_content(
                        (choice.get("delta") or {}).get("content"), provider=provider, model=req.model
                    )
                    if text or thinking:
                        yield ChatDelta(text=text, thinking=thinking)
        yield ChatDelta(done=True, usage=usage, finish_reason=finish)

    async def embed(
        self,
        client: httpx.AsyncClient,
        creds: Credentials,
        model: str,
        texts: Sequence[str],
        dimensions: int | None = None,
    ) -> EmbedResult:
        provider = creds.provider
        if not texts:
            return EmbedResult(vectors=[], model=model)
        body: dict[str, Any] = {"model": model, "input": list(texts)}
        if dimensions is not None:
            body["output_dimension"] = dimensions
        data = await request_json(
            client,
            "POST",
            self.url(creds, "embeddings"),
            provider=provider,
            model=model,
            headers=self.headers(creds),
            body=body,
        )
        rows = data.get("data") if isinstance(data, dict) else None
        if not isinstance(rows, list) or len(rows) != len(texts):
            raise MalformedResponse(
                f"{provider} returned no embeddings list of {len(texts)} items",
                provider=provider,
                model=model,
            )
        try:
            ordered = sorted(rows, key=lambda row: int(row.get("index", 0)))
            vectors = [[float(v) for v in row["embedding"]] for row in ordered]
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(
                f"{provider} embeddings are not lists of numbers", provider=provider, model=model
            ) from exc
        return EmbedResult(vectors=vectors, model=model, usage=_usage(data.get("usage")))


ADAPTER = MistralAdapter()
