"""OpenAI-compatible providers through ProviderClient, faked at the HTTP boundary with respx.

Response shapes follow OpenAI's API reference (chat completion object, chunk
object with ``stream_options.include_usage``, embeddings list, model list) and
OpenRouter's documented ``reasoning`` fields.
"""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from providers import (
    AuthError,
    Keys,
    MalformedResponse,
    Message,
    ProviderClient,
    ProviderTimeout,
    ProviderUnavailable,
    SecretStore,
)
from providers.reliability import INITIAL_RETRY_DELAY, MAX_RETRIES, Cooldowns
from providers.wire.openai_compat import openai_reasoning_effort, openrouter_reasoning

FAKE_KEY = "sk-fake-SECRET-key-0123456789"
CUSTOM_URL = "http://llm.internal:8080/v1"

ROWS = {
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "openai/gpt-4o-mini"),
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4o-mini"),
    "xai": ("https://api.x.ai/v1", "XAI_API_KEY", "grok-3"),
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY", "llama-3.3-70b-versatile"),
    "cerebras": ("https://api.cerebras.ai/v1", "CEREBRAS_API_KEY", "llama-3.3-70b"),
    "custom-box": (CUSTOM_URL, None, "llama3.3"),
}


def completion(text="Hello there.", model="gpt-4o-mini", **message_extra):
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, **message_extra},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 19,
            "completion_tokens": 10,
            "total_tokens": 29,
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def sse(*events):
    return "".join(f"data: {json.dumps(e) if not isinstance(e, str) else e}\n\n" for e in events)


def chunk(delta, finish=None):
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


# comment lines are skipped (OpenRouter sends these while a model warms up)
STREAM = ": OPENROUTER PROCESSING\n\n" + sse(
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    chunk({}, "stop"),
    {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
    },
    "[DONE]",
)


class FakeSleep:
    def __init__(self):
        self.delays = []

    async def __call__(self, seconds):
        self.delays.append(seconds)


@pytest.fixture
def sleep():
    return FakeSleep()


@pytest.fixture
def make_client(tmp_path, sleep):
    stores = []

    def make(provider, **kw):
        base, env_var, model = ROWS[provider]
        store = SecretStore(tmp_path / f"{provider}.db", encryption_key="compat-test-encryption-key-xyz")
        stores.append(store)
        env = {}
        if provider.startswith("custom-"):
            store.add_custom_provider(provider.removeprefix("custom-"), CUSTOM_URL, api_key=FAKE_KEY)
        else:
            env[env_var] = FAKE_KEY
        client = ProviderClient(
            Keys(store, env), http=httpx.AsyncClient(), sleep=sleep, cooldowns=Cooldowns(threshold=1000), **kw
        )
        return client, base, f"{provider}/{model}"

    yield make
    for store in stores:
        store.close()


PROVIDERS = list(ROWS)


@pytest.mark.anyio
@pytest.mark.parametrize("provider", PROVIDERS)
@respx.mock
async def test_chat_success(provider, make_client):
    client, base, model = make_client(provider)
    route = respx.post(f"{base}/chat/completions").respond(200, json=completion("Hi!", model=model))
    result = await client.chat(model, [Message("system", "be brief"), Message("user", "hello")], max_tokens=50)
    assert result.text == "Hi!" and result.provider == provider
    assert result.usage.input_tokens == 19 and result.usage.output_tokens == 10
    assert result.finish_reason == "stop"
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {FAKE_KEY}"
    body = json.loads(request.content)
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]
    assert body["model"] == model.split("/", 1)[1]
    assert body.get("max_completion_tokens" if provider == "openai" else "max_tokens") == 50
    assert "stream" not in body and "reasoning" not in body and "reasoning_effort" not in body
    if provider == "openrouter":
        assert request.headers["http-referer"] and request.headers["x-title"] == "qmdr"
    else:
        assert "http-referer" not in request.headers


@pytest.mark.anyio
@pytest.mark.parametrize("provider", PROVIDERS)
@respx.mock
async def test_streaming(provider, make_client):
    client, base, model = make_client(provider)
    route = respx.post(f"{base}/chat/completions").respond(
        200, text=STREAM, headers={"content-type": "text/event-stream"}
    )
    deltas = [d async for d in client.stream_chat(model, [Message("user", "hi")])]
    assert [d.text for d in deltas if d.text] == ["Hel", "lo"]
    assert deltas[-1].done and deltas[-1].finish_reason == "stop"
    assert deltas[-1].usage.input_tokens == 9 and deltas[-1].usage.output_tokens == 2
    body = json.loads(route.calls.last.request.content)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.anyio
@pytest.mark.parametrize("provider", PROVIDERS)
@respx.mock
async def test_401_is_auth_error_without_retry(provider, make_client, sleep):
    client, base, model = make_client(provider)
    route = respx.post(f"{base}/chat/completions").respond(
        401,
        json={
            "error": {
                "message": "Incorrect API key provided",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
    )
    with pytest.raises(AuthError) as info:
        await client.chat(model, [Message("user", "hi")])
    assert info.value.status == 401 and route.call_count == 1 and sleep.delays == []
    assert "Settings -> Providers" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("provider", PROVIDERS)
@respx.mock
async def test_429_retry_after_is_honoured(provider, make_client, sleep):
    client, base, model = make_client(provider)
    route = respx.post(f"{base}/chat/completions")
    route.side_effect = [
        httpx.Response(429, headers={"retry-after": "3"}, json={"error": {"message": "Rate limit reached"}}),
        httpx.Response(200, json=completion("after wait")),
    ]
    result = await client.chat(model, [Message("user", "hi")])
    assert result.text == "after wait"
    assert sleep.delays == [3.0] and route.call_count == 2


@pytest.mark.anyio
@pytest.mark.parametrize("provider", PROVIDERS)
@respx.mock
async def test_5xx_is_retried_then_raised(provider, make_client, sleep):
    client, base, model = make_client(provider)
    route = respx.post(f"{base}/chat/completions").respond(503, json={"error": {"message": "The server is overloaded"}})
    with pytest.raises(ProviderUnavailable) as info:
        await client.chat(model, [Message("user", "hi")])
    assert info.value.status == 503 and "overloaded" in str(info.value)
    assert route.call_count == MAX_RETRIES + 1 and len(sleep.delays) == MAX_RETRIES
    assert sleep.delays[0] <= INITIAL_RETRY_DELAY


@pytest.mark.anyio
@pytest.mark.parametrize("provider", PROVIDERS)
@respx.mock
async def test_timeout(provider, make_client):
    client, base, model = make_client(provider)
    route = respx.post(f"{base}/chat/completions").mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(ProviderTimeout, match=provider):
        await client.chat(model, [Message("user", "hi")])
    assert route.call_count == MAX_RETRIES + 1


@pytest.mark.anyio
@pytest.mark.parametrize("provider", PROVIDERS)
@respx.mock
async def test_malformed_json(provider, make_client, sleep):
    client, base, model = make_client(provider)
    route = respx.post(f"{base}/chat/completions").respond(200, text="<html>gateway hiccup</html>")
    with pytest.raises(MalformedResponse, match="not valid JSON"):
        await client.chat(model, [Message("user", "hi")])
    assert route.call_count == 1  # a broken body is not retried


@pytest.mark.anyio
@respx.mock
async def test_missing_choices_is_malformed(make_client):
    client, base, model = make_client("openai")
    respx.post(f"{base}/chat/completions").respond(200, json={"id": "x", "object": "chat.completion"})
    with pytest.raises(MalformedResponse, match="no choices"):
        await client.chat(model, [Message("user", "hi")])


@pytest.mark.anyio
@respx.mock
async def test_error_object_inside_a_200_is_surfaced(make_client, sleep):
    client, base, model = make_client("openrouter")
    route = respx.post(f"{base}/chat/completions")
    route.side_effect = [
        httpx.Response(200, json={"error": {"code": 502, "message": "upstream died"}}),
        httpx.Response(200, json=completion("ok")),
    ]
    assert (await client.chat(model, [Message("user", "hi")])).text == "ok"
    assert route.call_count == 2


@pytest.mark.anyio
@respx.mock
async def test_json_mode_and_temperature(make_client):
    client, base, model = make_client("groq")
    route = respx.post(f"{base}/chat/completions").respond(200, json=completion('{"a": 1}'))
    await client.chat(model, [Message("user", "json please")], json_output=True, temperature=0.2)
    body = json.loads(route.calls.last.request.content)
    assert body["response_format"] == {"type": "json_object"} and body["temperature"] == 0.2


@pytest.mark.parametrize(
    ("model", "level", "effort"),
    [
        ("o3", "high", "high"),
        ("gpt-5", "off", "minimal"),
        ("gpt-5-mini", "off", "minimal"),
        ("gpt-5.1", "off", "none"),
        ("o4-mini", "off", "low"),  # the o-series cannot stop reasoning: its lowest effort, noted
        ("gpt-4o", None, None),
        ("gpt-5", "low", "low"),
    ],
)
def test_openai_reasoning_effort_mapping(model, level, effort):
    assert openai_reasoning_effort(model, level) == effort


def test_openrouter_reasoning_mapping():
    assert openrouter_reasoning(None) is None
    assert openrouter_reasoning("off") == {"enabled": False}
    assert openrouter_reasoning("medium") == {"effort": "medium"}


@pytest.mark.anyio
@respx.mock
async def test_openai_thinking_sends_reasoning_effort_and_reads_reasoning_content(make_client):
    client, base, _ = make_client("openai")
    route = respx.post(f"{base}/chat/completions").respond(200, json=completion("42", reasoning_content="Let me add."))
    result = await client.chat("openai/o3", [Message("user", "6*7?")], thinking_level="high")
    assert json.loads(route.calls.last.request.content)["reasoning_effort"] == "high"
    assert result.thinking == "Let me add." and result.thinking_applied


@pytest.mark.anyio
@respx.mock
async def test_model_that_cannot_think_runs_without_and_says_so(make_client):
    client, base, _ = make_client("openai")
    route = respx.post(f"{base}/chat/completions").respond(200, json=completion("plain"))
    result = await client.chat("openai/gpt-4o", [Message("user", "hi")], thinking_level="high")
    assert "reasoning_effort" not in json.loads(route.calls.last.request.content)
    assert not result.thinking_applied
    assert "cannot think" in result.metadata["thinking_note"]


MODELS_LISTING = {
    "data": [
        {
            "id": "deepseek/deepseek-r1",
            "context_length": 163840,
            "supported_parameters": ["reasoning", "include_reasoning", "max_tokens"],
        },
        {"id": "openai/gpt-4o-mini", "context_length": 128000, "supported_parameters": ["max_tokens"]},
    ]
}


@pytest.mark.anyio
@respx.mock
async def test_openrouter_thinking_detected_from_listing_and_cached(make_client):
    now = [0.0]
    from providers.catalog import Catalog

    client, base, _ = make_client("openrouter", catalog=Catalog(clock=lambda: now[0], listing_ttl=100))
    models = respx.get(f"{base}/models").respond(200, json=MODELS_LISTING)
    chat = respx.post(f"{base}/chat/completions").respond(
        200, json=completion("r1 says hi", reasoning="thinking out loud")
    )
    r1 = await client.chat("openrouter/deepseek/deepseek-r1", [Message("user", "hi")], thinking_level="low")
    assert json.loads(chat.calls.last.request.content)["reasoning"] == {"effort": "low"}
    assert r1.thinking == "thinking out loud" and r1.thinking_applied
    off = await client.chat("openrouter/deepseek/deepseek-r1", [Message("user", "hi")], thinking_level="off")
    assert json.loads(chat.calls.last.request.content)["reasoning"] == {"enabled": False}
    assert not off.thinking_applied
    mini = await client.chat("openrouter/openai/gpt-4o-mini", [Message("user", "hi")], thinking_level="high")
    assert "reasoning" not in json.loads(chat.calls.last.request.content)
    assert "thinking_note" in mini.metadata
    assert models.call_count == 1  # cached within the TTL
    now[0] = 101
    await client.chat("openrouter/deepseek/deepseek-r1", [Message("user", "hi")], thinking_level="low")
    assert models.call_count == 2  # refreshed after it


@pytest.mark.anyio
@respx.mock
async def test_streamed_reasoning_deltas(make_client):
    client, base, _ = make_client("openrouter")
    respx.get(f"{base}/models").respond(200, json=MODELS_LISTING)
    body = sse(
        chunk({"role": "assistant", "content": "", "reasoning": "hmm "}),
        chunk({"reasoning": "ok"}),
        chunk({"content": "Yes."}, "stop"),
        "[DONE]",
    )
    respx.post(f"{base}/chat/completions").respond(200, text=body, headers={"content-type": "text/event-stream"})
    deltas = [
        d
        async for d in client.stream_chat(
            "openrouter/deepseek/deepseek-r1", [Message("user", "?")], thinking_level="medium"
        )
    ]
    assert "".join(d.thinking for d in deltas) == "hmm ok"
    assert "".join(d.text for d in deltas) == "Yes."
    assert deltas[-1].done and deltas[-1].usage is None


@pytest.mark.anyio
@respx.mock
async def test_stream_with_bad_event_is_malformed(make_client):
    client, base, model = make_client("xai")
    respx.post(f"{base}/chat/completions").respond(
        200, text="data: {not json\n\n", headers={"content-type": "text/event-stream"}
    )
    with pytest.raises(MalformedResponse):
        [d async for d in client.stream_chat(model, [Message("user", "hi")])]


@pytest.mark.anyio
@respx.mock
async def test_stream_error_status_before_first_event(make_client, sleep):
    client, base, model = make_client("cerebras")
    route = respx.post(f"{base}/chat/completions")
    route.side_effect = [
        httpx.Response(429, headers={"retry-after": "2"}, json={"error": {"message": "slow"}}),
        httpx.Response(200, text=STREAM, headers={"content-type": "text/event-stream"}),
    ]
    deltas = [d async for d in client.stream_chat(model, [Message("user", "hi")])]
    assert "".join(d.text for d in deltas) == "Hello" and sleep.delays == [2.0]


def embeddings(vectors, model="text-embedding-3-small", shuffled=False):
    rows = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return {
        "object": "list",
        "data": list(reversed(rows)) if shuffled else rows,
        "model": model,
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }


@pytest.mark.anyio
@respx.mock
async def test_embeddings_with_dimensions_in_input_order(make_client):
    client, base, _ = make_client("openai")
    route = respx.post(f"{base}/embeddings").respond(200, json=embeddings([[0.1, 0.2], [0.3, 0.4]], shuffled=True))
    result = await client.embed("openai/text-embedding-3-small", ["a", "b"], dimensions=2)
    assert result.vectors == [[0.1, 0.2], [0.3, 0.4]]  # sorted back by index
    body = json.loads(route.calls.last.request.content)
    assert body == {
        "model": "text-embedding-3-small",
        "input": ["a", "b"],
        "encoding_format": "float",
        "dimensions": 2,
    }


@pytest.mark.anyio
@respx.mock
async def test_embeddings_are_split_into_provider_sized_batches(make_client):
    client, base, model = make_client("custom-box")  # custom providers: batches of 64

    def answer(request):
        inputs = json.loads(request.content)["input"]
        return httpx.Response(200, json=embeddings([[float(t.split()[1])] for t in inputs]))

    route = respx.post(f"{base}/embeddings").mock(side_effect=answer)
    texts = [f"t {i}" for i in range(150)]
    result = await client.embed("custom-box/nomic-embed-text", texts)
    assert [v[0] for v in result.vectors] == [float(i) for i in range(150)]
    assert sorted(len(json.loads(c.request.content)["input"]) for c in route.calls) == [22, 64, 64]
    assert result.usage.input_tokens == 24
    small = await client.embed("custom-box/nomic-embed-text", texts[:10], batch_size=4)
    assert len(small.vectors) == 10 and route.call_count == 6


@pytest.mark.anyio
@respx.mock
async def test_embedding_count_mismatch_is_malformed(make_client):
    client, base, _ = make_client("openai")
    respx.post(f"{base}/embeddings").respond(200, json=embeddings([[0.1]]))
    with pytest.raises(MalformedResponse, match="1 embeddings for 2 inputs"):
        await client.embed("openai/text-embedding-3-small", ["a", "b"])


@pytest.mark.anyio
@pytest.mark.parametrize("provider", PROVIDERS)
@respx.mock
async def test_list_models_and_test_provider(provider, make_client):
    client, base, _ = make_client(provider)
    respx.get(f"{base}/models").respond(
        200,
        json={
            "object": "list",
            "data": [
                {"id": "m1", "object": "model", "created": 1686935002, "owned_by": "org"},
                {"id": "m2", "object": "model", "created": 1686935002, "owned_by": "org"},
            ],
        },
    )
    assert [m["id"] for m in await client.list_models(provider)] == ["m1", "m2"]
    assert await client.test_provider(provider) == (
        True,
        f"{client.keys.spec(provider).display_name}: connected, 2 models available",
    )


@pytest.mark.anyio
@respx.mock
async def test_test_provider_reports_failure_without_raising(make_client, sleep):
    client, base, _ = make_client("groq")
    route = respx.get(f"{base}/models").respond(503, json={"error": {"message": "maintenance"}})
    ok, message = await client.test_provider("groq")
    assert not ok and "maintenance" in message
    assert route.call_count == 1 and sleep.delays == []  # a test is one cheap call, no retries
