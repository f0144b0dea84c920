"""Agent tokens are stored hashed, found by hash, listed without secrets and revoked, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from qmdr.access.stores import open_token_store
from qmdr.access.tokens import (
    TOKEN_PREFIX,
    TokenStore,
    UnknownToken,
    create_token,
    grants_from,
    looks_like_token,
    parse_grant,
    revoke_token,
    token_hash,
)
from qmdr.access.tokens_postgres import PostgresTokenStore
from qmdr.access.tokens_sqlite import SqliteTokenStore
from qmdr.errors import Conflict, InvalidQuery, NotFound
from qmdr.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings whose ``open_token_store`` picks SQLite in tmp_path, or a fresh PostgreSQL database."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    return Settings(_env_file=None, qmdr_data_dir=tmp_path / "data", qmdr_database_url=url)


@pytest.fixture
def stores(backend: Settings):
    """Two stores on the same place: two servers (replicas) sharing the data dir or the database."""
    first, second = open_token_store(backend), open_token_store(backend)
    yield first, second
    first.close()
    second.close()


def test_the_factory_picks_the_backend(backend: Settings) -> None:
    store = open_token_store(backend)
    try:
        expected = PostgresTokenStore if backend.qmdr_database_url else SqliteTokenStore
        assert isinstance(store, expected)
        if backend.qmdr_database_url:
            assert backend.qmdr_database_url not in repr(store)  # the URL may carry a password
    finally:
        store.close()


def test_a_token_is_shown_once_and_found_by_its_hash_on_another_replica(stores: tuple[TokenStore, TokenStore]) -> None:
    first, second = stores
    info, token = create_token(first, "alice", {"alice": "rw", "shared": "r"})
    assert re.fullmatch(r"qmdr_[A-Za-z0-9_-]{43}", token) and looks_like_token(token)
    assert info.name == "alice" and dict(info.vaults) == {"alice": "rw", "shared": "r"} and info.created_at > 0
    found = second.find(token_hash(token))
    assert found is not None and found.name == "alice" and dict(found.vaults) == {"alice": "rw", "shared": "r"}
    assert second.find(token_hash(token + "x")) is None
    assert second.find(token_hash(token[:-1])) is None
    listed = second.list()
    assert [t.name for t in listed] == ["alice"] and token not in repr(listed)


def test_two_tokens_never_collide_and_names_are_unique(stores: tuple[TokenStore, TokenStore]) -> None:
    first, second = stores
    _, one = create_token(first, "a", {"default": "r"})
    _, two = create_token(first, "b", {"default": "r"})
    assert one != two
    with pytest.raises(Conflict, match="exists already"):
        create_token(second, "a", {"default": "rw"})
    assert dict(first.find(token_hash(one)).vaults) == {"default": "r"}  # the refused one changed nothing


def test_revoking_stops_the_token_everywhere(stores: tuple[TokenStore, TokenStore]) -> None:
    first, second = stores
    _, token = create_token(first, "bob", {"bob": "rw"})
    revoke_token(second, "bob")
    assert first.find(token_hash(token)) is None and first.list() == []
    with pytest.raises(UnknownToken, match="no token named 'bob'"):
        revoke_token(first, "bob")


def test_the_sqlite_file_holds_the_hash_never_the_token(tmp_path: Path) -> None:
    store = SqliteTokenStore(tmp_path / "tokens.sqlite")
    _, token = create_token(store, "alice", {"alice": "rw"})
    raw = (tmp_path / "tokens.sqlite").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("tokens.sqlite-*")
    )  # the WAL too
    assert token.encode() not in raw
    assert token[len(TOKEN_PREFIX) :].encode() not in raw
    assert hashlib.sha256(token.encode()).hexdigest().encode() in raw


@pytest.mark.postgres
def test_postgres_holds_the_hash_never_the_token(pg_url: str) -> None:
    import psycopg

    store = PostgresTokenStore(pg_url)
    try:
        _, token = create_token(store, "alice", {"alice": "rw"})
    finally:
        store.close()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT name, token_hash, vaults::text FROM qmdr_shared.tokens").fetchall()
    assert rows == [("alice", hashlib.sha256(token.encode()).hexdigest(), '{"alice": "rw"}')]


def test_grants_are_parsed_strictly() -> None:
    assert parse_grant("alice:rw") == ("alice", "rw") and parse_grant(" shared:r ") == ("shared", "r")
    assert grants_from(["a:r", "a:rw", "b:r", "b:r"]) == {"a": "rw", "b": "r"}  # the wider right wins
    for bad, says in [
        ("alice", "VAULT:r"),
        ("alice:w", "invalid right 'w'"),
        (":rw", "VAULT:r"),
        ("alice:RW", "invalid right"),
    ]:
        with pytest.raises(InvalidQuery, match=says):
            parse_grant(bad)
    with pytest.raises(InvalidQuery, match="at least one vault"):
        grants_from([])


def test_creation_checks_the_name_and_that_each_vault_exists(tmp_path: Path) -> None:
    store = SqliteTokenStore(tmp_path / "tokens.sqlite")

    def known(name: str) -> None:
        if name != "alice":
            raise NotFound(f"no vault named {name!r}")

    with pytest.raises(NotFound, match="'alcie'"):
        create_token(store, "alice", {"alcie": "rw"}, known_vault=known)
    for bad in ["", "-x", "a b", "x" * 65, "[red]x"]:
        with pytest.raises(InvalidQuery, match="invalid token name"):
            create_token(store, bad, {"alice": "r"}, known_vault=known)
    assert store.list() == []
    assert not looks_like_token("admin-token") and not looks_like_token(TOKEN_PREFIX + "x" * 200)


def test_backup_and_restore_carry_the_tokens(tmp_path: Path) -> None:
    """``qmdr backup`` copies every SQLite file of the data dir: the token store too, hashes and all; a restore
    with --force brings back the token that was revoked after the backup, even under a running reader."""
    from qmdr.memory.backup import backup, restore

    settings = Settings(_env_file=None, qmdr_data_dir=tmp_path / "data")
    store = open_token_store(settings)
    _, token = create_token(store, "alice", {"alice": "rw"})
    assert store.find(token_hash(token)) is not None  # the reader connection is open before the restore
    report = backup(settings, tmp_path / "backup")
    assert "tokens.sqlite" in {f.rel for f in report.files}
    revoke_token(store, "alice")
    assert store.find(token_hash(token)) is None
    restore(settings, tmp_path / "backup", force=True)
    found = store.find(token_hash(token))
    assert found is not None and found.name == "alice"
    store.close()
