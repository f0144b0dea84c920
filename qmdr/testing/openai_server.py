"""A small OpenAI-compatible server on a real socket, for end-to-end tests and benchmarks.

Serves ``GET /v1/models``, ``POST /v1/chat/completions`` (plain and SSE with
``stream_options.include_usage``) and ``POST /v1/embeddings`` in the shapes of
OpenAI's API reference. Behaviour is pluggable so other tests can reuse it:

* ``embed_fn(texts, model) -> list[list[float]]`` (default: deterministic
  hash vectors of ``dim`` floats, L2-normalised) - e.g. the embedded model;
* ``chat_fn(messages, model) -> str`` (default: ``"echo: <last user message>"``)
  - e.g. a deterministic grader;
* ``latency``: seconds to wait before every answer;
* ``fail_next(status, times, retry_after)``: queue error answers;
* ``inject(Fault(...), times)``: queue any fault of ``FAULT_KINDS`` (status
  codes with or without Retry-After, latency, a dropped connection, truncated
  or invalid JSON, a slow drip of the body); ``faults_served`` counts them;
* ``json_schema``: whether ``response_format: {"type": "json_schema"}`` is
  accepted (the default: the answer is ``chat_fn``'s text, which must then be
  the JSON asked for) or refused with OpenAI's 400 ``invalid_request_error``
  naming ``response_format``, as OpenAI-compatible servers without
  structured output do;
* ``api_key``: when set, requests without ``Authorization: Bearer <key>`` get 401;
* ``echo_key_in_errors``: that 401 quotes the key it was sent, as some real
  providers do, so tests can prove we never pass a provider's echo on.

Either function may be sync or async. Every request is recorded in
``requests`` (path, JSON body, whether auth was sent), never the key itself.

Usage::

    with FakeOpenAIServer(chat_fn=grade) as server:
        store.add_custom_provider("fake", server.base_url)
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

EmbedFn = Callable[[list[str], str], "list[list[float]] | Awaitable[list[list[float]]]"]
ChatFn = Callable[[list[dict[str, Any]], str], "str | Awaitable[str]"]
Handler = Callable[[Request], Awaitable[Response]]


def loopback_socket() -> socket.socket:
    """A TCP socket bound to a free port on 127.0.0.1, for ``uvicorn.Server.run(sockets=[...])``.

    Why ``IPPROTO_TCP`` and not the default protocol 0: asyncio turns Nagle's
    algorithm off (``TCP_NODELAY``) only on accepted sockets whose ``proto`` is
    ``IPPROTO_TCP``, and accepted sockets inherit the listener's. With proto 0
    every response written in two parts (headers, then body) waits for the
    client's delayed ACK: 40 ms added to each request on Linux.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


#: how long start() waits for uvicorn to accept connections before giving up
STARTUP_TIMEOUT_SECONDS = 10.0
#: default vector size: small keeps fixtures fast, big enough that distinct texts differ
DEFAULT_DIM = 8


def hash_vector(text: str, dim: int = DEFAULT_DIM) -> list[float]:
    """A deterministic unit vector for ``text`` (same text, same vector, across runs and processes)."""
    raw: list[float] = []
    counter = 0
    while len(raw) < dim:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        raw.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    raw = raw[:dim]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def echo_chat(messages: list[dict[str, Any]], model: str) -> str:
    users = [m.get("content", "") for m in messages if m.get("role") == "user"]
    return f"echo: {users[-1] if users else ''}"


#: every kind of fault ``inject`` can queue
FAULT_KINDS = ("ok", "status", "latency", "disconnect", "truncated", "invalid_json", "drip")


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour for the next request.

    * ``ok``: answer normally (queued before another fault, it makes that one hit a later request);
    * ``status``: answer ``status`` (with ``retry_after`` when given) and an OpenAI error body;
    * ``latency``: wait ``seconds`` and then answer normally;
    * ``disconnect``: send the headers and part of the body, then drop the connection;
    * ``truncated``: a 200 whose JSON body is cut in half;
    * ``invalid_json``: a 200 whose body is not JSON at all;
    * ``drip``: the normal body, sent in ``pieces`` pieces ``seconds`` apart.
    """

    kind: str
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    pieces: int = 8

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {FAULT_KINDS}")


class _DisconnectMidBody(Response):
    """Declares the full length, sends half of the body, then fails so the server drops the socket."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})
        raise ConnectionResetError("injected disconnect")


def _apply_body_fault(fault: Fault | None, response: Response) -> Response:
    """Turn a normal JSON answer into the faulty variant ``fault`` asks for (or leave it alone)."""
    if fault is None or not isinstance(response, JSONResponse):
        return response
    body = bytes(response.body)
    if fault.kind == "truncated":
        return Response(body[: len(body) // 2], media_type="application/json")
    if fault.kind == "invalid_json":
        return Response(b"<html>upstream proxy error</html>", media_type="application/json")
    if fault.kind == "disconnect":
        return _DisconnectMidBody(body, media_type="application/json")
    if fault.kind == "drip":
        size = max(1, -(-len(body) // max(1, fault.pieces)))

        async def pieces():
            for start in range(0, len(body), size):
                await asyncio.sleep(fault.seconds)
                yield body[start : start + size]

        return StreamingResponse(pieces(), media_type="application/json")
    return response


@dataclass
class RecordedRequest:
    method: str
    path: str
    body: Any
    authorized: bool


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


class FakeOpenAIServer:
    """Runs a Starlette app under uvicorn in a background thread on 127.0.0.1 and a free port."""

    def __init__(
        self,
        *,
        chat_fn: ChatFn = echo_chat,
        embed_fn: EmbedFn | None = None,
        dim: int = DEFAULT_DIM,
        models: Sequence[str] = ("fake-chat", "fake-embed"),
        latency: float = 0.0,
        api_key: str | None = None,
        echo_key_in_errors: bool = False,
        json_schema: bool = True,
    ) -> None:
        self.chat_fn = chat_fn
        self.json_schema = json_schema
        self.dim = dim
        self.embed_fn: EmbedFn = embed_fn or (lambda texts, model: [hash_vector(t, self.dim) for t in texts])
        self.models = list(models)
        self.latency = latency
        self.api_key = api_key
        self.echo_key_in_errors = echo_key_in_errors
        self.requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        #: how many injected faults were actually served, by kind
        self.faults_served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/models", self._with_body_faults(self._models), methods=["GET"]),
                Route("/v1/chat/completions", self._with_body_faults(self._chat), methods=["POST"]),
                Route("/v1/embeddings", self._with_body_faults(self._embeddings), methods=["POST"]),
            ]
        )

    # -- control ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self.port}/v1"

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """The next ``times`` requests (any endpoint) answer ``status`` with an OpenAI-style error body."""
        self.inject(Fault("status", status=status, retry_after=retry_after), times)

    def inject(self, fault: Fault, times: int = 1) -> None:
        """The next ``times`` requests (any endpoint) misbehave as ``fault`` says."""
        with self._lock:
            self._faults.extend([fault] * times)

    def clear_faults(self) -> None:
        """Drop queued faults that have not been served yet."""
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def start(self) -> FakeOpenAIServer:
        sock = loopback_socket()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_TIMEOUT_SECONDS)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling ---------------------------------------------------------

    @staticmethod
    def _with_body_faults(handler: Handler) -> Handler:
        async def handle(request: Request) -> Response:
            response = await handler(request)
            return _apply_body_fault(getattr(request.state, "fault", None), response)

        return handle

    async def _prelude(self, request: Request) -> tuple[Any, Response | None]:
        body: Any = None
        if request.method == "POST":
            try:
                body = json.loads(await request.body())
            except ValueError:
                return None, JSONResponse({"error": {"message": "invalid JSON body"}}, status_code=400)
        auth = request.headers.get("authorization", "")
        authorized = self.api_key is None or auth == f"Bearer {self.api_key}"
        self.requests.append(RecordedRequest(request.method, request.url.path, body, bool(auth)))
        if self.latency:
            await asyncio.sleep(self.latency)
        if not authorized:
            quoted = f": {auth.removeprefix('Bearer ')}" if self.echo_key_in_errors else ""
            return body, JSONResponse(
                {"error": {"message": f"Incorrect API key provided{quoted}", "type": "invalid_request_error"}},
                status_code=401,
            )
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            if fault is not None:
                self.faults_served[fault.kind] = self.faults_served.get(fault.kind, 0) + 1
        request.state.fault = fault
        if fault is None:
            return body, None
        if fault.kind in ("ok", "latency"):
            await asyncio.sleep(fault.seconds)
            request.state.fault = None
        elif fault.kind == "status":
            headers = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
            return body, JSONResponse(
                {"error": {"message": f"injected fault {fault.status}", "type": "server_error"}},
                status_code=fault.status,
                headers=headers,
            )
        return body, None

    async def _models(self, request: Request) -> Response:
        _, early = await self._prelude(request)
        if early is not None:
            return early
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models],
            }
        )

    async def _embeddings(self, request: Request) -> Response:
        body, early = await self._prelude(request)
        if early is not None:
            return early
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        model = body.get("model", "")
        vectors = await _maybe_await(self.embed_fn(texts, model))
        dims = body.get("dimensions")
        if dims:
            vectors = [list(v)[:dims] for v in vectors]
        tokens = sum(_tokens(t) for t in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": [float(x) for x in v]}
                    for i, v in enumerate(vectors)
                ],
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _chat(self, request: Request) -> Response:
        body, early = await self._prelude(request)
        if early is not None:
            return early
        messages = body.get("messages") or []
        model = body.get("model", "")
        if not self.json_schema and (body.get("response_format") or {}).get("type") == "json_schema":
            return JSONResponse(
                {
                    "error": {
                        "message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with "
                        "this model.",
                        "type": "invalid_request_error",
                        "param": "response_format",
                        "code": None,
                    }
                },
                status_code=400,
            )
        text = str(await _maybe_await(self.chat_fn(messages, model)))
        prompt_tokens = sum(_tokens(str(m.get("content", ""))) for m in messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _tokens(text),
            "total_tokens": prompt_tokens + _tokens(text),
        }
        created = int(time.time())
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def events():
            def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
                payload = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                return f"data: {json.dumps(payload)}\n\n"

            yield chunk({"role": "assistant", "content": ""})
            words = text.split(" ")
            for i, word in enumerate(words):
                yield chunk({"content": word if i == 0 else f" {word}"})
            yield chunk({}, "stop")
            if include_usage:
                payload = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                yield f"data: {json.dumps(payload)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")
