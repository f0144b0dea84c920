"""Tool calling, normalised: definitions and ``tool_choice`` checked once, tool calls read and checked once.

Every wire adapter maps ``providers.types.Tool`` / ``ToolCall`` / tool
messages onto its API's own shapes; what is the same everywhere lives here:

* ``as_tool`` / ``as_tools`` accept our ``Tool``, a plain mapping
  (``{"name", "description", "parameters"}``) or OpenAI's
  ``{"type": "function", "function": {...}}``, and refuse what no API would
  take (InvalidToolDefinition): names outside ``[A-Za-z0-9_-]{1,64}`` (the
  strictest of the APIs, OpenAI's and Bedrock's), parameters that are not an
  object schema, duplicate names, a ``tool_choice`` naming no offered tool.
* ``parse_arguments`` turns the JSON text OpenAI-style APIs send into a dict,
  or raises InvalidToolArguments.
* ``check_calls`` refuses a call to a tool that was not offered (UnknownTool).
* ``StreamedCalls`` assembles calls whose arguments arrive in pieces (OpenAI
  by ``index``, Anthropic and Bedrock by content block) and raises
  IncompleteToolCall when a stream ends in the middle of one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from providers.errors import IncompleteToolCall, InvalidToolArguments, InvalidToolDefinition, UnknownTool
from providers.types import Message, Tool, ToolCall

#: tool names every supported API accepts (OpenAI and Bedrock: ^[a-zA-Z0-9_-]{1,64}$)
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: ``tool_choice`` values that are not a tool's name
CHOICE_KEYWORDS = frozenset({"auto", "none", "required"})
#: most tools one request may define (OpenAI's documented limit; the others allow at least as many)
MAX_TOOLS = 128


def as_tool(value: Tool | Mapping[str, Any]) -> Tool:
    """A ``Tool`` from our type, a plain mapping or OpenAI's ``{"type": "function", "function": ...}``."""
    if isinstance(value, Tool):
        tool = value
    elif isinstance(value, Mapping):
        spec = value.get("function") if value.get("type") == "function" else value
        if not isinstance(spec, Mapping):
            raise InvalidToolDefinition("a tool of type 'function' needs a 'function' object")
        parameters = spec.get("parameters")
        tool = Tool(
            name=str(spec.get("name") or ""),
            description=str(spec.get("description") or ""),
            parameters=dict(parameters) if parameters is not None else {"type": "object", "properties": {}},
        )
    else:
        raise InvalidToolDefinition(f"a tool must be an object with a name, not {type(value).__name__}")
    if not TOOL_NAME.match(tool.name):
        raise InvalidToolDefinition(
            f"tool name {tool.name[:80]!r} is not allowed: use 1-64 letters, digits, '_' or '-'"
        )
    if not isinstance(tool.parameters, Mapping) or tool.parameters.get("type", "object") != "object":
        raise InvalidToolDefinition(f"tool {tool.name!r}: parameters must be a JSON Schema of type 'object'")
    return tool


def as_tools(values: Iterable[Tool | Mapping[str, Any]], tool_choice: str | None = None) -> tuple[Tool, ...]:
    """Checked tools, and a ``tool_choice`` that makes sense for them."""
    tools = tuple(as_tool(v) for v in values)
    if len(tools) > MAX_TOOLS:
        raise InvalidToolDefinition(f"at most {MAX_TOOLS} tools per request; got {len(tools)}")
    names = [t.name for t in tools]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidToolDefinition(f"tool names must be unique; repeated: {', '.join(duplicates)}")
    if tool_choice is not None and tool_choice not in CHOICE_KEYWORDS and tool_choice not in names:
        offered = ", ".join(names) or "none"
        raise InvalidToolDefinition(
            f"tool_choice {tool_choice[:80]!r} is neither auto, none, required nor an offered tool ({offered})"
        )
    if tool_choice in ("required",) and not tools:
        raise InvalidToolDefinition("tool_choice 'required' needs at least one tool")
    return tools


def parse_arguments(raw: Any, *, tool: str, provider: str, model: str) -> dict[str, Any]:
    """Tool-call arguments as a dict: JSON text is parsed (empty text is ``{}``), an object is taken as is."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise InvalidToolArguments(
                f"{provider} model {model} called {tool!r} with arguments that are not valid JSON "
                f"({exc.msg} at character {exc.pos} of {len(raw)})",
                tool=tool,
                provider=provider,
                model=model,
            ) from None
        if isinstance(value, dict):
            return value
    raise InvalidToolArguments(
        f"{provider} model {model} called {tool!r} with arguments that are not a JSON object",
        tool=tool,
        provider=provider,
        model=model,
    )


def check_calls(calls: Sequence[ToolCall], tools: Sequence[Tool], *, provider: str, model: str) -> None:
    """UnknownTool for a call naming a tool that was not offered."""
    offered = {t.name for t in tools}
    for call in calls:
        if call.name not in offered:
            listed = ", ".join(sorted(offered)) or "no tools were offered"
            raise UnknownTool(
                f"{provider} model {model} called an unknown tool {call.name[:80]!r} ({listed})",
                tool=call.name,
                provider=provider,
                model=model,
            )


def tool_name_for(messages: Sequence[Message], message: Message) -> str:
    """The tool a ``tool`` message answers: its own ``name``, else the name of the call it answers."""
    if message.name:
        return message.name
    for earlier in messages:
        for call in earlier.tool_calls:
            if call.id == message.tool_call_id:
                return call.name
    raise InvalidToolDefinition(
        f"tool result for call {str(message.tool_call_id)[:80]!r} names no tool and answers no earlier tool call"
    )


def result_object(content: str) -> dict[str, Any]:
    """A tool result as an object, for APIs that want one (Gemini): a JSON object as is, anything else wrapped."""
    try:
        value = json.loads(content)
    except ValueError:
        return {"result": content}
    return value if isinstance(value, dict) else {"result": value}


@dataclass
class _Pending:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class StreamedCalls:
    """Tool calls whose id and name arrive first and whose JSON arguments arrive in pieces, keyed by a slot
    (OpenAI's ``index``, Anthropic's and Bedrock's content block index)."""

    def __init__(self, *, provider: str, model: str) -> None:
        self.provider, self.model = provider, model
        self._open: dict[int, _Pending] = {}

    def start(self, slot: int, call_id: str | None, name: str | None) -> None:
        pending = self._open.get(slot)
        if pending is None:
            self._open[slot] = _Pending(call_id or f"call_{slot}", name or "")
            return
        pending.id = call_id or pending.id  # OpenAI may repeat the id/name in a later piece
        pending.name = name or pending.name

    def add(self, slot: int, fragment: str | None) -> None:
        if slot not in self._open:
            self.start(slot, None, None)
        if fragment:
            self._open[slot].arguments.append(fragment)

    @property
    def open(self) -> bool:
        return bool(self._open)

    def finish(self, slot: int | None = None) -> tuple[ToolCall, ...]:
        """Complete one slot's call (or every open one, in slot order) and hand them over."""
        slots = sorted(self._open) if slot is None else ([slot] if slot in self._open else [])
        calls = []
        for key in slots:
            pending = self._open.pop(key)
            if not pending.name:
                raise IncompleteToolCall(
                    f"{self.provider} sent a tool call without a name", provider=self.provider, model=self.model
                )
            arguments = parse_arguments(
                "".join(pending.arguments), tool=pending.name, provider=self.provider, model=self.model
            )
            calls.append(ToolCall(pending.id, pending.name, arguments))
        return tuple(calls)

    def cut(self) -> IncompleteToolCall:
        """The error for a stream that ended while a call was open."""
        pending = next(iter(self._open.values()))
        return IncompleteToolCall(
            f"{self.provider} stream ended in the middle of a call to {pending.name[:80]!r} "
            f"({sum(map(len, pending.arguments))} characters of arguments received); ask again",
            tool=pending.name or None,
            provider=self.provider,
            model=self.model,
        )
