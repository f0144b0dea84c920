"""The `qmdr` console script as a user runs it: index, search, status, providers, models, chat."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.fake_openai_server import FakeOpenAIServer
from tests.e2e.qmdr_process import qmdr_env, qmdr_executable

pytestmark = pytest.mark.e2e
SAMPLE_VAULT = Path(__file__).resolve().parents[2] / "examples" / "notes"
ENCRYPTION_KEY = "cli-test-encryption-key-0123456789"


def qmdr(*args: str, env: dict[str, str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [qmdr_executable(), *args], env=env, cwd=cwd, capture_output=True, text=True, input=stdin, timeout=300
    )


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    target = tmp_path / "notes"
    shutil.copytree(SAMPLE_VAULT, target)
    return target


def test_index_search_and_status(tmp_path: Path, notes: Path) -> None:
    env = qmdr_env(tmp_path / "data")
    first = qmdr("index", str(notes), "--json", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["added"] == 5 and summary["embedded"] > 0 and summary["skipped"] == 0

    (notes / "decisions" / "storage.md").unlink()
    (notes / "binary.md").write_bytes(b"\x00\x01\x02" * 100)
    (notes / "latin1.md").write_bytes("# Caf\xe9 notes\n\nretry budget in caf\xe9\n".encode("latin-1"))
    second = json.loads(qmdr("index", str(notes), "--json", env=env, cwd=tmp_path).stdout)
    assert second["removed"] == 1 and second["unchanged"] == 4 and second["added"] == 1
    assert second["skipped"] == 1 and any(w[0] == "latin1.md" for w in second["warnings"])

    found = qmdr("search", "what did we decide about retries", "--json", env=env, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    body = json.loads(found.stdout)
    assert body["results"][0]["path"] == "decisions/retries.md"
    assert all(r["path"] != "decisions/storage.md" for r in body["results"])

    keyword = json.loads(
        qmdr("search", "camping stove", "--mode", "keyword", "-k", "1", "--json", env=env, cwd=tmp_path).stdout
    )
    assert [r["path"] for r in keyword["results"]] == ["howto/cooking-rice.md"]

    table = qmdr("search", "rice", env=env, cwd=tmp_path)
    assert table.returncode == 0 and "cooking-rice.md" in table.stdout

    status = json.loads(qmdr("status", "--json", env=env, cwd=tmp_path).stdout)
    assert status["index"]["notes"] == 5 and status["embedding"]["model"] == "local/all-MiniLM-L6-v2"


def test_search_table_shows_note_text_literally(tmp_path: Path, notes: Path) -> None:
    """The README's first search shows the note's [[link]]; a note holding [/b] or an escape cannot break it."""
    (notes / "howto" / "markup.md").write_text(
        "# Tags [b]bold[/b]\n\nretries close with [/b] and \x1b[2J clear the screen\n", encoding="utf-8"
    )
    env = {**qmdr_env(tmp_path / "data"), "COLUMNS": "400"}
    assert qmdr("index", str(notes), env=env, cwd=tmp_path).returncode == 0
    table = qmdr("search", "what did we decide about retries", env=env, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "See also [[meetings/2026-03-12-incident-review]]." in table.stdout
    keyword = qmdr("search", "retries close", "--mode", "keyword", env=env, cwd=tmp_path)
    assert keyword.returncode == 0, keyword.stderr
    assert "retries close with [/b] and \\x1b[2J clear the screen" in keyword.stdout
    assert "Tags [b]bold[/b]" in keyword.stdout and "\x1b" not in keyword.stdout


def test_bad_search_input_is_a_clear_error(tmp_path: Path) -> None:
    env = qmdr_env(tmp_path / "data")
    for args in (
        ["search", "   "],
        ["search", "x", "-k", "0"],
        ["search", "x", "-k", "101"],
        ["search", "x", "--mode", "magic"],
    ):
        result = qmdr(*args, env=env, cwd=tmp_path)
        assert result.returncode == 2, args
        assert "error:" in result.stderr and "Traceback" not in result.stderr
    missing = qmdr("index", str(tmp_path / "nowhere"), env=env, cwd=tmp_path)
    assert missing.returncode != 0 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_model_change_asks_for_a_rebuild(tmp_path: Path, notes: Path) -> None:
    env = qmdr_env(tmp_path / "data")
    assert qmdr("index", str(notes), "--json", env=env, cwd=tmp_path).returncode == 0
    with FakeOpenAIServer(dim=384) as server:
        remote = {
            **env,
            "QMD_EMBED_PROVIDER": "openai",
            "QMD_OPENAI_BASE_URL": server.base_url,
            "QMD_OPENAI_EMBED_MODEL": "fake-embed",
            "QMD_OPENAI_API_KEY": "sk-cli-fake-key-1234",
        }
        refused = qmdr("index", str(notes), env=remote, cwd=tmp_path)
        assert refused.returncode != 0 and "--rebuild" in refused.stderr
        rebuilt = qmdr("index", str(notes), "--rebuild", "--json", env=remote, cwd=tmp_path)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert json.loads(rebuilt.stdout)["model_id"] == "fake-embed"
        assert "sk-cli-fake-key-1234" not in refused.stderr + rebuilt.stderr + rebuilt.stdout


def test_providers_keys_models_and_chat(tmp_path: Path) -> None:
    env = qmdr_env(tmp_path / "data", SECRET_ENCRYPTION_KEY=ENCRYPTION_KEY, OPENROUTER_API_KEY="sk-or-env-key-9999")
    listed = json.loads(qmdr("providers", "--json", env=env, cwd=tmp_path).stdout)
    openrouter = next(p for p in listed if p["id"] == "openrouter")
    assert openrouter["source"] == "env" and openrouter["masked"].endswith("9999")

    stored = qmdr("providers", "set-key", "openrouter", env=env, cwd=tmp_path, stdin="sk-or-stored-key-7777\n")
    assert stored.returncode == 0 and "7777" in stored.stdout and "sk-or-stored-key-7777" not in stored.stdout
    listed = json.loads(qmdr("providers", "--json", env=env, cwd=tmp_path).stdout)
    assert next(p for p in listed if p["id"] == "openrouter")["source"] == "stored"
    settings_file = (tmp_path / "data" / "settings.sqlite").read_bytes()
    assert b"sk-or-stored-key-7777" not in settings_file

    resolved = json.loads(
        qmdr("models", "resolve", "anthropic/claude-sonnet-4", "--json", env=env, cwd=tmp_path).stdout
    )
    assert resolved["model_sent"] == "claude-sonnet-4-0" and resolved["key_env_var"] == "ANTHROPIC_API_KEY"
    unknown = qmdr("models", "resolve", "nope/model", env=env, cwd=tmp_path)
    assert unknown.returncode == 1 and "unknown provider" in unknown.stderr

    no_key = qmdr("chat", "-m", "anthropic/claude-sonnet-4", "hi", env=env, cwd=tmp_path)
    assert no_key.returncode == 1 and "ANTHROPIC_API_KEY" in no_key.stderr and "Traceback" not in no_key.stderr

    with FakeOpenAIServer() as server:
        added = qmdr("providers", "add-custom", "myollama", server.base_url, env=env, cwd=tmp_path)
        assert added.returncode == 0 and "custom-myollama/<model>" in added.stdout
        streamed = qmdr("chat", "-m", "custom-myollama/llama3.3", "hello from the cli", env=env, cwd=tmp_path)
        assert streamed.returncode == 0, streamed.stderr
        assert "echo: hello from the cli" in streamed.stdout
        tested = qmdr("providers", "test", "custom-myollama", env=env, cwd=tmp_path)
        assert tested.returncode == 0 and tested.stdout.startswith("ok")


def test_set_key_under_a_different_encryption_key_is_refused_and_rotation_still_works(tmp_path: Path) -> None:
    """Issue 15: with the wrong SECRET_ENCRYPTION_KEY, set-key exited 0 and split the store."""
    good = qmdr_env(tmp_path / "data", SECRET_ENCRYPTION_KEY=ENCRYPTION_KEY)
    wrong = qmdr_env(tmp_path / "data", SECRET_ENCRYPTION_KEY="another-encryption-key-55555555")
    first = qmdr("providers", "set-key", "openrouter", env=good, cwd=tmp_path, stdin="sk-or-first-1111\n")
    assert first.returncode == 0, first.stderr
    refused = qmdr("providers", "set-key", "groq", env=wrong, cwd=tmp_path, stdin="gsk-second-2222\n")
    assert refused.returncode == 1 and "SECRET_ENCRYPTION_KEY" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "another-encryption-key" not in refused.stderr + refused.stdout and "gsk-second" not in refused.stderr
    listed = {p["id"]: p for p in json.loads(qmdr("providers", "--json", env=good, cwd=tmp_path).stdout)}
    assert listed["openrouter"]["source"] == "stored" and listed["groq"]["source"] == "none"
    assert listed["openrouter"]["error"] is None
    rotated = qmdr(
        "providers",
        "rotate-key",
        env={**good, "QMDR_NEW_SECRET_ENCRYPTION_KEY": "third-key-666666666666"},
        cwd=tmp_path,
    )
    assert rotated.returncode == 0 and "re-encrypted 1" in rotated.stdout, rotated.stderr  # one key opens it all
