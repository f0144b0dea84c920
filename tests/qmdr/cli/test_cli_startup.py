"""A ``qmdr`` command imports only what it uses: ``--help`` needs no provider layer, numpy or web stack,
and a keyword search or ``qmdr status`` never imports numpy, the vault parser or the embedded model
(each costs tens of milliseconds per call; an agent that shells out pays them on every query)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.qmdr_process import qmdr_env, qmdr_executable

RUN_TIMEOUT_S = 240  # a loaded CI machine is slow; nothing here asserts a duration

# Runs the real console entry point in this interpreter, then reports what it imported and how often the
# embedded model's weights were read. The weights loader is wrapped when its module is first imported
# (importing it up front would import numpy, which is what the keyword search must not do).
PROBE = """
import atexit, importlib.abc, importlib.util, json, sys
calls = []

class SpyOnWeights(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "providers.local.bert":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            real = module.load_weights
            module.load_weights = lambda *a, **k: calls.append(1) or real(*a, **k)

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, SpyOnWeights())
atexit.register(lambda: print("PROBE" + json.dumps({"modules": sorted(sys.modules), "weights_loads": len(calls)}),
                              file=sys.stderr))
sys.argv = ["qmdr", *sys.argv[1:]]
from qmdr.cli.main import main
main()
"""

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
#: never needed to read the index from the command line (a keyword search, `qmdr status`)
NOT_FOR_READING = (
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
    "providers.wire",  # the provider layer: no provider is called
    "providers.types",
    "numpy",  # ~60 ms of wall time and twice that in CPU (OpenBLAS starts its threads): only vectors need it
    "threadpoolctl",  # made by the embedder's first embed, once numpy is loaded
    "providers.local.bert",  # the embedder's numpy forward pass
    "sqlite_vec",  # its package imports numpy; the store loads the extension from the package's path
    "qmdr.store.vector_index",
    "qmdr.store.vector_file",
    "qmdr.memory.indexer",  # the write path: indexer, vault parser and scanner
    "qmdr.memory.note_index",
    "vault.parse",
    "vault.scan",
    "vault.links",
    "yaml",  # frontmatter is parsed when a note is read for indexing, never for a search
    "pathspec",  # .qmdrignore rules: scanning a folder only
)


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
    report = probe(PROBE, args, qmdr_env(tmp_path / "data"), tmp_path)
    assert imported(report["modules"], NOT_FOR_HELP) == []
    assert "qmdr.cli.main" in report["modules"]  # the probe did run the CLI


def test_keyword_search_and_status_import_no_numpy_model_or_write_path(tmp_path: Path) -> None:
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

    keyword = probe(PROBE, ["search", "camping stove", "--mode", "keyword"], env, tmp_path)
    assert keyword["weights_loads"] == 0
    assert imported(keyword["modules"], NOT_FOR_READING) == []
    assert "qmdr.store.sqlite" in keyword["modules"]  # the probe did search the index

    status = probe(PROBE, ["status", "--json"], env, tmp_path)
    assert status["weights_loads"] == 0
    assert imported(status["modules"], NOT_FOR_READING) == []

    hybrid = probe(PROBE, ["search", "camping stove", "--json"], env, tmp_path)
    assert hybrid["weights_loads"] == 1  # the spy sees a load when the query is embedded


def test_command_signatures_hold_objects_not_strings() -> None:
    """typer reads every command's signature on each call: a module with ``from __future__ import annotations``
    would have each annotation compiled and evaluated again on every ``qmdr`` call."""
    from qmdr.cli.main import app

    def callbacks(typer_app) -> list:
        found = [info.callback for info in typer_app.registered_commands]
        if typer_app.registered_callback is not None:
            found.append(typer_app.registered_callback.callback)
        for group in typer_app.registered_groups:
            found += callbacks(group.typer_instance)
        return found

    commands = callbacks(app)
    assert len(commands) > 20  # every command of every group was found
    stringly = sorted(
        f"{command.__module__}.{command.__name__}"
        for command in commands
        if any(isinstance(annotation, str) for annotation in command.__annotations__.values())
    )
    assert stringly == []
