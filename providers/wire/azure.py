"""Azure OpenAI: OpenAI's chat and embeddings bodies at per-deployment URLs with an ``api-key`` header.

Reference: https://learn.microsoft.com/en-us/azure/ai-services/openai/reference

* ``POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``
  and ``.../embeddings?api-version=...``; the model string *is* the deployment
  name. ``endpoint`` and ``api_version`` come from ``Credentials.extra``
  (env ``AZURE_OPENAI_ENDPOINT`` / ``AZURE_OPENAI_API_VERSION``).
* Auth header ``api-key`` (env ``AZURE_OPENAI_API_KEY``), never a bearer.
* Bodies, answers, streaming and error handling are the OpenAI-compatible
  adapter's (``providers.wire.openai_compat``): this module only moves the URL
  and the key, and asks for ``max_completion_tokens``, which Azure's reasoning
  deployments (o-series, GPT-5) require and the others accept since the
  2024-09-01-preview API version.
* ``reasoning_effort`` (thinking levels) needs a 2024-12-01-preview or later
  ``api_version`` (or the v1 API's ``preview``/``latest``); the default below
  is the newest dated GA version, which predates it. With an older version the
  field is not sent (Azure would answer 400) and ``thinking_note`` says why
  and which setting to change.
* ``list_models`` reads ``{endpoint}/openai/models``: the models the resource
  can deploy, not the deployments (those live in the management API).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from providers.errors import MissingCredentials
from providers.registry import OPENAI_MAX_EMBED_BATCH
from providers.types import ChatDelta, ChatRequest, ChatResult, Credentials, EmbedResult
from providers.wire.openai_compat import OpenAICompatAdapter

API_KEY_ENV = "AZURE_OPENAI_API_KEY"
ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
#: newest GA data-plane version when AZURE_OPENAI_API_VERSION is not set
DEFAULT_API_VERSION = "2024-10-21"
API_VERSION_ENV = "AZURE_OPENAI_API_VERSION"
#: the first data-plane version whose chat completions take ``reasoning_effort``
FIRST_REASONING_API_VERSION = "2024-12-01-preview"
#: the v1 API's version names, newer than every dated one
_UNDATED_VERSIONS = frozenset({"preview", "latest", "v1"})
_DATED_VERSION = re.compile(r"^(\d{4}-\d{2}-\d{2})")


def version_has_reasoning_effort(api_version: str) -> bool:
    """Whether chat completions at ``api_version`` accept ``reasoning_effort`` (2024-12-01-preview on)."""
    if api_version.strip().lower() in _UNDATED_VERSIONS:
        return True
    dated = _DATED_VERSION.match(api_version.strip())
    return dated is not None and dated.group(1) >= FIRST_REASONING_API_VERSION[:10]


class AzureOpenAIAdapter(OpenAICompatAdapter):
    """The OpenAI-compatible adapter pointed at one Azure deployment per call."""

    def __init__(self) -> None:
        # Azure documents the same 2048-input embeddings limit as OpenAI
        super().__init__(dialect="openai", max_embed_batch=OPENAI_MAX_EMBED_BATCH)

    def headers(self, creds: Credentials) -> dict[str, str]:
        if not creds.api_key:
            raise MissingCredentials(
                f"No Azure OpenAI key: set {API_KEY_ENV} or add a key in Settings -> Providers.",
                env_var=API_KEY_ENV,
                provider=creds.provider,
            )
        return {"Accept": "application/json", "api-key": creds.api_key}

    @staticmethod
    def _version(creds: Credentials) -> str:
        return creds.extra.get("api_version") or DEFAULT_API_VERSION

    def thinking_plan(self, creds: Credentials, req: ChatRequest) -> tuple[dict[str, Any], dict[str, str], bool]:
        fields, notes, applied = super().thinking_plan(creds, req)
        version = self._version(creds)
        if "reasoning_effort" not in fields or version_has_reasoning_effort(version):
            return fields, notes, applied
        note = (
            f"reasoning_effort not sent: Azure api-version {version} predates it (it arrived in "
            f"{FIRST_REASONING_API_VERSION}); the deployment ran at its own default effort. Set "
            f"{API_VERSION_ENV} to {FIRST_REASONING_API_VERSION} or later to choose the effort"
        )
        return {}, {"thinking_note": note}, False

    def url(self, creds: Credentials, path: str) -> str:  # type: ignore[override]
        version = self._version(creds)
        return f"{creds.base_url.rstrip('/')}/{path}?api-version={quote(version, safe='')}"

    def chat_body(self, creds: Credentials, req: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().chat_body(creds, req, stream=stream)
        if "max_tokens" in body:
            body["max_completion_tokens"] = body.pop("max_tokens")
        return body

    @staticmethod
    def _endpoint(creds: Credentials) -> str:
        endpoint = creds.extra.get("endpoint") or creds.base_url
        if not endpoint:
            raise MissingCredentials(
                f"No Azure OpenAI endpoint: set {ENDPOINT_ENV} (https://<resource>.openai.azure.com).",
                env_var=ENDPOINT_ENV,
                provider=creds.provider,
            )
        return endpoint.rstrip("/")

    def _at(self, creds: Credentials, path: str) -> Credentials:
        """The same credentials with the base URL moved under the endpoint's ``openai/`` path."""
        return replace(creds, base_url=f"{self._endpoint(creds)}/openai/{path}".rstrip("/"))

    def _deployment(self, creds: Credentials, deployment: str) -> Credentials:
        return self._at(creds, f"deployments/{quote(deployment, safe='')}")

    async def chat(self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest) -> ChatResult:
        return await super().chat(client, self._deployment(creds, req.model), req)

    async def stream_chat(
        self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest
    ) -> AsyncIterator[ChatDelta]:
        async for delta in super().stream_chat(client, self._deployment(creds, req.model), req):
            yield delta

    async def embed(
        self,
        client: httpx.AsyncClient,
        creds: Credentials,
        model: str,
        texts: Sequence[str],
        dimensions: int | None = None,
    ) -> EmbedResult:
        return await super().embed(client, self._deployment(creds, model), model, texts, dimensions)

    async def list_models(self, client: httpx.AsyncClient, creds: Credentials) -> list[dict[str, Any]]:
        return await super().list_models(client, self._at(creds, ""))


ADAPTER = AzureOpenAIAdapter()
