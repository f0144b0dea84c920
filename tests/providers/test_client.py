"""ProviderClient behaviour across providers: fallbacks, cooldowns, credentials, status, and no key leaks."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

from providers import (
    AllModelsFailed,
    AuthError,
    CorruptResponse,
    Keys,
    Message,
    MissingCredentials,
    ProviderClient,
    ProviderError,
    SecretStore,
    UnknownProvider,
)
from providers.reliability import CORRUPT_RETRIES, Cooldowns, ProviderObserver

OPENAI_KEY = "sk-openai-FAKE-SECRET-aaaa1111"
GROQ_KEY = "gsk-groq-FAKE-SECRET-bbbb2222"
OPENAI = "https://api.openai.com/v1"
GROQ = "https://api.groq.com/openai/v1"


class FakeSleep:
    def __init__(self):
        self.delays = []

    async def __call__(self, seconds):
        self.delays.append(seconds)


def completion(text, model):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def client(env=None, store=None, **kw):
    env = {"OPENAI_API_KEY": OPENAI_KEY, "GROQ_API_KEY": GROQ_KEY} if env is None else env
    kw.setdefault("sleep", FakeSleep())
    return ProviderClient(Keys(store, env), http=httpx.AsyncClient(), **kw)


@pytest.mark.anyio
@respx.mock
async def test_fallback_when_first_model_returns_503():
    respx.post(f"{OPENAI}/chat/completions").respond(503, json={"error": {"message": "overloaded"}})
    groq = respx.post(f"{GROQ}/chat/completions").respond(200, json=completion("from groq", "llama"))
    c = client()
    result = await c.chat("openai/gpt-4o", [Message("user", "hi")], fallbacks=["groq/llama-3.3-70b-versatile"])
    assert result.text == "from groq" and result.provider == "groq"
    assert result.metadata["requested_model"] == "openai/gpt-4o"
    assert result.metadata["model_used"] == "groq/llama-3.3-70b-versatile"
    [taken] = result.metadata["fallbacks"]
    assert taken["model"] == "openai/gpt-4o" and "503" in taken["reason"]
    assert groq.call_count == 1


@pytest.mark.anyio
@respx.mock
async def test_no_fallbacks_taken_is_recorded_as_empty():
    respx.post(f"{OPENAI}/chat/completions").respond(200, json=completion("ok", "gpt-4o"))
    result = await client().chat("openai/gpt-4o", [{"role": "user", "content": "hi"}])
    assert result.metadata["fallbacks"] == [] and "thinking_note" not in result.metadata


@pytest.mark.anyio
@respx.mock
async def test_missing_credentials_fall_through_the_chain_and_are_reported():
    respx.post(f"{GROQ}/chat/completions").respond(200, json=completion("groq", "llama"))
    c = client(env={"GROQ_API_KEY": GROQ_KEY})
    result = await c.chat("xai/grok-3", [Message("user", "hi")], fallbacks=["groq/llama-3.3-70b-versatile"])
    assert "XAI_API_KEY" in result.metadata["fallbacks"][0]["reason"]
    with pytest.raises(MissingCredentials) as info:
        await c.chat("anthropic/claude-sonnet-4", [Message("user", "hi")])
    assert "ANTHROPIC_API_KEY" in str(info.value) and "Settings -> Providers" in str(info.value)


@pytest.mark.anyio
@respx.mock
async def test_all_models_failed_carries_each_reason():
    respx.post(f"{OPENAI}/chat/completions").respond(401, json={"error": {"message": "bad key"}})
    respx.post(f"{GROQ}/chat/completions").respond(500, json={"error": {"message": "boom"}})
    with pytest.raises(AllModelsFailed) as info:
        await client().chat("openai/gpt-4o", [Message("user", "hi")], fallbacks=["groq/x"])
    assert [m for m, _ in info.value.attempts] == ["openai/gpt-4o", "groq/x"]
    assert "AuthError" in info.value.attempts[0][1] and "boom" in info.value.attempts[1][1]


@pytest.mark.anyio
@respx.mock
async def test_cooldown_skips_a_failing_provider_without_calling_it():
    now = [0.0]
    failing = respx.post(f"{GROQ}/chat/completions").respond(503, json={"error": {"message": "down"}})
    respx.post(f"{OPENAI}/chat/completions").respond(200, json=completion("openai", "gpt-4o"))
    c = client(cooldowns=Cooldowns(threshold=2, seconds=60, clock=lambda: now[0]), max_retries=0)
    for _ in range(2):
        await c.chat("groq/x", [Message("user", "hi")], fallbacks=["openai/gpt-4o"])
    assert failing.call_count == 2
    result = await c.chat("groq/x", [Message("user", "hi")], fallbacks=["openai/gpt-4o"])
    assert failing.call_count == 2 and "cooling down" in result.metadata["fallbacks"][0]["reason"]
    with pytest.raises(AllModelsFailed, match="cooling down"):
        await c.chat("groq/x", [Message("user", "hi")])
    now[0] = 61
    await c.chat("groq/x", [Message("user", "hi")], fallbacks=["openai/gpt-4o"])
    assert failing.call_count == 3  # tried again once the cooldown is over


@pytest.mark.anyio
async def test_unknown_and_unsupported_are_clear_errors():
    c = client()
    with pytest.raises(UnknownProvider, match="openrouter"):
        await c.chat("nope/x", [Message("user", "hi")])
    with pytest.raises(ProviderError, match="no embeddings API"):
        await c.embed("groq/whatever", ["a"])
    assert (await c.embed("openai/text-embedding-3-small", [])).vectors == []


@pytest.mark.anyio
@respx.mock
async def test_alias_is_resolved_before_sending():
    route = respx.post("https://openrouter.ai/api/v1/chat/completions").respond(
        200, json=completion("ok", "anthropic/claude-sonnet-4")
    )
    c = client(env={"OPENROUTER_API_KEY": "sk-or-v1-FAKE-00000000"})
    await c.chat("openrouter/anthropic/claude-sonnet-4", [Message("user", "hi")])
    assert json.loads(route.calls.last.request.content)["model"] == "anthropic/claude-sonnet-4"  # passthrough


def test_providers_status_lists_builtins_and_customs_masked(tmp_path):
    with SecretStore(tmp_path / "s.db", encryption_key="status-encryption-key-000000") as store:
        store.set_key("anthropic", "sk-ant-FAKE-SECRET-zzzz9999")
        store.add_custom_provider("box", "http://127.0.0.1:9/v1")
        status = {i.provider: i for i in client(store=store).providers_status()}
    assert status["anthropic"].source == "stored" and status["anthropic"].masked == "…9999"
    assert status["openai"].source == "env" and status["openai"].masked == "…1111"
    assert status["xai"].source == "none" and status["xai"].env_var == "XAI_API_KEY"
    assert "custom-box" in status and status["bedrock"].missing_settings == ("AWS_REGION or AWS_DEFAULT_REGION",)
    assert all("SECRET" not in repr(i) for i in status.values())


@pytest.mark.anyio
@respx.mock
async def test_fake_key_never_appears_in_logs_or_errors(caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    # a hostile provider that echoes the key back in its error body
    respx.post(f"{OPENAI}/chat/completions").respond(
        401, json={"error": {"message": f"Incorrect API key provided: {OPENAI_KEY}"}}
    )
    respx.post(f"{GROQ}/chat/completions").respond(
        429, headers={"retry-after": "1"}, json={"error": {"message": f"key {GROQ_KEY} is limited"}}
    )
    respx.get(f"{OPENAI}/models").respond(500, text=f"internal error for {OPENAI_KEY}")
    respx.post(f"{OPENAI}/embeddings").mock(side_effect=httpx.ConnectError("refused"))
    c = client()
    errors: list[BaseException] = []
    for call in (
        lambda: c.chat("openai/gpt-4o", [Message("user", "hi")]),
        lambda: c.chat("groq/x", [Message("user", "hi")], fallbacks=["openai/gpt-4o"]),
        lambda: c.list_models("openai"),
        lambda: c.embed("openai/text-embedding-3-small", ["a"]),
        lambda: c.chat("xai/grok-3", [Message("user", "hi")]),
    ):
        with pytest.raises(ProviderError) as info:
            await call()
        errors.append(info.value)
    ok, message = await c.test_provider("openai")
    assert not ok
    text = (
        caplog.text
        + message
        + " ".join(f"{e} {e!r} {getattr(e, 'body', '')} {getattr(e, 'attempts', '')}" for e in errors)
    )
    assert isinstance(errors[0], AuthError)
    for secret in (OPENAI_KEY, GROQ_KEY):
        assert secret not in text
    assert "***" in str(errors[0])  # the echoed key was scrubbed, the rest of the message kept


XAI_KEY = "xai-FAKE-SECRET-cccc3333"
XAI = "https://api.x.ai/v1"


class RecordingObserver(ProviderObserver):
    def __init__(self):
        self.events = []

    def on_call(self, provider, model, kind, outcome, seconds):
        assert seconds >= 0
        self.events.append(("call", provider, model, kind, outcome))

    def on_retry(self, provider, attempt, delay, reason):
        self.events.append(("retry", provider, attempt, reason))

    def on_fallback(self, from_model, to_model, reason):
        self.events.append(("fallback", from_model, to_model, reason.split(":")[0]))

    def on_cooldown(self, provider):
        self.events.append(("cooldown", provider))


def sse_stream(*texts):
    chunks = [{"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]} for t in texts]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())


def embeddings(n):
    return {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": i, "embedding": [float(i), 1.0]} for i in range(n)],
        "usage": {"prompt_tokens": n, "total_tokens": n},
    }


# -- a damaged body is retried once --------------------------------------------------------------------


@pytest.mark.anyio
@respx.mock
async def test_truncated_json_embedding_answer_is_retried_once():
    whole = json.dumps(embeddings(2)).encode()
    route = respx.post(f"{OPENAI}/embeddings")
    route.side_effect = [
        httpx.Response(200, headers={"content-type": "application/json"}, content=whole[: len(whole) // 2]),
        httpx.Response(200, json=embeddings(2)),
    ]
    sleep = FakeSleep()
    result = await client(sleep=sleep).embed("openai/text-embedding-3-small", ["a", "b"])
    assert result.vectors == [[0.0, 1.0], [1.0, 1.0]]
    assert route.call_count == 2 and len(sleep.delays) == 1


@pytest.mark.anyio
@respx.mock
async def test_a_body_that_stays_corrupt_fails_after_one_retry():
    route = respx.post(f"{OPENAI}/embeddings").respond(
        200, headers={"content-type": "application/json"}, content=b'{"data": [{"embedd'
    )
    with pytest.raises(CorruptResponse, match="not valid JSON"):
        await client().embed("openai/text-embedding-3-small", ["a"])
    assert route.call_count == CORRUPT_RETRIES + 1


# -- observer ------------------------------------------------------------------------------------------


@pytest.mark.anyio
@respx.mock
async def test_observer_hears_retries_fallbacks_and_whole_calls():
    respx.post(f"{OPENAI}/chat/completions").respond(503, json={"error": {"message": "overloaded"}})
    respx.post(f"{GROQ}/chat/completions").respond(200, json=completion("from groq", "llama"))
    observer = RecordingObserver()
    c = client(observer=observer, max_retries=1)
    await c.chat("openai/gpt-4o", [Message("user", "hi")], fallbacks=["groq/llama-3.3-70b-versatile"])
    assert observer.events == [
        ("retry", "openai", 1, "ProviderUnavailable"),
        ("fallback", "openai/gpt-4o", "groq/llama-3.3-70b-versatile", "ProviderUnavailable"),
        ("call", "groq", "groq/llama-3.3-70b-versatile", "chat", "ok"),
    ]
    observer.events.clear()
    with pytest.raises(MissingCredentials):
        await c.chat("xai/grok-3", [Message("user", "hi")])
    assert observer.events == [("call", "xai", "xai/grok-3", "chat", "MissingCredentials")]


@pytest.mark.anyio
@respx.mock
async def test_a_stream_closed_early_is_reported_closed_not_failed():
    respx.post(f"{OPENAI}/chat/completions").mock(return_value=sse_stream("a", "b", "c"))
    observer = RecordingObserver()
    stream = client(observer=observer).stream_chat("openai/gpt-4o", [Message("user", "hi")])
    assert (await anext(stream)).text == "a"
    await stream.aclose()
    assert observer.events == [("call", "openai", "openai/gpt-4o", "stream", "closed")]


# -- streamed answers carry metadata on their last piece ----------------------------------------------------


@pytest.mark.anyio
@respx.mock
async def test_stream_last_piece_carries_fallbacks_and_thinking_note():
    respx.post(f"{OPENAI}/chat/completions").mock(return_value=sse_stream("Hel", "lo"))
    observer = RecordingObserver()
    c = client(observer=observer)  # no XAI_API_KEY: the first model falls through at once
    deltas = [
        d
        async for d in c.stream_chat(
            "xai/grok-3", [Message("user", "hi")], thinking_level="high", fallbacks=["openai/gpt-4o"]
        )
    ]
    assert "".join(d.text for d in deltas) == "Hello"
    assert all(d.metadata is None for d in deltas[:-1])
    last = deltas[-1]
    assert last.done and last.finish_reason == "stop"
    assert last.metadata["requested_model"] == "xai/grok-3"
    assert last.metadata["model_used"] == "openai/gpt-4o"
    [taken] = last.metadata["fallbacks"]
    assert taken["model"] == "xai/grok-3" and "XAI_API_KEY" in taken["reason"]
    assert "openai/gpt-4o cannot think" in last.metadata["thinking_note"]
    assert observer.events[-1] == ("call", "openai", "openai/gpt-4o", "stream", "ok")


# -- per-model effort limits ---------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "level", "sent", "noted"),
    [
        ("grok-3-mini", "medium", "high", True),  # accepts low/high only; a tie goes up
        ("grok-3-mini", "low", "low", False),
        ("grok-3-mini", "high", "high", False),
        ("grok-4", "high", None, True),  # reasons at its own effort; reasoning_effort is a 400
    ],
)
@respx.mock
async def test_effort_is_mapped_to_a_level_the_model_accepts(model, level, sent, noted):
    route = respx.post(f"{XAI}/chat/completions").respond(200, json=completion("ok", model))
    c = client(env={"XAI_API_KEY": XAI_KEY})
    result = await c.chat(f"xai/{model}", [Message("user", "hi")], thinking_level=level)
    assert json.loads(route.calls.last.request.content).get("reasoning_effort") == sent
    assert ("effort_note" in result.metadata) is noted
    if noted:
        assert level in result.metadata["effort_note"] and f"xai/{model}" in result.metadata["effort_note"]
    assert result.thinking_applied is True and "thinking_note" not in result.metadata


@pytest.mark.anyio
@respx.mock
async def test_a_dead_model_with_a_working_fallback_on_the_same_provider_is_cooled_down():
    """Issue 15: the fallback's success reset the provider's count, so the dead model got 15 of 20 requests."""

    def answer(request):
        model = json.loads(request.content)["model"]
        if model == "gpt-dead":
            return httpx.Response(500, json={"error": {"message": "model is broken"}})
        return httpx.Response(200, json=completion("fine", model))

    route = respx.post(f"{OPENAI}/chat/completions").mock(side_effect=answer)
    c = client(cooldowns=Cooldowns(clock=lambda: 0.0))
    dead_requests = []
    for _ in range(5):
        before = sum(json.loads(call.request.content)["model"] == "gpt-dead" for call in route.calls)
        result = await c.chat("openai/gpt-dead", [Message("user", "hi")], fallbacks=["openai/gpt-4o-mini"])
        after = sum(json.loads(call.request.content)["model"] == "gpt-dead" for call in route.calls)
        dead_requests.append(after - before)
        assert result.text == "fine" and result.metadata["model_used"] == "openai/gpt-4o-mini"
    assert dead_requests == [3, 3, 3, 0, 0]  # 1 + 2 retries until the model's own cooldown starts
    assert "openai/gpt-dead is cooling down" in result.metadata["fallbacks"][0]["reason"]
    assert not c.cooldowns.is_cooling("openai")  # the provider itself answers: it is not cooled down
