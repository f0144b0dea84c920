"""``ProviderClient``: the one object the rest of qmdr uses to chat, stream, embed and list models.

It turns a model string into a provider, its adapter and its credentials,
resolves aliases, decides what to do about thinking, and runs the call under
the reliability policy (retries, cooldowns, fallbacks). Adapters stay dumb:
one HTTP request per call.

The httpx client is injectable (tests pass one with a mock transport); when
none is given a pooled client with timeouts is created and closed by
``aclose()`` / ``async with``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from providers.catalog import Catalog
from providers.errors import ProviderError
from providers.keys import KeyInfo, KeySource
from providers.registry import ProviderSpec
from providers.reliability import MAX_RETRIES, Attempt, Cooldowns, run_fallbacks
from providers.resolver import ModelRef, parse_model_string
from providers.types import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    Credentials,
    EmbedResult,
    Message,
    ThinkingLevel,
    Usage,
    WireAdapter,
)
from providers.wire import get_adapter

log = logging.getLogger(__name__)

#: a whole answer from a slow reasoning model can take minutes; this caps a stuck read, not a long answer
DEFAULT_TIMEOUT_SECONDS = 120.0
#: failing to connect within this means the host is down or unreachable; fail over quickly
CONNECT_TIMEOUT_SECONDS = 10.0
#: pool size: enough for parallel embedding batches plus chats, small enough to be polite to one host
MAX_CONNECTIONS = 32
MAX_KEEPALIVE_CONNECTIONS = 16
#: embedding batches in flight at once for one embed() call
EMBED_CONCURRENCY = 4
#: shorter "keys" (tests, local servers) would redact ordinary words out of messages
MIN_REDACT_CHARS = 8

MessageLike = Message | Mapping[str, str]


def _messages(messages: Iterable[MessageLike]) -> list[Message]:
    out: list[Message] = []
    for m in messages:
        if isinstance(m, Message):
            out.append(m)
        else:
            out.append(Message(role=m["role"], content=m["content"]))  # type: ignore[arg-type]
    return out


def default_http_client() -> httpx.AsyncClient:
    """A pooled client: connect timeout short enough to fail over, read timeout long enough to think."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(DEFAULT_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS
        ),
    )


def _redact(exc: ProviderError, secret: str | None) -> ProviderError:
    """Strip a key from an error a provider built from its own response (some echo the key back)."""
    if secret and len(secret) >= MIN_REDACT_CHARS:
        exc.message = exc.message.replace(secret, "***")
        exc.args = tuple(a.replace(secret, "***") if isinstance(a, str) else a for a in exc.args)
        body = getattr(exc, "body", None)
        if isinstance(body, str):
            exc.body = body.replace(secret, "***")  # type: ignore[attr-defined]
    return exc


@contextmanager
def _redacting(creds: Credentials) -> Iterator[None]:
    """Re-raise provider errors with ``creds``' key scrubbed from their text."""
    try:
        yield
    except ProviderError as exc:
        _redact(exc, creds.api_key)
        raise


def _fallback_meta(attempts: Sequence[Attempt]) -> list[dict[str, str]]:
    return [{"model": a.model, "reason": a.reason} for a in attempts]


class ProviderClient:
    """Chat, stream, embed and list models across every provider, with retries, cooldowns and fallbacks."""

    def __init__(
        self,
        keys: KeySource,
        *,
        http: httpx.AsyncClient | None = None,
        catalog: Catalog | None = None,
        cooldowns: Cooldowns | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.keys = keys
        self._owns_http = http is None
        self.http = http or default_http_client()
        self.catalog = catalog or Catalog()
        self.cooldowns = cooldowns or Cooldowns()
        self._sleep = sleep
        self._max_retries = max_retries

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> ProviderClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- plumbing ------------------------------------------------------------------

    def _target(self, provider: str) -> tuple[ProviderSpec, WireAdapter, Credentials]:
        spec = self.keys.spec(provider)
        adapter = get_adapter(spec.wire)
        return spec, adapter, self.keys.credentials(provider)

    async def _thinking(
        self,
        ref: ModelRef,
        model_id: str,
        level: ThinkingLevel | None,
        adapter: WireAdapter,
        creds: Credentials,
    ) -> tuple[ThinkingLevel | None, str | None]:
        """The level to send and a note when the model cannot think (it then runs without thinking)."""
        if level is None:
            return None, None
        if ref.provider == "openrouter" and not self.catalog.listing_is_fresh("openrouter"):
            try:
                with _redacting(creds):
                    self.catalog.record_listing("openrouter", await adapter.list_models(self.http, creds))
            except ProviderError as exc:  # capability lookup is best effort; the chat itself may still work
                log.debug("could not refresh the OpenRouter model list: %s", type(exc).__name__)
        if self.catalog.supports_thinking(ref.provider, model_id) is False:
            if level == "off":
                return None, None
            return (
                None,
                f"{ref.provider}/{model_id} cannot think; it ran without thinking (requested {level!r})",
            )
        return level, None

    async def _prepare_chat(
        self,
        model: str,
        messages: list[Message],
        thinking_level: ThinkingLevel | None,
        json_output: bool,
        max_tokens: int | None,
        timeout: float | None,
        temperature: float | None,
    ) -> tuple[WireAdapter, Credentials, ChatRequest, str | None]:
        ref = parse_model_string(model)
        _, adapter, creds = self._target(ref.provider)
        model_id = self.catalog.resolve(ref.provider, ref.model)
        level, note = await self._thinking(ref, model_id, thinking_level, adapter, creds)
        req = ChatRequest(
            model=model_id,
            messages=messages,
            thinking_level=level,
            max_tokens=max_tokens,
            temperature=temperature,
            json_output=json_output,
            timeout=timeout,
        )
        return adapter, creds, req, note

    def _chain(self, model: str, fallbacks: Sequence[str]) -> list[tuple[str, str]]:
        return [(m, parse_model_string(m).provider) for m in (model, *fallbacks)]

    # -- chat ----------------------------------------------------------------------

    async def chat(
        self,
        model: str,
        messages: Iterable[MessageLike],
        thinking_level: ThinkingLevel | None = None,
        fallbacks: Sequence[str] = (),
        json_output: bool = False,
        max_tokens: int | None = None,
        timeout: float | None = None,
        temperature: float | None = None,
    ) -> ChatResult:
        """One answer from ``model`` (``provider/model``), falling back through ``fallbacks`` in order.

        ``metadata`` records ``requested_model``, ``model_used``, ``fallbacks``
        (model and reason for each failed attempt) and, when the model cannot
        think, ``thinking_note``.
        """
        msgs = _messages(messages)

        async def call(model_string: str) -> ChatResult:
            adapter, creds, req, note = await self._prepare_chat(
                model_string, msgs, thinking_level, json_output, max_tokens, timeout, temperature
            )
            with _redacting(creds):
                result = await adapter.chat(self.http, creds, req)
            meta = dict(result.metadata)
            if note:
                meta["thinking_note"] = note
            meta["model_used"] = model_string
            return dataclasses.replace(
                result, metadata=meta, thinking_applied=result.thinking_applied and note is None
            )

        result, attempts = await run_fallbacks(
            self._chain(model, fallbacks),
            call,
            cooldowns=self.cooldowns,
            sleep=self._sleep,
            max_retries=self._max_retries,
        )
        meta = {**result.metadata, "requested_model": model, "fallbacks": _fallback_meta(attempts)}
        return dataclasses.replace(result, metadata=meta)

    async def stream_chat(
        self,
        model: str,
        messages: Iterable[MessageLike],
        thinking_level: ThinkingLevel | None = None,
        fallbacks: Sequence[str] = (),
        json_output: bool = False,
        max_tokens: int | None = None,
        timeout: float | None = None,
        temperature: float | None = None,
    ) -> AsyncIterator[ChatDelta]:
        """Stream an answer. Retries and fallbacks apply until the first piece arrives; after that an
        error ends the stream (half an answer cannot be silently restarted on another model)."""
        msgs = _messages(messages)

        opened: list[Credentials] = []

        async def open_stream(model_string: str) -> tuple[AsyncIterator[ChatDelta], ChatDelta]:
            adapter, creds, req, _ = await self._prepare_chat(
                model_string, msgs, thinking_level, json_output, max_tokens, timeout, temperature
            )
            stream = adapter.stream_chat(self.http, creds, req)
            opened.append(creds)
            try:
                with _redacting(creds):
                    first = await anext(stream)
            except StopAsyncIteration:
                return stream, ChatDelta(done=True)
            except BaseException:
                await stream.aclose()  # type: ignore[attr-defined]
                raise
            return stream, first

        (stream, first), _ = await run_fallbacks(
            self._chain(model, fallbacks),
            open_stream,
            cooldowns=self.cooldowns,
            sleep=self._sleep,
            max_retries=self._max_retries,
        )
        try:
            yield first
            if first.done:
                return
            with _redacting(opened[-1]):
                async for delta in stream:
                    yield delta
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    # -- embeddings ------------------------------------------------------------------

    async def embed(
        self, model: str, texts: Sequence[str], dimensions: int | None = None, batch_size: int | None = None
    ) -> EmbedResult:
        """Vectors for ``texts`` in order, sent in batches no larger than the provider allows."""
        ref = parse_model_string(model)
        spec = self.keys.spec(ref.provider)
        if not spec.supports_embeddings:
            raise ProviderError(
                f"{spec.display_name} has no embeddings API; choose an embedding model from another provider",
                provider=spec.id,
            )
        texts = list(texts)
        model_id = self.catalog.resolve(ref.provider, ref.model)
        if not texts:
            return EmbedResult(vectors=[], model=model_id)
        adapter = get_adapter(spec.wire)
        limit = min(spec.max_embed_batch, adapter.max_embed_batch)
        size = max(1, min(batch_size or limit, limit))
        batches = [texts[i : i + size] for i in range(0, len(texts), size)]
        gate = asyncio.Semaphore(EMBED_CONCURRENCY)

        async def one(batch: list[str]) -> EmbedResult:
            async def call(_: str) -> EmbedResult:
                creds = self.keys.credentials(ref.provider)
                with _redacting(creds):
                    return await adapter.embed(self.http, creds, model_id, batch, dimensions)

            async with gate:
                result, _ = await run_fallbacks(
                    [(model, ref.provider)],
                    call,
                    cooldowns=self.cooldowns,
                    sleep=self._sleep,
                    max_retries=self._max_retries,
                )
                return result

        results = await asyncio.gather(*(one(b) for b in batches))
        vectors = [v for r in results for v in r.vectors]
        usage = Usage(input_tokens=sum(r.usage.input_tokens for r in results))
        return EmbedResult(vectors=vectors, model=results[0].model, usage=usage)

    # -- models and status -------------------------------------------------------------

    async def list_models(self, provider: str, *, retries: int | None = None) -> list[dict[str, Any]]:
        """The provider's own model list (``id`` plus whatever else it reports)."""
        spec, adapter, _ = self._target(provider)

        async def call(_: str) -> list[dict[str, Any]]:
            creds = self.keys.credentials(provider)
            with _redacting(creds):
                return await adapter.list_models(self.http, creds)

        rows, _ = await run_fallbacks(
            [(spec.id, spec.id)],
            call,
            cooldowns=None,
            sleep=self._sleep,
            max_retries=self._max_retries if retries is None else retries,
        )
        if spec.id == "openrouter":
            self.catalog.record_listing(spec.id, rows)
        return rows

    async def test_provider(self, provider: str) -> tuple[bool, str]:
        """A cheap real call (list models, no retries); never raises, never echoes a key."""
        try:
            spec = self.keys.spec(provider)
            rows = await self.list_models(provider, retries=0)
        except ProviderError as exc:
            return False, exc.message
        return True, f"{spec.display_name}: connected, {len(rows)} models available"

    def providers_status(self) -> list[KeyInfo]:
        """Key status of every provider (built-in and custom), as shown in Settings -> Providers."""
        return [self.keys.key_info(pid) for pid in self.keys.provider_ids()]
