"""A custom- provider over real sockets: the fake OpenAI-compatible server, the real client and store."""

from __future__ import annotations

import logging

import pytest

from providers import AuthError, Keys, Message, ProviderClient, SecretStore
from providers.reliability import Cooldowns
from tests.e2e.fake_openai_server import FakeOpenAIServer, hash_vector

pytestmark = pytest.mark.e2e

ENC_KEY = "e2e-encryption-key-0123456789abcdef"
FAKE_KEY = "sk-e2e-SECRET-custom-key-4242"


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer(api_key=FAKE_KEY, dim=6) as srv:
        yield srv


@pytest.fixture
def client_for(tmp_path):
    stores: list[SecretStore] = []

    def make(server: FakeOpenAIServer, *, key: str | None = FAKE_KEY) -> ProviderClient:
        store = SecretStore(tmp_path / "settings.db", encryption_key=ENC_KEY)
        store.add_custom_provider("fake", server.base_url, api_key=key)
        stores.append(store)
        return ProviderClient(Keys(store, env={}), sleep=no_sleep, cooldowns=Cooldowns(threshold=100))

    yield make
    for store in stores:
        store.close()


@pytest.mark.anyio
async def test_custom_provider_chat_stream_embed_and_list_over_real_sockets(server, client_for, caplog):
    caplog.set_level(logging.DEBUG)
    async with client_for(server) as client:
        result = await client.chat("custom-fake/fake-chat", [Message("user", "hello over tcp")])
        assert result.text == "echo: hello over tcp"
        assert result.provider == "custom-fake"
        assert result.usage.input_tokens == 3

        deltas = [
            d async for d in client.stream_chat("custom-fake/fake-chat", [{"role": "user", "content": "one two three"}])
        ]
        assert "".join(d.text for d in deltas) == "echo: one two three"
        assert len([d for d in deltas if d.text]) == 4  # really streamed, word by word
        assert deltas[-1].done and deltas[-1].finish_reason == "stop"
        assert deltas[-1].usage is not None and deltas[-1].usage.output_tokens == 4

        texts = [f"text {i}" for i in range(10)]
        embedded = await client.embed("custom-fake/fake-embed", texts, batch_size=4)
        assert embedded.vectors == [pytest.approx(hash_vector(t, 6)) for t in texts]
        embed_calls = [r for r in server.requests if r.path == "/v1/embeddings"]
        # batches run concurrently, so they may reach the server in any order
        assert sorted(len(r.body["input"]) for r in embed_calls[-3:]) == [2, 4, 4]

        ok, message = await client.test_provider("custom-fake")
        assert ok and "2 models" in message
    assert all(r.authorized for r in server.requests)
    assert FAKE_KEY not in caplog.text


@pytest.mark.anyio
async def test_custom_provider_wrong_key_is_an_auth_error_without_the_key(server, client_for):
    async with client_for(server, key="sk-wrong-key-000000") as client:
        with pytest.raises(AuthError) as info:
            await client.chat("custom-fake/fake-chat", [Message("user", "hi")])
    assert "sk-wrong-key" not in str(info.value)
    assert "Settings -> Providers" in str(info.value)


@pytest.mark.anyio
async def test_custom_provider_retries_injected_503_then_succeeds(client_for):
    with FakeOpenAIServer() as srv:
        srv.fail_next(503, times=2)
        async with client_for(srv, key=None) as client:
            result = await client.chat("custom-fake/fake-chat", [Message("user", "again")])
        assert result.text == "echo: again"
        assert len([r for r in srv.requests if r.path == "/v1/chat/completions"]) == 3
        assert not any(r.authorized for r in srv.requests)  # no key stored: no Authorization header


@pytest.mark.anyio
async def test_fake_server_hooks_replace_chat_and_embeddings(client_for):
    async def grade(messages, model):
        return '{"score": 0.75}'

    with FakeOpenAIServer(chat_fn=grade, embed_fn=lambda texts, model: [[float(len(t)), 0.0] for t in texts]) as srv:
        async with client_for(srv, key=None) as client:
            graded = await client.chat("custom-fake/grader", [Message("user", "q")], json_output=True)
            vectors = await client.embed("custom-fake/any", ["ab", "abcd"])
    assert graded.text == '{"score": 0.75}'
    assert srv.requests[0].body["response_format"] == {"type": "json_object"}
    assert vectors.vectors == [[2.0, 0.0], [4.0, 0.0]]
