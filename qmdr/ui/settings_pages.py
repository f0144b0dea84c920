"""Settings -> Providers and Settings -> Models.

Providers: every registry provider with where its key comes from (stored,
env, missing) and a masked tail, forms to store, replace or remove a key
(encrypted with SECRET_ENCRYPTION_KEY; a stored key beats the env var), a
test button (one cheap real call), and custom OpenAI-compatible providers
(add, edit, remove). Models: the global default working and thinking models
and the default thinking level.

Key inputs are password fields that are never pre-filled; after saving, only
the masked tail (``…abcd``) is ever rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request, status
from starlette.responses import Response

from providers.catalog import KNOWN_MODELS
from providers.errors import ProviderError, UnknownProvider
from providers.registry import CUSTOM_PREFIX, MAX_CUSTOM_SLUG_CHARS
from providers.resolver import parse_model_string
from qmdr.service import Service
from qmdr.ui.forms import (
    MAX_DISPLAY_NAME_CHARS,
    MAX_KEY_CHARS,
    MAX_MODEL_STRING_CHARS,
    MAX_URL_CHARS,
    THINKING_LEVELS,
    FormError,
    clean_api_key,
    clean_base_url,
    clean_display_name,
    clean_model_string,
    clean_slug,
    clean_thinking_level,
    field_text,
)
from qmdr.ui.web import UI_PREFIX, error_page, posted_form, redirect, render, require_login, service_of

router = APIRouter(prefix=f"{UI_PREFIX}/settings", include_in_schema=False, dependencies=[Depends(require_login)])
PROVIDERS_PAGE = f"{UI_PREFIX}/settings/providers"
MODELS_PAGE = f"{UI_PREFIX}/settings/models"
#: auth kinds whose credential is an API key the dashboard can store
KEYED_AUTH = ("api_key", "optional_key")
LIMITS = {
    "key": MAX_KEY_CHARS,
    "url": MAX_URL_CHARS,
    "slug": MAX_CUSTOM_SLUG_CHARS,
    "display_name": MAX_DISPLAY_NAME_CHARS,
    "model": MAX_MODEL_STRING_CHARS,
}


@dataclass(frozen=True, slots=True)
class ProviderRow:
    """One provider as the page shows it: never a key, at most its masked tail."""

    id: str
    display_name: str
    source: str  # stored, env, none
    masked: str | None
    env_var: str | None
    missing_settings: tuple[str, ...]
    error: str | None
    keyed: bool  # False for AWS / Google credential chains: nothing to store here
    docs_url: str
    base_url: str | None = None
    slug: str | None = None

    @property
    def model_string(self) -> str:
        return f"{self.id}/<model>"


def provider_rows(service: Service) -> tuple[list[ProviderRow], list[ProviderRow]]:
    """(built-in providers, custom providers), in registry order then by slug."""
    customs = {c.provider_id: c for c in service.secrets.list_custom_providers()}
    built_in: list[ProviderRow] = []
    custom: list[ProviderRow] = []
    for pid in service.keys.provider_ids():
        info = service.keys.key_info(pid)
        spec = service.keys.spec(pid)
        row = ProviderRow(
            id=pid,
            display_name=info.display_name or pid,
            source=info.source,
            masked=info.masked,
            env_var=info.env_var,
            missing_settings=tuple(info.missing_settings),
            error=info.error,
            keyed=spec.auth in KEYED_AUTH,
            docs_url=spec.docs_url,
            base_url=customs[pid].base_url if pid in customs else None,
            slug=customs[pid].slug if pid in customs else None,
        )
        (custom if pid in customs else built_in).append(row)
    return built_in, custom


def providers_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    form: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The page, optionally with a form's errors; ``values`` refills non-secret fields only."""
    service = service_of(request)
    built_in, custom = provider_rows(service)
    return render(
        request,
        "providers.html",
        {
            "title": "Providers",
            "built_in": built_in,
            "custom": custom,
            "errors": errors or {},
            "error_form": form,
            "values": values or {},
            "can_store_keys": service.secrets.can_decrypt,
            "limits": LIMITS,
        },
        status_code=status_code,
    )


def built_in_provider(service: Service, provider_id: str) -> str | None:
    """The id if it names a built-in provider, else None (custom keys go through the custom form)."""
    if provider_id.startswith(CUSTOM_PREFIX):
        return None
    try:
        service.keys.spec(provider_id)
    except UnknownProvider:
        return None
    return provider_id


@router.get("/providers")
async def show_providers(request: Request) -> Response:
    """Every provider, its key status, and the custom providers."""
    return providers_page(request)


@router.post("/providers/{provider_id}/key")
async def store_key(provider_id: str, request: Request) -> Response:
    form = await posted_form(request)
    service = service_of(request)
    if built_in_provider(service, provider_id) is None:
        return error_page(request, "Unknown provider", f"There is no provider {provider_id!r}.", 404)
    try:
        key = clean_api_key(field_text(form, "api_key"))
    except FormError as exc:
        return providers_page(
            request,
            errors={exc.field: exc.message},
            form=f"key:{provider_id}",
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    try:
        service.secrets.set_key(provider_id, key)
    except ProviderError as exc:
        return redirect(request, PROVIDERS_PAGE, flash=("error", exc.message))
    masked = service.keys.key_info(provider_id).masked
    return redirect(
        request,
        f"{PROVIDERS_PAGE}#p-{provider_id}",
        flash=("ok", f"Saved the {provider_id} key ({masked}), encrypted; it now takes precedence over the env var."),
    )


@router.post("/providers/{provider_id}/key/delete")
async def remove_key(provider_id: str, request: Request) -> Response:
    await posted_form(request)
    service = service_of(request)
    if built_in_provider(service, provider_id) is None:
        return error_page(request, "Unknown provider", f"There is no provider {provider_id!r}.", 404)
    removed = service.secrets.delete_key(provider_id)
    message = f"Removed the stored {provider_id} key." if removed else f"No stored {provider_id} key to remove."
    info = service.keys.key_info(provider_id)
    if removed and info.source == "env":
        message += f" {info.env_var} from the environment applies again."
    return redirect(request, f"{PROVIDERS_PAGE}#p-{provider_id}", flash=("ok", message))


@router.post("/providers/{provider_id}/test")
async def test_provider(provider_id: str, request: Request) -> Response:
    """One cheap real call (list models) with the effective key; shows success or the provider's error."""
    await posted_form(request)
    service = service_of(request)
    try:
        service.keys.spec(provider_id)
    except UnknownProvider:
        return error_page(request, "Unknown provider", f"There is no provider {provider_id!r}.", 404)
    ok, message = await service.providers.test_provider(provider_id)
    return redirect(
        request,
        f"{PROVIDERS_PAGE}#p-{provider_id}",
        flash=("ok" if ok else "error", message if ok else f"{provider_id} test failed: {message}"),
    )


def _custom_fields(form: Any, *, optional_key: bool) -> tuple[str, str | None, str | None]:
    base_url = clean_base_url(field_text(form, "base_url"))
    display_name = clean_display_name(field_text(form, "display_name"))
    raw_key = field_text(form, "api_key")
    key = clean_api_key(raw_key) if raw_key or not optional_key else None
    return base_url, display_name, key


@router.post("/custom")
async def add_custom(request: Request) -> Response:
    """Add ``custom-<slug>``: an OpenAI-compatible server (Ollama, LM Studio, vLLM ...), key optional."""
    form = await posted_form(request)
    service = service_of(request)
    values = {name: field_text(form, name) for name in ("slug", "base_url", "display_name")}
    try:
        slug = clean_slug(values["slug"])
        if service.secrets.get_custom_provider(slug) is not None:
            raise FormError("slug", f"custom-{slug} already exists: edit it below instead")
        base_url, display_name, key = _custom_fields(form, optional_key=True)
        if key and not service.secrets.can_decrypt:
            raise FormError(
                "api_key",
                "SECRET_ENCRYPTION_KEY is not set, so keys cannot be stored; set it "
                "(16+ random characters) and restart, or leave the key empty",
            )
        service.secrets.add_custom_provider(slug, base_url, key, display_name)
    except FormError as exc:
        return providers_page(
            request,
            errors={exc.field: exc.message},
            form="add",
            values=values,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    return redirect(
        request,
        f"{PROVIDERS_PAGE}#p-custom-{slug}",
        flash=("ok", f"Added custom-{slug}: use it as custom-{slug}/<model>."),
    )


@router.post("/custom/{slug}")
async def edit_custom(slug: str, request: Request) -> Response:
    """Change a custom provider's URL or name; an empty key field keeps the stored key."""
    form = await posted_form(request)
    service = service_of(request)
    current = service.secrets.get_custom_provider(slug) if _is_slug(slug) else None
    if current is None:
        return error_page(request, "Unknown provider", f"There is no custom provider custom-{slug}.", 404)
    values = {name: field_text(form, name) for name in ("base_url", "display_name")}
    try:
        base_url, display_name, key = _custom_fields(form, optional_key=True)
        if field_text(form, "remove_key"):
            key = None
        elif key is None and current.has_key:
            key = service.secrets.get_custom_key(slug)
        if key and not service.secrets.can_decrypt:
            raise FormError("api_key", "SECRET_ENCRYPTION_KEY is not set, so keys cannot be stored")
        service.secrets.add_custom_provider(slug, base_url, key, display_name)
    except FormError as exc:
        return providers_page(
            request,
            errors={exc.field: exc.message},
            form=f"edit:{slug}",
            values=values,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    except ProviderError as exc:
        return redirect(request, PROVIDERS_PAGE, flash=("error", exc.message))
    return redirect(request, f"{PROVIDERS_PAGE}#p-custom-{slug}", flash=("ok", f"Saved custom-{slug}."))


@router.post("/custom/{slug}/delete")
async def delete_custom(slug: str, request: Request) -> Response:
    await posted_form(request)
    service = service_of(request)
    if not _is_slug(slug) or not service.secrets.remove_custom_provider(slug):
        return error_page(request, "Unknown provider", f"There is no custom provider custom-{slug}.", 404)
    return redirect(request, PROVIDERS_PAGE, flash=("ok", f"Removed custom-{slug} and its stored key."))


def _is_slug(slug: str) -> bool:
    try:
        clean_slug(slug)
    except FormError:
        return False
    return True


# --- Settings -> Models --------------------------------------------------------------------------------


def thinking_hint(service: Service, model: str | None) -> dict[str, Any] | None:
    """What the page says under a model field: thinking support (True/False/None) and whether it is configured."""
    if not model:
        return None
    try:
        ref = parse_model_string(model)
        info = service.keys.key_info(ref.provider)
    except ProviderError:
        return None
    return {
        "thinks": service.providers.catalog.supports_thinking(ref.provider, ref.model),
        "configured": info.ready or ref.provider.startswith(CUSTOM_PREFIX),
        "provider": ref.provider,
    }


def models_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    service = service_of(request)
    defaults = service.secrets.get_defaults()
    current = values or {
        "working_model": defaults.working_model or "",
        "thinking_model": defaults.thinking_model or "",
        "thinking_level": defaults.thinking_level or "",
    }
    chat_models = [m for m in KNOWN_MODELS if m.kind == "chat"]
    return render(
        request,
        "models.html",
        {
            "title": "Models",
            "values": current,
            "errors": errors or {},
            "levels": THINKING_LEVELS,
            "chat_models": chat_models,
            "thinking_map": {f"{m.provider}/{m.id}": m.supports_thinking for m in chat_models},
            "customs": [c.provider_id for c in service.secrets.list_custom_providers()],
            "hints": {name: thinking_hint(service, current[name]) for name in ("working_model", "thinking_model")},
            "limits": LIMITS,
        },
        status_code=status_code,
    )


@router.get("/models")
async def show_models(request: Request) -> Response:
    """The global default working model, thinking model and thinking level."""
    return models_page(request)


@router.post("/models")
async def save_models(request: Request) -> Response:
    form = await posted_form(request)
    service = service_of(request)
    values = {name: field_text(form, name) for name in ("working_model", "thinking_model", "thinking_level")}
    try:
        working = clean_model_string(values["working_model"], "working_model")
        thinking = clean_model_string(values["thinking_model"], "thinking_model")
        level = clean_thinking_level(values["thinking_level"])
        for name, model in (("working_model", working), ("thinking_model", thinking)):
            if model:
                _require_known_provider(service, name, model)
    except FormError as exc:
        return models_page(
            request, errors={exc.field: exc.message}, values=values, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
        )
    cleared = tuple(
        name
        for name, value in (("working_model", working), ("thinking_model", thinking), ("thinking_level", level))
        if value is None
    )
    service.secrets.set_defaults(working_model=working, thinking_model=thinking, thinking_level=level, clear=cleared)
    return redirect(request, MODELS_PAGE, flash=("ok", "Saved the default models."))


def _require_known_provider(service: Service, field: str, model: str) -> None:
    """A custom-<slug> model must name a custom provider that exists."""
    try:
        service.keys.spec(parse_model_string(model).provider)
    except ProviderError as exc:
        raise FormError(field, exc.message) from None
