"""``qmdr chat --tools FILE`` as a user runs it, against a loopback server answering in OpenAI's tool-call shapes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.qmdr_process import qmdr_env
from tests.e2e.test_cli import ENCRYPTION_KEY, qmdr

pytestmark = pytest.mark.e2e

CALL = {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


class ToolCallingServer(BaseHTTPRequestHandler):
    """Answers every chat completion with one call to get_weather, plain or streamed; records the bodies."""

    bodies: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).bodies.append(body)
        if body.get("stream"):
            first = {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, **CALL}]}}]}
            last = {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
            payload = f"data: {json.dumps(first)}\n\ndata: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode()
            content_type = "text/event-stream"
        else:
            payload = json.dumps(
                {
                    "id": "c",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "m",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "tool_calls",
                            "message": {"role": "assistant", "content": None, "tool_calls": [CALL]},
                        }
                    ],
                }
            ).encode()
            content_type = "application/json"
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    ToolCallingServer.bodies = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ToolCallingServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_chat_with_a_tools_file_prints_each_call(tmp_path: Path, server: str) -> None:
    env = qmdr_env(tmp_path / "data", SECRET_ENCRYPTION_KEY=ENCRYPTION_KEY)
    assert qmdr("providers", "add-custom", "tools", server, env=env, cwd=tmp_path).returncode == 0
    tools = tmp_path / "tools.yaml"
    tools.write_text(
        "- name: get_weather\n  description: Weather now in a city\n  parameters:\n"
        "    type: object\n    properties: {city: {type: string}}\n    required: [city]\n"
    )
    for mode in ("--no-stream", "--stream"):
        done = qmdr(
            "chat",
            "-m",
            "custom-tools/m",
            "Weather in Paris?",
            "--tools",
            str(tools),
            "--tool-choice",
            "get_weather",
            mode,
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("tool_call ")]
        assert json.loads(line.removeprefix("tool_call ")) == {
            "id": "call_7",
            "name": "get_weather",
            "arguments": {"city": "Paris"},
        }
    sent = ToolCallingServer.bodies[-1]
    assert sent["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_a_bad_tools_file_is_a_clear_usage_error(tmp_path: Path) -> None:
    env = qmdr_env(tmp_path / "data", SECRET_ENCRYPTION_KEY=ENCRYPTION_KEY)
    bad = tmp_path / "tools.json"
    bad.write_text(json.dumps([{"name": "has space"}]))
    done = qmdr("chat", "-m", "openai/gpt-4o-mini", "hi", "--tools", str(bad), env=env, cwd=tmp_path)
    assert done.returncode == 2 and "not allowed" in done.stderr and "Traceback" not in done.stderr
