"""Whole-process cost of ``qmdr`` commands against a bare ``python -c pass``, optionally against another checkout.

    .venv/bin/python benchmarks/cli_startup.py [--rounds 7] [--reference PATH_TO_OTHER_CHECKOUT]

An agent that shells out pays a command's start-up on every call. Each command runs as a fresh process
(``python -m qmdr.cli``: the same entry point as the ``qmdr`` script) on the bundled sample vault
``examples/notes``, indexed once into a temporary data dir first:

* ``python -c pass``: the interpreter alone, the floor.
* ``qmdr --help``, ``qmdr status``, ``qmdr search Q --mode keyword``, ``qmdr search Q`` (hybrid: embeds the query).

With ``--reference`` the same commands also run from that checkout (``PYTHONPATH`` pointing at it; e.g.
``git archive <commit> | tar -x -C /tmp/before``), interleaved with this one, so a before/after pair
shares the machine's load. Per command: median wall seconds and median CPU seconds (user + sys, from the
kernel's accounting of the finished child). Rounds alternate commands so background load hits all alike.
Writes ``benchmarks/results/cli_startup.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
QUERY = "what did we decide about retries"
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "qmdr --help": ["-m", "qmdr.cli", "--help"],
    "qmdr status": ["-m", "qmdr.cli", "status"],
    "qmdr search --mode keyword": ["-m", "qmdr.cli", "search", QUERY, "--mode", "keyword"],
    "qmdr search (hybrid)": ["-m", "qmdr.cli", "search", QUERY],
}


def environment(tree: Path, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QMD_", "QMDR_"))}
    env.update({"PYTHONPATH": str(tree), "QMDR_DATA_DIR": str(data_dir), "QMDR_LOG_LEVEL": "WARNING", "COLUMNS": "120"})
    return env


def run_once(args: list[str], env: dict[str, str], tree: Path) -> tuple[float, float]:
    """(wall seconds, user + sys CPU seconds) of one finished child process.

    It runs in ``tree``: ``python -m`` puts the working directory first on ``sys.path``.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *args], env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{args} exited with {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reference", type=Path, help="another checkout to compare against (e.g. before)")
    args = parser.parse_args()
    trees = {"this": REPO, **({"reference": args.reference.resolve()} if args.reference else {})}
    with tempfile.TemporaryDirectory() as tmp:
        data = {name: Path(tmp) / name for name in trees}
        for name, tree in trees.items():  # index the sample vault once per checkout (its own schema)
            subprocess.run(
                [sys.executable, "-m", "qmdr.cli", "index", str(REPO / "examples" / "notes")],
                env=environment(tree, data[name]),
                cwd=tree,
                check=True,
                capture_output=True,
            )
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.rounds + 1):  # the first round warms the page cache and is dropped
            for command, argv in COMMANDS.items():
                for name, tree in trees.items():
                    samples.setdefault((name, command), []).append(run_once(argv, environment(tree, data[name]), tree))
    rows = []
    for (name, command), values in samples.items():
        counted = values[1:]
        rows.append(
            {
                "tree": name,
                "command": command,
                "runs": len(counted),
                "wall_s": round(statistics.median(w for w, _ in counted), 3),
                "cpu_s": round(statistics.median(c for _, c in counted), 3),
            }
        )
    facts = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_end": os.getloadavg(),
        "reference": str(args.reference) if args.reference else None,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cli_startup.json").write_text(json.dumps({"facts": facts, "rows": rows}, indent=2))
    floor = {r["tree"]: r for r in rows if r["command"] == "python -c pass"}
    lines = [
        "# CLI start-up: whole-process wall and CPU seconds (median)",
        "",
        f"{facts['cores']} cores, Python {facts['python']}, {args.rounds} counted runs each; load average at "
        f"the end {facts['load_average_at_end'][0]:.1f}. CPU = user + sys of the finished process.",
        "",
        "| checkout | command | wall s | CPU s | CPU over `python -c pass` s |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tree']} | {r['command']} | {r['wall_s']:.3f} | {r['cpu_s']:.3f} | "
            f"{r['cpu_s'] - floor[r['tree']]['cpu_s']:.3f} |"
        )
    (RESULTS / "cli_startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
