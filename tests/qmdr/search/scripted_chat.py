"""A stand-in for the chat function the reranker and the query expander call (``qmdr.search.llm_call``).

It records every call (messages, JSON flag, response format) and can be made slow or
failing, so tests see exactly what was asked and how a slow or broken model degrades
the search; subclasses decide only what it answers.
"""

from __future__ import annotations

import asyncio

from providers.types import ChatResult, Message


class ScriptedChat:
    """Records each call, waits ``delay`` seconds, raises ``error`` if given, else answers ``answer_to``."""

    model = "scripted"

    def __init__(self, *, delay: float = 0.0, error: Exception | None = None) -> None:
        self.delay = delay
        self.error = error
        self.calls: list[list[Message]] = []
        self.json_flags: list[bool] = []
        self.formats: list[dict | None] = []

    def answer_to(self, messages: list[Message]) -> str:
        raise NotImplementedError

    async def __call__(
        self, messages: list[Message], *, json_output: bool, timeout: float | None, response_format: dict | None = None
    ) -> ChatResult:
        self.calls.append(list(messages))
        self.json_flags.append(json_output)
        self.formats.append(response_format)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error:
            raise self.error
        return ChatResult(text=self.answer_to(messages), provider="fake", model=self.model)
