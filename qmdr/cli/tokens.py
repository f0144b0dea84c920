"""``qmdr tokens create|list|revoke``: agent tokens scoped to vaults (see ``qmdr.access.tokens``).

They work on the same store the server reads (``<data dir>/tokens.sqlite``, or
PostgreSQL with ``QMDR_DATABASE_URL``), so a token made or revoked here counts
at the server's next request, without a restart.
"""

# No ``from __future__ import annotations``: typer reads every command's signature on each call, and
# string annotations would be compiled and evaluated each time (about 4% of a `qmdr search`'s CPU).

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from qmdr.cli import render
from qmdr.cli.common import JsonOpt, console, domain_errors_fail, err_console, load_settings

if TYPE_CHECKING:
    from qmdr.access.tokens import TokenStore
    from qmdr.settings import Settings

tokens_app = typer.Typer(
    help="Agent tokens: each reaches only the vaults it names, read (r) or read-write (rw).", no_args_is_help=True
)


@contextmanager
def token_store(settings: "Settings") -> Iterator["TokenStore"]:
    from qmdr.access.stores import open_token_store

    with domain_errors_fail():
        store = open_token_store(settings)
        try:
            yield store
        finally:
            store.close()


def vault_check(settings: "Settings") -> Callable[[str], None]:
    """``UnknownVault`` for a vault the registry does not hold (``default`` always exists), as the hub's
    ``known``, without building the whole service (no embedder, no index)."""
    from qmdr.memory.backends import open_vault_registry
    from qmdr.memory.vaults import DEFAULT_VAULT, check_vault_name

    def known(name: str) -> None:
        if check_vault_name(name) == DEFAULT_VAULT:
            return
        registry = open_vault_registry(settings)
        try:
            registry.get(name)
        finally:
            registry.close()

    return known


def rights_text(vaults: dict[str, str]) -> str:
    return ", ".join(f"{name}:{right}" for name, right in sorted(vaults.items()))


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Option("--name", help="the token's name (to list and revoke it)")],
    vault: Annotated[list[str], typer.Option("--vault", help="VAULT:r (read) or VAULT:rw (read and write); repeat")],
    as_json: JsonOpt = False,
) -> None:
    """Make a token for an agent and print it: this is the only time it is shown (only its hash is kept)."""
    from qmdr.access.tokens import create_token, grants_from

    settings = load_settings()
    with token_store(settings) as store, domain_errors_fail():
        info, token = create_token(store, name, grants_from(vault), known_vault=vault_check(settings))
    if as_json:
        print(json.dumps({**info.to_dict(), "token": token}, indent=2))
    else:
        print(token)  # alone on stdout, so `TOKEN=$(qmdr tokens create ...)` works
        render.say(err_console, f"token {info.name} ({rights_text(dict(info.vaults))}): shown once, keep it now")
    if settings.qmdr_api_token is None:
        render.warn(
            err_console,
            [
                "QMDR_API_TOKEN is not set, so the API is open to everyone and agent tokens "
                "change nothing; set it to make tokens count"
            ],
        )


@tokens_app.command("list")
def tokens_list(as_json: JsonOpt = False) -> None:
    """List the agent tokens: names, vaults, creation time (never the tokens: they are not stored)."""
    with token_store(load_settings()) as store, domain_errors_fail():
        infos = store.list()
    if as_json:
        print(json.dumps([info.to_dict() for info in infos], indent=2))
        return
    console.print(
        render.table(
            "agent tokens",
            ("name", "vaults", "created"),
            [
                (
                    info.name,
                    rights_text(dict(info.vaults)),
                    time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created_at)),
                )
                for info in infos
            ],
        )
    )


@tokens_app.command("revoke")
def tokens_revoke(name: Annotated[str, typer.Argument(help="the token's name")]) -> None:
    """Revoke a token: the server refuses it from its next request on."""
    from qmdr.access.tokens import revoke_token

    with token_store(load_settings()) as store, domain_errors_fail():
        revoke_token(store, name)
    render.say(console, f"revoked token {name}")
