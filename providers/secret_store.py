"""Settings store for provider keys, custom providers and global model defaults (stdlib SQLite).

Keys are encrypted at rest with AES-256-GCM. The AES key is derived with
HKDF-SHA256 from ``SECRET_ENCRYPTION_KEY``, so any sufficiently long random
string works as that setting; GCM authenticates every value, and each value's
row name is bound in as associated data, so a value copied onto another row
does not decrypt. A wrong ``SECRET_ENCRYPTION_KEY`` is detected (not turned into
garbage) and reported as such.

Every write is one transaction; ``rotate_encryption_key`` re-encrypts all
values in one transaction, so a crash leaves either all old or all new.

A key check value (a known plaintext encrypted under the store's key, row
``key_check`` of ``store_meta``) records which ``SECRET_ENCRYPTION_KEY`` the
store belongs to. Every write of a secret first checks it: a write under a
different key is refused, because it would leave a store that no single key
decrypts (and that ``rotate-key`` cannot re-encrypt). A store written before
the check value existed gets one on its first write, after every stored
secret was shown to decrypt under the key in use. A store holding no secret
at all takes the key of its next write.

The store never reads the environment: environment keys are a separate,
lower-priority source (``providers.keys``) and are never imported into it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from providers.errors import SecretStoreError
from providers.registry import validate_slug
from providers.types import ThinkingLevel

#: the setting that holds the encryption key; named in every error message
ENCRYPTION_KEY_ENV = "SECRET_ENCRYPTION_KEY"
#: HKDF is not a password hash, so insist on enough material to be a real key (e.g. 32 random bytes, base64)
MIN_ENCRYPTION_KEY_CHARS = 16
#: fixed salt and info: derivation is deterministic so the same setting always opens the same store
_HKDF_SALT = b"qmdr secret store salt v1"
_HKDF_INFO = b"qmdr secret store AES-256-GCM key v1"
#: format byte in front of every ciphertext, so the scheme can change later without guessing
_FORMAT_V1 = b"\x01"
#: GCM's standard nonce size
_NONCE_BYTES = 12
#: sqlite waits this long for another writer instead of failing at once
BUSY_TIMEOUT_SECONDS = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS provider_keys (
    provider   TEXT PRIMARY KEY,
    ciphertext BLOB NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS custom_providers (
    slug           TEXT PRIMARY KEY,
    base_url       TEXT NOT NULL,
    display_name   TEXT,
    key_ciphertext BLOB,
    updated_at     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS model_defaults (
    name  TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS catalog_models (
    provider     TEXT NOT NULL,
    model_id     TEXT NOT NULL,
    info         TEXT NOT NULL,
    refreshed_at REAL NOT NULL,
    PRIMARY KEY (provider, model_id)
);
CREATE TABLE IF NOT EXISTS store_meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""

#: ``store_meta`` row holding the key check value, and the known plaintext it encrypts
_KEY_CHECK_ROW = "key_check"
_KEY_CHECK_PLAINTEXT = "qmdr secret store key check v1"

_DEFAULT_NAMES = ("working_model", "thinking_model", "thinking_level")


@dataclass(frozen=True, slots=True)
class CustomProvider:
    slug: str
    base_url: str
    display_name: str | None = None
    has_key: bool = False

    @property
    def provider_id(self) -> str:
        return f"custom-{self.slug}"


@dataclass(frozen=True, slots=True)
class GlobalDefaults:
    """Models used when neither a pipeline step nor an agent config names one."""

    working_model: str | None = None
    thinking_model: str | None = None
    thinking_level: ThinkingLevel | None = None


def _derive(secret: str) -> AESGCM:
    if len(secret) < MIN_ENCRYPTION_KEY_CHARS:
        raise SecretStoreError(
            f"{ENCRYPTION_KEY_ENV} is too short: use at least {MIN_ENCRYPTION_KEY_CHARS} characters of "
            f"random "
            f'data (e.g. the output of `python -c "import secrets; print(secrets.token_urlsafe(32))"`)'
        )
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(secret.encode())
    return AESGCM(key)


def _encrypt(aead: AESGCM, plaintext: str, label: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _FORMAT_V1 + nonce + aead.encrypt(nonce, plaintext.encode(), label.encode())


def _decrypt(aead: AESGCM, blob: bytes, label: str) -> str:
    if not blob.startswith(_FORMAT_V1) or len(blob) <= 1 + _NONCE_BYTES:
        raise SecretStoreError(
            f"stored secret for {label} is in an unknown format; set it again in Settings -> Providers"
        )
    nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        return aead.decrypt(nonce, body, label.encode()).decode()
    except InvalidTag:
        raise SecretStoreError(
            f"{ENCRYPTION_KEY_ENV} does not match the key the stored secrets were encrypted with "
            f"(could not decrypt {label}); set the original {ENCRYPTION_KEY_ENV}, or re-enter the keys in "
            f"Settings -> Providers"
        ) from None


def _mismatch(action: str) -> SecretStoreError:
    return SecretStoreError(
        f"cannot {action}: {ENCRYPTION_KEY_ENV} is not the key this store's secrets were encrypted with, and a "
        f"secret stored under it would leave the store readable by no single key. Set the original "
        f"{ENCRYPTION_KEY_ENV} (and change it with `qmdr providers rotate-key`), or remove the stored keys "
        f"to start over with a new one. Nothing was changed."
    )


def _all_ciphertexts(conn: sqlite3.Connection) -> list[tuple[bytes, str]]:
    """Every stored secret with the label it was encrypted under."""
    keys = conn.execute("SELECT provider, ciphertext FROM provider_keys").fetchall()
    customs = conn.execute(
        "SELECT slug, key_ciphertext FROM custom_providers WHERE key_ciphertext IS NOT NULL"
    ).fetchall()
    return [(blob, f"key:{p}") for p, blob in keys] + [(blob, f"custom:{slug}") for slug, blob in customs]


def _opens(aead: AESGCM, blob: bytes, label: str) -> bool:
    try:
        _decrypt(aead, blob, label)
    except SecretStoreError:
        return False
    return True


def _write_key_check(conn: sqlite3.Connection, aead: AESGCM) -> None:
    conn.execute(
        "INSERT INTO store_meta(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        (_KEY_CHECK_ROW, _encrypt(aead, _KEY_CHECK_PLAINTEXT, f"meta:{_KEY_CHECK_ROW}")),
    )


def _ensure_store_key(conn: sqlite3.Connection, aead: AESGCM, action: str) -> None:
    """Inside a write transaction: refuse unless ``aead`` is the key the store's secrets are under.

    With a check value, it decides. Without one (a store from before it
    existed) every stored secret must decrypt, and then the check value is
    written. A store that holds no secret takes ``aead`` as its key.
    """
    stored = _all_ciphertexts(conn)
    row = conn.execute("SELECT value FROM store_meta WHERE name = ?", (_KEY_CHECK_ROW,)).fetchone()
    if row is not None and _opens(aead, row[0], f"meta:{_KEY_CHECK_ROW}"):
        return
    if row is not None and stored:
        raise _mismatch(action)
    if not all(_opens(aead, blob, label) for blob, label in stored):
        raise _mismatch(action)
    _write_key_check(conn, aead)


class SecretStore:
    """Encrypted provider keys, custom providers and model defaults in one SQLite file.

    ``SecretStore(path, encryption_key=...)`` or ``SecretStore(memory=True, ...)``.
    Without an encryption key the store still opens: non-secret data (custom
    providers' URLs, defaults) is usable, and reading or writing a key raises
    SecretStoreError naming ``SECRET_ENCRYPTION_KEY``.
    """

    def __init__(
        self, path: str | Path | None = None, *, encryption_key: str | None = None, memory: bool = False
    ) -> None:
        if (path is None) == (not memory):
            raise ValueError("pass either a path or memory=True")
        target = ":memory:" if memory else str(path)
        if not memory:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN ourselves so every write is exactly one transaction
        self._conn = sqlite3.connect(
            target, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.RLock()
        with self._lock:
            if not memory:
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
        self._aead = _derive(encryption_key) if encryption_key else None

    # -- plumbing -------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SecretStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _require_key(self, action: str) -> AESGCM:
        if self._aead is None:
            raise SecretStoreError(
                f"cannot {action}: {ENCRYPTION_KEY_ENV} is not set. Set it to a long random string "
                f"before storing keys in Settings -> Providers"
            )
        return self._aead

    @property
    def can_decrypt(self) -> bool:
        """Whether an encryption key was given (not whether it matches)."""
        return self._aead is not None

    # -- provider keys --------------------------------------------------------

    def set_key(self, provider: str, api_key: str) -> None:
        """Store (or replace) the key of a built-in provider, encrypted."""
        if not api_key:
            raise SecretStoreError(f"refusing to store an empty key for {provider}; use delete_key to remove it")
        action = f"store the {provider} key"
        aead = self._require_key(action)
        blob = _encrypt(aead, api_key, f"key:{provider}")
        with self._transaction() as conn:
            _ensure_store_key(conn, aead, action)
            conn.execute(
                "INSERT INTO provider_keys(provider, ciphertext, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(provider) DO UPDATE SET ciphertext = excluded.ciphertext, "
                "updated_at = excluded.updated_at",
                (provider, blob, time.time()),
            )

    def get_key(self, provider: str) -> str | None:
        """The stored key of ``provider``, or None when none is stored."""
        with self._lock:
            row = self._conn.execute("SELECT ciphertext FROM provider_keys WHERE provider = ?", (provider,)).fetchone()
        if row is None:
            return None
        return _decrypt(self._require_key(f"read the stored {provider} key"), row[0], f"key:{provider}")

    def has_key(self, provider: str) -> bool:
        with self._lock:
            return (
                self._conn.execute("SELECT 1 FROM provider_keys WHERE provider = ?", (provider,)).fetchone() is not None
            )

    def delete_key(self, provider: str) -> bool:
        with self._transaction() as conn:
            return conn.execute("DELETE FROM provider_keys WHERE provider = ?", (provider,)).rowcount > 0

    def stored_providers(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT provider FROM provider_keys ORDER BY provider")]

    # -- custom providers -------------------------------------------------------

    def add_custom_provider(
        self, slug: str, base_url: str, api_key: str | None = None, display_name: str | None = None
    ) -> CustomProvider:
        """Add or replace ``custom-<slug>``: an OpenAI-compatible server at ``base_url``, key optional."""
        validate_slug(slug)
        if not base_url.startswith(("http://", "https://")):
            raise SecretStoreError(f"base URL of custom-{slug} must start with http:// or https://")
        blob = None
        action = f"store the custom-{slug} key"
        aead = self._require_key(action) if api_key else None
        if aead is not None:
            blob = _encrypt(aead, api_key, f"custom:{slug}")  # type: ignore[arg-type]
        with self._transaction() as conn:
            if aead is not None:
                _ensure_store_key(conn, aead, action)
            conn.execute(
                "INSERT INTO custom_providers(slug, base_url, display_name, key_ciphertext, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(slug) DO UPDATE SET base_url = excluded.base_url, "
                "display_name = excluded.display_name, key_ciphertext = excluded.key_ciphertext, "
                "updated_at = excluded.updated_at",
                (slug, base_url.rstrip("/"), display_name, blob, time.time()),
            )
        return CustomProvider(slug, base_url.rstrip("/"), display_name, blob is not None)

    def get_custom_provider(self, slug: str) -> CustomProvider | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT slug, base_url, display_name, key_ciphertext IS NOT NULL FROM custom_providers WHERE slug = ?",
                (slug,),
            ).fetchone()
        return CustomProvider(row[0], row[1], row[2], bool(row[3])) if row else None

    def get_custom_key(self, slug: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT key_ciphertext FROM custom_providers WHERE slug = ?", (slug,)).fetchone()
        if row is None or row[0] is None:
            return None
        return _decrypt(self._require_key(f"read the custom-{slug} key"), row[0], f"custom:{slug}")

    def list_custom_providers(self) -> list[CustomProvider]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT slug, base_url, display_name, key_ciphertext IS NOT NULL FROM custom_providers ORDER BY slug"
            ).fetchall()
        return [CustomProvider(r[0], r[1], r[2], bool(r[3])) for r in rows]

    def remove_custom_provider(self, slug: str) -> bool:
        with self._transaction() as conn:
            return conn.execute("DELETE FROM custom_providers WHERE slug = ?", (slug,)).rowcount > 0

    # -- global defaults ------------------------------------------------------------

    def get_defaults(self) -> GlobalDefaults:
        with self._lock:
            values = dict(self._conn.execute("SELECT name, value FROM model_defaults").fetchall())
        level = values.get("thinking_level")
        return GlobalDefaults(
            working_model=values.get("working_model"),
            thinking_model=values.get("thinking_model"),
            thinking_level=level if level in get_args(ThinkingLevel) else None,
        )

    def set_defaults(
        self,
        *,
        working_model: str | None = None,
        thinking_model: str | None = None,
        thinking_level: ThinkingLevel | None = None,
        clear: tuple[str, ...] = (),
    ) -> GlobalDefaults:
        """Set the given defaults (None leaves a value alone; names in ``clear`` are removed), atomically."""
        if thinking_level is not None and thinking_level not in get_args(ThinkingLevel):
            raise SecretStoreError(f"thinking level must be one of {', '.join(get_args(ThinkingLevel))}")
        unknown = set(clear) - set(_DEFAULT_NAMES)
        if unknown:
            raise SecretStoreError(f"unknown default(s) {sorted(unknown)}; known: {', '.join(_DEFAULT_NAMES)}")
        updates = {
            "working_model": working_model,
            "thinking_model": thinking_model,
            "thinking_level": thinking_level,
        }
        with self._transaction() as conn:
            for name in clear:
                conn.execute("DELETE FROM model_defaults WHERE name = ?", (name,))
            for name, value in updates.items():
                if value is not None:
                    conn.execute(
                        "INSERT INTO model_defaults(name, value) VALUES (?, ?) "
                        "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                        (name, value),
                    )
        return self.get_defaults()

    # -- refreshed model catalog ------------------------------------------------------

    def save_catalog(self, provider: str, models: list[dict[str, object]], refreshed_at: float | None = None) -> int:
        """Replace what ``provider``'s model list last reported (one transaction); returns how many."""
        when = time.time() if refreshed_at is None else refreshed_at
        with self._transaction() as conn:
            conn.execute("DELETE FROM catalog_models WHERE provider = ?", (provider,))
            conn.executemany(
                "INSERT OR REPLACE INTO catalog_models(provider, model_id, info, refreshed_at) VALUES (?, ?, ?, ?)",
                [(provider, str(m["id"]), json.dumps(m), when) for m in models],
            )
        return len(models)

    def stored_catalog(self) -> list[tuple[dict[str, object], float]]:
        """Every stored model (as saved) with when its provider's list was read."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT info, refreshed_at FROM catalog_models ORDER BY provider, model_id"
            ).fetchall()
        return [(json.loads(info), when) for info, when in rows]

    # -- key rotation -----------------------------------------------------------------

    def rotate_encryption_key(self, old: str, new: str) -> int:
        """Re-encrypt every stored secret from ``old`` to ``new`` in one transaction; returns how many.

        Nothing changes unless every value decrypts with ``old`` (and ``old``
        matches the key check value). Afterwards this store uses ``new``; set
        ``SECRET_ENCRYPTION_KEY`` to it before restarting.
        """
        old_aead, new_aead = _derive(old), _derive(new)
        with self._transaction() as conn:
            _ensure_store_key(conn, old_aead, "rotate the encryption key")
            keys = conn.execute("SELECT provider, ciphertext FROM provider_keys").fetchall()
            customs = conn.execute(
                "SELECT slug, key_ciphertext FROM custom_providers WHERE key_ciphertext IS NOT NULL"
            ).fetchall()
            for provider, blob in keys:
                plain = _decrypt(old_aead, blob, f"key:{provider}")
                conn.execute(
                    "UPDATE provider_keys SET ciphertext = ? WHERE provider = ?",
                    (_encrypt(new_aead, plain, f"key:{provider}"), provider),
                )
            for slug, blob in customs:
                plain = _decrypt(old_aead, blob, f"custom:{slug}")
                conn.execute(
                    "UPDATE custom_providers SET key_ciphertext = ? WHERE slug = ?",
                    (_encrypt(new_aead, plain, f"custom:{slug}"), slug),
                )
            _write_key_check(conn, new_aead)
        self._aead = new_aead
        return len(keys) + len(customs)
