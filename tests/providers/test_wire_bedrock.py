"""Bedrock adapter: Converse / ConverseStream / InvokeModel shapes, SigV4 with fake static credentials."""

from __future__ import annotations

import binascii
import json
import re
import struct

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import httpx
import pytest
import respx

from providers.errors import (
    AuthError,
    MalformedResponse,
    MissingCredentials,
    ProviderError,
    ProviderStatusError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from providers.types import ChatRequest, Credentials, Message
from providers.wire.bedrock import BedrockAdapter, build_converse_body

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "fake-secret-key-0000"
AWS = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
REGION = "us-east-1"
CREDS = Credentials(provider="bedrock", base_url="", extra={"region": REGION})
RUNTIME = f"https://bedrock-runtime.{REGION}.amazonaws.com"
CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
CLAUDE_PATH = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
SIGV4 = re.compile(
    rf"^AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/\d{{8}}/{REGION}/bedrock/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)

ANSWER = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [
                {"reasoningContent": {"reasoningText": {"text": "Count them.", "signature": "sig"}}},
                {"text": "Three."},
            ],
        }
    },
    "stopReason": "end_turn",
    "usage": {"inputTokens": 11, "outputTokens": 22, "totalTokens": 33},
    "metrics": {"latencyMs": 420},
}


def adapter() -> BedrockAdapter:
    return BedrockAdapter(AWS)


def request(level=None, model: str = CLAUDE, **kwargs) -> ChatRequest:
    messages = [Message("system", "Be brief."), Message("user", "How many?")]
    return ChatRequest(model=model, messages=messages, thinking_level=level, **kwargs)


def assert_valid_sigv4(sent: httpx.Request) -> None:
    """The Authorization header is SigV4 for bedrock, and its signature covers exactly what was sent."""
    match = SIGV4.match(sent.headers["authorization"])
    assert match, sent.headers["authorization"]
    signed = match["signed"].split(";")
    assert {"host", "x-amz-date"} <= set(signed)
    aws_request = botocore.awsrequest.AWSRequest(
        method=sent.method,
        url=str(sent.url),
        data=sent.content,
        headers={name: sent.headers[name] for name in signed if name != "host"},
    )
    aws_request.context["timestamp"] = sent.headers["x-amz-date"]
    signer = botocore.auth.SigV4Auth(AWS.get_frozen_credentials(), "bedrock", REGION)
    string_to_sign = signer.string_to_sign(aws_request, signer.canonical_request(aws_request))
    assert signer.signature(string_to_sign, aws_request) == match["signature"]
    assert SECRET_KEY not in str(sent.headers)


def frame(headers: dict[str, str], payload: dict) -> bytes:
    """One AWS event-stream message: prelude (lengths + CRC), string headers, JSON payload, message CRC."""
    header_bytes = b"".join(
        struct.pack("!B", len(name)) + name.encode() + struct.pack("!BH", 7, len(value)) + value.encode()
        for name, value in headers.items()
    )
    body = json.dumps(payload).encode()
    total = 12 + len(header_bytes) + len(body) + 4
    prelude = struct.pack("!II", total, len(header_bytes))
    prelude += struct.pack("!I", binascii.crc32(prelude))
    message = prelude + header_bytes + body
    return message + struct.pack("!I", binascii.crc32(message))


def event(kind: str, payload: dict) -> bytes:
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"}, payload)


@pytest.mark.anyio
async def test_converse_is_sigv4_signed_with_documented_body() -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{RUNTIME}{CLAUDE_PATH}/converse").mock(return_value=httpx.Response(200, json=ANSWER))
        async with httpx.AsyncClient() as client:
            result = await adapter().chat(client, CREDS, request("low", max_tokens=300))
    sent = route.calls.last.request
    assert sent.url.raw_path.decode() == f"{CLAUDE_PATH}/converse"
    assert_valid_sigv4(sent)
    assert json.loads(sent.content) == {
        "messages": [{"role": "user", "content": [{"text": "How many?"}]}],
        "system": [{"text": "Be brief."}],
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        "inferenceConfig": {"maxTokens": 1324},
    }
    assert (result.text, result.thinking, result.finish_reason) == ("Three.", "Count them.", "end_turn")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (11, 22)
    assert result.thinking_applied is True


def test_thinking_is_only_sent_to_claude() -> None:
    body, applied, note = build_converse_body(request("high", model="amazon.nova-pro-v1:0", temperature=0.5))
    assert "additionalModelRequestFields" not in body
    assert body["inferenceConfig"] == {"temperature": 0.5}
    assert applied is False and "ran without it" in note
    body, applied, _ = build_converse_body(request("off"))
    assert "additionalModelRequestFields" not in body and "inferenceConfig" not in body and applied is False


@pytest.mark.anyio
async def test_bedrock_api_key_is_sent_as_bearer_instead_of_sigv4() -> None:
    keyed = Credentials(provider="bedrock", base_url="", api_key="fake-bedrock-api-key", extra={"region": REGION})
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{RUNTIME}{CLAUDE_PATH}/converse").mock(return_value=httpx.Response(200, json=ANSWER))
        async with httpx.AsyncClient() as client:
            await BedrockAdapter(loader=lambda: None).chat(client, keyed, request())
    assert route.calls.last.request.headers["authorization"] == "Bearer fake-bedrock-api-key"


@pytest.mark.anyio
async def test_converse_stream_decodes_event_stream_frames() -> None:
    body = b"".join(
        [
            event("messageStart", {"role": "assistant", "p": "abc"}),
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm"}}}),
            event(
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "s"}}},
            ),
            event("contentBlockStop", {"contentBlockIndex": 0}),
            event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Thr"}}),
            event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "ee."}}),
            event("contentBlockStop", {"contentBlockIndex": 1}),
            event("messageStop", {"stopReason": "end_turn"}),
            event(
                "metadata",
                {
                    "usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12},
                    "metrics": {"latencyMs": 100},
                },
            ),
        ]
    )

    async def split_stream():  # frames cut at awkward places, as the network would
        for start in range(0, len(body), 37):
            yield body[start : start + 37]

    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{RUNTIME}{CLAUDE_PATH}/converse-stream").mock(
            return_value=httpx.Response(
                200, headers={"content-type": "application/vnd.amazon.eventstream"}, content=split_stream()
            )
        )
        async with httpx.AsyncClient() as client:
            deltas = [d async for d in adapter().stream_chat(client, CREDS, request("low"))]
    sent = route.calls.last.request
    assert sent.headers["accept"] == "application/vnd.amazon.eventstream"
    assert_valid_sigv4(sent)
    assert [(d.thinking, d.text) for d in deltas[:-1]] == [("Hmm", ""), ("", "Thr"), ("", "ee.")]
    assert deltas[-1].done and deltas[-1].finish_reason == "end_turn"
    assert (deltas[-1].usage.input_tokens, deltas[-1].usage.output_tokens) == (5, 7)


@pytest.mark.anyio
async def test_throttling_exception_inside_stream_is_rate_limited() -> None:
    body = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "a"}}) + frame(
        {
            ":exception-type": "throttlingException",
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        {"message": "Too many requests, please wait before trying again."},
    )
    with respx.mock() as mock:
        mock.post(f"{RUNTIME}{CLAUDE_PATH}/converse-stream").mock(return_value=httpx.Response(200, content=body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(RateLimited, match="Too many requests"):
                async for _ in adapter().stream_chat(client, CREDS, request()):
                    pass


@pytest.mark.anyio
async def test_corrupt_event_stream_frame_is_malformed() -> None:
    broken = bytearray(event("messageStop", {"stopReason": "end_turn"}))
    broken[-1] ^= 0xFF  # message CRC no longer matches
    with respx.mock() as mock:
        mock.post(f"{RUNTIME}{CLAUDE_PATH}/converse-stream").mock(
            return_value=httpx.Response(200, content=bytes(broken))
        )
        async with httpx.AsyncClient() as client:
            with pytest.raises(MalformedResponse):
                async for _ in adapter().stream_chat(client, CREDS, request()):
                    pass


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "error_type", "headers", "error"),
    [
        (403, "AccessDeniedException", {}, AuthError),
        (429, "ThrottlingException", {"retry-after": "4"}, RateLimited),
        (500, "InternalServerException", {}, ProviderUnavailable),
        (503, "ServiceUnavailableException", {}, ProviderUnavailable),
        (400, "ValidationException", {}, ProviderStatusError),
    ],
)
async def test_error_statuses_map_to_the_error_tree(status, error_type, headers, error) -> None:
    message = f"{error_type} says no"
    with respx.mock() as mock:
        mock.post(f"{RUNTIME}{CLAUDE_PATH}/converse").mock(
            return_value=httpx.Response(
                status,
                headers={"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/", **headers},
                json={"message": message},
            )
        )
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderError) as info:
                await adapter().chat(client, CREDS, request())
    exc = info.value
    assert type(exc) is error and exc.status == status and message in str(exc)
    assert SECRET_KEY not in str(exc) and ACCESS_KEY not in str(exc)
    if status == 429:
        assert exc.retry_after == 4.0


@pytest.mark.anyio
async def test_timeout_and_malformed_body() -> None:
    with respx.mock() as mock:
        route = mock.post(f"{RUNTIME}{CLAUDE_PATH}/converse")
        async with httpx.AsyncClient() as client:
            route.mock(side_effect=httpx.ReadTimeout("slow"))
            with pytest.raises(ProviderTimeout):
                await adapter().chat(client, CREDS, request())
            route.mock(return_value=httpx.Response(200, content=b"{not json"))
            with pytest.raises(MalformedResponse):
                await adapter().chat(client, CREDS, request())
            route.mock(return_value=httpx.Response(200, json={"output": {}}))
            with pytest.raises(MalformedResponse):
                await adapter().chat(client, CREDS, request())


@pytest.mark.anyio
async def test_missing_region_and_missing_credentials_say_what_to_set() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(MissingCredentials) as region:
            await adapter().chat(client, Credentials(provider="bedrock", base_url=""), request())
        with pytest.raises(MissingCredentials) as chain:
            await BedrockAdapter(loader=lambda: None).chat(client, CREDS, request())
    assert region.value.env_var == "AWS_REGION"
    assert "AWS_ACCESS_KEY_ID" in str(chain.value) and "AWS_PROFILE" in str(chain.value)


@pytest.mark.anyio
async def test_titan_embeds_one_text_per_signed_call() -> None:
    url = f"{RUNTIME}/model/amazon.titan-embed-text-v2%3A0/invoke"
    answers = iter(
        [
            {"embedding": [0.1, 0.2], "inputTextTokenCount": 3},
            {"embedding": [0.3, 0.4], "inputTextTokenCount": 4},
        ]
    )
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(side_effect=lambda request: httpx.Response(200, json=next(answers)))
        async with httpx.AsyncClient() as client:
            result = await adapter().embed(
                client, CREDS, "amazon.titan-embed-text-v2:0", ["one", "two"], dimensions=256
            )
    assert [json.loads(call.request.content) for call in route.calls] == [
        {"inputText": "one", "normalize": True, "dimensions": 256},
        {"inputText": "two", "normalize": True, "dimensions": 256},
    ]
    for call in route.calls:
        assert_valid_sigv4(call.request)
    assert result.vectors == [[0.1, 0.2], [0.3, 0.4]]
    assert result.usage.input_tokens == 7


@pytest.mark.anyio
async def test_cohere_embeds_the_batch_in_one_call() -> None:
    url = f"{RUNTIME}/model/cohere.embed-english-v3/invoke"
    answer = {
        "id": "e1",
        "embeddings": [[0.5, 0.6], [0.7, 0.8]],
        "response_type": "embeddings_floats",
        "texts": ["one", "two"],
    }
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(return_value=httpx.Response(200, json=answer))
        async with httpx.AsyncClient() as client:
            result = await adapter().embed(client, CREDS, "cohere.embed-english-v3", ["one", "two"])
    assert json.loads(route.calls.last.request.content) == {
        "texts": ["one", "two"],
        "input_type": "search_document",
    }
    assert result.vectors == [[0.5, 0.6], [0.7, 0.8]]


@pytest.mark.anyio
async def test_unknown_embedding_family_and_oversized_batch_are_refused() -> None:
    with respx.mock() as mock:
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderError, match="not supported"):
                await adapter().embed(client, CREDS, "mystery.embed-v1", ["x"])
            with pytest.raises(ProviderError, match="at most 96"):
                await adapter().embed(client, CREDS, "cohere.embed-english-v3", ["x"] * 97)
        assert not mock.calls


@pytest.mark.anyio
async def test_list_models_uses_the_signed_control_plane() -> None:
    listing = {
        "modelSummaries": [
            {
                "modelId": "amazon.titan-embed-text-v2:0",
                "modelName": "Titan Text Embeddings V2",
                "providerName": "Amazon",
                "outputModalities": ["EMBEDDING"],
                "responseStreamingSupported": False,
            }
        ]
    }
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get(f"https://bedrock.{REGION}.amazonaws.com/foundation-models").mock(
            return_value=httpx.Response(200, json=listing)
        )
        async with httpx.AsyncClient() as client:
            models = await adapter().list_models(client, CREDS)
    assert_valid_sigv4(route.calls.last.request)
    assert models == [
        {
            "id": "amazon.titan-embed-text-v2:0",
            "display_name": "Titan Text Embeddings V2",
            "provider_name": "Amazon",
            "output_modalities": ["EMBEDDING"],
            "streaming": False,
        }
    ]
