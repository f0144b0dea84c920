"""Encrypted settings store on real SQLite: round trip, wrong key, rotation, atomicity."""

from __future__ import annotations

import sqlite3

import pytest

from providers import secret_store
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
    with SecretStore(db, encryption_key=KEY_B) as other:  # one row written under a different key (an old split store)
        odd = secret_store._encrypt(other._aead, "odd-one", "key:mmm")
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO provider_keys VALUES ('mmm', ?, 0)", (odd,))
    conn.close()
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
        assert store.get_defaults() == GlobalDefaults("openai/gpt-4o-mini", "anthropic/claude-opus-4", "medium")
        store.set_defaults(clear=("thinking_level",))
        assert store.get_defaults().thinking_level is None
        with pytest.raises(SecretStoreError):
            store.set_defaults(thinking_level="extreme")  # type: ignore[arg-type]
        assert store.remove_custom_provider("myollama") and store.list_custom_providers() == []


def _ciphertexts(db):
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT provider, ciphertext FROM provider_keys ORDER BY provider").fetchall()
        rows += conn.execute("SELECT slug, key_ciphertext FROM custom_providers ORDER BY slug").fetchall()
    conn.close()
    return rows


@pytest.mark.parametrize("write", ["set_key", "custom_with_key"])
def test_a_write_under_a_different_encryption_key_is_refused_and_loses_nothing(db, write):
    with SecretStore(db, encryption_key=KEY_A) as store:
        store.set_key("openai", SECRET)
        store.add_custom_provider("ollama", "http://localhost:11434/v1", api_key="ollama-key")
    before = _ciphertexts(db)
    with SecretStore(db, encryption_key=KEY_B) as wrong, pytest.raises(SecretStoreError) as info:
        if write == "set_key":
            wrong.set_key("openai", "sk-replacement-under-the-wrong-key")
        else:
            wrong.add_custom_provider("ollama", "http://localhost:11434/v1", api_key="other")
    message = str(info.value)
    assert ENCRYPTION_KEY_ENV in message and "Nothing was changed" in message
    assert KEY_A not in message and KEY_B not in message
    assert _ciphertexts(db) == before
    with SecretStore(db, encryption_key=KEY_A) as store:  # one key still opens everything, rotation works
        assert store.get_key("openai") == SECRET and store.get_custom_key("ollama") == "ollama-key"
        assert store.rotate_encryption_key(KEY_A, KEY_B) == 2
    with SecretStore(db, encryption_key=KEY_B) as store:
        store.set_key("groq", "gsk-after-rotation")  # the new key is now the store's key
        assert store.get_key("openai") == SECRET


def test_a_new_key_for_a_different_provider_is_refused_too(db):
    """The split the check prevents: each entry would decrypt under a different secret."""
    with SecretStore(db, encryption_key=KEY_A) as store:
        store.set_key("openai", SECRET)
    with SecretStore(db, encryption_key=KEY_B) as wrong, pytest.raises(SecretStoreError):
        wrong.set_key("groq", "gsk-new")
    with SecretStore(db, encryption_key=KEY_A) as store:
        assert store.stored_providers() == ["openai"]


def test_a_store_from_before_the_check_value_gets_one_when_its_key_is_proven(db):
    with SecretStore(db, encryption_key=KEY_A) as store:
        store.set_key("openai", SECRET)
    with sqlite3.connect(db) as conn:  # as written by a version without the check value
        conn.execute("DELETE FROM store_meta")
    conn.close()
    with SecretStore(db, encryption_key=KEY_B) as wrong, pytest.raises(SecretStoreError):
        wrong.set_key("groq", "gsk-new")  # the old secrets do not open under KEY_B
    with SecretStore(db, encryption_key=KEY_A) as store:
        store.set_key("groq", "gsk-new")
    with SecretStore(db, encryption_key=KEY_B) as wrong, pytest.raises(SecretStoreError):
        wrong.set_key("mistral", "m-new")


def test_an_emptied_store_takes_a_new_key(db):
    with SecretStore(db, encryption_key=KEY_A) as store:
        store.set_key("openai", SECRET)
        store.delete_key("openai")
    with SecretStore(db, encryption_key=KEY_B) as store:
        store.set_key("openai", "sk-fresh-start")
        assert store.get_key("openai") == "sk-fresh-start"
