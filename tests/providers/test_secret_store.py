"""Encrypted settings store on real SQLite: round trip, wrong key, rotation, atomicity."""

from __future__ import annotations

import sqlite3

import pytest

from providers.errors import SecretStoreError
from providers.secret_store import ENCRYPTION_KEY_ENV, GlobalDefaults, SecretStore

KEY_A = "first-encryption-key-aaaaaaaaaaaa"
KEY_B = "second-encryption-key-bbbbbbbbbbb"
SECRET = "sk-test-SECRET-value-123456"


@pytest.fixture
def db(tmp_path):
    return tmp_path / "settings.db"


def test_round_trip_and_encrypted_at_rest(db):
    with SecretStore(db, encryption_key=KEY_A) as store:
        store.set_key("openai", SECRET)
        store.add_custom_provider("ollama", "http://localhost:11434/v1", api_key="ollama-SECRET-key")
        assert store.get_key("openai") == SECRET
        assert store.get_custom_key("ollama") == "ollama-SECRET-key"
    raw = db.read_bytes() + b"".join(p.read_bytes() for p in db.parent.glob("settings.db-*"))
    assert SECRET.encode() not in raw and b"ollama-SECRET-key" not in raw
    with SecretStore(db, encryption_key=KEY_A) as reopened:  # survives reopening
        assert reopened.get_key("openai") == SECRET
        assert reopened.stored_providers() == ["openai"]


def test_wrong_key_says_the_key_does_not_match(db):
    with SecretStore(db, encryption_key=KEY_A) as store:
        store.set_key("openai", SECRET)
    with SecretStore(db, encryption_key=KEY_B) as store, pytest.raises(SecretStoreError) as info:
        store.get_key("openai")
    assert "does not match" in str(info.value) and ENCRYPTION_KEY_ENV in str(info.value)
    assert SECRET not in str(info.value)


def test_missing_encryption_key_when_storing_names_the_setting(db):
    with SecretStore(db) as store:
        with pytest.raises(SecretStoreError, match=ENCRYPTION_KEY_ENV):
            store.set_key("openai", SECRET)
        store.add_custom_provider("nokey", "http://127.0.0.1:8080/v1")  # a keyless custom provider is fine
        assert store.get_custom_provider("nokey").has_key is False


def test_short_encryption_key_is_refused(db):
    with pytest.raises(SecretStoreError, match="too short"):
        SecretStore(db, encryption_key="short")


def test_ciphertext_is_bound_to_its_row(db):
    with SecretStore(db, encryption_key=KEY_A) as store:
        store.set_key("openai", SECRET)
        store.set_key("groq", "gsk-other")
    conn = sqlite3.connect(db)
    with conn:
        blob = conn.execute("SELECT ciphertext FROM provider_keys WHERE provider='openai'").fetchone()[0]
        conn.execute("UPDATE provider_keys SET ciphertext=? WHERE provider='groq'", (blob,))
    conn.close()
    with SecretStore(db, encryption_key=KEY_A) as store, pytest.raises(SecretStoreError):
        store.get_key("groq")


def test_rotation_re_encrypts_everything(db):
    with SecretStore(db, encryption_key=KEY_A) as store:
        store.set_key("openai", SECRET)
        store.set_key("groq", "gsk-groq")
        store.add_custom_provider("local", "http://127.0.0.1:1/v1", api_key="local-key")
        assert store.rotate_encryption_key(KEY_A, KEY_B) == 3
        assert store.get_key("openai") == SECRET  # the open store now uses the new key
    with SecretStore(db, encryption_key=KEY_B) as store:
        assert (store.get_key("openai"), store.get_key("groq"), store.get_custom_key("local")) == (
            SECRET,
            "gsk-groq",
            "local-key",
        )
    with (
        SecretStore(db, encryption_key=KEY_A) as store,
        pytest.raises(SecretStoreError, match="does not match"),
    ):
        store.get_key("openai")


def test_rotation_with_wrong_old_key_changes_nothing(db):
    with SecretStore(db, encryption_key=KEY_A) as store:
        store.set_key("openai", SECRET)
        with pytest.raises(SecretStoreError):
            store.rotate_encryption_key("not-the-old-key-zzzzzzzz", KEY_B)
    with SecretStore(db, encryption_key=KEY_A) as store:
        assert store.get_key("openai") == SECRET


def test_rotation_is_one_transaction(db):
    """A row that fails to decrypt mid-rotation rolls back the rows already re-encrypted."""
    with SecretStore(db, encryption_key=KEY_A) as store:
        store.set_key("aaa", "first")
        store.set_key("zzz", "second")
    with SecretStore(db, encryption_key=KEY_B) as other:  # one row written under a different key
        other.set_key("mmm", "odd-one")
    with SecretStore(db, encryption_key=KEY_A) as store:
        with pytest.raises(SecretStoreError):
            store.rotate_encryption_key(KEY_A, "third-encryption-key-cccccccccc")
        assert store.get_key("aaa") == "first" and store.get_key("zzz") == "second"


def test_custom_providers_and_defaults(db):
    with SecretStore(db, encryption_key=KEY_A) as store:
        store.add_custom_provider("myollama", "http://localhost:11434/v1/", display_name="Ollama")
        assert [c.provider_id for c in store.list_custom_providers()] == ["custom-myollama"]
        assert store.get_custom_provider("myollama").base_url == "http://localhost:11434/v1"
        with pytest.raises(Exception, match="slug"):
            store.add_custom_provider("Bad Slug", "http://x")
        with pytest.raises(SecretStoreError, match="http"):
            store.add_custom_provider("ftp", "ftp://x")
        assert store.get_defaults() == GlobalDefaults()
        store.set_defaults(working_model="openai/gpt-4o-mini", thinking_level="medium")
        store.set_defaults(thinking_model="anthropic/claude-opus-4")
        assert store.get_defaults() == GlobalDefaults(
            "openai/gpt-4o-mini", "anthropic/claude-opus-4", "medium"
        )
        store.set_defaults(clear=("thinking_level",))
        assert store.get_defaults().thinking_level is None
        with pytest.raises(SecretStoreError):
            store.set_defaults(thinking_level="extreme")  # type: ignore[arg-type]
        assert store.remove_custom_provider("myollama") and store.list_custom_providers() == []
