"""GET /models and GET /models/resolve: what model strings exist and what they resolve to."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel

from providers.catalog import KNOWN_MODELS
from providers.resolver import parse_model_string
from qmdr.api.deps import Authorized, ServiceDep

router = APIRouter(prefix="/models", tags=["models"], dependencies=[Authorized])


class ModelEntry(BaseModel):
    model_string: str
    provider: str
    id: str
    kind: str
    context_window: int | None = None
    embedding_dim: int | None = None
    supports_thinking: bool | None = None
    configured: bool


class Resolution(BaseModel):
    input: str
    provider: str
    model_sent: str
    supports_thinking: bool | None
    context_window: int | None
    configured: bool


@router.get("", response_model=list[ModelEntry])
async def list_models(service: ServiceDep, provider: str | None = Query(None, max_length=100)) -> list[ModelEntry]:
    """Catalog models of every provider, plus each custom provider (its models are whatever its server
    serves: use ``custom-<slug>/<model>``). ``configured`` says whether the provider has credentials."""
    ready = {
        info.provider: info.ready or info.provider.startswith("custom-")
        for info in (service.keys.key_info(pid) for pid in service.keys.provider_ids())
    }
    entries = [
        ModelEntry(
            model_string=f"{m.provider}/{m.id}",
            provider=m.provider,
            id=m.id,
            kind=m.kind,
            context_window=m.context_window,
            embedding_dim=m.embedding_dim,
            supports_thinking=m.supports_thinking,
            configured=ready.get(m.provider, False),
        )
        for m in KNOWN_MODELS
    ]
    for custom in service.secrets.list_custom_providers():
        entries.append(
            ModelEntry(
                model_string=f"{custom.provider_id}/<model>",
                provider=custom.provider_id,
                id="<model>",
                kind="chat",
                configured=True,
            )
        )
    return [e for e in entries if provider is None or e.provider == provider]


@router.get("/resolve", response_model=Resolution)
async def resolve_model(service: ServiceDep, model: str = Query(..., min_length=3, max_length=300)) -> Resolution:
    """Resolve a model string (``anthropic/claude-sonnet-4``) to the provider and the id sent to its API."""
    ref = parse_model_string(model)
    service.keys.spec(ref.provider)
    catalog = service.providers.catalog
    info = service.keys.key_info(ref.provider)
    return Resolution(
        input=model,
        provider=ref.provider,
        model_sent=catalog.resolve(ref.provider, ref.model),
        supports_thinking=catalog.supports_thinking(ref.provider, ref.model),
        context_window=catalog.context_window(ref.provider, ref.model),
        configured=info.ready or ref.provider.startswith("custom-"),
    )
