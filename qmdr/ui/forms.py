"""Validation of the dashboard's form fields: plain functions, one per kind of field.

Each returns the cleaned value or raises ``FormError`` naming the field and
saying how to fix it; the page is then shown again with the message beside
the field (and without any key the user typed: key fields are never refilled).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from providers.errors import ProviderError
from providers.registry import CUSTOM_SLUG_RE, MAX_CUSTOM_SLUG_CHARS
from providers.resolver import parse_model_string
from providers.types import ThinkingLevel

#: a pasted key longer than this is a mistake (a whole file, a JSON blob), not a key (same as the API)
MAX_KEY_CHARS = 4096
#: browsers and servers cope with longer URLs, but no API base URL is anywhere near this
MAX_URL_CHARS = 2048
#: display names appear in one table cell
MAX_DISPLAY_NAME_CHARS = 100
#: a model string is provider/model; the longest real ones (Bedrock ARNs, HF repos) stay far below this
MAX_MODEL_STRING_CHARS = 300
THINKING_LEVELS: tuple[ThinkingLevel, ...] = ("off", "low", "medium", "high")


class FormError(ValueError):
    """A field the user must correct."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def field_text(form: object, name: str) -> str:
    """A form field as a stripped string ('' when absent or a file upload)."""
    value = form.get(name) if hasattr(form, "get") else None  # type: ignore[union-attr]
    return value.strip() if isinstance(value, str) else ""


def clean_api_key(value: str, field: str = "api_key") -> str:
    """A key is one token of printable characters: no spaces, no line breaks (a paste of more than the key)."""
    key = value.strip()
    if not key:
        raise FormError(field, "enter a key (to remove a stored key, use Remove)")
    if len(key) > MAX_KEY_CHARS:
        raise FormError(field, f"that is longer than {MAX_KEY_CHARS} characters: paste only the key")
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise FormError(field, "a key has no spaces or line breaks: paste only the key")
    return key


def clean_slug(value: str) -> str:
    slug = value.strip()
    if not slug:
        raise FormError("slug", "enter a name, e.g. myollama")
    if len(slug) > MAX_CUSTOM_SLUG_CHARS or not CUSTOM_SLUG_RE.match(slug):
        raise FormError(
            "slug",
            f"use lowercase letters, digits and dashes (starting with a letter or digit), "
            f"at most {MAX_CUSTOM_SLUG_CHARS} characters, e.g. myollama",
        )
    return slug


def clean_base_url(value: str) -> str:
    """An absolute http(s) URL with a host, e.g. http://localhost:11434/v1; the trailing slash is dropped."""
    url = value.strip()
    if not url:
        raise FormError("base_url", "enter the server's base URL, e.g. http://localhost:11434/v1")
    if len(url) > MAX_URL_CHARS:
        raise FormError("base_url", f"a base URL is at most {MAX_URL_CHARS} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise FormError("base_url", "a URL has no spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise FormError("base_url", "that is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FormError("base_url", "use an http:// or https:// URL with a host, e.g. http://localhost:11434/v1")
    if parts.username or parts.password:
        raise FormError("base_url", "put the key in the API key field, not in the URL")
    if parts.query or parts.fragment:
        raise FormError("base_url", "a base URL has no ?query or #fragment")
    return url.rstrip("/")


def clean_display_name(value: str) -> str | None:
    name = value.strip()
    if len(name) > MAX_DISPLAY_NAME_CHARS:
        raise FormError("display_name", f"at most {MAX_DISPLAY_NAME_CHARS} characters")
    return name or None


def clean_model_string(value: str, field: str) -> str | None:
    """'' means no default; anything else must be provider/model."""
    model = value.strip()
    if not model:
        return None
    if len(model) > MAX_MODEL_STRING_CHARS:
        raise FormError(field, f"at most {MAX_MODEL_STRING_CHARS} characters")
    try:
        parse_model_string(model)
    except (ProviderError, ValueError) as exc:
        raise FormError(field, str(getattr(exc, "message", None) or exc)) from None
    return model


def clean_thinking_level(value: str) -> ThinkingLevel | None:
    level = value.strip()
    if not level:
        return None
    if level not in THINKING_LEVELS:
        raise FormError("thinking_level", f"choose one of {', '.join(THINKING_LEVELS)}")
    return level  # type: ignore[return-value]  # checked against THINKING_LEVELS above
