"""What every ``qmdr`` command shares: consoles, settings loading and the one error exit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from qmdr.util.terminal_text import literal

if TYPE_CHECKING:
    from qmdr.settings import Settings

console = Console()
err_console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]


def labelled(label: str, label_style: str, message: object) -> Text:
    """``label`` in its style followed by the literal message: ``warning: ...``, ``error: ...``."""
    return Text.assemble((label, label_style), literal(message))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear error line and return the exit to raise (never a traceback at a user)."""
    # literal: messages quote user input (paths, queries) that may look like markup or hold escapes; never wrapped
    err_console.print(labelled("error: ", "red", message), soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def domain_errors_fail() -> Iterator[None]:
    """Turn the domain error tree (qmdr, provider, ingest) into one clean CLI error line.

    The error modules are imported only when something was raised: ``qmdr --help`` and a
    command that succeeds never pay for importing the provider and vault packages.
    """
    try:
        yield
    except Exception as exc:
        from providers.errors import ProviderError
        from qmdr.errors import QmdrError
        from vault.errors import IngestError

        if isinstance(exc, QmdrError | ProviderError | IngestError):
            raise fail(str(getattr(exc, "message", None) or exc)) from None
        raise


def run_async(coro: Any) -> Any:
    """Run a coroutine, turning domain errors into clean CLI errors."""
    import asyncio

    with domain_errors_fail():
        return asyncio.run(coro)


def load_settings(**overrides: Any) -> Settings:
    """Settings from env and .env, with command-line options (not None) taking precedence."""
    from qmdr.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        raise fail(f"invalid settings: {exc}", 2) from None
