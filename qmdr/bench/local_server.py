"""The ``local-server`` matrix row: a real OpenAI-compatible server on 127.0.0.1, no keys needed.

``LocalProviderServer`` starts :class:`qmdr.testing.openai_server.FakeOpenAIServer`
with the embedded MiniLM behind ``/v1/embeddings`` and the deterministic word
overlap grader (:mod:`qmdr.testing.graders`) behind ``/v1/chat/completions``,
with an injected latency per request. Its configs are plain ``QMD_*`` settings
(``QMD_EMBED_PROVIDER=openai``, ``QMD_OPENAI_BASE_URL=<server>``, ...) that
``qmdr.wiring.build_components`` turns into an embedder and reranker exactly as
the service would, so a CI run measures the real HTTP path, batching and
caching. Its quality numbers for rerank say nothing about a real LLM.

The components are built from an explicit ``Settings`` and an empty provider
environment with an in-memory settings store: nothing is read from, or written
to, the user's keys, and the process environment is never changed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from qmdr.testing.graders import grading_chat
from qmdr.testing.openai_server import FakeOpenAIServer

# The server's own key: not a secret, it only proves the client sends one.
LOCAL_SERVER_KEY = "qmdr-bench-local-server-key"  # noqa: S105
LOCAL_EMBED_MODEL = "local-minilm"
LOCAL_CHAT_MODEL = "local-grader"
# A typical round trip to a hosted API from a laptop; `--latency-ms` overrides it.
DEFAULT_LATENCY_MS = 50.0
#: the matrix name for rows served by this server
LOCAL_SERVER = "local-server"


class LocalProviderServer:
    """The server plus the settings overrides that point ``QMD_*`` at it."""

    def __init__(self, latency_ms: float = DEFAULT_LATENCY_MS) -> None:
        from providers.local import load_local_embedder

        self.latency_ms = latency_ms
        self._model = load_local_embedder()
        self.server = FakeOpenAIServer(
            embed_fn=self._embed,
            chat_fn=grading_chat,
            dim=self._model.dim,
            models=(LOCAL_CHAT_MODEL, LOCAL_EMBED_MODEL),
            latency=latency_ms / 1000,
            api_key=LOCAL_SERVER_KEY,
        )

    async def _embed(self, texts: list[str], _model: str) -> list[list[float]]:
        # in a worker thread: the server's event loop keeps serving other requests meanwhile
        vectors = await asyncio.to_thread(self._model.embed_sync, texts)
        return vectors.tolist()

    def start(self) -> LocalProviderServer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> LocalProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _common(self) -> dict[str, Any]:
        return {"qmd_openai_base_url": self.server.base_url, "qmd_openai_api_key": LOCAL_SERVER_KEY}

    def embedder_settings(self) -> dict[str, Any]:
        """``QMD_*`` overrides for an embedder served over HTTP by this server."""
        return {**self._common(), "qmd_embed_provider": "openai", "qmd_openai_embed_model": LOCAL_EMBED_MODEL}

    def reranker_settings(self) -> dict[str, Any]:
        """``QMD_*`` overrides for an LLM reranker (and query expander) served by this server."""
        return {
            **self._common(),
            "qmd_rerank_provider": "openai",
            "qmd_rerank_mode": "llm",
            "qmd_openai_model": LOCAL_CHAT_MODEL,
        }

    def requests_by_path(self) -> dict[str, int]:
        """HTTP requests the server has answered so far, per endpoint (the wire-level call count)."""
        counts: dict[str, int] = {}
        for request in list(self.server.requests):
            counts[request.path] = counts.get(request.path, 0) + 1
        return counts
