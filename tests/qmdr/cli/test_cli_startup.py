"""A ``qmdr`` command imports only what it uses: ``--help`` needs no provider layer, numpy or web stack,
and a keyword search never reads the embedded model's weights (each costs tenths of a second per call)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.qmdr_process import qmdr_env, qmdr_executable

RUN_TIMEOUT_S = 240  # a loaded CI machine is slow; nothing here asserts a duration

# Runs the real console entry point in this interpreter, then reports what it imported.
PROBE = """
import atexit, json, sys
import providers.local.bert as bert  # spy on the weights loader (loading this module reads no weights)
calls = []
real = bert.load_weights
bert.load_weights = lambda *a, **k: calls.append(1) or real(*a, **k)
atexit.register(lambda: print("PROBE" + json.dumps({"modules": sorted(sys.modules), "weights_loads": len(calls)}),
                              file=sys.stderr))
sys.argv = ["qmdr", *sys.argv[1:]]
from qmdr.cli.main import main
main()
"""
HELP_PROBE = PROBE.replace("import providers.local.bert as bert", "bert = type('B', (), {'load_weights': 0})")

#: never needed to print help: the provider wire modules, the store, numpy, settings, the web stack
NOT_FOR_HELP = (
    "providers",
    "numpy",
    "httpx",
    "fastapi",
    "starlette",
    "uvicorn",
    "matplotlib",
    "apsw",
    "cryptography",
    "pydantic_settings",
    "vault",
    "qmdr.service",
    "qmdr.store",
    "qmdr.api",
    "yaml",
)
#: never needed for a keyword search from the command line
NOT_FOR_KEYWORD_SEARCH = (
    "fastapi",
    "starlette",
    "uvicorn",
    "matplotlib",
    "qmdr.api",
    "qmdr.ui",
    "mcp",
    "tokenizers",
    "safetensors",  # the embedded model: only an embedding needs it
    "httpx",
    "cryptography",
    "providers.client",
    "providers.secret_store",
    "providers.wire",
)  # the provider layer: no provider is called


def probe(script: str, args: list[str], env: dict[str, str], cwd: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stderr.splitlines() if line.startswith("PROBE"))
    return json.loads(line[len("PROBE") :])


def imported(modules: list[str], families: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in families)]


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["search", "--help"],
        ["vault", "--help"],
        ["providers", "--help"],
        ["bench", "--help"],
        ["models", "--help"],
    ],
)
def test_help_imports_no_provider_layer_numpy_or_web_stack(args: list[str], tmp_path: Path) -> None:
    report = probe(HELP_PROBE, args, qmdr_env(tmp_path / "data"), tmp_path)
    assert imported(report["modules"], NOT_FOR_HELP) == []
    assert "qmdr.cli.main" in report["modules"]  # the probe did run the CLI


def test_keyword_search_reads_no_model_weights_and_no_web_stack(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "rice.md").write_text("# Rice\n\nRinse the rice, simmer fifteen minutes on a camping stove.\n")
    env = qmdr_env(tmp_path / "data")
    indexed = subprocess.run(
        [qmdr_executable(), "index", str(notes), "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert indexed.returncode == 0, indexed.stderr

    keyword = probe(PROBE, ["search", "camping stove", "--mode", "keyword", "--json"], env, tmp_path)
    assert keyword["weights_loads"] == 0
    assert imported(keyword["modules"], NOT_FOR_KEYWORD_SEARCH) == []

    hybrid = probe(PROBE, ["search", "camping stove", "--json"], env, tmp_path)
    assert hybrid["weights_loads"] == 1  # the spy sees a load when the query is embedded
