"""Retry policy functions, with_retries with a fake sleep, cooldowns and the fallback runner."""

from __future__ import annotations

import pytest

from providers.errors import (
    AllModelsFailed,
    AuthError,
    CorruptResponse,
    MalformedResponse,
    MissingCredentials,
    ProviderStatusError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from providers.reliability import (
    CORRUPT_RETRIES,
    INITIAL_RETRY_DELAY,
    MAX_RETRIES,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    RETRY_JITTER,
    Cooldowns,
    ProviderObserver,
    retry_delay,
    run_fallbacks,
    should_retry,
    should_retry_corrupt,
    with_retries,
)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RateLimited("x", retry_after=1.0), True),
        (ProviderUnavailable("x", status=503), True),
        (ProviderTimeout("x"), True),
        (ProviderStatusError("x", status=408), True),
        (ProviderStatusError("x", status=409), True),
        (ProviderStatusError("x", status=400), False),
        (AuthError("x", status=401), False),
        (MissingCredentials("x"), False),
        (MalformedResponse("x"), False),
        (ValueError("x"), False),
    ],
)
def test_should_retry(exc, expected):
    assert should_retry(exc) is expected


def test_retry_delay_backs_off_exponentially_with_jitter_and_cap():
    assert retry_delay(0, rand=lambda: 0.0) == INITIAL_RETRY_DELAY
    assert retry_delay(1, rand=lambda: 0.0) == INITIAL_RETRY_DELAY * 2
    assert retry_delay(2, rand=lambda: 1.0) == pytest.approx(INITIAL_RETRY_DELAY * 4 * (1 - RETRY_JITTER))
    assert retry_delay(30, rand=lambda: 0.0) == MAX_RETRY_DELAY


def test_retry_delay_honours_retry_after_up_to_a_cap():
    assert retry_delay(0, 3.0, rand=lambda: 0.5) == 3.0
    assert retry_delay(5, 0.0) == 0.0
    assert retry_delay(0, 10_000.0) == MAX_RETRY_AFTER


class FakeSleep:
    def __init__(self):
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def failing(*errors, result="ok"):
    queue = list(errors)
    calls = []

    async def fn():
        calls.append(1)
        if queue:
            raise queue.pop(0)
        return result

    return fn, calls


@pytest.mark.anyio
async def test_with_retries_waits_retry_after_then_succeeds():
    sleep = FakeSleep()
    fn, calls = failing(RateLimited("slow down", retry_after=7.0), ProviderUnavailable("down", status=502))
    assert await with_retries(fn, sleep=sleep, rand=lambda: 0.0) == "ok"
    assert len(calls) == 3
    assert sleep.delays == [7.0, INITIAL_RETRY_DELAY * 2]


@pytest.mark.anyio
async def test_with_retries_gives_up_after_max_retries():
    sleep = FakeSleep()
    fn, calls = failing(*[ProviderUnavailable("down", status=503)] * 5)
    with pytest.raises(ProviderUnavailable):
        await with_retries(fn, sleep=sleep)
    assert len(calls) == MAX_RETRIES + 1 and len(sleep.delays) == MAX_RETRIES


@pytest.mark.anyio
async def test_with_retries_does_not_retry_auth_errors():
    sleep = FakeSleep()
    fn, calls = failing(AuthError("bad key", status=401))
    with pytest.raises(AuthError):
        await with_retries(fn, sleep=sleep)
    assert len(calls) == 1 and sleep.delays == []


def test_cooldown_after_threshold_and_expiry():
    now = [0.0]
    cd = Cooldowns(threshold=2, seconds=30, clock=lambda: now[0])
    cd.record_failure("groq")
    assert not cd.is_cooling("groq")
    cd.record_failure("groq")
    assert cd.is_cooling("groq") and cd.remaining("groq") == 30
    now[0] = 31
    assert not cd.is_cooling("groq")
    cd.record_failure("groq")  # one more failure after a cooldown re-arms it at once
    assert cd.is_cooling("groq")
    cd.record_success("groq")
    assert not cd.is_cooling("groq")


@pytest.mark.anyio
async def test_fallback_records_each_failure_and_returns_first_success():
    seen = []

    async def call(model):
        seen.append(model)
        if model == "openai/gpt-4o":
            raise AuthError("bad key", status=401)
        return f"answer from {model}"

    result, attempts = await run_fallbacks(
        [("openai/gpt-4o", "openai"), ("groq/llama", "groq")], call, sleep=FakeSleep()
    )
    assert result == "answer from groq/llama"
    assert [(a.model, a.reason.split(":")[0]) for a in attempts] == [("openai/gpt-4o", "AuthError")]


@pytest.mark.anyio
async def test_all_models_failed_lists_every_attempt():
    async def call(model):
        raise ProviderUnavailable(f"{model} down", status=503)

    with pytest.raises(AllModelsFailed) as info:
        await run_fallbacks([("a/1", "a"), ("b/2", "b")], call, sleep=FakeSleep())
    assert [m for m, _ in info.value.attempts] == ["a/1", "b/2"]
    assert "a/1 down" in info.value.attempts[0][1]


@pytest.mark.anyio
async def test_single_model_reraises_its_own_error():
    async def call(model):
        raise MissingCredentials("set XAI_API_KEY", env_var="XAI_API_KEY")

    with pytest.raises(MissingCredentials):
        await run_fallbacks([("xai/grok-4", "xai")], call, sleep=FakeSleep())


@pytest.mark.anyio
async def test_cooling_provider_is_skipped_even_as_the_only_model():
    cd = Cooldowns(threshold=1, seconds=60, clock=lambda: 0.0)
    calls = []

    async def call(model):
        calls.append(model)
        raise ProviderTimeout("slow")

    with pytest.raises(ProviderTimeout):
        await run_fallbacks([("groq/x", "groq")], call, cooldowns=cd, sleep=FakeSleep(), max_retries=0)
    with pytest.raises(AllModelsFailed, match="cooling down"):
        await run_fallbacks([("groq/x", "groq")], call, cooldowns=cd, sleep=FakeSleep(), max_retries=0)
    assert calls == ["groq/x"]  # the second run made no call


# -- damaged bodies (CorruptResponse): a budget of their own ------------------------------------------


def test_only_corrupt_bodies_get_the_corrupt_retry():
    assert should_retry_corrupt(CorruptResponse("cut short")) is True
    assert should_retry_corrupt(MalformedResponse("no choices")) is False
    assert should_retry(CorruptResponse("cut short")) is False  # not a transient failure: no cooldown count


@pytest.mark.anyio
async def test_corrupt_body_is_retried_once_then_raised():
    sleep = FakeSleep()
    fn, calls = failing(*[CorruptResponse("truncated")] * 3)
    with pytest.raises(CorruptResponse):
        await with_retries(fn, sleep=sleep, rand=lambda: 0.0)
    assert len(calls) == CORRUPT_RETRIES + 1 and sleep.delays == [INITIAL_RETRY_DELAY]


@pytest.mark.anyio
async def test_corrupt_budget_is_separate_from_the_transient_one():
    sleep = FakeSleep()
    errors = [ProviderUnavailable("down", status=503)] * MAX_RETRIES + [CorruptResponse("truncated")]
    fn, calls = failing(*errors)
    assert await with_retries(fn, sleep=sleep) == "ok"
    assert len(calls) == MAX_RETRIES + CORRUPT_RETRIES + 1


@pytest.mark.anyio
async def test_no_retries_means_no_corrupt_retry_either():
    fn, calls = failing(CorruptResponse("truncated"))
    with pytest.raises(CorruptResponse):
        await with_retries(fn, sleep=FakeSleep(), max_retries=0)
    assert len(calls) == 1


# -- observer -----------------------------------------------------------------------------------------


class RecordingObserver(ProviderObserver):
    def __init__(self):
        self.events: list[tuple] = []

    def on_call(self, provider, model, kind, outcome, seconds):
        self.events.append(("call", provider, model, kind, outcome))

    def on_retry(self, provider, attempt, delay, reason):
        self.events.append(("retry", provider, attempt, delay, reason))

    def on_fallback(self, from_model, to_model, reason):
        self.events.append(("fallback", from_model, to_model, reason.split(":")[0]))

    def on_cooldown(self, provider):
        self.events.append(("cooldown", provider))


@pytest.mark.anyio
async def test_observer_hears_retries_fallbacks_and_a_cooldown_starting():
    observer = RecordingObserver()
    cd = Cooldowns(threshold=1, seconds=60, clock=lambda: 0.0)

    async def call(model):
        if model.startswith("a/"):
            raise RateLimited("slow", retry_after=3.0)
        return model

    chain = [("a/1", "a"), ("a/2", "a"), ("b/3", "b")]
    result, attempts = await run_fallbacks(
        chain, call, cooldowns=cd, sleep=FakeSleep(), max_retries=1, observer=observer
    )
    assert result == "b/3" and [a.model for a in attempts] == ["a/1", "a/2"]
    assert observer.events == [
        ("retry", "a", 1, 3.0, "RateLimited"),
        ("cooldown", "a"),
        ("fallback", "a/1", "a/2", "RateLimited"),  # a/2 is then skipped: its provider is cooling down
        ("fallback", "a/2", "b/3", "a is cooling down after repeated failures (60s left)"),
    ]


def test_record_failure_says_when_a_cooldown_starts_not_while_it_runs():
    cd = Cooldowns(threshold=2, seconds=30, clock=lambda: 0.0)
    assert [cd.record_failure("groq") for _ in range(4)] == [False, True, False, False]
