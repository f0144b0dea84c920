"""Translate httpx outcomes into the provider error tree, once, at the boundary."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from time import time
from typing import Any, TypeVar

import httpx

from providers.errors import (
    AuthError,
    CorruptResponse,
    MalformedResponse,
    ProviderConnectionError,
    ProviderStatusError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

T = TypeVar("T")

#: error bodies are kept for diagnosis but cut, so a huge HTML error page never floods logs
MAX_ERROR_BODY_CHARS = 2000


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date, RFC 9110 10.2.3), or None.

    ``now`` (Unix seconds) is injectable so an HTTP-date can be tested exactly.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now())
    except (TypeError, ValueError):
        return None


def error_message_from_body(body: str) -> str:
    """Pull the human message out of the common error body shapes, else the raw text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:300]
    if isinstance(data, list) and data:  # Gemini sometimes wraps the error in a list
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            for key in ("message", "msg", "detail"):
                if isinstance(err.get(key), str):
                    return err[key]
        if isinstance(err, str):
            return err
        for key in ("message", "Message", "detail"):
            if isinstance(data.get(key), str):
                return data[key]
    return body[:300]


def raise_for_status(response: httpx.Response, *, provider: str, model: str | None = None) -> None:
    """Raise the matching ProviderStatusError subclass for an error response."""
    if response.is_success:
        return
    status = response.status_code
    try:
        body = response.text[:MAX_ERROR_BODY_CHARS]
    except httpx.ResponseNotRead:
        body = ""
    detail = error_message_from_body(body) if body else response.reason_phrase
    sent = f" (model sent: {model!r})" if model else ""
    kwargs: dict[str, Any] = {"body": body, "provider": provider, "model": model}
    if status in (401, 403):
        raise AuthError(
            f"{provider} rejected the credentials ({status}): {detail}. Check the key in Settings -> Providers "
            f"or the provider's env var.",
            status=status,
            **kwargs,
        )
    if status == 429:
        raise RateLimited(
            f"{provider} rate limit (429){sent}: {detail}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            **kwargs,
        )
    if status >= 500 or status in (408, 529):
        raise ProviderUnavailable(f"{provider} is unavailable ({status}){sent}: {detail}", status=status, **kwargs)
    raise ProviderStatusError(f"{provider} returned {status}{sent}: {detail}", status=status, **kwargs)


def declares_json(response: httpx.Response) -> bool:
    """Whether the Content-Type says JSON (``application/json`` or a ``+json`` type)."""
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def read_json(response: httpx.Response, *, provider: str) -> Any:
    """The response's JSON body; CorruptResponse when a body labelled JSON does not parse (retried once),
    MalformedResponse when the body is not JSON and not labelled so (a wrong URL's page: not retried)."""
    try:
        return response.json()
    except ValueError as exc:
        error = CorruptResponse if declares_json(response) else MalformedResponse
        raise error(
            f"{provider} returned a body that is not valid JSON ({len(response.content)} bytes)", provider=provider
        ) from exc


async def send(call: Callable[[], Awaitable[T]], *, provider: str) -> T:
    """Run one httpx call, mapping transport failures to our connection errors."""
    try:
        return await call()
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(f"{provider} did not answer in time ({type(exc).__name__})", provider=provider) from exc
    except (httpx.TransportError, httpx.DecodingError) as exc:
        raise ProviderConnectionError(f"could not reach {provider}: {type(exc).__name__}", provider=provider) from exc
