"""Tool calling across the wire formats, against respx fakes shaped like each API's documented answers.

Per API: the definitions and tool_choice as sent, tool calls in a plain and a
streamed answer (parallel where the API has them), tool results sent back;
then the faults: an unknown tool, arguments that are not JSON, a stream cut
in the middle of a call.
"""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from providers import Keys, Message, ProviderClient, Tool, ToolCall
from providers.errors import IncompleteToolCall, InvalidToolArguments, InvalidToolDefinition, UnknownTool
from providers.types import ChatRequest, Credentials
from providers.wire.bedrock import BedrockAdapter
from providers.wire.vertex import VertexAdapter
from tests.providers.test_wire_bedrock import AWS, RUNTIME, event
from tests.providers.test_wire_vertex import REGIONAL, FakeGoogleCredentials
from tests.providers.test_wire_vertex import creds as vertex_creds

WEATHER = Tool(
    "get_weather",
    "Weather now in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = Tool(
    "get_time",
    "Local time in a timezone",
    {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
)
ASK = [Message("user", "Weather and time in Paris?")]
#: a whole round trip: the question, the model's two calls, their results
ROUND_TRIP = [
    Message("system", "Use tools."),
    Message("user", "Weather and time in Paris?"),
    Message(
        "assistant",
        "",
        tool_calls=(
            ToolCall("call_1", "get_weather", {"city": "Paris"}),
            ToolCall("call_2", "get_time", {"tz": "Europe/Paris"}),
        ),
    ),
    Message("tool", '{"temp_c": 18}', tool_call_id="call_1"),
    Message("tool", "14:05", tool_call_id="call_2"),
]

OPENAI = "https://api.openai.com/v1/chat/completions"
ANTHROPIC = "https://api.anthropic.com/v1/messages"
GEMINI = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
ENV = {
    "OPENAI_API_KEY": "sk-fake-openai-0000",
    "ANTHROPIC_API_KEY": "sk-ant-fake-0000",
    "GEMINI_API_KEY": "fake-gemini-key-0000",
    "MISTRAL_API_KEY": "fake-mistral-key-0000",
}


def client() -> ProviderClient:
    return ProviderClient(Keys(None, ENV), http=httpx.AsyncClient())


def sent_body(route) -> dict:
    return json.loads(route.calls.last.request.content)


def sse(*chunks: dict | str) -> bytes:
    return "".join(f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks).encode()


def openai_answer(tool_calls, content=None):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"role": "assistant", "content": content, "tool_calls": tool_calls},
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
    }


def openai_call(call_id, name, arguments):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# -- OpenAI-compatible ---------------------------------------------------------------------------------


@pytest.mark.anyio
@respx.mock
async def test_openai_sends_definitions_and_reads_parallel_calls():
    route = respx.post(OPENAI).respond(
        200,
        json=openai_answer(
            [
                openai_call("call_a", "get_weather", '{"city": "Paris"}'),
                openai_call("call_b", "get_time", '{"tz": "Europe/Paris"}'),
            ]
        ),
    )
    result = await client().chat(
        "openai/gpt-4o-mini", ASK, tools=[WEATHER, TIME], tool_choice="required", parallel_tool_calls=True
    )
    body = sent_body(route)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather now in a city",
                "parameters": dict(WEATHER.parameters),
            },
        },
        {
            "type": "function",
            "function": {
                "name": "get_time",
                "description": "Local time in a timezone",
                "parameters": dict(TIME.parameters),
            },
        },
    ]
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is True
    assert result.tool_calls == (
        ToolCall("call_a", "get_weather", {"city": "Paris"}),
        ToolCall("call_b", "get_time", {"tz": "Europe/Paris"}),
    )
    assert result.finish_reason == "tool_calls" and result.text == ""


@pytest.mark.anyio
@respx.mock
async def test_openai_forced_tool_and_results_sent_back():
    route = respx.post(OPENAI).respond(200, json=openai_answer(None, content="18 degrees, 14:05"))
    result = await client().chat("openai/gpt-4o-mini", ROUND_TRIP, tools=[WEATHER, TIME], tool_choice="get_time")
    body = sent_body(route)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert body["messages"][2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                openai_call("call_1", "get_weather", json.dumps({"city": "Paris"})),
                openai_call("call_2", "get_time", json.dumps({"tz": "Europe/Paris"})),
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 18}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "14:05"},
    ]
    assert result.text == "18 degrees, 14:05" and result.tool_calls == ()


STREAMED_CALLS = [
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ],
                },
                "finish_reason": None,
            }
        ]
    },
    {
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]},
                "finish_reason": None,
            }
        ]
    },
    {
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]},
                "finish_reason": None,
            }
        ]
    },
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 1,
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": ""},
                        }
                    ]
                },
                "finish_reason": None,
            }
        ]
    },
    {
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 1, "function": {"arguments": '{"tz": "CET"}'}}]},
                "finish_reason": None,
            }
        ]
    },
]


@pytest.mark.anyio
@respx.mock
async def test_openai_streamed_calls_are_assembled_by_index_and_handed_over_whole():
    finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
    respx.post(OPENAI).respond(
        200, headers={"content-type": "text/event-stream"}, content=sse(*STREAMED_CALLS, finish, "[DONE]")
    )
    pieces = [d async for d in client().stream_chat("openai/gpt-4o-mini", ASK, tools=[WEATHER, TIME])]
    calls = [c for d in pieces for c in d.tool_calls]
    assert calls == [
        ToolCall("call_a", "get_weather", {"city": "Paris"}),
        ToolCall("call_b", "get_time", {"tz": "CET"}),
    ]
    assert pieces[-1].done and pieces[-1].finish_reason == "tool_calls"


@pytest.mark.anyio
@respx.mock
async def test_openai_stream_cut_in_the_middle_of_a_call_is_an_incomplete_tool_call():
    respx.post(OPENAI).respond(200, headers={"content-type": "text/event-stream"}, content=sse(*STREAMED_CALLS[:2]))
    with pytest.raises(IncompleteToolCall) as info:
        [d async for d in client().stream_chat("openai/gpt-4o-mini", ASK, tools=[WEATHER])]
    assert info.value.tool == "get_weather" and "ended in the middle" in info.value.message


@pytest.mark.anyio
@respx.mock
async def test_openai_arguments_that_are_not_json_are_a_typed_error():
    respx.post(OPENAI).respond(200, json=openai_answer([openai_call("c", "get_weather", '{"city": Paris')]))
    with pytest.raises(InvalidToolArguments) as info:
        await client().chat("openai/gpt-4o-mini", ASK, tools=[WEATHER])
    assert info.value.tool == "get_weather" and "not valid JSON" in info.value.message


@pytest.mark.anyio
@respx.mock
async def test_a_call_to_a_tool_that_was_not_offered_is_an_unknown_tool():
    respx.post(OPENAI).respond(200, json=openai_answer([openai_call("c", "rm_rf", "{}")]))
    with pytest.raises(UnknownTool) as info:
        await client().chat("openai/gpt-4o-mini", ASK, tools=[WEATHER])
    assert info.value.tool == "rm_rf" and "get_weather" in info.value.message


@pytest.mark.anyio
@respx.mock
async def test_mistral_tool_results_carry_the_tool_name():
    route = respx.post("https://api.mistral.ai/v1/chat/completions").respond(
        200, json=openai_answer(None, content="ok")
    )
    await client().chat("mistral/mistral-small-latest", ROUND_TRIP, tools=[WEATHER, TIME])
    tool_messages = [m for m in sent_body(route)["messages"] if m["role"] == "tool"]
    assert [(m["name"], m["tool_call_id"]) for m in tool_messages] == [
        ("get_weather", "call_1"),
        ("get_time", "call_2"),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tools", "choice", "says"),
    [
        ([{"name": "has space"}], None, "not allowed"),
        ([{"name": "t", "parameters": {"type": "array"}}], None, "type 'object'"),
        ([WEATHER, WEATHER], None, "unique"),
        ([WEATHER], "get_time", "neither"),
        ([], "required", "at least one"),
    ],
)
async def test_unusable_definitions_are_refused_before_any_request(tools, choice, says):
    with pytest.raises(InvalidToolDefinition, match=says):
        await client().chat("openai/gpt-4o-mini", ASK, tools=tools, tool_choice=choice)


@pytest.mark.anyio
@respx.mock
async def test_openai_style_tool_dicts_and_message_dicts_are_accepted():
    route = respx.post(OPENAI).respond(200, json=openai_answer(None, content="ok"))
    messages = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "cold"},
    ]
    await client().chat(
        "openai/gpt-4o-mini",
        messages,
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": dict(WEATHER.parameters)}}],
    )
    body = sent_body(route)
    assert body["messages"][1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": json.dumps({"city": "Oslo"}),
    }
    assert body["tools"][0]["function"]["name"] == "get_weather"


# -- Anthropic Messages --------------------------------------------------------------------------------


ANTHROPIC_ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {"tz": "Europe/Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 300, "output_tokens": 60},
}


@pytest.mark.anyio
@respx.mock
async def test_anthropic_definitions_choice_and_parallel_calls():
    route = respx.post(ANTHROPIC).respond(200, json=ANTHROPIC_ANSWER)
    result = await client().chat(
        "anthropic/claude-sonnet-4-5", ASK, tools=[WEATHER, TIME], tool_choice="required", parallel_tool_calls=False
    )
    body = sent_body(route)
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather now in a city", "input_schema": dict(WEATHER.parameters)},
        {"name": "get_time", "description": "Local time in a timezone", "input_schema": dict(TIME.parameters)},
    ]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert result.text == "Checking." and result.finish_reason == "tool_use"
    assert [c.name for c in result.tool_calls] == ["get_weather", "get_time"]
    assert result.tool_calls[0] == ToolCall("toolu_1", "get_weather", {"city": "Paris"})


@pytest.mark.anyio
@respx.mock
async def test_anthropic_results_go_back_as_tool_result_blocks_in_one_user_turn():
    route = respx.post(ANTHROPIC).respond(
        200, json={**ANTHROPIC_ANSWER, "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}
    )
    await client().chat("anthropic/claude-sonnet-4-5", ROUND_TRIP, tools=[WEATHER, TIME], tool_choice="get_weather")
    body = sent_body(route)
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert body["messages"] == [
        {"role": "user", "content": "Weather and time in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {"tz": "Europe/Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": '{"temp_c": 18}'},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "14:05"},
            ],
        },
    ]


def anthropic_stream(cut: bool = False) -> bytes:
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [],
                "usage": {"input_tokens": 300, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking."}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
        },
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"city": '}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}},
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 40},
        },
        {"type": "message_stop"},
    ]
    if cut:
        events = events[:7]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


@pytest.mark.anyio
@respx.mock
async def test_anthropic_streamed_tool_use_is_assembled_from_input_json_deltas():
    respx.post(ANTHROPIC).respond(200, headers={"content-type": "text/event-stream"}, content=anthropic_stream())
    pieces = [d async for d in client().stream_chat("anthropic/claude-sonnet-4-5", ASK, tools=[WEATHER])]
    assert "".join(d.text for d in pieces) == "Checking."
    assert [c for d in pieces for c in d.tool_calls] == [ToolCall("toolu_1", "get_weather", {"city": "Paris"})]
    assert pieces[-1].finish_reason == "tool_use"


@pytest.mark.anyio
@respx.mock
async def test_anthropic_stream_cut_inside_a_tool_use_block_is_incomplete():
    respx.post(ANTHROPIC).respond(200, headers={"content-type": "text/event-stream"}, content=anthropic_stream(True))
    with pytest.raises(IncompleteToolCall, match="get_weather"):
        [d async for d in client().stream_chat("anthropic/claude-sonnet-4-5", ASK, tools=[WEATHER])]


@pytest.mark.anyio
@respx.mock
async def test_anthropic_forced_tool_runs_without_thinking_and_says_so():
    route = respx.post(ANTHROPIC).respond(200, json=ANTHROPIC_ANSWER)
    result = await client().chat(
        "anthropic/claude-sonnet-4-5", ASK, tools=[WEATHER, TIME], tool_choice="get_time", thinking_level="high"
    )
    assert "thinking" not in sent_body(route)
    assert "forced" in result.metadata["thinking_note"] and result.thinking_applied is False


# -- Gemini and Vertex ---------------------------------------------------------------------------------


GEMINI_CALLS = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "get_time", "args": {"tz": "Europe/Paris"}}},
                ],
            },
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": {"promptTokenCount": 80, "candidatesTokenCount": 12, "totalTokenCount": 92},
}


@pytest.mark.anyio
@respx.mock
async def test_gemini_function_declarations_config_and_parallel_calls():
    route = respx.post(f"{GEMINI}:generateContent").respond(200, json=GEMINI_CALLS)
    result = await client().chat("google/gemini-2.5-flash", ASK, tools=[WEATHER, TIME], tool_choice="get_time")
    body = sent_body(route)
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather now in a city",
                    "parametersJsonSchema": dict(WEATHER.parameters),
                },
                {
                    "name": "get_time",
                    "description": "Local time in a timezone",
                    "parametersJsonSchema": dict(TIME.parameters),
                },
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}}
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"tz": "Europe/Paris"}),
    ]
    assert len({c.id for c in result.tool_calls}) == 2  # ids made up where Gemini gives none, unique


@pytest.mark.anyio
@respx.mock
async def test_gemini_results_go_back_as_function_responses_in_one_user_turn():
    route = respx.post(f"{GEMINI}:generateContent").respond(
        200,
        json={
            "candidates": [{"content": {"role": "model", "parts": [{"text": "18 degrees"}]}, "finishReason": "STOP"}]
        },
    )
    await client().chat("google/gemini-2.5-flash", ROUND_TRIP, tools=[WEATHER, TIME], tool_choice="none")
    body = sent_body(route)
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {"tz": "Europe/Paris"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}},
                {"functionResponse": {"name": "get_time", "response": {"result": "14:05"}}},
            ],
        },
    ]


@pytest.mark.anyio
@respx.mock
async def test_gemini_streamed_function_calls_arrive_whole():
    respx.post(f"{GEMINI}:streamGenerateContent").respond(
        200,
        headers={"content-type": "text/event-stream"},
        content=sse(
            {"candidates": [{"content": {"role": "model", "parts": [{"text": "Let me check. "}]}}]}, GEMINI_CALLS
        ),
    )
    pieces = [d async for d in client().stream_chat("google/gemini-2.5-flash", ASK, tools=[WEATHER, TIME])]
    assert [c.name for d in pieces for c in d.tool_calls] == ["get_weather", "get_time"]


@pytest.mark.anyio
@respx.mock
async def test_gemini_call_to_an_unknown_function_is_refused():
    respx.post(f"{GEMINI}:generateContent").respond(200, json=GEMINI_CALLS)
    with pytest.raises(UnknownTool, match="get_time"):
        await client().chat("google/gemini-2.5-flash", ASK, tools=[WEATHER])


@pytest.mark.anyio
async def test_vertex_sends_the_same_declarations_and_reads_the_calls():
    adapter = VertexAdapter(FakeGoogleCredentials())
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{REGIONAL}/gemini-2.5-flash:generateContent").respond(200, json=GEMINI_CALLS)
        async with httpx.AsyncClient() as http:
            result = await adapter.chat(
                http,
                vertex_creds(),
                ChatRequest(model="gemini-2.5-flash", messages=ASK, tools=(WEATHER, TIME), tool_choice="required"),
            )
    body = sent_body(route)
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert [c.name for c in result.tool_calls] == ["get_weather", "get_time"]


# -- Bedrock Converse ----------------------------------------------------------------------------------


BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
BEDROCK_URL = f"{RUNTIME}/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
BEDROCK_CREDS = Credentials(provider="bedrock", base_url="", extra={"region": "us-east-1"})


@pytest.mark.anyio
async def test_bedrock_tool_config_calls_and_results():
    answer = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"text": "Checking."},
                    {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
                    {"toolUse": {"toolUseId": "tooluse_2", "name": "get_time", "input": {"tz": "CET"}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 100, "outputTokens": 30, "totalTokens": 130},
        "metrics": {"latencyMs": 100},
    }
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BEDROCK_URL}/converse").respond(200, json=answer)
        async with httpx.AsyncClient() as http:
            result = await BedrockAdapter(AWS).chat(
                http,
                BEDROCK_CREDS,
                ChatRequest(model=BEDROCK_MODEL, messages=ROUND_TRIP, tools=(WEATHER, TIME), tool_choice="get_weather"),
            )
    body = sent_body(route)
    assert body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather now in a city",
                    "inputSchema": {"json": dict(WEATHER.parameters)},
                }
            },
            {
                "toolSpec": {
                    "name": "get_time",
                    "description": "Local time in a timezone",
                    "inputSchema": {"json": dict(TIME.parameters)},
                }
            },
        ],
        "toolChoice": {"tool": {"name": "get_weather"}},
    }
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "call_2", "name": "get_time", "input": {"tz": "Europe/Paris"}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "call_1", "content": [{"text": '{"temp_c": 18}'}]}},
                {"toolResult": {"toolUseId": "call_2", "content": [{"text": "14:05"}]}},
            ],
        },
    ]
    assert result.tool_calls == (
        ToolCall("tooluse_1", "get_weather", {"city": "Paris"}),
        ToolCall("tooluse_2", "get_time", {"tz": "CET"}),
    )


def bedrock_stream(cut: bool = False) -> bytes:
    frames = [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockStart",
            {"start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}, "contentBlockIndex": 0},
        ),
        event("contentBlockDelta", {"delta": {"toolUse": {"input": '{"city":'}}, "contentBlockIndex": 0}),
        event("contentBlockDelta", {"delta": {"toolUse": {"input": ' "Paris"}'}}, "contentBlockIndex": 0}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "tool_use"}),
        event(
            "metadata",
            {"usage": {"inputTokens": 100, "outputTokens": 30, "totalTokens": 130}, "metrics": {"latencyMs": 100}},
        ),
    ]
    return b"".join(frames[:3] if cut else frames)


@pytest.mark.anyio
@pytest.mark.parametrize("cut", [False, True])
async def test_bedrock_stream_assembles_tool_use_or_reports_the_cut(cut):
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BEDROCK_URL}/converse-stream").respond(
            200, headers={"content-type": "application/vnd.amazon.eventstream"}, content=bedrock_stream(cut)
        )
        async with httpx.AsyncClient() as http:
            stream = BedrockAdapter(AWS).stream_chat(
                http, BEDROCK_CREDS, ChatRequest(model=BEDROCK_MODEL, messages=ASK, tools=(WEATHER,))
            )
            if cut:
                with pytest.raises(IncompleteToolCall, match="get_weather"):
                    [d async for d in stream]
                return
            pieces = [d async for d in stream]
    assert [c for d in pieces for c in d.tool_calls] == [ToolCall("tooluse_1", "get_weather", {"city": "Paris"})]
    assert pieces[-1].finish_reason == "tool_use"


def test_bedrock_none_choice_sends_no_tool_config_on_a_fresh_conversation():
    from providers.wire.bedrock import build_converse_body

    body, _, note = build_converse_body(
        ChatRequest(model=BEDROCK_MODEL, messages=ASK, tools=(WEATHER,), tool_choice="none")
    )
    assert "toolConfig" not in body and note is None
    body, _, note = build_converse_body(
        ChatRequest(model=BEDROCK_MODEL, messages=ROUND_TRIP, tools=(WEATHER, TIME), tool_choice="none")
    )
    assert "toolChoice" not in body["toolConfig"] and "none" in note


@pytest.mark.anyio
@respx.mock
async def test_anthropic_thinking_is_not_sent_with_earlier_tool_use_turns_it_cannot_sign():
    """The API wants each earlier tool_use turn preceded by its signed thinking block, which is not kept."""
    route = respx.post(ANTHROPIC).respond(
        200, json={**ANTHROPIC_ANSWER, "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}
    )
    result = await client().chat(
        "anthropic/claude-sonnet-4-5", ROUND_TRIP, tools=[WEATHER, TIME], thinking_level="medium"
    )
    assert "thinking" not in sent_body(route) and "signed thinking" in result.metadata["thinking_note"]
    first_turn = await client().chat("anthropic/claude-sonnet-4-5", ASK, tools=[WEATHER], thinking_level="medium")
    assert sent_body(route)["thinking"]["type"] == "enabled" and "thinking_note" not in first_turn.metadata


@pytest.mark.anyio
async def test_vertex_streams_function_calls_and_holds_a_schema():
    adapter = VertexAdapter(FakeGoogleCredentials())
    from providers.structured import as_response_schema

    schema = as_response_schema(
        {"type": "json_schema", "json_schema": {"name": "w", "schema": dict(WEATHER.parameters)}}
    )
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{REGIONAL}/gemini-2.5-flash:streamGenerateContent").respond(
            200, headers={"content-type": "text/event-stream"}, content=sse(GEMINI_CALLS)
        )
        structured = mock.post(f"{REGIONAL}/gemini-2.5-flash:generateContent").respond(
            200,
            json={
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": '{"city": "Paris"}'}]}, "finishReason": "STOP"}
                ]
            },
        )
        async with httpx.AsyncClient() as http:
            pieces = [
                d
                async for d in adapter.stream_chat(
                    http, vertex_creds(), ChatRequest(model="gemini-2.5-flash", messages=ASK, tools=(WEATHER, TIME))
                )
            ]
            await adapter.chat(
                http, vertex_creds(), ChatRequest(model="gemini-2.5-flash", messages=ASK, response_schema=schema)
            )
    assert [c.name for d in pieces for c in d.tool_calls] == ["get_weather", "get_time"]
    assert sent_body(structured)["generationConfig"]["responseJsonSchema"] == dict(WEATHER.parameters)


@pytest.mark.anyio
@respx.mock
async def test_azure_deployment_gets_openai_tool_fields_and_returns_calls():
    route = respx.post(
        url__startswith="https://res.openai.azure.com/openai/deployments/agent/chat/completions"
    ).respond(200, json=openai_answer([openai_call("call_z", "get_time", '{"tz": "UTC"}')]))
    env = {"AZURE_OPENAI_API_KEY": "fake-azure-key-0000", "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com"}
    result = await ProviderClient(Keys(None, env), http=httpx.AsyncClient()).chat(
        "azure/agent", ASK, tools=[TIME], tool_choice="required", parallel_tool_calls=False
    )
    body = sent_body(route)
    assert body["tools"][0]["function"]["name"] == "get_time" and body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False
    assert result.tool_calls == (ToolCall("call_z", "get_time", {"tz": "UTC"}),)


@pytest.mark.anyio
@respx.mock
async def test_mistral_streamed_tool_calls_are_assembled():
    finish = {
        "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }
    respx.post("https://api.mistral.ai/v1/chat/completions").respond(
        200, headers={"content-type": "text/event-stream"}, content=sse(*STREAMED_CALLS, finish, "[DONE]")
    )
    pieces = [d async for d in client().stream_chat("mistral/mistral-small-latest", ASK, tools=[WEATHER, TIME])]
    assert [c.name for d in pieces for c in d.tool_calls] == ["get_weather", "get_time"]


GEMINI3 = "https://generativelanguage.googleapis.com/v1beta/models/gemini-3-flash-preview"


@pytest.mark.anyio
@respx.mock
async def test_gemini_3_thought_signatures_go_back_with_their_calls():
    """Gemini 3 puts a thoughtSignature on a turn's first call and answers 400 when it does not come back."""
    route = respx.post(f"{GEMINI3}:generateContent").mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "candidates": [
                        {
                            "content": {
                                "role": "model",
                                "parts": [
                                    {
                                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                                        "thoughtSignature": "c2lnLTE=",
                                    },
                                    {"functionCall": {"name": "get_time", "args": {"tz": "CET"}}},
                                ],
                            },
                            "finishReason": "STOP",
                        }
                    ]
                },
            ),
            httpx.Response(
                200,
                json={
                    "candidates": [{"content": {"role": "model", "parts": [{"text": "done"}]}, "finishReason": "STOP"}]
                },
            ),
            httpx.Response(
                200,
                json={
                    "candidates": [{"content": {"role": "model", "parts": [{"text": "done"}]}, "finishReason": "STOP"}]
                },
            ),
        ]
    )
    c = client()
    first = await c.chat("google/gemini-3-flash-preview", ASK, tools=[WEATHER, TIME])
    assert [call.signature for call in first.tool_calls] == ["c2lnLTE=", None]
    history = [
        *ASK,
        Message("assistant", "", tool_calls=first.tool_calls),
        *(Message("tool", "ok", tool_call_id=call.id) for call in first.tool_calls),
    ]
    await c.chat("google/gemini-3-flash-preview", history, tools=[WEATHER, TIME])
    parts = sent_body(route)["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == "c2lnLTE=" and "thoughtSignature" not in parts[1]
    # a call made by another model (no signature) gets Google's documented placeholder on Gemini 3
    await c.chat("google/gemini-3-flash-preview", ROUND_TRIP, tools=[WEATHER, TIME])
    parts = sent_body(route)["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == "skip_thought_signature_validator"
