"""The one chat call the search stages make (rerank, expansion), and reading JSON out of its answer.

Search stages depend on ``ChatFn``, a chat completion with the model already
chosen, rather than on the provider client: that keeps them testable with a
plain async function and keeps model choice, fallbacks and retries in
``providers``. ``chat_fn_for`` binds a ``providers.client.ProviderClient``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from providers.types import ChatResult, Message, ThinkingLevel


class ChatFn(Protocol):
    """One chat completion with a fixed model.

    ``response_format`` (a JSON Schema response format, see ``providers.structured``) asks for an answer
    held to that schema and validated by the provider layer (``ChatResult.parsed``). The rerank and
    expansion stages ask for one, and leave it None (free text, ``extract_json``) once the model has
    answered StructuredOutputUnsupported."""

    async def __call__(
        self,
        messages: list[Message],
        *,
        json_output: bool,
        timeout: float | None,
        response_format: Mapping[str, Any] | None = None,
    ) -> ChatResult: ...


class ChatClient(Protocol):
    """The part of ``providers.client.ProviderClient`` the search stages use."""

    async def chat(
        self,
        model: str,
        messages: list[Message],
        thinking_level: ThinkingLevel | None = None,
        fallbacks: Sequence[str] = (),
        json_output: bool = False,
        max_tokens: int | None = None,
        timeout: float | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> ChatResult: ...


def chat_fn_for(
    client: ChatClient, model: str, *, thinking_level: ThinkingLevel | None = None, fallbacks: Sequence[str] = ()
) -> ChatFn:
    """Bind a provider client and a model string (``openrouter/openai/gpt-4o-mini``) into a ChatFn."""

    async def chat(
        messages: list[Message],
        *,
        json_output: bool,
        timeout: float | None,
        response_format: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        return await client.chat(
            model,
            messages,
            thinking_level=thinking_level,
            fallbacks=tuple(fallbacks),
            json_output=json_output,
            timeout=timeout,
            response_format=response_format,
        )

    return chat


class JsonAnswerError(ValueError):
    """A model's answer is not the JSON asked for; the message is fit to show the model on a retry."""


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def extract_json(text: str) -> Any:
    """Parse the JSON value in a model answer, tolerating code fences and text around one object.

    Even with a JSON response format some models wrap the object in a fence or
    a sentence; that is recoverable without another call.
    """
    body = _FENCE.sub("", text.strip())
    try:
        return json.loads(body)
    except ValueError:
        start, end = body.find("{"), body.rfind("}")
        if start == -1 or end <= start:
            raise JsonAnswerError("the answer contains no JSON object") from None
        try:
            return json.loads(body[start : end + 1])
        except ValueError as exc:
            raise JsonAnswerError(f"the answer is not valid JSON ({exc.msg})") from None
