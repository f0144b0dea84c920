"""Wire formats: one module per API dialect, looked up by name, imported lazily.

``WIRE_FORMATS`` maps a wire format name (``ProviderSpec.wire``) to where its
adapter lives, as ``(module, attribute)`` candidates tried in order. Modules are
imported only when first used, so a vendor module that is missing (or needs an
optional dependency that is not installed) never breaks the other providers.

Convention for adapter modules: expose a ready, stateless adapter instance as
a module attribute (``ADAPTER`` unless the table says otherwise) that follows
``providers.types.WireAdapter``.

Mistral and Hugging Face speak OpenAI's dialect closely enough that the
generic adapter serves them when their own module is absent.
"""

from __future__ import annotations

import importlib

from providers.errors import ProviderError
from providers.types import WireAdapter

_OPENAI_COMPAT = ("providers.wire.openai_compat", "ADAPTER")

#: wire format name -> candidate (module, attribute) locations, first importable one wins
WIRE_FORMATS: dict[str, tuple[tuple[str, str], ...]] = {
    "openai": (_OPENAI_COMPAT,),
    "openrouter": (("providers.wire.openai_compat", "OPENROUTER_ADAPTER"),),
    "anthropic": (("providers.wire.anthropic", "ADAPTER"),),
    "gemini": (("providers.wire.gemini", "ADAPTER"),),
    "vertex": (("providers.wire.vertex", "ADAPTER"),),
    "bedrock": (("providers.wire.bedrock", "ADAPTER"),),
    "azure": (("providers.wire.azure", "ADAPTER"),),
    "huggingface": (("providers.wire.huggingface", "ADAPTER"), _OPENAI_COMPAT),
    "mistral": (("providers.wire.mistral", "ADAPTER"), _OPENAI_COMPAT),
}

_cache: dict[str, WireAdapter] = {}


class WireFormatUnavailable(ProviderError):
    """The adapter module for a wire format is missing or failed to import."""


def get_adapter(wire: str) -> WireAdapter:
    """The adapter for wire format ``wire``, importing its module on first use.

    Only a missing *module* falls through to the next candidate; an error raised
    while importing a module that exists is reported, never silently replaced.
    """
    if wire in _cache:
        return _cache[wire]
    candidates = WIRE_FORMATS.get(wire)
    if not candidates:
        raise WireFormatUnavailable(f"no wire format named {wire!r}; known: {', '.join(WIRE_FORMATS)}")
    reasons: list[str] = []
    for module_name, attribute in candidates:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                reasons.append(f"{module_name} is not available")
                continue
            raise WireFormatUnavailable(
                f"wire format {wire!r} is unavailable: {module_name} needs {exc.name!r}, which is not installed"
            ) from exc
        except Exception as exc:  # a broken vendor module must only take its own wire format down
            raise WireFormatUnavailable(
                f"wire format {wire!r} is unavailable: {module_name} failed to import ({type(exc).__name__})"
            ) from exc
        adapter = getattr(module, attribute, None)
        if adapter is None:
            reasons.append(f"{module_name} has no {attribute}")
            continue
        _cache[wire] = adapter
        return adapter
    raise WireFormatUnavailable(f"wire format {wire!r} is unavailable: {'; '.join(reasons)}")


__all__ = ["WIRE_FORMATS", "WireFormatUnavailable", "get_adapter"]
