"""``qmdr models resolve --pipeline FILE`` as a user runs it: each step's models and where each came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.qmdr_process import qmdr_env
from tests.e2e.test_cli import qmdr

pytestmark = pytest.mark.e2e

PIPELINE = """\
steps:
  - id: draft
    agent: writer
    model: anthropic/claude-sonnet-4
  - id: review
    agent: critic
  - id: polish
    agent: writer
"""


def test_models_resolve_pipeline_says_where_each_choice_came_from(tmp_path: Path) -> None:
    (tmp_path / "agents" / "critic").mkdir(parents=True)
    (tmp_path / "agents" / "critic" / "config.yml").write_text(
        "model: xai/grok-3-mini\nthinking_model: anthropic/claude-opus-4\nthinking_level: high\n"
    )
    (tmp_path / "pipeline.yml").write_text(PIPELINE)
    env = qmdr_env(tmp_path / "data", SECRET_ENCRYPTION_KEY="pipeline-test-key-0000000000")
    env["QMDR_AGENTS_DIR"] = str(tmp_path / "agents")
    without_default = qmdr("models", "resolve", "--pipeline", "pipeline.yml", env=env, cwd=tmp_path)
    assert without_default.returncode == 1 and "polish" not in without_default.stdout
    assert "default working model" in without_default.stderr  # 'writer' has no config and no default is set
    (tmp_path / "agents" / "writer").mkdir()
    (tmp_path / "agents" / "writer" / "config.yml").write_text("model: openai/gpt-4o-mini\n")
    done = qmdr("models", "resolve", "--pipeline", "pipeline.yml", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["step"]: row for row in json.loads(done.stdout)}
    assert rows["draft"]["model"] == "anthropic/claude-sonnet-4" and rows["draft"]["sources"]["model"] == "step"
    assert rows["review"]["model"] == "xai/grok-3-mini" and rows["review"]["thinking_level"] == "high"
    assert rows["review"]["sources"] == {"model": "agent", "thinking_model": "agent", "thinking_level": "agent"}
    assert rows["polish"]["model"] == "openai/gpt-4o-mini" and rows["polish"]["sources"]["model"] == "agent"
    one = qmdr(
        "models",
        "resolve",
        "--pipeline",
        "pipeline.yml",
        "--step",
        "review",
        "--agents-dir",
        str(tmp_path / "agents"),
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert [row["step"] for row in json.loads(one.stdout)] == ["review"]
    missing = qmdr("models", "resolve", "--pipeline", "pipeline.yml", "--step", "nope", env=env, cwd=tmp_path)
    assert missing.returncode == 1 and "draft, review, polish" in missing.stderr


def test_models_refresh_stores_each_providers_list_and_reports_failures(tmp_path: Path) -> None:
    from tests.e2e.fake_openai_server import FakeOpenAIServer

    env = qmdr_env(tmp_path / "data", SECRET_ENCRYPTION_KEY="refresh-test-key-00000000000")
    with FakeOpenAIServer() as server:
        assert qmdr("providers", "add-custom", "box", server.base_url, env=env, cwd=tmp_path).returncode == 0
        assert qmdr("providers", "add-custom", "gone", "http://127.0.0.1:9/v1", env=env, cwd=tmp_path).returncode == 0
        done = qmdr(
            "models",
            "refresh",
            "--provider",
            "custom-box",
            "--provider",
            "custom-gone",
            "--json",
            env=env,
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr
    results = {r["provider"]: r for r in json.loads(done.stdout)}
    assert results["custom-box"]["ok"] and results["custom-box"]["models"] == len(server.models) > 0
    assert results["custom-box"]["refreshed_at"].endswith("Z")
    assert not results["custom-gone"]["ok"] and "custom-gone" in results["custom-gone"]["message"]
    import sqlite3

    with sqlite3.connect(tmp_path / "data" / "settings.sqlite") as conn:
        stored = conn.execute("SELECT count(*) FROM catalog_models WHERE provider = 'custom-box'").fetchone()[0]
    assert stored == len(server.models)
