"""The provider layer: one client for chat, streaming, embeddings and model lists across LLM providers.

Typical use::

    store = SecretStore("settings.db", encryption_key=settings.secret_encryption_key)
    async with ProviderClient(Keys(store, env=os.environ)) as client:
        result = await client.chat("anthropic/claude-sonnet-4", [Message("user", "hi")])

Nothing here imports ``qmdr``.
"""

from providers.catalog import Catalog, ModelInfo
from providers.client import ProviderClient
from providers.errors import (
    AllModelsFailed,
    AuthError,
    ConfigError,
    CorruptResponse,
    MalformedResponse,
    MissingCredentials,
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    SecretStoreError,
    UnknownProvider,
)
from providers.keys import KeyInfo, Keys, KeySource, mask_key
from providers.registry import PROVIDERS, ProviderSpec, SettingSpec, custom_spec, get_spec
from providers.reliability import (
    Cooldowns,
    ProviderObserver,
    retry_delay,
    run_fallbacks,
    should_retry,
    should_retry_corrupt,
    with_retries,
)
from providers.resolver import (
    AgentConfig,
    ModelRef,
    Pipeline,
    PipelineStep,
    ResolvedAgent,
    load_agent_config,
    load_pipeline,
    parse_model_string,
    resolve_agent,
    resolve_pipeline,
)
from providers.secret_store import CustomProvider, GlobalDefaults, SecretStore
from providers.types import ChatDelta, ChatRequest, ChatResult, Credentials, EmbedResult, Message, Usage

__all__ = [
    "PROVIDERS",
    "AgentConfig",
    "AllModelsFailed",
    "AuthError",
    "Catalog",
    "ChatDelta",
    "ChatRequest",
    "ChatResult",
    "ConfigError",
    "Cooldowns",
    "CorruptResponse",
    "Credentials",
    "CustomProvider",
    "EmbedResult",
    "GlobalDefaults",
    "KeyInfo",
    "KeySource",
    "Keys",
    "MalformedResponse",
    "Message",
    "MissingCredentials",
    "ModelInfo",
    "ModelRef",
    "Pipeline",
    "PipelineStep",
    "ProviderClient",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderObserver",
    "ProviderSpec",
    "ProviderStatusError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "ResolvedAgent",
    "SecretStore",
    "SecretStoreError",
    "SettingSpec",
    "UnknownProvider",
    "Usage",
    "custom_spec",
    "get_spec",
    "load_agent_config",
    "load_pipeline",
    "mask_key",
    "parse_model_string",
    "resolve_agent",
    "resolve_pipeline",
    "retry_delay",
    "run_fallbacks",
    "should_retry",
    "should_retry_corrupt",
    "with_retries",
]
