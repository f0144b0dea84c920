"""``pip install .`` alone (no ``[dev]``) must import and run every production path.

The test tools pull in packages production code may silently rely on (issue
15: ``requests``, google-auth's transport for Vertex, came only through
schemathesis, so every Vertex call failed in the Docker image). This test
builds a fresh virtualenv from a copy of the source tree with a plain
``pip install`` (dependencies resolved by pip, from its cache or the
registry; never ``--no-deps``), then, outside the source tree, imports every
module of ``providers``, ``qmdr`` and ``vault`` and loads every wire format's
adapter the way a call does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
#: what a wheel is built from; the rest of the repository (tests, benchmarks) is not installed
SOURCE_PARTS = ("pyproject.toml", "README.md", "providers", "qmdr", "vault")

IMPORT_EVERYTHING = r"""
import importlib, json, pkgutil
modules, failed = [], {}
for package_name in ("providers", "qmdr", "vault"):
    package = importlib.import_module(package_name)
    for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
        if info.name.endswith(".__main__"):  # runs the CLI when imported
            continue
        try:
            importlib.import_module(info.name)
            modules.append(info.name)
        except Exception as exc:
            failed[info.name] = f"{type(exc).__name__}: {exc}"
from providers.wire import WIRE_FORMATS, get_adapter
adapters = {}
for wire in WIRE_FORMATS:
    try:
        adapters[wire] = type(get_adapter(wire)).__name__
    except Exception as exc:
        failed["wire:" + wire] = f"{type(exc).__name__}: {exc}"
import qmdr
print(json.dumps({"modules": modules, "failed": failed, "adapters": adapters, "qmdr_file": qmdr.__file__}))
"""


def _copy_source(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for part in SOURCE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=ignore)
        else:
            shutil.copy2(source, target / part)


def test_plain_pip_install_imports_every_module_and_wire_format(tmp_path: Path) -> None:
    source, env_dir, elsewhere = tmp_path / "src", tmp_path / "venv", tmp_path / "cwd"
    source.mkdir()
    elsewhere.mkdir()
    _copy_source(source)
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=1000,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    run = subprocess.run(
        [str(python), "-c", IMPORT_EVERYTHING], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}
    assert str(env_dir) in report["qmdr_file"]  # the installed copy, not the source tree
    assert {"providers.wire.vertex", "providers.wire.bedrock", "qmdr.cli.main", "qmdr.api.app"} <= set(
        report["modules"]
    )
    assert report["adapters"]["vertex"] == "VertexAdapter"
