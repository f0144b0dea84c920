"""Amazon Bedrock: the Converse API for chat, InvokeModel for embeddings, SigV4-signed with botocore.

Reference: https://docs.aws.amazon.com/bedrock/latest/APIReference/ (API_runtime_Converse,
API_runtime_ConverseStream, API_runtime_InvokeModel, API_ListFoundationModels) and the model
parameter pages for Titan Text Embeddings V2, Cohere Embed and Claude extended thinking.

* Chat: ``POST https://bedrock-runtime.{region}.amazonaws.com/model/{modelId}/converse``;
  streaming uses ``/converse-stream``, whose body is AWS's binary event-stream
  framing (``application/vnd.amazon.eventstream``), decoded with botocore's
  ``EventStreamBuffer``. The model id is percent-encoded in the path (ids and
  inference-profile ARNs contain ``:`` and ``/``); botocore signs that path.
* Auth: SigV4 for service ``bedrock`` with credentials from botocore's chain
  (env vars, shared config/profile, SSO, instance role). Resolving and
  refreshing them can touch disk or the network, so it runs in a worker
  thread. A Bedrock API key (``Credentials.api_key``, env
  ``AWS_BEARER_TOKEN_BEDROCK``) is sent as a bearer token instead.
* Region: ``Credentials.extra["region"]`` (env ``AWS_REGION``).
* Thinking: only Claude 3.7 Sonnet and later take it on Bedrock (AWS
  documents extended thinking from Claude 3.7 Sonnet on), through
  ``additionalModelRequestFields.thinking`` with the Anthropic module's
  budgets and the same ``maxTokens = budget + answer room`` rule. Other
  models (Claude 3.5 Sonnet included) run without it and say so
  (``thinking_applied=False`` + a note).
* Tools (API reference: ToolConfiguration, ToolUseBlock, ToolResultBlock,
  ConverseStream events): ``toolConfig: {"tools": [{"toolSpec": {name,
  description, "inputSchema": {"json": schema}}}], "toolChoice": {"auto": {}} |
  {"any": {}} | {"tool": {"name"}}}``. Converse has no "none" choice: such a
  call sends no ``toolConfig`` unless the conversation already holds tool
  blocks (Bedrock then requires it), when the tools go with ``auto`` and the
  metadata note says so. Answers hold ``toolUse`` blocks (``toolUseId``,
  ``name``, ``input``); streams open one with ``contentBlockStart``
  (``start.toolUse``), send ``contentBlockDelta`` pieces (``delta.toolUse.input``,
  JSON text) and close it with ``contentBlockStop``. Results go back as
  ``toolResult`` blocks (``toolUseId``, ``content: [{"text"}]``) in a user turn.
* Embeddings (InvokeModel ``POST /model/{modelId}/invoke``): Titan
  (``amazon.titan-embed-*``) takes ONE text per call, so ``embed`` makes one
  request per text, in order; Cohere (``cohere.embed-*``) takes up to 96 texts
  in one request. Other embedding families are refused with a clear error.
* Errors: a JSON ``{"message": ...}`` body with the ``x-amzn-ErrorType``
  header (ThrottlingException is 429); inside a stream, exception messages
  carry ``:exception-type``, mapped to the same statuses.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import quote

import anyio.to_thread
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.eventstream
import botocore.session
import httpx

from providers.catalog import claude_can_think
from providers.errors import MalformedResponse, MissingCredentials, ProviderError
from providers.structured import as_forced_tool, forced_tool_answer, unsupported
from providers.tools import StreamedCalls, parse_arguments
from providers.types import ChatDelta, ChatRequest, ChatResult, Credentials, EmbedResult, Message, ToolCall, Usage
from providers.wire.anthropic import DEFAULT_MAX_TOKENS, THINKING_BUDGETS
from providers.wire.transport import iter_bytes, open_stream, raise_in_stream_error, request_json, timeout_arg

SIGNING_SERVICE = "bedrock"  # both bedrock-runtime and the bedrock control plane sign as "bedrock"
REGION_ENV = "AWS_REGION"
API_KEY_ENV = "AWS_BEARER_TOKEN_BEDROCK"
EVENT_STREAM_TYPE = "application/vnd.amazon.eventstream"

#: Cohere Embed on Bedrock takes at most 96 texts per request (documented); Titan loops one call per text
MAX_EMBED_BATCH = 96
#: Cohere's input_type for texts stored in an index (queries would be "search_query")
COHERE_INPUT_TYPE = "search_document"

#: ConverseStream ``:exception-type`` -> the HTTP status the same error has on a plain call (API reference)
STREAM_EXCEPTION_STATUS = {
    "throttlingException": 429,
    "validationException": 400,
    "accessDeniedException": 403,
    "resourceNotFoundException": 404,
    "modelTimeoutException": 408,
    "modelStreamErrorException": 424,
    "internalServerException": 500,
    "serviceUnavailableException": 503,
}

FrozenCredentials = botocore.credentials.ReadOnlyCredentials
CredentialsLoader = Callable[[], botocore.credentials.Credentials | None]


def default_aws_credentials() -> botocore.credentials.Credentials | None:
    """botocore's default chain: env, shared config/profile, SSO, container and instance roles."""
    return botocore.session.Session().get_credentials()


def is_claude(model: str) -> bool:
    """Claude ids on Bedrock look like ``anthropic.claude-...`` or ``us.anthropic.claude-...`` (profiles)."""
    return "anthropic.claude" in model


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [{"toolResult": {"toolUseId": message.tool_call_id, "content": [{"text": message.content}]}}]
    blocks: list[dict[str, Any]] = [{"text": message.content}] if message.content or not message.tool_calls else []
    blocks += [{"toolUse": {"toolUseId": c.id, "name": c.name, "input": c.arguments}} for c in message.tool_calls]
    return blocks


def converse_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Non-system turns; tool results become user turns, joined with the user turn next to them."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "user" if m.role == "tool" else m.role
        if (
            out
            and out[-1]["role"] == role == "user"
            and (m.role == "tool" or any("toolResult" in b for b in out[-1]["content"]))
        ):
            out[-1]["content"] += _blocks(m)
        else:
            out.append({"role": role, "content": _blocks(m)})
    return out


def tool_config(req: ChatRequest) -> tuple[dict[str, Any] | None, str | None]:
    """``toolConfig`` for ``req`` (None: send none) and a note when the choice could not be expressed."""
    if not req.tools:
        return None, None
    has_tool_blocks = any(m.role == "tool" or m.tool_calls for m in req.messages)
    if req.tool_choice == "none" and not has_tool_blocks:
        return None, None
    config: dict[str, Any] = {
        "tools": [
            {
                "toolSpec": {
                    "name": t.name,
                    "description": t.description or t.name,
                    "inputSchema": {"json": dict(t.parameters)},
                }
            }
            for t in req.tools
        ]
    }
    note = None
    if req.tool_choice == "none":
        note = "Bedrock Converse has no tool_choice 'none'; with tool blocks in the conversation it ran with 'auto'"
    elif req.tool_choice == "required":
        config["toolChoice"] = {"any": {}}
    elif req.tool_choice not in (None, "auto"):
        config["toolChoice"] = {"tool": {"name": req.tool_choice}}
    return config, note


def build_converse_body(req: ChatRequest) -> tuple[dict[str, Any], bool, str | None]:
    """The Converse request body, whether thinking is on, and a note when a setting gave way.

    A response schema becomes a forced tool (``toolChoice.tool``), which Converse documents for Claude:
    other models are refused with StructuredOutputUnsupported."""
    if req.response_schema is not None:
        if not is_claude(req.model):
            raise unsupported(
                req.model,
                "bedrock",
                "Converse has no JSON schema switch, and forcing a tool is documented for Anthropic Claude models only",
            )
        req = as_forced_tool(req, provider="bedrock")
    body: dict[str, Any] = {"messages": converse_messages(req.messages)}
    system = [{"text": m.content} for m in req.messages if m.role == "system"]
    if system:
        body["system"] = system
    config, tool_note = tool_config(req)
    if config is not None:
        body["toolConfig"] = config
    inference: dict[str, Any] = {}
    thinking = req.thinking_level not in (None, "off")
    note = None
    if thinking and req.tools and req.tool_choice not in (None, "auto", "none"):
        thinking, note = False, "thinking cannot be combined with a forced tool; ran without thinking"
    elif thinking and any(m.tool_calls for m in req.messages):
        thinking, note = (
            False,
            (
                "Claude thinking needs the signed reasoning blocks of earlier tool-use turns, "
                "which are not kept; this turn ran without thinking"
            ),
        )
    if thinking and not is_claude(req.model):
        thinking, note = False, f"{req.model} takes no thinking setting through Converse; ran without it"
    elif thinking and not claude_can_think(req.model):
        thinking, note = (
            False,
            (f"{req.model} has no extended thinking (Claude 3.7 Sonnet and later have it); ran without it"),
        )
    if thinking:
        budget = THINKING_BUDGETS[req.thinking_level]  # type: ignore[index]
        body["additionalModelRequestFields"] = {"thinking": {"type": "enabled", "budget_tokens": budget}}
        inference["maxTokens"] = budget + (req.max_tokens if req.max_tokens is not None else DEFAULT_MAX_TOKENS)
        if req.temperature is not None:
            note = "temperature ignored: Claude only thinks at its default temperature"
    else:
        if req.max_tokens is not None:
            inference["maxTokens"] = req.max_tokens
        if req.temperature is not None:
            inference["temperature"] = req.temperature
    if inference:
        body["inferenceConfig"] = inference
    if tool_note:
        note = f"{note}; {tool_note}" if note else tool_note
    return body, thinking, note


def _usage(data: Any) -> Usage:
    usage = data if isinstance(data, dict) else {}
    read = int(usage.get("cacheReadInputTokens") or 0)
    write = int(usage.get("cacheWriteInputTokens") or 0)
    return Usage(  # inputTokens leaves out the tokens read from or written to the prompt cache
        input_tokens=int(usage.get("inputTokens") or 0) + read + write,
        output_tokens=int(usage.get("outputTokens") or 0),
        cached_input_tokens=read,
        cache_write_tokens=write,
    )


def parse_converse(data: Any, *, provider: str, model: str, thinking: bool, note: str | None) -> ChatResult:
    """A Converse response (``output.message.content`` blocks: text / reasoningContent) as a ChatResult."""
    try:
        content = data["output"]["message"]["content"]
    except (KeyError, TypeError) as exc:
        raise MalformedResponse(
            f"{provider} answer has no output.message.content", provider=provider, model=model
        ) from exc
    if not isinstance(content, list):
        raise MalformedResponse(f"{provider} answer content is not a list", provider=provider, model=model)
    texts, thoughts, calls = [], [], []
    for block in content:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        use = block.get("toolUse")
        if isinstance(use, dict):
            name = use.get("name")
            if not isinstance(name, str):
                raise MalformedResponse(
                    f"{provider} sent a toolUse block without a name", provider=provider, model=model
                )
            calls.append(
                ToolCall(
                    str(use.get("toolUseId") or ""),
                    name,
                    parse_arguments(use.get("input"), tool=name, provider=provider, model=model),
                )
            )
        reasoning = (block.get("reasoningContent") or {}).get("reasoningText") or {}
        if isinstance(reasoning.get("text"), str):
            thoughts.append(reasoning["text"])
    return ChatResult(
        text="".join(texts),
        provider=provider,
        model=model,
        thinking="".join(thoughts) or None,
        usage=_usage(data.get("usage")),
        thinking_applied=thinking,
        finish_reason=data.get("stopReason"),
        metadata={"thinking_note": note} if note else {},
        tool_calls=tuple(calls),
    )


def _event_payload(message: botocore.eventstream.EventStreamMessage, provider: str) -> Any:
    try:
        return json.loads(message.payload or b"{}")
    except ValueError as exc:
        raise MalformedResponse(f"{provider} sent a stream event that is not JSON", provider=provider) from exc


class BedrockAdapter:
    """Bedrock Runtime with SigV4 (or a Bedrock API key).

    ``aws_credentials``: ready botocore credentials (tests pass static fake
    ones); ``loader``: how to find them when none were given (default: the
    botocore chain). The found object is kept: botocore refreshes it itself.
    """

    max_embed_batch = MAX_EMBED_BATCH

    def __init__(
        self,
        aws_credentials: botocore.credentials.Credentials | None = None,
        *,
        loader: CredentialsLoader = default_aws_credentials,
    ) -> None:
        self._aws_credentials = aws_credentials
        self._loader = loader

    # -- where and as whom ---------------------------------------------------

    @staticmethod
    def _region(creds: Credentials) -> str:
        region = creds.extra.get("region")
        if not region:
            raise MissingCredentials(
                f"No AWS region for Bedrock: set {REGION_ENV} (e.g. us-east-1).",
                env_var=REGION_ENV,
                provider=creds.provider,
            )
        return region

    def _runtime_base(self, creds: Credentials) -> str:
        region = self._region(creds)
        base = creds.base_url or "https://bedrock-runtime.{region}.amazonaws.com"
        return base.replace("{region}", region).rstrip("/")

    def _model_url(self, creds: Credentials, model: str, action: str) -> str:
        return f"{self._runtime_base(creds)}/model/{quote(model, safe='')}/{action}"

    async def _frozen(self, creds: Credentials) -> FrozenCredentials:
        if self._aws_credentials is None:
            self._aws_credentials = await anyio.to_thread.run_sync(self._loader)
        if self._aws_credentials is None:
            raise MissingCredentials(
                "No AWS credentials for Bedrock: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
                f"or a Bedrock API key in {API_KEY_ENV}.",
                env_var="AWS_ACCESS_KEY_ID",
                provider=creds.provider,
            )
        # may refresh (STS, SSO, instance metadata): blocking I/O, so off the event loop
        return await anyio.to_thread.run_sync(self._aws_credentials.get_frozen_credentials)

    async def _signed_headers(
        self,
        creds: Credentials,
        method: str,
        url: str,
        body: bytes,
        accept: str = "application/json",
    ) -> dict[str, str]:
        """Headers for one request: SigV4 over exactly these bytes, or the Bedrock API key as a bearer."""
        headers = {"Content-Type": "application/json", "Accept": accept}
        if creds.api_key:
            return {**headers, "Authorization": f"Bearer {creds.api_key}"}
        aws_request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=headers)
        botocore.auth.SigV4Auth(await self._frozen(creds), SIGNING_SERVICE, self._region(creds)).add_auth(aws_request)
        return dict(aws_request.headers.items())

    async def _call(
        self,
        client: httpx.AsyncClient,
        creds: Credentials,
        url: str,
        body: dict[str, Any] | None,
        *,
        model: str | None,
        timeout: float | None = None,
    ) -> Any:
        content = json.dumps(body).encode() if body is not None else b""
        method = "POST" if body is not None else "GET"
        headers = await self._signed_headers(creds, method, url, content)
        return await request_json(
            client,
            method,
            url,
            provider=creds.provider,
            model=model,
            headers=headers,
            content=content,
            timeout=timeout,
        )

    # -- chat ------------------------------------------------------------------

    async def chat(self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest) -> ChatResult:
        body, thinking, note = build_converse_body(req)
        data = await self._call(
            client,
            creds,
            self._model_url(creds, req.model, "converse"),
            body,
            model=req.model,
            timeout=req.timeout,
        )
        result = parse_converse(data, provider=creds.provider, model=req.model, thinking=thinking, note=note)
        return forced_tool_answer(result, req)

    async def stream_chat(
        self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest
    ) -> AsyncIterator[ChatDelta]:
        """Deltas decoded from the event stream: contentBlockDelta text/reasoning, messageStop, metadata."""
        body, _, note = build_converse_body(req)
        url = self._model_url(creds, req.model, "converse-stream")
        content = json.dumps(body).encode()
        headers = await self._signed_headers(creds, "POST", url, content, accept=EVENT_STREAM_TYPE)
        request = client.build_request("POST", url, headers=headers, content=content, timeout=timeout_arg(req.timeout))
        provider = creds.provider
        usage, finish = Usage(), None
        calls = StreamedCalls(provider=provider, model=req.model)
        buffer = botocore.eventstream.EventStreamBuffer()
        async with open_stream(client, request, provider=provider, model=req.model) as response:
            async for chunk in iter_bytes(response, provider=provider):
                buffer.add_data(chunk)
                try:
                    messages = list(buffer)
                except botocore.eventstream.ParserError as exc:
                    raise MalformedResponse(
                        f"{provider} sent a broken event-stream frame ({type(exc).__name__})",
                        provider=provider,
                        model=req.model,
                    ) from exc
                for message in messages:
                    kind = message.headers.get(":message-type")
                    payload = _event_payload(message, provider)
                    if kind == "exception":
                        name = str(message.headers.get(":exception-type", ""))
                        raise_in_stream_error(
                            STREAM_EXCEPTION_STATUS.get(name, 500),
                            payload,
                            provider=provider,
                            model=req.model,
                        )
                    if kind == "error":
                        raise_in_stream_error(
                            500,
                            {"message": message.headers.get(":error-message", "")},
                            provider=provider,
                            model=req.model,
                        )
                    event = message.headers.get(":event-type")
                    slot = int(payload.get("contentBlockIndex", 0) or 0)
                    if event == "contentBlockStart":
                        start = (payload.get("start") or {}).get("toolUse")
                        if isinstance(start, dict):
                            calls.start(slot, start.get("toolUseId"), start.get("name"))
                    elif event == "contentBlockDelta":
                        delta = payload.get("delta") or {}
                        if isinstance(delta.get("text"), str):
                            yield ChatDelta(text=delta["text"])
                        reasoning = delta.get("reasoningContent") or {}
                        if isinstance(reasoning.get("text"), str):
                            yield ChatDelta(thinking=reasoning["text"])
                        if isinstance(delta.get("toolUse"), dict):
                            calls.add(slot, delta["toolUse"].get("input"))
                    elif event == "contentBlockStop":
                        finished = calls.finish(slot)
                        if finished:
                            yield ChatDelta(tool_calls=finished)
                    elif event == "messageStop":
                        finish = payload.get("stopReason")
                    elif event == "metadata":
                        usage = _usage(payload.get("usage"))
        if calls.open:
            raise calls.cut()
        yield ChatDelta(
            done=True, usage=usage, finish_reason=finish, metadata={"thinking_note": note} if note else None
        )

    # -- embeddings --------------------------------------------------------------

    async def embed(
        self,
        client: httpx.AsyncClient,
        creds: Credentials,
        model: str,
        texts: Sequence[str],
        dimensions: int | None = None,
    ) -> EmbedResult:
        if len(texts) > self.max_embed_batch:
            raise ProviderError(
                f"{creds.provider} embeds at most {self.max_embed_batch} texts per call; "
                f"got {len(texts)}. Split the batch (max_embed_batch).",
                provider=creds.provider,
            )
        if not texts:
            return EmbedResult(vectors=[], model=model)
        url = self._model_url(creds, model, "invoke")
        if "titan-embed" in model:
            return await self._embed_titan(client, creds, url, model, texts, dimensions)
        if "cohere.embed" in model:
            return await self._embed_cohere(client, creds, url, model, texts, dimensions)
        raise ProviderError(
            f"Bedrock embedding model {model!r} is not supported: use amazon.titan-embed-* or cohere.embed-*.",
            provider=creds.provider,
            model=model,
        )

    async def _embed_titan(
        self,
        client: httpx.AsyncClient,
        creds: Credentials,
        url: str,
        model: str,
        texts: Sequence[str],
        dimensions: int | None,
    ) -> EmbedResult:
        """Titan embeds one text per InvokeModel call: one request per text, in order."""
        vectors, tokens = [], 0
        for text in texts:
            body: dict[str, Any] = {"inputText": text}
            if "v2" in model:  # dimensions/normalize exist on Titan Text Embeddings V2 only
                body["normalize"] = True
                if dimensions is not None:
                    body["dimensions"] = dimensions
            data = await self._call(client, creds, url, body, model=model)
            embedding = data.get("embedding") if isinstance(data, dict) else None
            if not isinstance(embedding, list):
                raise MalformedResponse(
                    f"{creds.provider} Titan answer has no embedding list",
                    provider=creds.provider,
                    model=model,
                )
            vectors.append([float(v) for v in embedding])
            tokens += int(data.get("inputTextTokenCount") or 0)
        return EmbedResult(vectors=vectors, model=model, usage=Usage(input_tokens=tokens))

    async def _embed_cohere(
        self,
        client: httpx.AsyncClient,
        creds: Credentials,
        url: str,
        model: str,
        texts: Sequence[str],
        dimensions: int | None,
    ) -> EmbedResult:
        body: dict[str, Any] = {"texts": list(texts), "input_type": COHERE_INPUT_TYPE}
        if dimensions is not None:  # Embed v4 only; v3 models have a fixed size and refuse it
            body["output_dimension"] = dimensions
        data = await self._call(client, creds, url, body, model=model)
        embeddings = data.get("embeddings") if isinstance(data, dict) else None
        if isinstance(embeddings, dict):  # embedding_types were requested: {"float": [...]}
            embeddings = embeddings.get("float")
        if not isinstance(embeddings, list) or len(embeddings) != len(texts):
            raise MalformedResponse(
                f"{creds.provider} Cohere answer has no embeddings list of {len(texts)}",
                provider=creds.provider,
                model=model,
            )
        try:
            vectors = [[float(v) for v in row] for row in embeddings]
        except (TypeError, ValueError) as exc:
            raise MalformedResponse(
                f"{creds.provider} Cohere embeddings are not numbers", provider=creds.provider, model=model
            ) from exc
        return EmbedResult(vectors=vectors, model=model)

    # -- models --------------------------------------------------------------------

    async def list_models(self, client: httpx.AsyncClient, creds: Credentials) -> list[dict[str, Any]]:
        """ListFoundationModels on the control plane (``bedrock.{region}``), signed the same way."""
        url = f"https://bedrock.{self._region(creds)}.amazonaws.com/foundation-models"
        data = await self._call(client, creds, url, None, model=None)
        summaries = data.get("modelSummaries") if isinstance(data, dict) else None
        if not isinstance(summaries, list):
            raise MalformedResponse(f"{creds.provider} model list has no modelSummaries", provider=creds.provider)
        return [
            {
                "id": m["modelId"],
                "display_name": m.get("modelName", m["modelId"]),
                "provider_name": m.get("providerName"),
                "output_modalities": m.get("outputModalities", []),
                "streaming": m.get("responseStreamingSupported"),
            }
            for m in summaries
            if isinstance(m, dict) and isinstance(m.get("modelId"), str)
        ]


ADAPTER = BedrockAdapter()
