"""Fuzz the HTTP API with schemathesis and *every* check; count the findings per kind, before and after a change.

    .venv/bin/python benchmarks/api_fuzz.py                          # this checkout
    .venv/bin/python benchmarks/api_fuzz.py --tree /tmp/old --name before --tree . --name after

Each ``--tree`` is a source checkout (e.g. ``git archive COMMIT | tar -x -C /tmp/old``); its
``qmdr serve`` runs with that tree first on ``PYTHONPATH``, a copy of its sample vault,
an API token, and the same schemathesis settings as ``tests/e2e/test_schemathesis.py``
(fixed seed, 10 examples per operation, examples + coverage + fuzzing phases, the
operations that would call out or scan folders excluded). The test asserts the checks
the service must pass; this script also runs the ones that are heuristics
(``positive_data_acceptance`` counts a 4xx for a request the schema allows, e.g. removing
the default vault), so the table says what is left and why. Writes
``benchmarks/results/api_fuzz.md`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.qmdr_process import qmdr_env, running_server  # noqa: E402
from tests.e2e.test_schemathesis import EXCLUDED, MAX_EXAMPLES, SEED, TOKEN  # noqa: E402

#: a whole run takes about half a minute on two cores; past this something hangs
RUN_TIMEOUT_S = 900


def fuzz(tree: Path) -> dict:
    """Counts per finding title, cases and operations for one checkout."""
    work = Path(tempfile.mkdtemp(prefix="qmdr-api-fuzz-"))
    vault = work / "vault"
    shutil.copytree(tree / "examples" / "notes", vault)
    env = qmdr_env(
        work / "data",
        QMDR_VAULT=str(vault),
        QMDR_API_TOKEN=TOKEN,
        PYTHONPATH=str(tree),
        SECRET_ENCRYPTION_KEY="api-fuzz-encryption-key-0123456",
    )
    report = work / "report.json"
    with running_server(env, cwd=work) as base:
        command = [
            str(Path(sys.executable).parent / "st"),
            "run",
            f"{base}/openapi.json",
            "-H",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            "all",
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
        ]
        for name in EXCLUDED:
            command += ["--exclude-name", name]
        subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    result = json.loads(report.read_text())
    counts: collections.Counter[str] = collections.Counter()
    operations: dict[str, set[str]] = collections.defaultdict(set)
    for failure in result["failures"]:
        title = f"{failure['code']} {failure['title']}"
        counts[title] += failure["count"]
        operations[title].update(failure.get("operations", []))
    shutil.rmtree(work, ignore_errors=True)
    return {
        "cases": result["test_cases"]["generated"],
        "operations": result["operations"]["tested"],
        "counts": dict(counts),
        "where": {k: sorted(v) for k, v in operations.items()},
    }


def table(runs: dict[str, dict]) -> str:
    names = list(runs)
    titles = sorted({title for run in runs.values() for title in run["counts"]})
    lines = ["| finding | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines.append(
        "| cases generated / operations | "
        + " | ".join(f"{runs[n]['cases']} / {runs[n]['operations']}" for n in names)
        + " |"
    )
    for title in titles:
        lines.append(f"| {title} | " + " | ".join(str(runs[n]["counts"].get(title, 0)) for n in names) + " |")
    last = runs[names[-1]]
    lines.append("")
    for title, where in last["where"].items():
        lines.append(f"- {title} ({names[-1]}): {', '.join(where)}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", type=Path, help="a source checkout (repeatable)")
    parser.add_argument("--name", action="append", help="a label per --tree")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "api_fuzz.md")
    args = parser.parse_args()
    trees = args.tree or [ROOT]
    names = args.name or [tree.name for tree in trees]
    runs = {name: fuzz(tree.resolve()) for name, tree in zip(names, trees, strict=True)}
    text = table(runs)
    print(text)
    args.out.write_text("# API fuzz: schemathesis, every check\n\n" + text + "\n")


if __name__ == "__main__":
    main()
