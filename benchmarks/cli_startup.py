"""Whole-process cost of ``qmdr`` commands against a bare ``python -c pass``, optionally against another checkout.

    .venv/bin/python benchmarks/cli_startup.py [--rounds 7] [--reference PATH_TO_OTHER_CHECKOUT]

An agent that shells out pays a command's start-up on every call. Each command runs as a fresh process
(``python -m qmdr.cli``: the same entry point as the ``qmdr`` script) on the bundled sample vault
``examples/notes``, indexed once into a temporary data dir first:

* ``python -c pass``: the interpreter alone, the floor.
* ``qmdr --help``, ``qmdr status``, ``qmdr search Q --mode keyword``, ``qmdr search Q`` (hybrid: embeds the query).

With ``--reference`` the same commands also run from that checkout (``PYTHONPATH`` pointing at it; e.g.
``git archive <commit> | tar -x -C /tmp/before``), interleaved with this one, so a before/after pair
shares the machine's load. Per command: median wall seconds, median CPU seconds (user + sys) and peak
RSS, from the kernel's accounting of the finished child, and with a reference the median of the
per-round ratios this/reference (a ratio holds when the machine's speed drifts between rounds). Rounds
alternate commands so background load hits all alike; the load average is recorded before and after.

Both checkouts are byte-compiled first, as ``pip install`` does for an installed qmdr: run from a
checkout under ``PYTHONDONTWRITEBYTECODE`` (as in CI), every call would compile every module it
imports, which is not what a user pays.
Writes ``benchmarks/results/cli_startup.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import compileall
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


def run_once(args: list[str], env: dict[str, str], tree: Path) -> tuple[float, float, float]:
    """(wall seconds, user + sys CPU seconds, peak RSS MiB) of one finished child process.

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
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # ru_maxrss: KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reference", type=Path, help="another checkout to compare against (e.g. before)")
    parser.add_argument("--reference-label", help="what the reference is, for the report (e.g. its commit)")
    args = parser.parse_args()
    trees = {"this": REPO, **({"reference": args.reference.resolve()} if args.reference else {})}
    for tree in trees.values():
        for package in ("qmdr", "providers", "vault"):
            compileall.compile_dir(tree / package, quiet=1)
    load_at_start = os.getloadavg()
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
        samples: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for _ in range(args.rounds + 1):  # the first round warms the page cache and is dropped
            for command, argv in COMMANDS.items():
                for name, tree in trees.items():
                    samples.setdefault((name, command), []).append(run_once(argv, environment(tree, data[name]), tree))
    rows = []
    for (name, command), values in samples.items():
        counted = values[1:]
        row = {
            "tree": name,
            "command": command,
            "runs": len(counted),
            "wall_s": round(statistics.median(w for w, _, _ in counted), 3),
            "cpu_s": round(statistics.median(c for _, c, _ in counted), 3),
            "peak_mib": round(statistics.median(m for _, _, m in counted), 1),
        }
        if name == "this" and ("reference", command) in samples:
            pairs = list(zip(counted, samples[("reference", command)][1:], strict=True))
            row["wall_ratio"] = round(statistics.median(a[0] / b[0] for a, b in pairs), 2)
            row["cpu_ratio"] = round(statistics.median(a[1] / b[1] for a, b in pairs), 2)
        rows.append(row)
    facts = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "reference": str(args.reference) if args.reference else None,
        "reference_label": args.reference_label,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cli_startup.json").write_text(json.dumps({"facts": facts, "rows": rows}, indent=2))
    floor = {r["tree"]: r for r in rows if r["command"] == "python -c pass"}
    reference = f"`{args.reference_label or args.reference}`"
    lines = [
        "# CLI start-up: whole-process wall and CPU seconds (median)",
        "",
        "Written by `benchmarks/cli_startup.py`" + (f", against the checkout {reference}." if args.reference else "."),
        f"{facts['cores']} cores, Python {facts['python']}, {args.rounds} counted runs of each command after one "
        "warm-up round, checkouts byte-compiled;",
        f"load average (1 min) {facts['load_average_at_start'][0]:.1f} at the start and "
        f"{facts['load_average_at_end'][0]:.1f} at the end.",
        "CPU = user + sys of the finished process; ratios are medians of the per-round this/reference ratios.",
        "",
        "| checkout | command | wall s | CPU s | CPU over `python -c pass` s | peak MiB | wall ratio | CPU ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratios = f"{r['wall_ratio']:.2f} | {r['cpu_ratio']:.2f}" if "cpu_ratio" in r else " | "
        lines.append(
            f"| {r['tree']} | {r['command']} | {r['wall_s']:.3f} | {r['cpu_s']:.3f} | "
            f"{r['cpu_s'] - floor[r['tree']]['cpu_s']:.3f} | {r['peak_mib']:.0f} | {ratios} |"
        )
    (RESULTS / "cli_startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
