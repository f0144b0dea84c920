"""Mistral La Plateforme (api.mistral.ai/v1): OpenAI-like, with its own reasoning and embedding fields.

Reference: https://docs.mistral.ai/api/ (chat completions, embeddings, models) and
https://docs.mistral.ai/capabilities/reasoning/.

What differs from the OpenAI-compatible adapter it builds on (requests,
streaming, errors and model listing are inherited; this module fills its hooks):

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

from collections.abc import Mapping, Sequence
from typing import Any

from providers.errors import MalformedResponse
from providers.registry import MISTRAL_MAX_EMBED_BATCH
from providers.tools import tool_name_for
from providers.types import ChatRequest, Credentials, ThinkingLevel
from providers.wire.openai_compat import OpenAICompatAdapter

#: models with adjustable reasoning (``reasoning_effort``), by id prefix
ADJUSTABLE_REASONING = ("mistral-small-latest", "mistral-small-2603", "mistral-medium-3-5", "mistral-large-4")
#: of those, the ones that take low/medium/high rather than only none/high
GRADED_REASONING = ("mistral-large-4",)
#: native reasoning models: they always think and take no reasoning setting
NATIVE_REASONING = ("magistral-",)


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
            thinking.extend(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "".join(text), "".join(thinking)


class MistralAdapter(OpenAICompatAdapter):
    """OpenAI-compatible transport with Mistral's reasoning, chunked content and embedding fields."""

    #: not in Mistral's schema; usage already arrives with the last chunk
    stream_usage_option = False

    def __init__(self) -> None:
        super().__init__(dialect="openai", max_embed_batch=MISTRAL_MAX_EMBED_BATCH)

    def chat_body(self, creds: Credentials, req: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """OpenAI's body; Mistral's tool results also carry the tool's ``name`` (its API reference)."""
        body = super().chat_body(creds, req, stream=stream)
        for sent, message in zip(body["messages"], req.messages, strict=True):
            if message.role == "tool":
                sent["name"] = tool_name_for(req.messages, message)
        return body

    def reasoning_fields(self, req: ChatRequest) -> dict[str, Any]:
        effort = mistral_reasoning_effort(req.model, req.thinking_level)
        return {} if effort is None else {"reasoning_effort": effort}

    def thinking_sent(self, req: ChatRequest) -> bool:
        if req.model.startswith(NATIVE_REASONING):
            return True
        effort = mistral_reasoning_effort(req.model, req.thinking_level)
        return effort is not None and effort != "none"

    def read_content(self, part: Mapping[str, Any], *, provider: str, model: str) -> tuple[str, str]:
        return split_content(part.get("content"), provider=provider, model=model)

    def embed_body(self, model: str, texts: Sequence[str], dimensions: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "input": list(texts)}
        if dimensions is not None:
            body["output_dimension"] = dimensions
        return body


ADAPTER = MistralAdapter()
