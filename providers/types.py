"""Plain request/response data shared by every wire format, and the adapter seam.

One adapter per wire format (OpenAI-compatible, Anthropic, Gemini, Azure,
Bedrock, Vertex, Hugging Face) turns these into HTTP and back. Retries,
cooldowns and fallbacks live above the adapters (``providers.reliability``),
so an adapter makes exactly one HTTP request per call and raises the error
tree of ``providers.errors`` (via ``providers.http.raise_for_status``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:  # annotations only: a process that never calls a provider does not import httpx
    import httpx

ThinkingLevel = Literal["off", "low", "medium", "high"]
Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to call one tool; ``arguments`` is already parsed (and checked to be an object).

    ``signature`` is opaque provider state that must go back with the call on the next turn (Gemini 3's
    ``thoughtSignature``, without which its API answers 400); send the call back as it came."""

    id: str
    name: str
    arguments: dict[str, Any]
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool the model may call: ``parameters`` is a JSON Schema of an object (its arguments)."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True, slots=True)
class ResponseSchema:
    """Structured output: the answer must be JSON matching ``schema`` (a JSON Schema); ``name`` labels it
    for the APIs that want one (OpenAI's ``json_schema.name``, the forced tool on Anthropic and Bedrock)."""

    schema: Mapping[str, Any]
    name: str = "response"
    strict: bool = True


@dataclass(frozen=True, slots=True)
class Message:
    """One turn. An assistant turn may carry the ``tool_calls`` it made; a ``tool`` turn carries one call's
    result in ``content`` and answers ``tool_call_id`` (``name`` is the tool's, found from the call if unset)."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one call, counted the same way for every API.

    ``input_tokens`` is every input token, cached ones included;
    ``cached_input_tokens`` is the part read from the provider's prompt cache
    (billed cheaper) and ``cache_write_tokens`` the part written to it
    (Anthropic and Bedrock bill it dearer). ``output_tokens`` is every output
    token billed, reasoning included; ``thinking_tokens`` is the reasoning
    part of it where the API says (OpenAI, Gemini; Anthropic does not split it).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an adapter needs to reach one provider. Never logged, never returned.

    ``api_key`` is None for providers that authenticate otherwise (Bedrock's
    AWS chain, Vertex's ADC) or need no key (a local Ollama).
    """

    provider: str  # registry id, e.g. "openrouter" or "custom-myollama"
    base_url: str
    api_key: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # region, project, location, api_version, ...

    def __repr__(self) -> str:  # keep keys out of reprs, tracebacks and logs
        key = "***" if self.api_key else None
        return f"Credentials(provider={self.provider!r}, base_url={self.base_url!r}, api_key={key})"


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str  # the provider's own model id (already resolved from aliases)
    messages: Sequence[Message]
    thinking_level: ThinkingLevel | None = None  # None: the provider's default
    max_tokens: int | None = None
    temperature: float | None = None
    json_output: bool = False  # ask for a JSON object where the API supports it
    timeout: float | None = None  # seconds for this call; None: the client's default
    tools: tuple[Tool, ...] = ()
    #: "auto", "none", "required" (some tool) or a tool's name (that tool); None: the API's default (auto)
    tool_choice: str | None = None
    #: False asks for at most one tool call per answer where the API has the switch; None: the API's default
    parallel_tool_calls: bool | None = None
    #: structured output: each adapter maps it onto its API's own control (see providers.structured)
    response_schema: ResponseSchema | None = None


@dataclass(frozen=True, slots=True)
class ChatResult:
    text: str
    provider: str
    model: str
    thinking: str | None = None
    usage: Usage = Usage()
    thinking_applied: bool = False  # False when the model cannot think and ran without it
    finish_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # e.g. {"thinking_note": "..."}, {"fallbacks": [...]}
    tool_calls: tuple[ToolCall, ...] = ()
    #: with a response schema: the answer parsed and validated against it
    parsed: Any = None


@dataclass(frozen=True, slots=True)
class ChatDelta:
    """One piece of a streamed answer; the last one has ``done=True``, usage if known and ``metadata``.

    ``metadata`` is set by ``ProviderClient.stream_chat`` on the final piece
    only (what ``ChatResult.metadata`` holds for a plain chat: requested and
    used model, fallbacks taken, notes); adapters leave it None.
    """

    text: str = ""
    thinking: str = ""
    #: tool calls completed in this piece (a streamed call is handed over whole, once its arguments are in)
    tool_calls: tuple[ToolCall, ...] = ()
    done: bool = False
    usage: Usage | None = None
    finish_reason: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EmbedResult:
    vectors: list[list[float]]
    model: str
    usage: Usage = Usage()


class WireAdapter(Protocol):
    """One wire format. Stateless: the HTTP client and credentials come in each call."""

    #: most inputs one embeddings request may carry (the provider's documented limit)
    max_embed_batch: int

    async def chat(self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest) -> ChatResult: ...

    def stream_chat(
        self, client: httpx.AsyncClient, creds: Credentials, req: ChatRequest
    ) -> AsyncIterator[ChatDelta]: ...

    async def embed(
        self,
        client: httpx.AsyncClient,
        creds: Credentials,
        model: str,
        texts: Sequence[str],
        dimensions: int | None = None,
    ) -> EmbedResult: ...

    async def list_models(self, client: httpx.AsyncClient, creds: Credentials) -> list[dict[str, Any]]: ...
