"""Turn Settings into the components memory search runs on: embedder, reranker, expander.

This is the one place where the seed's ``QMD_*`` variables are interpreted:

* ``QMD_EMBED_PROVIDER`` / ``QMD_RERANK_PROVIDER``: ``local`` (embeddings only:
  the embedded MiniLM), ``openai`` (the OpenAI-compatible endpoint at
  ``QMD_OPENAI_BASE_URL``, exposed to the provider layer as ``custom-qmd``),
  any registry id (``openrouter``, ``mistral``, ...) or ``custom-<slug>``.
* ``QMD_OPENAI_API_KEY`` is the key for that endpoint; unset, the key of the
  registry provider whose base URL it is (OpenRouter: ``OPENROUTER_API_KEY`` or
  the stored key) is used, so one key configures chat and memory search alike.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from providers.embedder import Embedder
from providers.errors import MissingCredentials
from providers.registry import PROVIDERS, ProviderSpec, custom_spec
from qmdr.settings import Settings, provider_environment

if TYPE_CHECKING:  # the provider layer proper (httpx, the key store) is imported where it is first used
    import httpx

    from providers.client import ProviderClient
    from providers.keys import KeyInfo, Keys
    from providers.secret_store import SecretStore
    from providers.types import Credentials

log = logging.getLogger(__name__)

#: the provider id under which the seed's QMD_OPENAI_BASE_URL endpoint is reachable
QMD_ENDPOINT_ID = "custom-qmd"
QMD_KEY_ENV = "QMD_OPENAI_API_KEY"


def owner_of_base_url(base_url: str) -> ProviderSpec | None:
    """The registry provider whose default base URL this is (e.g. OpenRouter's), if any."""
    wanted = base_url.rstrip("/").lower()
    for spec in PROVIDERS.values():
        if spec.default_base_url and spec.default_base_url.rstrip("/").lower() == wanted:
            return spec
    return None


class MemoryKeys:
    """The shared key source plus the seed's QMD_OPENAI_* endpoint as provider ``custom-qmd``."""

    def __init__(self, keys: Keys, settings: Settings) -> None:
        self.keys = keys
        self.settings = settings
        self.owner = owner_of_base_url(settings.qmd_openai_base_url)
        self._spec = custom_spec("qmd", settings.qmd_openai_base_url, "QMD_* OpenAI-compatible endpoint")

    def spec(self, provider_id: str) -> ProviderSpec:
        return self._spec if provider_id == QMD_ENDPOINT_ID else self.keys.spec(provider_id)

    def provider_ids(self) -> list[str]:
        return self.keys.provider_ids()

    def _endpoint_key(self) -> tuple[str | None, str, str | None]:
        """(key, source, where) for the QMD endpoint: QMD_OPENAI_API_KEY, else its owner's key."""
        if self.settings.qmd_openai_api_key is not None:
            return self.settings.qmd_openai_api_key.get_secret_value(), "env", QMD_KEY_ENV
        if self.owner is not None:
            info = self.keys.key_info(self.owner.id)
            if info.source != "none":
                return self.keys.credentials(self.owner.id).api_key, info.source, info.env_var
        return None, "none", QMD_KEY_ENV

    def credentials(self, provider_id: str) -> Credentials:
        from providers.types import Credentials

        if provider_id != QMD_ENDPOINT_ID:
            return self.keys.credentials(provider_id)
        key, _, _ = self._endpoint_key()
        if key is None and self.owner is not None:
            names = " or ".join((QMD_KEY_ENV, *self.owner.key_env_vars))
            raise MissingCredentials(
                f"{self.settings.qmd_openai_base_url} needs an API key: set {names}, or store the "
                f"{self.owner.display_name} key in Settings -> Providers",
                env_var=QMD_KEY_ENV,
                provider=QMD_ENDPOINT_ID,
            )
        return Credentials(provider=QMD_ENDPOINT_ID, base_url=self._spec.default_base_url or "", api_key=key)

    def key_info(self, provider_id: str) -> KeyInfo:
        from providers.keys import KeyInfo, mask_key

        if provider_id != QMD_ENDPOINT_ID:
            return self.keys.key_info(provider_id)
        try:
            key, source, where = self._endpoint_key()
        except Exception as exc:  # noqa: BLE001 - a stored key that will not decrypt is reported, not raised
            return KeyInfo(
                provider=QMD_ENDPOINT_ID,
                source="none",
                masked=None,
                env_var=QMD_KEY_ENV,
                display_name=self._spec.display_name,
                error=str(exc),
            )
        return KeyInfo(
            provider=QMD_ENDPOINT_ID,
            source=source,
            masked=mask_key(key),
            env_var=where,
            display_name=self._spec.display_name,
        )


def model_string(provider: str, model: str) -> str:
    """``openai`` means the QMD endpoint; anything else is a registry or custom provider id."""
    return f"{QMD_ENDPOINT_ID}/{model}" if provider == "openai" else f"{provider}/{model}"


ProviderAccess = tuple["SecretStore", "MemoryKeys", "ProviderClient", "httpx.AsyncClient"]


class Components:
    """What the Service needs beyond its store; closed together.

    The provider access (settings store, keys, provider client, HTTP client) is built on first use:
    with the embedded model and no rerank provider, a keyword search or ``qmdr status`` never needs
    it, and importing and opening it (httpx, the encrypted key store) cost a CLI call ~0.1-0.2 s.
    """

    def __init__(
        self,
        embedder: Embedder,
        access: Callable[[], ProviderAccess] | ProviderAccess,
        *,
        reranker: Any | None = None,
        expander: Any | None = None,
        embedding_info: dict[str, Any] | None = None,
        rerank_info: dict[str, Any] | None = None,
    ) -> None:
        self.embedder = embedder
        self.reranker = reranker
        self.expander = expander
        self.embedding_info = embedding_info or {}
        self.rerank_info = rerank_info or {}
        self._access: ProviderAccess | None = access if isinstance(access, tuple) else None
        self._build_access = None if isinstance(access, tuple) else access
        self._lock = threading.Lock()

    def _provider_access(self) -> ProviderAccess:
        if self._access is None:
            with self._lock:
                if self._access is None:
                    self._access = self._build_access()  # type: ignore[misc]
        return self._access

    @property
    def secrets(self) -> SecretStore:
        return self._provider_access()[0]

    @property
    def keys(self) -> MemoryKeys:
        return self._provider_access()[1]

    @property
    def providers(self) -> ProviderClient:
        return self._provider_access()[2]

    @property
    def http(self) -> httpx.AsyncClient:
        return self._provider_access()[3]

    def describe_embedding(self) -> dict[str, Any]:
        known = getattr(self.embedder, "dim_known", True)  # a remote model's size is learnt on first use
        return {"model": self.embedder.model_id, "dim": self.embedder.dim if known else None, **self.embedding_info}

    def describe_rerank(self) -> dict[str, Any]:
        return {"enabled": self.reranker is not None, **self.rerank_info}

    async def aclose(self) -> None:
        if self._access is not None:  # never built: nothing was opened
            await self.providers.aclose()
            self.secrets.close()


def _key_source(keys: MemoryKeys, provider_id: str) -> dict[str, Any]:
    info = keys.key_info(provider_id)
    return {"key_source": info.source, "key_env_var": info.env_var, **({"key_error": info.error} if info.error else {})}


def open_secret_store(settings: Settings) -> SecretStore:
    from providers.secret_store import SecretStore

    key = settings.secret_encryption_key.get_secret_value() if settings.secret_encryption_key else None
    return SecretStore(settings.settings_db_path, encryption_key=key)


def build_provider_access(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    http: httpx.AsyncClient | None = None,
    secrets: SecretStore | None = None,
) -> tuple[SecretStore, MemoryKeys, ProviderClient, httpx.AsyncClient]:
    """The settings store, the key source and a provider client: all that chat and key commands need."""
    from providers.catalog import Catalog, info_from_dict
    from providers.client import ProviderClient, default_http_client
    from providers.keys import Keys

    secrets = secrets or open_secret_store(settings)
    keys = MemoryKeys(Keys(secrets, env=env if env is not None else provider_environment()), settings)
    http = http or default_http_client()
    refreshed = [info_from_dict(info) for info, _ in secrets.stored_catalog()]  # `qmdr models refresh`
    client = ProviderClient(keys, http=http, catalog=Catalog(refreshed=refreshed))  # type: ignore[arg-type]
    return secrets, keys, client, http


def build_components(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    http: httpx.AsyncClient | None = None,
    secrets: SecretStore | None = None,
) -> Components:
    """The embedded model when no provider is configured; remote providers otherwise."""

    def access() -> ProviderAccess:
        return build_provider_access(settings, env=env, http=http, secrets=secrets)

    embed_provider = settings.qmd_embed_provider
    if embed_provider == "local" and not settings.qmd_rerank_provider and secrets is None:  # nothing to call yet
        from providers.local import load_local_embedder

        return Components(
            load_local_embedder(),
            access,
            embedding_info={"provider": "local", "key_source": "none needed"},
            rerank_info={"provider": None, "mode": "none"},
        )
    from providers.resolver import parse_model_string
    from qmdr.embedding import ProviderEmbedder, embed_fn_for

    secrets, keys, client, http = access()
    if embed_provider == "local":
        from providers.local import load_local_embedder

        embedder: Embedder = load_local_embedder()
        embedding_info: dict[str, Any] = {"provider": "local", "key_source": "none needed"}
    else:
        model = model_string(embed_provider, settings.qmd_openai_embed_model)
        ref = parse_model_string(model)
        embedder = ProviderEmbedder(
            embed_fn_for(client, model),
            model=settings.qmd_openai_embed_model,
            dim=settings.qmd_openai_embed_dimensions or _catalog_dim(ref.provider, ref.model),
            batch_size=settings.qmd_embed_batch_size,
            max_concurrency=settings.qmd_embed_concurrency,
            dimensions=settings.qmd_openai_embed_dimensions,
        )
        embedding_info = {
            "provider": embed_provider,
            "endpoint": keys.spec(ref.provider).default_base_url,
            **_key_source(keys, ref.provider),
        }
    reranker, expander, rerank_info = _build_rerank(settings, keys, client, http)
    return Components(
        embedder,
        (secrets, keys, client, http),
        reranker=reranker,
        expander=expander,
        embedding_info=embedding_info,
        rerank_info=rerank_info,
    )


def _catalog_dim(provider: str, model: str) -> int | None:
    """Known output size of an embedding model (``openai/text-embedding-3-small`` on any router)."""
    from providers.catalog import Catalog

    catalog = Catalog()
    dim = catalog.embedding_dim(provider, model)
    if dim is None and "/" in model:
        owner, _, name = model.partition("/")
        dim = catalog.embedding_dim(owner, name)
    return dim


def _build_rerank(
    settings: Settings, keys: MemoryKeys, client: ProviderClient, http: httpx.AsyncClient
) -> tuple[Any | None, Any | None, dict[str, Any]]:
    provider = settings.qmd_rerank_provider
    if not provider:
        return None, None, {"provider": None, "mode": "none"}
    from providers.resolver import parse_model_string
    from qmdr.search.expand import QueryExpander
    from qmdr.search.llm_call import chat_fn_for
    from qmdr.search.rerank import ApiReranker, LLMReranker

    model = model_string(provider, settings.qmd_openai_model)
    ref = parse_model_string(model)
    info = {
        "provider": provider,
        "mode": settings.qmd_rerank_mode,
        "model": settings.qmd_openai_model,
        **_key_source(keys, ref.provider),
    }
    # thinking off: a grade needs no deliberation and reasoning tokens would eat the time budget
    chat = chat_fn_for(client, model, thinking_level="off")
    expander = QueryExpander(chat, model_id=model)
    if settings.qmd_rerank_mode == "none":
        return None, expander, info
    if settings.qmd_rerank_mode == "api":
        spec = keys.spec(ref.provider)
        try:
            api_key = keys.credentials(ref.provider).api_key
        except MissingCredentials:
            api_key = None
        reranker: Any = ApiReranker(
            http,
            base_url=spec.default_base_url or settings.qmd_openai_base_url,
            model=ref.model,
            api_key=api_key,
            provider=ref.provider,
            top_n=settings.qmd_rerank_top_n,
            time_budget_s=settings.qmd_rerank_budget_s,
        )
    else:
        reranker = LLMReranker(
            chat, model_id=model, top_n=settings.qmd_rerank_top_n, time_budget_s=settings.qmd_rerank_budget_s
        )
    return reranker, expander, info
