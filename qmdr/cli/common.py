"""What every ``qmdr`` command shares: consoles, settings loading and the one error exit."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from qmdr.settings import Settings
from qmdr.util.terminal_text import literal

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


def load_settings(**overrides: Any) -> Settings:
    """Settings from env and .env, with command-line options (not None) taking precedence."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        raise fail(f"invalid settings: {exc}", 2) from None
