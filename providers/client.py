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
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from providers.catalog import Catalog, ModelInfo, info_from_listing, nearest_effort
from providers.errors import DeadlineExceeded, InvalidToolDefinition, ProviderError, ProviderStatusError
from providers.keys import KeyInfo, KeySource
from providers.registry import ProviderSpec
from providers.reliability import (
    MAX_RETRIES,
    OUTCOME_CLOSED,
    OUTCOME_OK,
    Attempt,
    CallKind,
    Cooldowns,
    ProviderObserver,
    run_fallbacks,
)
from providers.resolver import ModelRef, parse_model_string
from providers.structured import as_response_schema, parse_and_validate, repair_messages, unsupported, violation
from providers.tools import as_tools, check_calls, parse_arguments
from providers.types import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    Credentials,
    EmbedResult,
    Message,
    ResponseSchema,
    ThinkingLevel,
    Tool,
    ToolCall,
    Usage,
    WireAdapter,
)
from providers.wire import get_adapter

log = logging.getLogger(__name__)
T = TypeVar("T")

#: a whole answer from a slow reasoning model can take minutes; this caps a stuck read, not a long answer
DEFAULT_TIMEOUT_SECONDS = 120.0
#: total deadline of a chat or stream when the caller gives no ``timeout``: every request, retry, backoff
#: wait and fallback must end within it. Long enough for a high-effort reasoning answer (minutes), short
#: enough that a server dripping bytes (each read inside the read timeout) cannot hold a call for ever.
DEFAULT_CALL_DEADLINE_SECONDS = 600.0
#: failing to connect within this means the host is down or unreachable; fail over quickly
CONNECT_TIMEOUT_SECONDS = 10.0
#: pool size: enough for parallel embedding batches plus chats, small enough to be polite to one host
MAX_CONNECTIONS = 32
MAX_KEEPALIVE_CONNECTIONS = 16
#: embedding batches in flight at once for one embed() call
EMBED_CONCURRENCY = 4
#: shorter "keys" (tests, local servers) would redact ordinary words out of messages
MIN_REDACT_CHARS = 8
#: wire formats whose model names are the user's own (Azure deployment names), never in a catalog
UNCATALOGUED_WIRES = frozenset({"azure"})
#: a 400 whose body names one of these refused the structured-output request itself, not the conversation
_SCHEMA_REFUSAL = re.compile(
    r"response_format|json_schema|response_?json_?schema|response_?schema|structured", re.IGNORECASE
)

MessageLike = Message | Mapping[str, Any]
ToolLike = Tool | Mapping[str, Any]


def _tool_call(value: ToolCall | Mapping[str, Any]) -> ToolCall:
    """A ToolCall from ours, ``{"id", "name", "arguments"}`` or OpenAI's ``{"id", "function": {...}}``."""
    if isinstance(value, ToolCall):
        return value
    spec = value.get("function") if isinstance(value.get("function"), Mapping) else value
    name = str(spec.get("name") or "")
    arguments = parse_arguments(spec.get("arguments"), tool=name, provider="caller", model="")
    signature = value.get("signature")
    return ToolCall(str(value.get("id") or ""), name, arguments, signature if isinstance(signature, str) else None)


def _messages(messages: Iterable[MessageLike]) -> list[Message]:
    out: list[Message] = []
    for m in messages:
        if isinstance(m, Message):
            out.append(m)
        else:
            out.append(
                Message(
                    role=m["role"],
                    content=m.get("content") or "",
                    tool_calls=tuple(_tool_call(c) for c in m.get("tool_calls") or ()),
                    tool_call_id=m.get("tool_call_id"),
                    name=m.get("name"),
                )
            )
    return out


def default_http_client() -> httpx.AsyncClient:
    """A pooled client: connect timeout short enough to fail over, read timeout long enough to think."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(DEFAULT_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS),
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


def _add_usage(a: Usage, b: Usage) -> Usage:
    return Usage(*(x + y for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(b), strict=True)))


def _fallback_meta(attempts: Sequence[Attempt]) -> list[dict[str, str]]:
    return [{"model": a.model, "reason": a.reason} for a in attempts]


@dataclass(frozen=True, slots=True)
class _Plan:
    """One model of a chain, ready to call: adapter, credentials, request, and what to note in metadata."""

    adapter: WireAdapter
    creds: Credentials
    req: ChatRequest
    notes: dict[str, str]
    #: None: as the adapter reports; False: the model cannot think; True: it always reasons at its own effort
    thinking_applied: bool | None


class _Observed:
    """The model that answered an observed call (set by the caller before the call ends)."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model

    def answered(self, chain: Sequence[tuple[str, str]], attempts: Sequence[Attempt]) -> None:
        """Every failed or skipped model precedes the one that answered, so it stands at ``len(attempts)``."""
        self.model, self.provider = chain[len(attempts)]


class ProviderClient:
    """Chat, stream, embed and list models across every provider, with retries, cooldowns and fallbacks.

    ``observer`` (a ``providers.reliability.ProviderObserver``) hears of every
    call, retry, fallback and cooldown, e.g. to feed metrics.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        http: httpx.AsyncClient | None = None,
        catalog: Catalog | None = None,
        cooldowns: Cooldowns | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        max_retries: int = MAX_RETRIES,
        observer: ProviderObserver | None = None,
        deadline: float = DEFAULT_CALL_DEADLINE_SECONDS,
    ) -> None:
        self.keys = keys
        self.deadline = deadline
        self._owns_http = http is None
        self.http = http or default_http_client()
        self.catalog = catalog or Catalog()
        self.cooldowns = cooldowns or Cooldowns()
        self.observer = observer
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
    ) -> tuple[ThinkingLevel | None, dict[str, str], bool | None]:
        """The level to send, notes for metadata, and ``thinking_applied`` when the catalog decides it.

        A model that cannot think runs without thinking (``thinking_note``); a
        model that accepts only some effort levels gets the nearest one, and a
        model that takes none gets no level (``effort_note``).
        """
        if level is None:
            return None, {}, None
        if ref.provider == "openrouter" and not self.catalog.listing_is_fresh("openrouter"):
            try:
                with _redacting(creds):
                    self.catalog.record_listing("openrouter", await adapter.list_models(self.http, creds))
            except ProviderError as exc:  # capability lookup is best effort; the chat itself may still work
                log.debug("could not refresh the OpenRouter model list: %s", type(exc).__name__)
        name = f"{ref.provider}/{model_id}"
        if self.catalog.supports_thinking(ref.provider, model_id) is False:
            if level == "off":
                return None, {}, None
            note = f"{name} cannot think; it ran without thinking (requested {level!r})"
            return None, {"thinking_note": note}, False
        accepted = self.catalog.effort_levels(ref.provider, model_id)
        if level == "off" or accepted is None or level in accepted:
            return level, {}, None
        sent = nearest_effort(level, accepted)
        if sent is None:
            note = f"{name} reasons at its own effort and takes no effort setting; sent none (requested {level!r})"
            return None, {"effort_note": note}, True
        note = f"{name} accepts reasoning effort {' or '.join(accepted)} only; sent {sent!r} for {level!r}"
        return sent, {"effort_note": note}, None

    async def _plan(self, model: str, template: ChatRequest) -> _Plan:
        """Resolve ``model`` for one attempt: its adapter and credentials, and ``template`` made concrete."""
        ref = parse_model_string(model)
        spec, adapter, creds = self._target(ref.provider)
        model_id = self.catalog.resolve(ref.provider, ref.model)
        level, notes, applied = await self._thinking(ref, model_id, template.thinking_level, adapter, creds)
        if (
            spec.wire not in UNCATALOGUED_WIRES
            and not spec.id.startswith("custom-")
            and not self.catalog.knows(ref.provider, model_id)
        ):
            notes = {
                **notes,
                "catalog_note": f"{ref.provider}/{model_id} is not in the model catalog, so its "
                f"capabilities and price are unknown; sent as written (`qmdr models "
                f"refresh` adds what the provider lists)",
            }
        req = dataclasses.replace(template, model=model_id, thinking_level=level)
        return _Plan(adapter, creds, req, notes, applied)

    def _chain(self, model: str, fallbacks: Sequence[str]) -> list[tuple[str, str]]:
        return [(m, parse_model_string(m).provider) for m in (model, *fallbacks)]

    async def _fallbacks(
        self,
        chain: Sequence[tuple[str, str]],
        call: Callable[[str], Awaitable[T]],
        *,
        cooldowns: bool = True,
        max_retries: int | None = None,
        deadline: float | None = None,
    ) -> tuple[T, list[Attempt]]:
        """``run_fallbacks`` with this client's sleep, cooldowns, retry budget and observer.

        ``deadline`` (event-loop time) bounds the whole chain: requests in flight are cancelled when it
        passes, and a backoff wait that would end past it is not started.
        """
        loop = asyncio.get_running_loop()
        run = run_fallbacks(
            chain,
            call,
            cooldowns=self.cooldowns if cooldowns else None,
            sleep=self._sleep,
            max_retries=self._max_retries if max_retries is None else max_retries,
            observer=self.observer,
            deadline=deadline,
            clock=loop.time,
        )
        if deadline is None:
            return await run
        async with asyncio.timeout_at(deadline):
            return await run

    def _deadline(self, timeout: float | None) -> tuple[float, float]:
        """(seconds, event-loop time) of a call's total deadline: ``timeout`` if given, else the client's."""
        seconds = self.deadline if timeout is None else timeout
        return seconds, asyncio.get_running_loop().time() + seconds

    @staticmethod
    def _deadline_error(model: str, seconds: float) -> DeadlineExceeded:
        provider = parse_model_string(model).provider
        return DeadlineExceeded(
            f"{model} did not finish within this call's {seconds:g} s deadline, which covers every request, "
            f"retry, backoff wait and fallback (each read also has its own timeout); pass a larger timeout "
            f"to wait longer",
            provider=provider,
            model=model,
        )

    @contextmanager
    def _observed(self, kind: CallKind, provider: str, model: str) -> Iterator[_Observed]:
        """Report one whole call to the observer when it ends: "ok", or the class of what ended it."""
        observed = _Observed(provider, model)
        started = time.perf_counter()
        outcome = OUTCOME_OK
        try:
            yield observed
        except (GeneratorExit, asyncio.CancelledError):  # the caller stopped reading: not a provider failure
            outcome = OUTCOME_CLOSED
            raise
        except BaseException as exc:
            outcome = type(exc).__name__
            raise
        finally:
            if self.observer is not None:
                self.observer.on_call(observed.provider, observed.model, kind, outcome, time.perf_counter() - started)

    @staticmethod
    def _request(
        messages: Iterable[MessageLike],
        thinking_level: ThinkingLevel | None,
        json_output: bool,
        max_tokens: int | None,
        timeout: float | None,
        temperature: float | None,
        tools: Iterable[ToolLike] = (),
        tool_choice: str | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: ResponseSchema | Mapping[str, Any] | None = None,
    ) -> ChatRequest:
        """The request every model of a chain shares; ``_plan`` fills in each one's id and thinking level.

        Tool definitions, ``tool_choice`` and ``response_format`` are checked here, once
        (InvalidToolDefinition)."""
        schema = as_response_schema(response_format)
        if isinstance(response_format, Mapping) and response_format.get("type") == "json_object":
            json_output = True
        return ChatRequest(
            model="",
            messages=_messages(messages),
            thinking_level=thinking_level,
            max_tokens=max_tokens,
            temperature=temperature,
            json_output=json_output,
            timeout=timeout,
            tools=as_tools(tools, tool_choice),
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            response_schema=schema,
        )

    @staticmethod
    def _answer_meta(
        requested: str, used: str, attempts: Sequence[Attempt], notes: Mapping[str, str]
    ) -> dict[str, Any]:
        """What chat results and a stream's last piece report: models, fallbacks taken and notes."""
        return {**notes, "model_used": used, "requested_model": requested, "fallbacks": _fallback_meta(attempts)}

    def _costed(self, used: str, usage: Usage | None) -> dict[str, Any]:
        """``cost_usd`` of an answer at the catalog's prices (or a ``cost_note``), told to the observer too."""
        ref = parse_model_string(used)
        model_id = self.catalog.resolve(ref.provider, ref.model)
        price = self.catalog.price(ref.provider, model_id)
        cost = price.cost(usage) if (price is not None and usage is not None) else None
        if self.observer is not None and usage is not None:
            self.observer.on_usage(ref.provider, f"{ref.provider}/{model_id}", usage, cost)
        if cost is not None:
            return {"cost_usd": round(cost, 8)}
        if usage is None:
            return {"cost_note": f"{used} reported no token usage, so its cost is unknown"}
        return {"cost_note": f"the catalog has no price for {ref.provider}/{model_id}; cost unknown"}

    # -- chat ----------------------------------------------------------------------

    async def _validated(
        self, plan: _Plan, result: ChatResult, ask: Callable[[_Plan, ChatRequest], Awaitable[ChatResult]]
    ) -> ChatResult:
        """``result`` with ``parsed`` set when it matches the schema; else one repair request with the error,
        then SchemaViolation. The repair's tokens are added to the usage, and ``schema_repair`` says why."""
        schema = plan.req.response_schema
        assert schema is not None
        try:
            return dataclasses.replace(result, parsed=parse_and_validate(result.text, schema))
        except ValueError as first:
            problem = str(first)
        repair = dataclasses.replace(plan.req, messages=repair_messages(list(plan.req.messages), result.text, problem))
        again = await ask(plan, repair)
        usage = _add_usage(result.usage, again.usage)
        try:
            parsed = parse_and_validate(again.text, schema)
        except ValueError as second:
            raise violation(
                f"{plan.creds.provider}/{plan.req.model}", plan.creds.provider, str(second), answer=again.text
            ) from None
        metadata = {**again.metadata, "schema_repair": f"the first answer was refused ({problem}); asked once more"}
        return dataclasses.replace(again, parsed=parsed, usage=usage, metadata=metadata)

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
        tools: Sequence[ToolLike] = (),
        tool_choice: str | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: ResponseSchema | Mapping[str, Any] | None = None,
    ) -> ChatResult:
        """One answer from ``model`` (``provider/model``), falling back through ``fallbacks`` in order.

        ``metadata`` records ``requested_model``, ``model_used``, ``fallbacks``
        (model and reason for each failed attempt), ``cost_usd`` at the
        catalog's prices (or ``cost_note`` saying why it is unknown) and, when the model cannot
        think, ``thinking_note``; when it cannot take the requested effort,
        ``effort_note``.

        ``tools`` (``Tool`` or ``{"name", "description", "parameters"}``),
        ``tool_choice`` ("auto", "none", "required" or a tool's name) and
        ``parallel_tool_calls`` offer tools; the answer's ``tool_calls`` hold
        the calls, arguments parsed. A call to a tool not offered raises
        UnknownTool, arguments that are not a JSON object InvalidToolArguments.

        ``response_format`` (``ResponseSchema`` or OpenAI's ``{"type":
        "json_schema", "json_schema": {name, schema, strict}}``) holds the
        answer to a JSON Schema through each API's own control; the answer is
        validated on return (``parsed``), with one repair request when it does
        not match (SchemaViolation after that). A model that cannot do it
        raises StructuredOutputUnsupported (and a chain moves on).

        ``timeout`` is both each read's timeout and the call's total deadline,
        which covers every request, retry, backoff wait and fallback (default:
        the client's ``deadline``); DeadlineExceeded says when it ran out.
        """
        template = self._request(
            messages,
            thinking_level,
            json_output,
            max_tokens,
            timeout,
            temperature,
            tools,
            tool_choice,
            parallel_tool_calls,
            response_format,
        )

        async def ask(plan: _Plan, req: ChatRequest) -> ChatResult:
            with _redacting(plan.creds):
                try:
                    result = await plan.adapter.chat(self.http, plan.creds, req)
                except ProviderStatusError as exc:
                    if req.response_schema is not None and exc.status == 400 and _SCHEMA_REFUSAL.search(exc.body):
                        raise unsupported(
                            model_string_of(plan),
                            plan.creds.provider,
                            f"{plan.creds.provider} refused the schema request ({exc.message})",
                        ) from exc
                    raise
                check_calls(result.tool_calls, template.tools, provider=plan.creds.provider, model=req.model)
            return result

        def model_string_of(plan: _Plan) -> str:
            return f"{plan.creds.provider}/{plan.req.model}"

        async def call(model_string: str) -> tuple[ChatResult, dict[str, str]]:
            plan = await self._plan(model_string, template)
            result = await ask(plan, plan.req)
            if template.response_schema is not None:
                result = await self._validated(plan, result, ask)
            if plan.thinking_applied is not None:
                result = dataclasses.replace(result, thinking_applied=plan.thinking_applied)
            return result, plan.notes

        chain = self._chain(model, fallbacks)
        seconds, deadline = self._deadline(timeout)
        with self._observed("chat", chain[0][1], model) as observed:
            try:
                (result, notes), attempts = await self._fallbacks(chain, call, deadline=deadline)
            except TimeoutError:
                raise self._deadline_error(model, seconds) from None
            observed.answered(chain, attempts)
        meta = {
            **result.metadata,
            **self._answer_meta(model, observed.model, attempts, notes),
            **self._costed(observed.model, result.usage),
        }
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
        tools: Sequence[ToolLike] = (),
        tool_choice: str | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: ResponseSchema | Mapping[str, Any] | None = None,
    ) -> AsyncIterator[ChatDelta]:
        """Stream an answer. Retries and fallbacks apply until the first piece arrives; after that an
        error ends the stream (half an answer cannot be silently restarted on another model).

        The last piece (``done=True``) carries ``metadata`` as ``chat`` does.
        """
        template = self._request(
            messages,
            thinking_level,
            json_output,
            max_tokens,
            timeout,
            temperature,
            tools,
            tool_choice,
            parallel_tool_calls,
        )
        opened: list[_Plan] = []
        if response_format is not None and as_response_schema(response_format) is not None:
            raise InvalidToolDefinition(
                "structured output is validated as a whole and not streamed: use chat() "
                "(or stream: false) with response_format"
            )

        def checked(delta: ChatDelta) -> ChatDelta:
            plan = opened[-1]
            check_calls(delta.tool_calls, template.tools, provider=plan.creds.provider, model=plan.req.model)
            return delta

        async def open_stream(model_string: str) -> tuple[AsyncIterator[ChatDelta], ChatDelta]:
            plan = await self._plan(model_string, template)
            stream = plan.adapter.stream_chat(self.http, plan.creds, plan.req)
            opened.append(plan)
            try:
                with _redacting(plan.creds):
                    first = checked(await anext(stream))
            except StopAsyncIteration:
                return stream, ChatDelta(done=True)
            except BaseException:
                await stream.aclose()  # type: ignore[attr-defined]
                raise
            return stream, first

        chain = self._chain(model, fallbacks)
        seconds, deadline = self._deadline(timeout)
        with self._observed("stream", chain[0][1], model) as observed:
            try:
                (stream, first), attempts = await self._fallbacks(chain, open_stream, deadline=deadline)
            except TimeoutError:
                raise self._deadline_error(model, seconds) from None
            observed.answered(chain, attempts)
            meta = self._answer_meta(model, observed.model, attempts, opened[-1].notes)
            try:
                delta = first
                if not delta.done:
                    yield delta
                    with _redacting(opened[-1].creds):
                        while True:
                            try:  # the deadline covers the whole stream; no yield inside the timeout
                                async with asyncio.timeout_at(deadline):
                                    delta = await anext(stream)
                            except StopAsyncIteration:
                                break
                            except TimeoutError:
                                raise self._deadline_error(model, seconds) from None
                            if delta.done:
                                break
                            yield checked(delta)
                if delta.done:
                    costed = self._costed(observed.model, delta.usage)
                    yield dataclasses.replace(delta, metadata={**(delta.metadata or {}), **meta, **costed})
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
                result, _ = await self._fallbacks([(model, ref.provider)], call)
                return result

        with self._observed("embed", ref.provider, model):
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

        with self._observed("list_models", spec.id, ""):
            rows, _ = await self._fallbacks([(spec.id, spec.id)], call, cooldowns=False, max_retries=retries)
        if spec.id == "openrouter":
            self.catalog.record_listing(spec.id, rows)
        return rows

    async def refresh_catalog(self, provider: str) -> list[ModelInfo]:
        """What ``provider``'s model list reports, as catalog entries, merged into this client's catalog.

        The caller keeps them (``SecretStore.save_catalog``) so later clients start with them."""
        rows = await self.list_models(provider)
        infos = [info for row in rows if (info := info_from_listing(provider, row)) is not None]
        self.catalog.merge(infos)
        return infos

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
