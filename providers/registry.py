"""Which providers exist, how each is reached and which settings it needs.

A provider id (``openrouter``, ``anthropic``, ``custom-myollama`` ...) maps to
one ``ProviderSpec``: the wire format that speaks to it (looked up in
``providers.wire``), its default base URL, the env vars that may hold its key
and its other settings, and what it can do. The table is data, so adding an
OpenAI-compatible provider is one entry and no code.

Custom providers (``custom-<slug>``) are any OpenAI-compatible server the user
adds in Settings -> Providers; their base URL and optional key live in the
secret store, so their spec is built on demand by ``custom_spec``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from providers.errors import UnknownProvider

#: provider ids of user-added OpenAI-compatible servers start with this
CUSTOM_PREFIX = "custom-"
#: slugs are lower-case so ``custom-<slug>`` is a stable, URL-safe, case-insensitive id
CUSTOM_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: a slug longer than this is almost certainly a paste mistake, and ids appear in UIs and logs
MAX_CUSTOM_SLUG_CHARS = 40

#: OpenAI documents at most 2048 inputs per embeddings request
OPENAI_MAX_EMBED_BATCH = 2048
#: Gemini's batchEmbedContents accepts at most 100 requests per call
GEMINI_MAX_EMBED_BATCH = 100
#: Vertex text-embedding models accept at most 250 instances per predict call
VERTEX_MAX_EMBED_BATCH = 250
#: Bedrock Cohere embeddings take up to 96 texts per call (the Titan path sends one request per text itself)
BEDROCK_MAX_EMBED_BATCH = 96
#: conservative for unknown servers (Ollama, llama.cpp, vLLM): small enough for any of them
CUSTOM_MAX_EMBED_BATCH = 64
#: Mistral's embeddings endpoint rejects very large batches; 128 stays well inside its token cap
MISTRAL_MAX_EMBED_BATCH = 128
#: the HF router's feature-extraction backends are small servers; keep batches modest
HF_MAX_EMBED_BATCH = 32

#: Vertex region used when GOOGLE_CLOUD_LOCATION is not set
VERTEX_DEFAULT_LOCATION = "us-central1"

AuthKind = Literal["api_key", "optional_key", "aws", "gcp_adc"]


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """A non-secret setting a provider needs besides its key (region, endpoint, ...).

    ``name`` is the key in ``Credentials.extra``; the first env var that is set wins.
    """

    name: str
    env_vars: tuple[str, ...]
    required: bool = True
    default: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    id: str
    display_name: str
    wire: str  # wire format name, a key of providers.wire.WIRE_FORMATS
    default_base_url: str | None
    key_env_vars: tuple[str, ...] = ()  # first one set wins; the first is the one we tell users to set
    settings: tuple[SettingSpec, ...] = ()
    auth: AuthKind = "api_key"
    supports_chat: bool = True
    supports_embeddings: bool = False
    supports_list_models: bool = True
    max_embed_batch: int = OPENAI_MAX_EMBED_BATCH
    docs_url: str = ""
    extra_defaults: dict[str, str] = field(default_factory=dict)  # fixed extras, e.g. a custom base URL

    @property
    def key_env_var(self) -> str | None:
        """The env var named in messages: the first of ``key_env_vars``."""
        return self.key_env_vars[0] if self.key_env_vars else None

    @property
    def is_custom(self) -> bool:
        return self.id.startswith(CUSTOM_PREFIX)


_SPECS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        id="openrouter",
        display_name="OpenRouter",
        wire="openrouter",
        default_base_url="https://openrouter.ai/api/v1",
        key_env_vars=("OPENROUTER_API_KEY",),
        supports_embeddings=True,
        docs_url="https://openrouter.ai/docs/api-reference/overview",
    ),
    ProviderSpec(
        id="anthropic",
        display_name="Anthropic",
        wire="anthropic",
        default_base_url="https://api.anthropic.com",
        key_env_vars=("ANTHROPIC_API_KEY",),
        docs_url="https://docs.anthropic.com/en/api/messages",
    ),
    ProviderSpec(
        id="openai",
        display_name="OpenAI",
        wire="openai",
        default_base_url="https://api.openai.com/v1",
        key_env_vars=("OPENAI_API_KEY",),
        supports_embeddings=True,
        docs_url="https://platform.openai.com/docs/api-reference",
    ),
    ProviderSpec(
        id="google",
        display_name="Google Gemini",
        wire="gemini",
        default_base_url="https://generativelanguage.googleapis.com",  # the adapter adds /v1beta
        key_env_vars=("GEMINI_API_KEY",),
        supports_embeddings=True,
        max_embed_batch=GEMINI_MAX_EMBED_BATCH,
        docs_url="https://ai.google.dev/api",
    ),
    ProviderSpec(
        id="xai",
        display_name="xAI",
        wire="openai",
        default_base_url="https://api.x.ai/v1",
        key_env_vars=("XAI_API_KEY",),
        docs_url="https://docs.x.ai/docs/api-reference",
    ),
    ProviderSpec(
        id="groq",
        display_name="Groq",
        wire="openai",
        default_base_url="https://api.groq.com/openai/v1",
        key_env_vars=("GROQ_API_KEY",),
        docs_url="https://console.groq.com/docs/openai",
    ),
    ProviderSpec(
        id="mistral",
        display_name="Mistral",
        wire="mistral",
        default_base_url="https://api.mistral.ai/v1",
        key_env_vars=("MISTRAL_API_KEY",),
        supports_embeddings=True,
        max_embed_batch=MISTRAL_MAX_EMBED_BATCH,
        docs_url="https://docs.mistral.ai/api/",
    ),
    ProviderSpec(
        id="cerebras",
        display_name="Cerebras",
        wire="openai",
        default_base_url="https://api.cerebras.ai/v1",
        key_env_vars=("CEREBRAS_API_KEY",),
        docs_url="https://inference-docs.cerebras.ai/api-reference/chat-completions",
    ),
    ProviderSpec(
        id="azure",
        display_name="Azure OpenAI",
        wire="azure",
        default_base_url=None,
        key_env_vars=("AZURE_OPENAI_API_KEY",),
        settings=(
            SettingSpec("endpoint", ("AZURE_OPENAI_ENDPOINT",)),
            # optional: the Azure adapter falls back to its documented GA version
            SettingSpec("api_version", ("AZURE_OPENAI_API_VERSION",), required=False),
        ),
        supports_embeddings=True,
        docs_url="https://learn.microsoft.com/en-us/azure/ai-services/openai/reference",
    ),
    ProviderSpec(
        id="bedrock",
        display_name="Amazon Bedrock",
        wire="bedrock",
        default_base_url=None,
        auth="aws",
        # a Bedrock API key, sent as a bearer token instead of SigV4; the AWS chain serves when it is unset
        key_env_vars=("AWS_BEARER_TOKEN_BEDROCK",),
        settings=(SettingSpec("region", ("AWS_REGION", "AWS_DEFAULT_REGION")),),
        supports_embeddings=True,
        max_embed_batch=BEDROCK_MAX_EMBED_BATCH,
        docs_url="https://docs.aws.amazon.com/bedrock/latest/APIReference/welcome.html",
    ),
    ProviderSpec(
        id="vertex",
        display_name="Google Vertex AI",
        wire="vertex",
        default_base_url=None,
        auth="gcp_adc",
        settings=(
            # ADC often knows the project; us-central1 serves every Gemini and embedding model
            SettingSpec("project", ("GOOGLE_CLOUD_PROJECT",), required=False),
            SettingSpec("location", ("GOOGLE_CLOUD_LOCATION",), required=False, default=VERTEX_DEFAULT_LOCATION),
        ),
        supports_embeddings=True,
        max_embed_batch=VERTEX_MAX_EMBED_BATCH,
        docs_url="https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest",
    ),
    ProviderSpec(
        id="huggingface",
        display_name="Hugging Face",
        wire="huggingface",
        default_base_url="https://router.huggingface.co/v1",
        key_env_vars=("HF_TOKEN",),
        supports_embeddings=True,
        max_embed_batch=HF_MAX_EMBED_BATCH,
        docs_url="https://huggingface.co/docs/inference-providers/index",
    ),
)

#: every built-in provider by id, in the order they are shown in Settings -> Providers
PROVIDERS: dict[str, ProviderSpec] = {spec.id: spec for spec in _SPECS}


def all_env_vars() -> list[str]:
    """Every env var a built-in provider reads (keys and settings), for docs and config checks."""
    names: dict[str, None] = {}
    for spec in PROVIDERS.values():
        names.update(dict.fromkeys(spec.key_env_vars))
        for setting in spec.settings:
            names.update(dict.fromkeys(setting.env_vars))
    return list(names)


def known_provider_ids() -> list[str]:
    """Built-in ids plus the ``custom-<slug>`` pattern, for error messages."""
    return [*PROVIDERS, f"{CUSTOM_PREFIX}<slug>"]


def validate_slug(slug: str) -> str:
    """Return ``slug`` if it is a valid custom provider slug, else raise UnknownProvider saying why."""
    if not CUSTOM_SLUG_RE.match(slug) or len(slug) > MAX_CUSTOM_SLUG_CHARS:
        raise UnknownProvider(
            f"invalid custom provider slug {slug!r}: use lower-case letters, digits and '-', starting with a "
            f"letter or digit, at most {MAX_CUSTOM_SLUG_CHARS} characters (e.g. 'myollama')"
        )
    return slug


def custom_slug(provider_id: str) -> str | None:
    """The slug of a ``custom-<slug>`` id, or None for a built-in id."""
    return provider_id[len(CUSTOM_PREFIX) :] if provider_id.startswith(CUSTOM_PREFIX) else None


def custom_spec(slug: str, base_url: str, display_name: str | None = None) -> ProviderSpec:
    """The spec of a user-added OpenAI-compatible server (key optional, e.g. a local Ollama)."""
    validate_slug(slug)
    return ProviderSpec(
        id=f"{CUSTOM_PREFIX}{slug}",
        display_name=display_name or slug,
        wire="openai",
        default_base_url=base_url.rstrip("/"),
        key_env_vars=(),
        auth="optional_key",
        supports_embeddings=True,
        max_embed_batch=CUSTOM_MAX_EMBED_BATCH,
    )


def get_spec(provider_id: str) -> ProviderSpec:
    """The built-in spec for ``provider_id``; custom ids need the store (see ``KeySource.spec``)."""
    try:
        return PROVIDERS[provider_id]
    except KeyError:
        raise UnknownProvider(
            f"unknown provider {provider_id!r}; known providers: {', '.join(known_provider_ids())}",
            provider=provider_id,
        ) from None
