"""Await several coroutines at once, the way the search stages need it.

``asyncio.gather`` leaves the other calls running when one fails, and a
``TaskGroup`` cancels them but raises an ``ExceptionGroup`` that callers would
have to unwrap. Provider calls want both halves: stop the rest, and raise the
first error as itself so ``except ProviderError`` keeps working above.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def run_all(calls: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Results in call order; the first failure cancels the others and is raised unwrapped."""
    if len(calls) <= 1:
        return [await call for call in calls]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]
