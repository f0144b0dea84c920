from __future__ import annotations

from pathlib import Path

import pytest

from qmdr.settings import Settings, provider_environment


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_mean_embedded_model_and_no_rerank(clean_env: Path) -> None:
    settings = Settings()
    assert settings.qmd_embed_provider == "local"
    assert settings.qmd_rerank_mode == "none"
    assert not settings.rerank_enabled


def test_rerank_mode_defaults_to_llm_when_a_provider_is_set(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QMD_RERANK_PROVIDER", "OpenAI")
    settings = Settings()
    assert settings.qmd_rerank_provider == "openai"
    assert settings.qmd_rerank_mode == "llm"
    assert settings.rerank_enabled


def test_empty_env_values_count_as_unset(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QMD_EMBED_PROVIDER", "")
    monkeypatch.setenv("QMD_OPENAI_API_KEY", "")
    settings = Settings()
    assert settings.qmd_embed_provider == "local"
    assert settings.qmd_openai_api_key is None


def test_dotenv_is_read_and_environment_wins(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text("QMD_OPENAI_MODEL=from-dotenv\nQMDR_PORT=9000\nOPENROUTER_API_KEY=sk-dotenv\n")
    monkeypatch.setenv("QMDR_PORT", "9100")
    settings = Settings()
    assert settings.qmd_openai_model == "from-dotenv"
    assert settings.qmdr_port == 9100
    assert provider_environment(clean_env / ".env")["OPENROUTER_API_KEY"] == "sk-dotenv"
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-env")
    assert provider_environment(clean_env / ".env")["OPENROUTER_API_KEY"] == "sk-env"


def test_unsafe_values_are_refused(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QMDR_CHUNK_TOKENS", "64")
    monkeypatch.setenv("QMDR_CHUNK_OVERLAP", "64")
    with pytest.raises(ValueError, match="QMDR_CHUNK_OVERLAP"):
        Settings()
    monkeypatch.delenv("QMDR_CHUNK_OVERLAP")
    monkeypatch.setenv("QMD_RERANK_MODE", "sometimes")
    with pytest.raises(ValueError):
        Settings()


def test_secret_values_do_not_appear_in_repr(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QMD_OPENAI_API_KEY", "sk-very-secret-123")
    monkeypatch.setenv("QMDR_API_TOKEN", "tok-very-secret-456")
    text = repr(Settings()) + str(Settings().model_dump())
    assert "sk-very-secret-123" not in text and "tok-very-secret-456" not in text


def test_index_path_defaults_under_the_data_dir(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QMDR_DATA_DIR", str(clean_env / "data"))
    monkeypatch.setenv("QMDR_INDEX_NAME", "work")
    assert Settings().index_path == clean_env / "data" / "work.sqlite"


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("10.0.0.5", ["10.0.0.5"]),
        ("10.0.0.5, 10.1.0.0/16", ["10.0.0.5", "10.1.0.0/16"]),
        ('["::1", "fd00::/8"]', ["::1", "fd00::/8"]),
        ("", []),
    ],
)
def test_trusted_proxies_take_a_comma_list_or_json(monkeypatch, raw: str, parsed: list[str]) -> None:
    monkeypatch.setenv("QMDR_TRUSTED_PROXIES", raw)
    assert Settings(_env_file=None).qmdr_trusted_proxies == parsed


def test_trusted_proxies_refuse_what_is_not_an_address(monkeypatch) -> None:
    monkeypatch.setenv("QMDR_TRUSTED_PROXIES", "10.0.0.5,proxy.internal")
    with pytest.raises(ValueError, match="proxy.internal"):
        Settings(_env_file=None)
