"""Gemini on Google Cloud Vertex AI: the Gemini JSON, a regional URL, and an OAuth bearer token.

Reference: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference
(generateContent / streamGenerateContent) and
https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api (predict).

* URL: ``https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/
  publishers/google/models/{model}:{method}``; the ``global`` location has no
  prefix (``aiplatform.googleapis.com``). ``Credentials.extra`` gives
  ``project`` (else the ADC project) and ``location`` (else ``us-central1``).
* Auth: Application Default Credentials from ``google-auth`` with the
  cloud-platform scope. Loading and refreshing them may read files or call the
  metadata server, so both run in a worker thread, never on the event loop.
  Tests and callers with their own identity pass a credentials object instead.
* Chat bodies, answers, thinking and streaming are the Gemini module's
  functions (``providers.wire.gemini``), not a copy.
* Embeddings use ``:predict`` with ``instances: [{content}]`` and answer
  ``predictions[].embeddings.values``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio.to_thread
import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport.requests
import httpx

from providers.errors import AuthError, MalformedResponse, MissingCredentials
from providers.types import Credentials, EmbedResult, Usage
from providers.wire.gemini import GeminiAdapter, check_batch, model_id
from providers.wire.transport import request_json

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_LOCATION = "us-central1"  # where every Gemini and text-embedding model is served
GLOBAL_LOCATION = "global"
PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
ADC_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
API_VERSION = "v1"
#: listing publisher models is only offered on v1beta1
LIST_API_VERSION = "v1beta1"
LIST_PAGE_SIZE = 1000

#: text-embedding-005 / text-multilingual-embedding-002 take at most 250 instances per predict call
#: (gemini-embedding-001 on Vertex takes one; the caller lowers its batch for it)
MAX_EMBED_BATCH = 250

CredentialsLoader = Callable[[], tuple[google.auth.credentials.Credentials, str | None]]


def default_credentials() -> tuple[google.auth.credentials.Credentials, str | None]:
    """ADC with the cloud-platform scope, and the project ADC knows (may be None)."""
    return google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])


def host_for(location: str) -> str:
    """The API host: regional endpoints are prefixed with the location, ``global`` is not."""
    if location == GLOBAL_LOCATION:
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class VertexAdapter(GeminiAdapter):
    """Vertex AI's Gemini endpoints with a bearer token from Google credentials.

    ``credentials``: a ready google-auth credentials object (tests pass a fake
    one with ``token``, ``valid`` and ``refresh``); ``loader``: how to find
    credentials when none was given (default: ADC). The loaded object is kept
    so its token is reused until it expires; that cache is the only state.
    """

    max_embed_batch = MAX_EMBED_BATCH

    def __init__(
        self,
        credentials: google.auth.credentials.Credentials | None = None,
        *,
        project: str | None = None,
        loader: CredentialsLoader = default_credentials,
    ) -> None:
        self._credentials = credentials
        self._adc_project = project
        self._loader = loader

    async def _google_credentials(self) -> google.auth.credentials.Credentials:
        if self._credentials is None:
            try:
                self._credentials, self._adc_project = await anyio.to_thread.run_sync(self._loader)
            except google.auth.exceptions.DefaultCredentialsError as exc:
                raise MissingCredentials(
                    f"No Google Cloud credentials for Vertex AI: run `gcloud auth application-default login` "
                    f"or set {ADC_ENV} to a service-account key file.",
                    env_var=ADC_ENV,
                    provider="vertex",
                ) from exc
        return self._credentials

    async def _auth_headers(self, creds: Credentials) -> dict[str, str]:
        google_creds = await self._google_credentials()
        if not google_creds.valid:
            try:
                await anyio.to_thread.run_sync(google_creds.refresh, google.auth.transport.requests.Request())
            except google.auth.exceptions.RefreshError as exc:
                raise AuthError(
                    f"Google credentials could not be refreshed ({type(exc).__name__}); log in again with "
                    f"`gcloud auth application-default login` or check {ADC_ENV}.",
                    status=401,
                    provider=creds.provider,
                ) from exc
        return {"Authorization": f"Bearer {google_creds.token}"}

    def _location(self, creds: Credentials) -> str:
        return creds.extra.get("location") or DEFAULT_LOCATION

    def _project(self, creds: Credentials) -> str:
        project = creds.extra.get("project") or self._adc_project
        if not project:
            raise MissingCredentials(
                f"No Google Cloud project for Vertex AI: set {PROJECT_ENV}.",
                env_var=PROJECT_ENV,
                provider=creds.provider,
            )
        return project

    def _model_url(self, creds: Credentials, model: str, method: str) -> str:
        location = self._location(creds)
        return (
            f"{host_for(location)}/{API_VERSION}/projects/{self._project(creds)}/locations/{location}"
            f"/publishers/google/models/{model_id(model)}:{method}"
        )

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
        headers = await self._auth_headers(creds)  # before the URL: ADC may be what names the project
        body: dict[str, Any] = {"instances": [{"content": text} for text in texts]}
        if dimensions is not None:
            body["parameters"] = {"outputDimensionality": dimensions}
        data = await request_json(
            client,
            "POST",
            self._model_url(creds, model, "predict"),
            provider=creds.provider,
            model=model,
            headers=headers,
            body=body,
        )
        predictions = data.get("predictions") if isinstance(data, dict) else None
        if not isinstance(predictions, list) or len(predictions) != len(texts):
            raise MalformedResponse(
                f"{creds.provider} returned no predictions list of {len(texts)} items", provider=creds.provider
            )
        try:
            vectors = [[float(v) for v in p["embeddings"]["values"]] for p in predictions]
            stats = [p["embeddings"].get("statistics") or {} for p in predictions]
            tokens = sum(int(s.get("token_count", 0)) for s in stats)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedResponse(
                f"{creds.provider} returned a prediction without embedding values", provider=creds.provider
            ) from exc
        return EmbedResult(vectors=vectors, model=model, usage=Usage(input_tokens=tokens))

    async def list_models(self, client: httpx.AsyncClient, creds: Credentials) -> list[dict[str, Any]]:
        headers = await self._auth_headers(creds)
        url = f"{host_for(self._location(creds))}/{LIST_API_VERSION}/publishers/google/models"
        data = await request_json(
            client, "GET", f"{url}?pageSize={LIST_PAGE_SIZE}", provider=creds.provider, headers=headers
        )
        models = data.get("publisherModels") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise MalformedResponse(
                f"{creds.provider} model list has no publisherModels array", provider=creds.provider
            )
        return [
            {"id": m["name"].rsplit("/", 1)[-1], "version": m.get("versionId"), "stage": m.get("launchStage")}
            for m in models
            if isinstance(m, dict) and isinstance(m.get("name"), str)
        ]


ADAPTER = VertexAdapter()
