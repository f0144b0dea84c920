"""Retries, per-provider cooldowns and fallback chains: reliability lives above the adapters.

* ``should_retry(exc)``, ``should_retry_corrupt(exc)`` and
  ``retry_delay(attempt, retry_after)`` are the whole retry policy, as plain
  functions so they are tested directly.
* ``with_retries(fn)`` runs one call under that policy (``sleep`` injectable):
  up to MAX_RETRIES for transient failures, plus CORRUPT_RETRIES for a body
  that arrived damaged.
* ``Cooldowns`` skips a provider, and separately a model, for a while after
  repeated failures, so a dead provider costs one fast "cooling down" instead
  of a timeout per call, even when it is the only model in the chain. Models
  are counted apart from their provider because a fallback on the same
  provider that works resets the provider's count: without a count of its own
  a dead model in front of it would be tried on every call.
* ``run_fallbacks`` tries models in order, recording ``(model, reason)`` for each
  failure, and raises AllModelsFailed with all of them when none succeeds.
* ``ProviderObserver`` is the public hook for metrics and tracing: retries,
  fallbacks, cooldowns (from here) and whole calls (from ``ProviderClient``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from providers.errors import (
    AllModelsFailed,
    CorruptResponse,
    DeadlineExceeded,
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderUnavailable,
    RateLimited,
)
from providers.types import Usage

log = logging.getLogger(__name__)
T = TypeVar("T")

#: retries after the first attempt; two absorb a blip without tripling a real outage's latency
MAX_RETRIES = 2
#: first backoff; doubles each retry
INITIAL_RETRY_DELAY = 0.5
#: no computed backoff waits longer than this
MAX_RETRY_DELAY = 8.0
#: a server's Retry-After is honoured up to this; longer means "not now": fail over instead of hanging
MAX_RETRY_AFTER = 30.0
#: backoff is reduced by up to this fraction at random so many clients do not retry in lockstep
RETRY_JITTER = 0.25
#: statuses worth retrying besides 429/5xx: request timeout and lock conflicts are transient
RETRYABLE_STATUSES = frozenset({408, 409})
#: retries of a 2xx body labelled JSON that does not parse (CorruptResponse), counted apart from MAX_RETRIES.
#: Such a body is nearly always a transfer cut short or mangled by a proxy, which a second request fixes, and
#: without a retry one bad batch stops a whole reindex; but a server that keeps answering garbage is broken,
#: so one retry, not the transient budget (it neither uses up the retries a 429 needs nor is multiplied by them).
CORRUPT_RETRIES = 1

#: consecutive failed calls (after retries) that put a provider in cooldown
COOLDOWN_FAILURE_THRESHOLD = 3
#: how long a provider in cooldown is skipped
COOLDOWN_SECONDS = 60.0


def should_retry(exc: BaseException) -> bool:
    """Transient failures (connection, timeout, 429, 5xx, 408/409) are retried; the rest are not.

    A spent deadline is not transient: the time a retry would need is what ran out."""
    if isinstance(exc, DeadlineExceeded):
        return False
    if isinstance(exc, RateLimited | ProviderUnavailable | ProviderConnectionError):
        return True
    return isinstance(exc, ProviderStatusError) and exc.status in RETRYABLE_STATUSES


def should_retry_corrupt(exc: BaseException) -> bool:
    """A body labelled JSON that does not parse arrived damaged; it gets CORRUPT_RETRIES of its own."""
    return isinstance(exc, CorruptResponse)


def retry_delay(attempt: int, retry_after: float | None = None, *, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    A server's Retry-After wins (capped at MAX_RETRY_AFTER); otherwise
    exponential backoff from INITIAL_RETRY_DELAY, capped at MAX_RETRY_DELAY,
    minus up to RETRY_JITTER of itself.
    """
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, MAX_RETRY_AFTER)
    backoff = min(INITIAL_RETRY_DELAY * (2**attempt), MAX_RETRY_DELAY)
    return backoff * (1.0 - RETRY_JITTER * rand())


async def with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    max_retries: int = MAX_RETRIES,
    corrupt_retries: int = CORRUPT_RETRIES,
    rand: Callable[[], float] = random.random,
    on_retry: Callable[[int, float, ProviderError], None] | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``fn`` until it succeeds, a non-retryable error occurs, or retries run out.

    Transient failures get ``max_retries``; damaged bodies get ``corrupt_retries``
    on top. A caller that asks for no retries at all (``max_retries=0``, e.g. a
    connection test) gets none of either kind. ``on_retry(retry_number, delay,
    error)`` is called before each wait (retry numbers start at 1).

    ``deadline`` (a ``clock()`` reading) bounds the waits: a retry whose
    backoff would end past it is not waited for; DeadlineExceeded is raised at
    once, from the error that would have been retried.
    """
    transient = corrupt = 0
    while True:
        try:
            return await fn()
        except ProviderError as exc:
            if should_retry(exc) and transient < max_retries:
                transient += 1
            elif should_retry_corrupt(exc) and corrupt < min(corrupt_retries, max_retries):
                corrupt += 1
            else:
                raise
            retry_number = transient + corrupt
            delay = retry_delay(retry_number - 1, getattr(exc, "retry_after", None), rand=rand)
            if deadline is not None and clock() + delay >= deadline:
                raise DeadlineExceeded(
                    f"gave up on {exc.provider or 'the provider'} after {type(exc).__name__}: the retry would "
                    f"start {delay:.1f} s from now, past this call's deadline (which covers retries and "
                    f"backoff). Last error: {exc.message}",
                    provider=exc.provider,
                    model=exc.model,
                ) from exc
            log.debug(
                "retrying after %s (%s), attempt %d, waiting %.2fs",
                type(exc).__name__,
                exc.provider,
                retry_number,
                delay,
            )
            if on_retry is not None:
                on_retry(retry_number, delay, exc)
            await sleep(delay)


class Cooldowns:
    """Failure counts per key (a provider id or a ``provider/model`` string); a key with too many
    consecutive failures is skipped for a while."""

    def __init__(
        self,
        *,
        threshold: int = COOLDOWN_FAILURE_THRESHOLD,
        seconds: float = COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.seconds = seconds
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._until: dict[str, float] = {}

    def record_failure(self, provider: str) -> bool:
        """Count a failed call; True when this failure starts a cooldown (not when one is running already)."""
        cooling = self.is_cooling(provider)
        count = self._failures.get(provider, 0) + 1
        self._failures[provider] = count
        if count >= self.threshold:
            self._until[provider] = self._clock() + self.seconds
            log.debug("provider %s cooling down for %.0fs after %d failures", provider, self.seconds, count)
            return not cooling
        return False

    def record_success(self, provider: str) -> None:
        self._failures.pop(provider, None)
        self._until.pop(provider, None)

    def remaining(self, provider: str) -> float:
        """Seconds left in ``provider``'s cooldown, 0 when it may be called."""
        until = self._until.get(provider)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:  # cooled down: give it a fresh start, one more failure re-arms it
            self._until.pop(provider, None)
            self._failures[provider] = self.threshold - 1
            return 0.0
        return left

    def is_cooling(self, provider: str) -> bool:
        return self.remaining(provider) > 0


CallKind = Literal["chat", "stream", "embed", "list_models"]
#: ``on_call`` outcome of a call that answered
OUTCOME_OK = "ok"
#: ``on_call`` outcome of a call its caller gave up on (a stream closed early, a cancelled task): not a failure
OUTCOME_CLOSED = "closed"


class ProviderObserver(Protocol):
    """Hooks for metrics and tracing; pass one as ``ProviderClient(..., observer=...)``.

    Subclass it and override what you need (every method is a no-op here).
    Hooks run inline on the event loop, so they must be quick and must not
    raise. No argument ever carries a key: providers are registry ids, models
    are ``provider/model`` strings, reasons are error class names or the
    fallback reason recorded in a result's metadata.
    """

    def on_call(self, provider: str, model: str, kind: CallKind, outcome: str, seconds: float) -> None:
        """One client call ended (after its retries and fallbacks): ``outcome`` is OUTCOME_OK,
        OUTCOME_CLOSED or the error class name; ``provider``/``model`` are the model that answered, or the
        requested one when none did (``model`` is "" for a model listing)."""

    def on_retry(self, provider: str, attempt: int, delay: float, reason: str) -> None:
        """A call to ``provider`` will be retried (``attempt`` from 1) after ``delay`` s; ``reason`` is the
        error class name."""

    def on_fallback(self, from_model: str, to_model: str, reason: str) -> None:
        """A fallback chain gave up on ``from_model`` (``reason`` as in metadata) and tries ``to_model``."""

    def on_cooldown(self, provider: str) -> None:
        """``provider`` failed often enough in a row to be skipped for a while."""

    def on_usage(self, provider: str, model: str, usage: Usage, cost_usd: float | None) -> None:
        """A chat or stream that answered used ``usage`` tokens of ``model`` (``provider/model``), costing
        ``cost_usd`` at the catalog's prices (None when the catalog has no price for it)."""

    def on_model_cooldown(self, provider: str, model: str) -> None:
        """``model`` (``provider/model``) failed often enough in a row to be skipped for a while, though
        other models of ``provider`` may still answer."""


@dataclass(frozen=True, slots=True)
class Attempt:
    model: str
    reason: str


def _cooling(cooldowns: Cooldowns | None, provider: str, model: str) -> str | None:
    """Why ``model`` is skipped now (its provider or the model itself is cooling down), or None."""
    if cooldowns is None:
        return None
    for key in (provider, model):
        left = cooldowns.remaining(key)
        if left > 0:
            return f"{key} is cooling down after repeated failures ({left:.0f}s left)"
    return None


async def run_fallbacks(
    models: Sequence[tuple[str, str]],
    call: Callable[[str], Awaitable[T]],
    *,
    cooldowns: Cooldowns | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    max_retries: int = MAX_RETRIES,
    observer: ProviderObserver | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[T, list[Attempt]]:
    """Try each ``(model_string, provider_id)`` in order; return the first result and the failed attempts.

    Each model gets ``with_retries``. A model whose provider or which itself is
    in cooldown is skipped without a call. Transient failures count towards
    both the provider's and the model's cooldown; any
    provider error moves on to the next model. A chain of one model re-raises
    that model's own error; longer chains raise AllModelsFailed. ``observer``
    hears of each retry, each move to the next model and each cooldown started.
    ``deadline`` (a ``clock()`` reading) bounds the backoff waits (see
    ``with_retries``); DeadlineExceeded ends the whole chain.
    """
    attempts: list[Attempt] = []
    last_error: ProviderError | None = None
    for model, provider in models:
        if attempts and observer is not None:
            observer.on_fallback(attempts[-1].model, model, attempts[-1].reason)
        cooling = _cooling(cooldowns, provider, model)
        if cooling is not None:
            attempts.append(Attempt(model, cooling))
            continue
        on_retry = None
        if observer is not None:

            def on_retry(number: int, delay: float, exc: ProviderError, p: str = provider) -> None:
                observer.on_retry(p, number, delay, type(exc).__name__)

        try:
            result = await with_retries(
                lambda m=model: call(m),
                sleep=sleep,
                max_retries=max_retries,
                on_retry=on_retry,
                deadline=deadline,
                clock=clock,
            )
        except DeadlineExceeded:
            raise  # the time a fallback would need is what ran out
        except ProviderError as exc:
            last_error = exc
            if cooldowns is not None and should_retry(exc):
                if cooldowns.record_failure(provider) and observer is not None:
                    observer.on_cooldown(provider)
                if cooldowns.record_failure(model) and observer is not None:
                    observer.on_model_cooldown(provider, model)
            attempts.append(Attempt(model, f"{type(exc).__name__}: {exc.message}"))
            log.debug("model %s failed (%s), trying the next", model, type(exc).__name__)
            continue
        if cooldowns is not None:
            cooldowns.record_success(provider)
            cooldowns.record_success(model)
        return result, attempts
    if len(models) == 1 and last_error is not None:
        raise last_error  # one model, no chain: its own error (e.g. which env var to set) is the clearest
    summary = "; ".join(f"{a.model}: {a.reason}" for a in attempts)
    raise AllModelsFailed(
        f"every model failed: {summary}", attempts=[(a.model, a.reason) for a in attempts]
    ) from last_error
