"""Retries, per-provider cooldowns and fallback chains: reliability lives above the adapters.

* ``should_retry(exc)`` and ``retry_delay(attempt, retry_after)`` are the whole
  retry policy, as plain functions so they are tested directly.
* ``with_retries(fn)`` runs one call under that policy (``sleep`` injectable).
* ``Cooldowns`` skips a provider for a while after repeated failures, so a
  dead provider costs one fast "cooling down" instead of a timeout per call,
  even when it is the only model in the chain.
* ``run_fallbacks`` tries models in order, recording ``(model, reason)`` for each
  failure, and raises AllModelsFailed with all of them when none succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from providers.errors import (
    AllModelsFailed,
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderUnavailable,
    RateLimited,
)

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

#: consecutive failed calls (after retries) that put a provider in cooldown
COOLDOWN_FAILURE_THRESHOLD = 3
#: how long a provider in cooldown is skipped
COOLDOWN_SECONDS = 60.0


def should_retry(exc: BaseException) -> bool:
    """Transient failures (connection, timeout, 429, 5xx, 408/409) are retried; the rest are not."""
    if isinstance(exc, RateLimited | ProviderUnavailable | ProviderConnectionError):
        return True
    return isinstance(exc, ProviderStatusError) and exc.status in RETRYABLE_STATUSES


def retry_delay(
    attempt: int, retry_after: float | None = None, *, rand: Callable[[], float] = random.random
) -> float:
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
    rand: Callable[[], float] = random.random,
) -> T:
    """Call ``fn`` until it succeeds, a non-retryable error occurs, or retries run out."""
    attempt = 0
    while True:
        try:
            return await fn()
        except ProviderError as exc:
            if attempt >= max_retries or not should_retry(exc):
                raise
            delay = retry_delay(attempt, getattr(exc, "retry_after", None), rand=rand)
            log.debug(
                "retrying after %s (%s), attempt %d, waiting %.2fs",
                type(exc).__name__,
                exc.provider,
                attempt + 1,
                delay,
            )
            await sleep(delay)
            attempt += 1


class Cooldowns:
    """Per-provider failure counts; a provider with too many consecutive failures is skipped for a while."""

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

    def record_failure(self, provider: str) -> None:
        count = self._failures.get(provider, 0) + 1
        self._failures[provider] = count
        if count >= self.threshold:
            self._until[provider] = self._clock() + self.seconds
            log.debug("provider %s cooling down for %.0fs after %d failures", provider, self.seconds, count)

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


@dataclass(frozen=True, slots=True)
class Attempt:
    model: str
    reason: str


async def run_fallbacks(
    models: Sequence[tuple[str, str]],
    call: Callable[[str], Awaitable[T]],
    *,
    cooldowns: Cooldowns | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    max_retries: int = MAX_RETRIES,
) -> tuple[T, list[Attempt]]:
    """Try each ``(model_string, provider_id)`` in order; return the first result and the failed attempts.

    Each model gets ``with_retries``. A provider in cooldown is skipped without
    a call. Transient failures count towards the provider's cooldown; any
    provider error moves on to the next model. A chain of one model re-raises
    that model's own error; longer chains raise AllModelsFailed.
    """
    attempts: list[Attempt] = []
    last_error: ProviderError | None = None
    for model, provider in models:
        if cooldowns is not None and cooldowns.is_cooling(provider):
            left = cooldowns.remaining(provider)
            attempts.append(
                Attempt(model, f"{provider} is cooling down after repeated failures ({left:.0f}s left)")
            )
            continue
        try:
            result = await with_retries(lambda m=model: call(m), sleep=sleep, max_retries=max_retries)
        except ProviderError as exc:
            last_error = exc
            if cooldowns is not None and should_retry(exc):
                cooldowns.record_failure(provider)
            attempts.append(Attempt(model, f"{type(exc).__name__}: {exc.message}"))
            log.debug("model %s failed (%s), trying the next", model, type(exc).__name__)
            continue
        if cooldowns is not None:
            cooldowns.record_success(provider)
        return result, attempts
    if len(models) == 1 and last_error is not None:
        raise last_error  # one model, no chain: its own error (e.g. which env var to set) is the clearest
    summary = "; ".join(f"{a.model}: {a.reason}" for a in attempts)
    raise AllModelsFailed(
        f"every model failed: {summary}", attempts=[(a.model, a.reason) for a in attempts]
    ) from last_error
