"""Capabilities per model (and per API version) decide which thinking fields are sent; metadata says what changed.

Issue 15: Bedrock Claude 3.5 Sonnet was sent thinking fields (AWS documents
extended thinking from Claude 3.7 Sonnet on), Azure was sent
``reasoning_effort`` with the default api-version 2024-10-21 (it arrived in
2024-12-01-preview), and ``openai/o3-mini`` with thinking ``off`` ran at its
default effort without a word. Each request below goes through the whole
client to a respx fake shaped like the provider's documented answer.
"""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from providers import Keys, Message, ProviderClient

MESSAGES = [Message("user", "2+2?")]


def client(env):
    return ProviderClient(Keys(None, env), http=httpx.AsyncClient())


def openai_answer(model):
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "4"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


CONVERSE_ANSWER = {
    "output": {"message": {"role": "assistant", "content": [{"text": "4"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 5, "outputTokens": 1, "totalTokens": 6},
    "metrics": {"latencyMs": 10},
}
BEDROCK_ENV = {"AWS_REGION": "us-east-1"}


@pytest.fixture
def aws_keys(monkeypatch):
    """Fake static keys for botocore's chain (requests are SigV4-signed with them, then answered by respx)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFAKEFAKEFAKE0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-access-key-0000000000000000")


BEDROCK = "https://bedrock-runtime.us-east-1.amazonaws.com/model"


@pytest.mark.anyio
@respx.mock
@pytest.mark.parametrize(
    "model", ["anthropic.claude-3-5-sonnet-20240620-v1:0", "us.anthropic.claude-3-5-sonnet-20241022-v2:0"]
)
async def test_bedrock_claude_3_5_sonnet_is_sent_no_thinking_and_says_so(model, aws_keys):
    route = respx.post(url__startswith=BEDROCK).respond(200, json=CONVERSE_ANSWER)
    result = await client(BEDROCK_ENV).chat(f"bedrock/{model}", MESSAGES, thinking_level="high")
    body = json.loads(route.calls.last.request.content)
    assert "additionalModelRequestFields" not in body and "maxTokens" not in body.get("inferenceConfig", {})
    assert result.thinking_applied is False and "without" in result.metadata["thinking_note"]


@pytest.mark.anyio
@respx.mock
async def test_bedrock_claude_3_7_sonnet_still_thinks(aws_keys):
    route = respx.post(url__startswith=BEDROCK).respond(200, json=CONVERSE_ANSWER)
    result = await client(BEDROCK_ENV).chat(
        "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0", MESSAGES, thinking_level="low"
    )
    body = json.loads(route.calls.last.request.content)
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert result.thinking_applied is True and "thinking_note" not in result.metadata


AZURE = "https://res.openai.azure.com/openai/deployments/reasoner/chat/completions"


@pytest.mark.anyio
@respx.mock
@pytest.mark.parametrize("stream", [False, True])
async def test_azure_default_api_version_gets_no_reasoning_effort_and_a_note(stream):
    route = respx.post(url__startswith=AZURE)
    if stream:
        route.respond(
            200,
            headers={"content-type": "text/event-stream"},
            content=b'data: {"choices":[{"index":0,"delta":{"content":"4"}}]}\n\ndata: [DONE]\n\n',
        )
    else:
        route.respond(200, json=openai_answer("o3-mini"))
    env = {"AZURE_OPENAI_API_KEY": "fake-azure-key-0000", "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com"}
    c = client(env)
    if stream:
        pieces = [d async for d in c.stream_chat("azure/reasoner", MESSAGES, thinking_level="high")]
        metadata = pieces[-1].metadata
    else:
        metadata = (await c.chat("azure/reasoner", MESSAGES, thinking_level="high")).metadata
    sent = route.calls.last.request
    assert sent.url.params["api-version"] == "2024-10-21"
    assert "reasoning_effort" not in json.loads(sent.content)
    assert "2024-10-21" in metadata["thinking_note"] and "AZURE_OPENAI_API_VERSION" in metadata["thinking_note"]


@pytest.mark.anyio
@respx.mock
@pytest.mark.parametrize("version", ["2024-12-01-preview", "2025-04-01-preview", "preview"])
async def test_azure_api_versions_with_reasoning_effort_get_it(version):
    route = respx.post(url__startswith=AZURE).respond(200, json=openai_answer("o3-mini"))
    env = {
        "AZURE_OPENAI_API_KEY": "fake-azure-key-0000",
        "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com",
        "AZURE_OPENAI_API_VERSION": version,
    }
    result = await client(env).chat("azure/reasoner", MESSAGES, thinking_level="medium")
    assert json.loads(route.calls.last.request.content)["reasoning_effort"] == "medium"
    assert "thinking_note" not in result.metadata


@pytest.mark.anyio
@respx.mock
@pytest.mark.parametrize(("model", "sent"), [("o3-mini", "low"), ("o4-mini", "low"), ("gpt-5-mini", "minimal")])
async def test_a_model_that_cannot_stop_reasoning_gets_its_lowest_effort_for_off_and_a_note(model, sent):
    route = respx.post("https://api.openai.com/v1/chat/completions").respond(200, json=openai_answer(model))
    result = await client({"OPENAI_API_KEY": "sk-fake-openai-0000"}).chat(
        f"openai/{model}", MESSAGES, thinking_level="off"
    )
    assert json.loads(route.calls.last.request.content)["reasoning_effort"] == sent
    assert f"{sent!r}" in result.metadata["effort_note"] and "off" in result.metadata["effort_note"]
    assert result.thinking_applied is True


@pytest.mark.anyio
@respx.mock
@pytest.mark.parametrize("model", ["gpt-5.1", "gpt-4o"])
async def test_off_is_sent_as_is_or_omitted_without_a_note_where_it_really_means_off(model):
    route = respx.post("https://api.openai.com/v1/chat/completions").respond(200, json=openai_answer(model))
    result = await client({"OPENAI_API_KEY": "sk-fake-openai-0000"}).chat(
        f"openai/{model}", MESSAGES, thinking_level="off"
    )
    assert json.loads(route.calls.last.request.content).get("reasoning_effort") in ("none", None)
    assert "effort_note" not in result.metadata and result.thinking_applied is False


@pytest.mark.anyio
@respx.mock
async def test_a_bedrock_api_key_from_the_environment_is_sent_as_a_bearer():
    """The adapter documents AWS_BEARER_TOKEN_BEDROCK; the key source must hand it over."""
    route = respx.post(url__startswith=BEDROCK).respond(200, json=CONVERSE_ANSWER)
    env = {**BEDROCK_ENV, "AWS_BEARER_TOKEN_BEDROCK": "fake-bedrock-api-key-1234"}
    result = await client(env).chat("bedrock/anthropic.claude-sonnet-4-20250514-v1:0", MESSAGES)
    assert result.text == "4"
    assert route.calls.last.request.headers["authorization"] == "Bearer fake-bedrock-api-key-1234"
