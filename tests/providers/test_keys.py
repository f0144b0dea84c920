"""Key precedence (stored > env > none), masking, status and missing-credential messages."""

from __future__ import annotations

import pytest

from providers.errors import MissingCredentials, SecretStoreError, UnknownProvider
from providers.keys import Keys, mask_key
from providers.secret_store import SecretStore

ENC = "keys-test-encryption-key-0123456789"
STORED = "sk-stored-SECRET-1111"
ENV = "sk-env-SECRET-2222"


def test_mask_shows_at_most_last_four():
    assert mask_key("sk-abcdefghijklmnop") == "…mnop"
    assert mask_key("abcdefgh") == "…gh"  # short keys show at most a quarter
    assert mask_key("abc") == "…"
    assert mask_key(None) is None and mask_key("") is None


def test_stored_beats_env_also_after_reopening(tmp_path):
    db = tmp_path / "s.db"
    env = {"OPENAI_API_KEY": ENV}
    with SecretStore(db, encryption_key=ENC) as store:
        store.set_key("openai", STORED)
        assert Keys(store, env).credentials("openai").api_key == STORED
    with SecretStore(db, encryption_key=ENC) as reopened:  # a restart with the env var set changes nothing
        keys = Keys(reopened, env)
        assert keys.credentials("openai").api_key == STORED
        info = keys.key_info("openai")
        assert (info.source, info.masked, info.env_var) == ("stored", "…1111", "OPENAI_API_KEY")
        assert reopened.get_key("openai") == STORED  # env never written into the store


def test_env_used_when_nothing_stored():
    keys = Keys(None, {"GROQ_API_KEY": ENV})
    creds = keys.credentials("groq")
    assert creds.api_key == ENV and creds.base_url == "https://api.groq.com/openai/v1"
    info = keys.key_info("groq")
    assert (info.source, info.masked, info.env_var) == ("env", "…2222", "GROQ_API_KEY")


def test_missing_key_names_env_var_and_settings_page():
    keys = Keys(None, {})
    with pytest.raises(MissingCredentials) as info:
        keys.credentials("xai")
    assert info.value.env_var == "XAI_API_KEY"
    assert "XAI_API_KEY" in str(info.value) and "Settings -> Providers" in str(info.value)
    status = keys.key_info("xai")
    assert (status.source, status.masked, status.ready) == ("none", None, False)


def test_undecryptable_stored_key_is_an_error_not_an_env_fallback(tmp_path):
    db = tmp_path / "s.db"
    with SecretStore(db, encryption_key=ENC) as store:
        store.set_key("openai", STORED)
    with SecretStore(db, encryption_key="another-key-entirely-0000000") as store:
        keys = Keys(store, {"OPENAI_API_KEY": ENV})
        with pytest.raises(SecretStoreError, match="does not match"):
            keys.credentials("openai")
        info = keys.key_info("openai")
        assert info.source == "stored" and info.error and not info.ready and info.masked is None


def test_settings_providers_need_their_settings():
    with pytest.raises(MissingCredentials) as info:
        Keys(None, {"AZURE_OPENAI_API_KEY": ENV}).credentials("azure")
    assert "AZURE_OPENAI_ENDPOINT" in str(info.value) and info.value.env_var == "AZURE_OPENAI_ENDPOINT"
    creds = Keys(
        None,
        {
            "AZURE_OPENAI_API_KEY": ENV,
            "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/",
            "AZURE_OPENAI_API_VERSION": "2024-10-21",
        },
    ).credentials("azure")
    assert creds.base_url == "https://r.openai.azure.com" and creds.extra["api_version"] == "2024-10-21"

    with pytest.raises(MissingCredentials, match="AWS_REGION or AWS_DEFAULT_REGION"):
        Keys(None, {}).credentials("bedrock")
    bedrock = Keys(None, {"AWS_DEFAULT_REGION": "eu-west-1"}).credentials("bedrock")
    assert bedrock.api_key is None and bedrock.extra["region"] == "eu-west-1"
    assert bedrock.base_url == "https://bedrock-runtime.eu-west-1.amazonaws.com"

    vertex = Keys(None, {"GOOGLE_CLOUD_PROJECT": "p1"}).credentials("vertex")
    assert vertex.extra == {"project": "p1", "location": "us-central1"}


def test_custom_providers_come_from_the_store(tmp_path):
    with SecretStore(tmp_path / "s.db", encryption_key=ENC) as store:
        store.add_custom_provider("myollama", "http://localhost:11434/v1")
        store.add_custom_provider("keyed", "https://llm.example.com/v1", api_key="custom-SECRET-9876")
        keys = Keys(store, {})
        assert keys.credentials("custom-myollama").api_key is None  # the key is optional
        assert keys.credentials("custom-keyed").api_key == "custom-SECRET-9876"
        assert keys.key_info("custom-keyed").masked == "…9876"
        assert "custom-myollama" in keys.provider_ids()
        with pytest.raises(UnknownProvider, match="Settings -> Providers"):
            keys.credentials("custom-absent")


def test_credentials_repr_hides_the_key():
    creds = Keys(None, {"OPENAI_API_KEY": ENV}).credentials("openai")
    assert ENV not in repr(creds)
