"""Scoped agent tokens: what one is, how it is made, hashed and stored.

Besides the admin ``QMDR_API_TOKEN`` an operator hands each agent a token of
its own that reaches only some vaults, each read-only (``r``) or read-write
(``rw``). A token is ``qmdr_`` plus 256 random bits (URL-safe base64): the
prefix lets people and secret scanners recognise one. Only its SHA-256 is
stored, so the token is shown once, at creation, and can never be recovered
from the store; a presented token is found by its hash (an index lookup that
compares hashes, never the token), and the stored hash is compared again in
constant time before it counts.

Stores: ``SqliteTokenStore`` (``<data dir>/tokens.sqlite``) or, with
``QMDR_DATABASE_URL`` set, ``PostgresTokenStore`` (``qmdr_shared.tokens``), so
every replica honours and revokes the same tokens; ``qmdr.access.stores.open_token_store`` picks.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from qmdr.errors import Conflict, InvalidQuery, NotFound

#: every agent token starts with this (the admin QMDR_API_TOKEN is whatever the operator chose)
TOKEN_PREFIX = "qmdr_"  # noqa: S105 - a prefix, not a secret
#: random bytes behind the prefix: 256 bits, beyond guessing however fast the server answers
TOKEN_BYTES = 32
#: the token file under the data dir (SQLite; PostgreSQL keeps them in qmdr_shared.tokens)
TOKENS_FILE = "tokens.sqlite"
#: a token's name: shown in lists and logs, used to revoke it
TOKEN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: most vaults one token may name
MAX_GRANTS = 100

Right = Literal["r", "rw"]
RIGHTS: tuple[Right, ...] = ("r", "rw")


class UnknownToken(NotFound):
    """No token has that name."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token as anyone may see it: its name, its vaults and when it was made (never the token)."""

    name: str
    vaults: Mapping[str, Right] = field(default_factory=dict)
    created_at: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "vaults": dict(self.vaults), "created_at": self.created_at}


def new_token() -> str:
    """A fresh token: ``qmdr_`` and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256 (hex). A 256-bit random token needs no salt or slow hash:
    nobody can enumerate the space a hash would protect."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def hashes_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def looks_like_token(value: str) -> bool:
    """Whether ``value`` could be an agent token at all (saves a store lookup for anything else)."""
    return value.startswith(TOKEN_PREFIX) and len(value) <= len(TOKEN_PREFIX) + 2 * TOKEN_BYTES


def check_token_name(name: str) -> str:
    if not isinstance(name, str) or not TOKEN_NAME_PATTERN.match(name):
        raise InvalidQuery(
            f"invalid token name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def parse_grant(spec: str) -> tuple[str, Right]:
    """``alice:rw`` -> ("alice", "rw"); the right must be given (``r`` read, ``rw`` read and write)."""
    vault, sep, right = spec.strip().rpartition(":")
    if not sep or not vault:
        raise InvalidQuery(f"invalid vault grant {spec!r}: write VAULT:r (read) or VAULT:rw (read and write)")
    if right not in RIGHTS:
        raise InvalidQuery(f"invalid right {right!r} in {spec!r}: use r (read) or rw (read and write)")
    return vault, right  # type: ignore[return-value]


def grants_from(specs: Iterable[str] | Mapping[str, str]) -> dict[str, Right]:
    """Grants from ``["alice:rw", "shared:r"]`` or ``{"alice": "rw"}``; a vault named twice keeps the wider right."""
    pairs = specs.items() if isinstance(specs, Mapping) else (parse_grant(s) for s in specs)
    grants: dict[str, Right] = {}
    for vault, right in pairs:
        if right not in RIGHTS:
            raise InvalidQuery(f"invalid right {right!r} for vault {vault!r}: use r (read) or rw (read and write)")
        if grants.get(vault) != "rw":
            grants[vault] = right  # type: ignore[assignment]
    if not grants:
        raise InvalidQuery("a token needs at least one vault: --vault NAME:r or --vault NAME:rw")
    if len(grants) > MAX_GRANTS:
        raise InvalidQuery(f"a token may name at most {MAX_GRANTS} vaults")
    return grants


class TokenStore(Protocol):
    """What the API, the CLI and the dashboard need of a token store."""

    def add(self, name: str, hashed: str, vaults: Mapping[str, Right]) -> TokenInfo: ...

    def find(self, hashed: str) -> TokenInfo | None: ...

    def list(self) -> list[TokenInfo]: ...

    def remove(self, name: str) -> bool: ...

    def close(self) -> None: ...


def create_token(
    store: TokenStore, name: str, vaults: Mapping[str, Right], *, known_vault: Callable[[str], object] | None = None
) -> tuple[TokenInfo, str]:
    """Make and store a token; return its info and the token itself (the only time it exists in clear).

    ``known_vault(name)`` (the hub's ``known``) rejects grants on vaults that do not exist, so a typo
    never makes a token that reaches nothing. 409 when the name is taken.
    """
    check_token_name(name)
    grants = grants_from(vaults)
    if known_vault is not None:
        for vault in grants:
            known_vault(vault)
    token = new_token()
    return store.add(name, token_hash(token), grants), token


def revoke_token(store: TokenStore, name: str) -> None:
    """Delete a token by name (404 when there is none): it stops working at its next request."""
    if not store.remove(check_token_name(name)):
        raise UnknownToken(f"no token named {name!r}")


def name_taken(name: str) -> Conflict:
    return Conflict(f"a token named {name!r} exists already: revoke it first or pick another name")


def now() -> float:
    return time.time()
