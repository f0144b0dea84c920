"""Where a provider's credentials come from: stored (encrypted) > environment > none.

Precedence is decided here and only here:

1. a key stored in Settings -> Providers (``SecretStore``, encrypted at rest);
2. the provider's env var (from the mapping passed in: ``os.environ`` or
   pydantic-settings values; never read from the process environment here);
3. nothing: MissingCredentials naming the env var and Settings -> Providers.

There is deliberately no step that copies env keys into the store, so a
restart with a different env never overwrites a key the user stored. If a key
is stored but cannot be decrypted, that is an error, never a silent fallback to
the env key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from providers.errors import MissingCredentials, ProviderError, UnknownProvider
from providers.registry import PROVIDERS, ProviderSpec, custom_slug, custom_spec, get_spec, validate_slug
from providers.secret_store import SecretStore
from providers.types import Credentials

KeySourceKind = Literal["stored", "env", "none"]

#: never show more of a key than its last 4 characters
MASK_VISIBLE_CHARS = 4
#: ... and only a quarter of it, so short keys and tokens are not mostly revealed
MASK_MAX_FRACTION = 4
MASK_PREFIX = "…"
#: env vars that mean an AWS / Google credential chain is configured (for the status page only)
_AWS_CHAIN_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)
_GCP_CHAIN_VARS = ("GOOGLE_APPLICATION_CREDENTIALS",)
#: Vertex's location for the global endpoint, which has no regional host prefix
VERTEX_GLOBAL_LOCATION = "global"


def mask_key(key: str | None) -> str | None:
    """``…abcd``: at most the last 4 characters, and at most a quarter of the key."""
    if not key:
        return None
    visible = min(MASK_VISIBLE_CHARS, len(key) // MASK_MAX_FRACTION)
    return MASK_PREFIX + (key[-visible:] if visible else "")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What Settings -> Providers shows for one provider. Holds no secret."""

    provider: str
    source: KeySourceKind
    masked: str | None
    env_var: str | None
    display_name: str = ""
    missing_settings: tuple[str, ...] = ()  # env vars of required settings that are not set
    error: str | None = None  # e.g. the stored key cannot be decrypted

    @property
    def ready(self) -> bool:
        return self.error is None and not self.missing_settings and self.source != "none"


class KeySource(Protocol):
    """What ``ProviderClient`` needs to reach providers."""

    def spec(self, provider_id: str) -> ProviderSpec: ...

    def credentials(self, provider_id: str) -> Credentials: ...

    def key_info(self, provider_id: str) -> KeyInfo: ...

    def provider_ids(self) -> list[str]: ...


def _missing_message(spec: ProviderSpec, what: str, env_vars: tuple[str, ...]) -> str:
    names = " or ".join(env_vars)
    return f"{spec.display_name} needs {what}: set {names} or add it in Settings -> Providers"


class Keys:
    """The standard KeySource: a SecretStore (optional) over an env mapping."""

    def __init__(self, store: SecretStore | None = None, env: Mapping[str, str] | None = None) -> None:
        self._store = store
        self._env = dict(env or {})

    # -- lookups ---------------------------------------------------------------

    def spec(self, provider_id: str) -> ProviderSpec:
        slug = custom_slug(provider_id)
        if slug is None:
            return get_spec(provider_id)
        validate_slug(slug)
        custom = self._store.get_custom_provider(slug) if self._store else None
        if custom is None:
            raise UnknownProvider(
                f"no custom provider {provider_id!r}: add it (base URL, optional key) in Settings -> Providers",
                provider=provider_id,
            )
        return custom_spec(slug, custom.base_url, custom.display_name)

    def provider_ids(self) -> list[str]:
        customs = [c.provider_id for c in self._store.list_custom_providers()] if self._store else []
        return [*PROVIDERS, *customs]

    def _env_value(self, names: tuple[str, ...]) -> tuple[str | None, str | None]:
        for name in names:
            value = self._env.get(name)
            if value:
                return value, name
        return None, None

    def _stored_key(self, spec: ProviderSpec) -> str | None:
        if self._store is None:
            return None
        slug = custom_slug(spec.id)
        return self._store.get_custom_key(slug) if slug else self._store.get_key(spec.id)

    def _has_stored_key(self, spec: ProviderSpec) -> bool:
        if self._store is None:
            return False
        slug = custom_slug(spec.id)
        if slug:
            custom = self._store.get_custom_provider(slug)
            return bool(custom and custom.has_key)
        return self._store.has_key(spec.id)

    def _api_key(self, spec: ProviderSpec) -> tuple[str | None, KeySourceKind, str | None]:
        stored = self._stored_key(spec)
        if stored:
            return stored, "stored", spec.key_env_var
        value, name = self._env_value(spec.key_env_vars)
        if value:
            return value, "env", name
        return None, "none", spec.key_env_var

    def _settings(self, spec: ProviderSpec) -> tuple[dict[str, str], list[str]]:
        extra = dict(spec.extra_defaults)
        missing: list[str] = []
        for setting in spec.settings:
            value, _ = self._env_value(setting.env_vars)
            value = value or setting.default
            if value:
                extra[setting.name] = value
            elif setting.required:
                missing.append(" or ".join(setting.env_vars))
        return extra, missing

    # -- the two public answers ------------------------------------------------

    def credentials(self, provider_id: str) -> Credentials:
        """Everything an adapter needs for ``provider_id``, or MissingCredentials saying what to set."""
        spec = self.spec(provider_id)
        api_key, _, _ = self._api_key(spec)
        if spec.auth == "api_key" and not api_key:
            raise MissingCredentials(
                _missing_message(spec, "an API key", spec.key_env_vars),
                env_var=spec.key_env_var,
                provider=spec.id,
            )
        extra, missing = self._settings(spec)
        if missing:
            first = next(s for s in spec.settings if " or ".join(s.env_vars) == missing[0])
            raise MissingCredentials(
                _missing_message(spec, f"the setting {missing[0]}", first.env_vars),
                env_var=first.env_vars[0],
                provider=spec.id,
            )
        return Credentials(provider=spec.id, base_url=_base_url(spec, extra), api_key=api_key, extra=extra)

    def key_info(self, provider_id: str) -> KeyInfo:
        """The status of one provider's key, for display; never raises for a bad key, never shows one."""
        spec = self.spec(provider_id)
        _, missing = self._settings(spec)
        base = {"provider": spec.id, "display_name": spec.display_name, "missing_settings": tuple(missing)}
        if spec.auth in ("aws", "gcp_adc"):
            chain = _AWS_CHAIN_VARS if spec.auth == "aws" else _GCP_CHAIN_VARS
            _, name = self._env_value(chain)
            return KeyInfo(source="env" if name else "none", masked=None, env_var=name or chain[0], **base)
        try:
            key, source, env_var = self._api_key(spec)
        except ProviderError as exc:  # stored but undecryptable: say so, keep the source honest
            return KeyInfo(
                source="stored" if self._has_stored_key(spec) else "none",
                masked=None,
                env_var=spec.key_env_var,
                error=exc.message,
                **base,
            )
        if source == "none" and spec.auth == "optional_key":
            return KeyInfo(source="none", masked=None, env_var=None, **base)
        return KeyInfo(source=source, masked=mask_key(key), env_var=env_var, **base)

    def all_key_info(self) -> list[KeyInfo]:
        return [self.key_info(pid) for pid in self.provider_ids()]


def _base_url(spec: ProviderSpec, extra: Mapping[str, str]) -> str:
    """Base URL for providers whose host depends on settings (Azure endpoint, AWS region, GCP location)."""
    if spec.default_base_url:
        return spec.default_base_url
    if spec.id == "azure":
        return extra["endpoint"].rstrip("/")
    if spec.id == "bedrock":
        return f"https://bedrock-runtime.{extra['region']}.amazonaws.com"
    if spec.id == "vertex":
        location = extra["location"]
        host = (
            "aiplatform.googleapis.com"
            if location == VERTEX_GLOBAL_LOCATION
            else f"{location}-aiplatform.googleapis.com"
        )
        return f"https://{host}/v1"
    raise MissingCredentials(f"{spec.display_name} has no base URL configured", provider=spec.id)
