"""Settings -> Providers over HTTP: key status, stored keys, custom providers, default models.

Keys are write-only: responses show where a key comes from and a masked tail, never the key.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field

from providers.errors import UnknownProvider
from providers.keys import KeyInfo
from providers.resolver import parse_model_string
from qmdr.api.deps import Authorized, ServiceDep

router = APIRouter(prefix="/providers", tags=["providers"], dependencies=[Authorized])
settings_router = APIRouter(prefix="/settings", tags=["settings"], dependencies=[Authorized])

#: a pasted key longer than this is a mistake (a whole file, a JSON blob), not a key
MAX_KEY_CHARS = 4096


class ProviderStatus(BaseModel):
    id: str
    display_name: str
    source: Literal["stored", "env", "none"]
    masked: str | None = Field(None, description="at most the last 4 characters")
    env_var: str | None = None
    missing_settings: list[str] = Field(default_factory=list)
    error: str | None = None
    ready: bool
    custom: bool = False
    base_url: str | None = None
    model_string_example: str


def to_status(info: KeyInfo, *, base_url: str | None = None) -> ProviderStatus:
    custom = info.provider.startswith("custom-")
    return ProviderStatus(
        id=info.provider,
        display_name=info.display_name or info.provider,
        source=info.source,
        masked=info.masked,
        env_var=info.env_var,
        missing_settings=list(info.missing_settings),
        error=info.error,
        ready=info.ready or (custom and info.error is None),
        custom=custom,
        base_url=base_url,
        model_string_example=f"{info.provider}/<model>",
    )


class KeyBody(BaseModel):
    api_key: str = Field(..., min_length=1, max_length=MAX_KEY_CHARS)


class CustomProviderBody(BaseModel):
    slug: str = Field(
        ...,
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="lowercase letters, digits and dashes; used as custom-<slug>/<model>",
    )
    base_url: str = Field(
        ...,
        min_length=8,
        max_length=2048,
        pattern=r"^https?://",
        description="e.g. http://localhost:11434/v1 for Ollama",
    )
    api_key: str | None = Field(None, max_length=MAX_KEY_CHARS)
    display_name: str | None = Field(None, max_length=100)


class TestResult(BaseModel):
    ok: bool
    message: str


class DefaultsModel(BaseModel):
    working_model: str | None = Field(None, max_length=300)
    thinking_model: str | None = Field(None, max_length=300)
    thinking_level: Literal["off", "low", "medium", "high"] | None = None


@router.get("", response_model=list[ProviderStatus])
async def list_providers(service: ServiceDep) -> list[ProviderStatus]:
    """Every provider of the registry and every custom one, with where its key comes from."""
    customs = {c.provider_id: c.base_url for c in service.secrets.list_custom_providers()}
    return [to_status(service.keys.key_info(pid), base_url=customs.get(pid)) for pid in service.keys.provider_ids()]


@router.put("/{provider_id}/key", response_model=ProviderStatus)
async def set_key(provider_id: str, body: KeyBody, service: ServiceDep) -> ProviderStatus:
    """Store a key, encrypted with SECRET_ENCRYPTION_KEY; it wins over the env var from now on."""
    service.keys.spec(provider_id)  # 404 for an unknown provider
    if provider_id.startswith("custom-"):
        slug = provider_id.removeprefix("custom-")
        current = service.secrets.get_custom_provider(slug)
        service.secrets.add_custom_provider(slug, current.base_url, body.api_key, current.display_name)
    else:
        service.secrets.set_key(provider_id, body.api_key)
    return to_status(service.keys.key_info(provider_id))


@router.delete("/{provider_id}/key", status_code=status.HTTP_204_NO_CONTENT)
async def delete_key(provider_id: str, service: ServiceDep) -> Response:
    """Remove a stored key (the env var, if set, applies again)."""
    service.keys.spec(provider_id)  # 404 for an unknown provider
    if provider_id.startswith("custom-"):
        custom = service.secrets.get_custom_provider(provider_id.removeprefix("custom-"))
        service.secrets.add_custom_provider(custom.slug, custom.base_url, None, custom.display_name)
    else:
        service.secrets.delete_key(provider_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/custom", response_model=ProviderStatus, status_code=status.HTTP_201_CREATED)
async def add_custom_provider(body: CustomProviderBody, service: ServiceDep) -> ProviderStatus:
    """Add or replace an OpenAI-compatible endpoint (Ollama, LM Studio, vLLM, ...) as custom-<slug>."""
    custom = service.secrets.add_custom_provider(body.slug, body.base_url, body.api_key or None, body.display_name)
    return to_status(service.keys.key_info(custom.provider_id), base_url=custom.base_url)


@router.delete("/custom/{slug}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_custom_provider(slug: str, service: ServiceDep) -> Response:
    """Remove custom-<slug> and its stored key."""
    service.keys.spec(f"custom-{slug}")
    service.secrets.remove_custom_provider(slug)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{provider_id}/test", response_model=TestResult)
async def test_provider(provider_id: str, service: ServiceDep) -> TestResult:
    """A cheap real call (list models): success, or the provider's own error message."""
    service.keys.spec(provider_id)
    ok, message = await service.providers.test_provider(provider_id)
    return TestResult(ok=ok, message=message)


@settings_router.get("/defaults", response_model=DefaultsModel)
async def get_defaults(service: ServiceDep) -> DefaultsModel:
    """Global defaults: working model, thinking model and thinking level."""
    d = service.secrets.get_defaults()
    return DefaultsModel(
        working_model=d.working_model, thinking_model=d.thinking_model, thinking_level=d.thinking_level
    )


@settings_router.put("/defaults", response_model=DefaultsModel)
async def set_defaults(body: DefaultsModel, service: ServiceDep) -> DefaultsModel:
    """Set the global defaults; model strings are validated (provider/model) before saving."""
    for value in (body.working_model, body.thinking_model):
        if value:
            try:
                parse_model_string(value)
            except UnknownProvider as exc:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=exc.message) from None
    service.secrets.set_defaults(
        working_model=body.working_model, thinking_model=body.thinking_model, thinking_level=body.thinking_level
    )
    return await get_defaults(service)
