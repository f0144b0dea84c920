"""The provider layer: one client for chat, streaming, embeddings and model lists across LLM providers.

Typical use::

    store = SecretStore("settings.db", encryption_key=settings.secret_encryption_key)
    async with ProviderClient(Keys(store, env=os.environ)) as client:
        result = await client.chat("anthropic/claude-sonnet-4", [Message("user", "hi")])

Nothing here imports ``qmdr``.

The names below are imported on first use (PEP 562), not when the package is:
``import providers.errors`` used to load the whole client stack (httpx,
cryptography, every wire adapter), which cost the CLI most of a second before
it printed anything.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from providers.catalog import Catalog, ModelInfo
    from providers.client import ProviderClient
    from providers.errors import (
        AllModelsFailed,
        AuthError,
        ConfigError,
        CorruptResponse,
        DeadlineExceeded,
        IncompleteToolCall,
        InvalidToolArguments,
        InvalidToolDefinition,
        MalformedResponse,
        MissingCredentials,
        ProviderConnectionError,
        ProviderError,
        ProviderStatusError,
        ProviderTimeout,
        ProviderUnavailable,
        RateLimited,
        SecretStoreError,
        ToolCallError,
        UnknownProvider,
        UnknownTool,
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
    from providers.types import (
        ChatDelta,
        ChatRequest,
        ChatResult,
        Credentials,
        EmbedResult,
        Message,
        Tool,
        ToolCall,
        Usage,
    )

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "Catalog": "providers.catalog",
    "ModelInfo": "providers.catalog",
    "ProviderClient": "providers.client",
    "AllModelsFailed": "providers.errors",
    "AuthError": "providers.errors",
    "ConfigError": "providers.errors",
    "CorruptResponse": "providers.errors",
    "DeadlineExceeded": "providers.errors",
    "IncompleteToolCall": "providers.errors",
    "InvalidToolArguments": "providers.errors",
    "InvalidToolDefinition": "providers.errors",
    "ToolCallError": "providers.errors",
    "UnknownTool": "providers.errors",
    "MalformedResponse": "providers.errors",
    "MissingCredentials": "providers.errors",
    "ProviderConnectionError": "providers.errors",
    "ProviderError": "providers.errors",
    "ProviderStatusError": "providers.errors",
    "ProviderTimeout": "providers.errors",
    "ProviderUnavailable": "providers.errors",
    "RateLimited": "providers.errors",
    "SecretStoreError": "providers.errors",
    "UnknownProvider": "providers.errors",
    "KeyInfo": "providers.keys",
    "KeySource": "providers.keys",
    "Keys": "providers.keys",
    "mask_key": "providers.keys",
    "PROVIDERS": "providers.registry",
    "ProviderSpec": "providers.registry",
    "SettingSpec": "providers.registry",
    "custom_spec": "providers.registry",
    "get_spec": "providers.registry",
    "Cooldowns": "providers.reliability",
    "ProviderObserver": "providers.reliability",
    "retry_delay": "providers.reliability",
    "run_fallbacks": "providers.reliability",
    "should_retry": "providers.reliability",
    "should_retry_corrupt": "providers.reliability",
    "with_retries": "providers.reliability",
    "AgentConfig": "providers.resolver",
    "ModelRef": "providers.resolver",
    "Pipeline": "providers.resolver",
    "PipelineStep": "providers.resolver",
    "ResolvedAgent": "providers.resolver",
    "load_agent_config": "providers.resolver",
    "load_pipeline": "providers.resolver",
    "parse_model_string": "providers.resolver",
    "resolve_agent": "providers.resolver",
    "resolve_pipeline": "providers.resolver",
    "CustomProvider": "providers.secret_store",
    "GlobalDefaults": "providers.secret_store",
    "SecretStore": "providers.secret_store",
    "ChatDelta": "providers.types",
    "ChatRequest": "providers.types",
    "ChatResult": "providers.types",
    "Credentials": "providers.types",
    "EmbedResult": "providers.types",
    "Message": "providers.types",
    "Tool": "providers.types",
    "ToolCall": "providers.types",
    "Usage": "providers.types",
}

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
    "DeadlineExceeded",
    "EmbedResult",
    "GlobalDefaults",
    "IncompleteToolCall",
    "InvalidToolArguments",
    "InvalidToolDefinition",
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
    "Tool",
    "ToolCall",
    "ToolCallError",
    "UnknownProvider",
    "UnknownTool",
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


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'providers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
