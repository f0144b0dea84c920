"""Schemathesis (4.x CLI) against a real ``qmdr serve``: no 5xx, no status code or body outside the OpenAPI schema.

Bounded: ``MAX_EXAMPLES`` per operation, a fixed seed, the examples, coverage
and fuzzing phases. Operations that would reach out to arbitrary hosts from
generated input (chat, provider tests, custom providers) or register
arbitrary folders as vaults are excluded: they are covered by their own
tests with fake servers, and a fuzzer must not make the service scan ``/``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.qmdr_process import qmdr_env, running_server
from tests.e2e.reliability_report import record

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SAMPLE_VAULT = Path(__file__).resolve().parents[2] / "examples" / "notes"
TOKEN = "schemathesis-token-0123456789"
#: generated cases per operation: ~700 requests in all, about half a minute on two cores
MAX_EXAMPLES = 10
SEED = 8
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"
#: operations whose generated input would make the service call out or scan arbitrary folders
EXCLUDED = ("POST /chat", "POST /providers/{provider_id}/test", "POST /providers/custom", "POST /vaults")


def test_no_server_errors_and_no_schema_violations(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault)
    env = qmdr_env(
        tmp_path / "data",
        QMDR_VAULT=str(vault),
        QMDR_API_TOKEN=TOKEN,
        SECRET_ENCRYPTION_KEY="schemathesis-encryption-key-0123",
    )
    report = tmp_path / "schemathesis.json"
    with running_server(env, cwd=tmp_path) as base:
        command = [
            str(Path(sys.executable).parent / "st"),
            "run",
            f"{base}/openapi.json",
            "-H",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            CHECKS,
            "-n",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--phases",
            "examples,coverage,fuzzing",
            "--request-timeout",
            "30",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--output-truncate",
            "true",
        ]
        for name in EXCLUDED:
            command += ["--exclude-name", name]
        run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("qmdr-serve-*.log"))
    result = json.loads(report.read_text())
    failures = result["failures"]
    server_errors = sum(f["count"] for f in failures if f["code"] == "ST101")
    record(
        "bad_input",
        source="schemathesis",
        cases=result["test_cases"]["generated"],
        operations=result["operations"]["tested"],
        server_errors=server_errors,
        schema_violations=sum(f["count"] for f in failures if f["code"] != "ST101"),
    )
    assert result["operations"]["tested"] >= 20
    assert result["test_cases"]["generated"] >= 200
    assert failures == [], run.stdout[-6000:]
    assert result["errors"] == [], run.stdout[-3000:]
    assert "Traceback" not in logs, logs[-3000:]
    assert run.returncode == 0, run.stdout[-3000:]
