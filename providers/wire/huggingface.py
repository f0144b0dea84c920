"""Hugging Face Inference Providers: the OpenAI-compatible router for chat, feature-extraction for embeddings.

Reference: https://huggingface.co/docs/inference-providers (chat completion on
``https://router.huggingface.co/v1``, and the feature-extraction task on
``https://router.huggingface.co/hf-inference/models/{model}/pipeline/feature-extraction``).

* Chat, streaming and model listing are the OpenAI-compatible adapter's,
  with the ``HF_TOKEN`` as a bearer token.
* Embeddings: ``POST .../pipeline/feature-extraction`` with ``{"inputs": [...]}``.
  Sentence-embedding models (sentence-transformers, served by TEI) answer one
  vector per input, which is returned as sent. Plain encoder models answer
  one vector *per token*; those are mean-pooled over the tokens and then
  L2-normalised, the usual sentence-transformers recipe, so every model gives
  one comparable vector per text. ``dimensions`` is not supported by this
  task and is refused rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

from providers.errors import MalformedResponse, ProviderError
from providers.registry import HF_MAX_EMBED_BATCH
from providers.types import Credentials, EmbedResult
from providers.wire.openai_compat import OpenAICompatAdapter
from providers.wire.transport import request_json

DEFAULT_ROUTER = "https://router.huggingface.co"
#: the chat base URL is the router's OpenAI-compatible prefix; feature-extraction lives beside it
OPENAI_PREFIX = "/v1"
#: a vector norm below this is all zeros (e.g. only padding tokens); dividing by it would give NaN
MIN_NORM = 1e-12


def router_root(creds: Credentials) -> str:
    """The router origin: the configured chat base URL without its ``/v1``."""
    return (creds.base_url or DEFAULT_ROUTER).rstrip("/").removesuffix(OPENAI_PREFIX)


def _depth(value: Any) -> int:
    """How deeply lists nest at the front of ``value`` (a number has depth 0)."""
    depth = 0
    while isinstance(value, list) and value:
        value, depth = value[0], depth + 1
    return depth


def sentence_vectors(data: Any, *, expected: int, provider: str, model: str) -> list[list[float]]:
    """One vector per input from a feature-extraction answer, pooling token-level outputs."""
    depth = _depth(data)
    if depth == 1 and expected == 1:  # some backends unwrap a single input
        data, depth = [data], 2
    if not isinstance(data, list) or len(data) != expected or depth not in (2, 3):
        raise MalformedResponse(
            f"{provider} feature-extraction answer is not {expected} vectors (nesting depth {depth})",
            provider=provider,
            model=model,
        )
    try:
        if depth == 2:
            return [[float(v) for v in row] for row in data]
        vectors = []
        for tokens in data:
            pooled = np.asarray(tokens, dtype=np.float64).mean(axis=0)
            pooled /= max(float(np.linalg.norm(pooled)), MIN_NORM)
            vectors.append(pooled.tolist())
        return vectors
    except (TypeError, ValueError) as exc:
        raise MalformedResponse(
            f"{provider} feature-extraction answer holds non-numbers or ragged rows", provider=provider, model=model
        ) from exc


class HuggingFaceAdapter(OpenAICompatAdapter):
    """OpenAI-compatible chat through the router; embeddings through the feature-extraction task."""

    def __init__(self) -> None:
        super().__init__(dialect="openai", max_embed_batch=HF_MAX_EMBED_BATCH)

    async def embed(
        self,
        client: httpx.AsyncClient,
        creds: Credentials,
        model: str,
        texts: Sequence[str],
        dimensions: int | None = None,
    ) -> EmbedResult:
        if dimensions is not None:
            raise ProviderError(
                "Hugging Face feature-extraction cannot shorten vectors; leave the dimensions setting empty.",
                provider=creds.provider,
                model=model,
            )
        if not texts:
            return EmbedResult(vectors=[], model=model)
        url = f"{router_root(creds)}/hf-inference/models/{quote(model, safe='/')}/pipeline/feature-extraction"
        data = await request_json(
            client,
            "POST",
            url,
            provider=creds.provider,
            model=model,
            headers=self.headers(creds),
            body={"inputs": list(texts)},
        )
        vectors = sentence_vectors(data, expected=len(texts), provider=creds.provider, model=model)
        return EmbedResult(vectors=vectors, model=model)


ADAPTER = HuggingFaceAdapter()
