"""Run the reliability tests and print one summary table (also written to benchmarks/results/reliability.md).

    .venv/bin/python benchmarks/reliability.py            # all reliability tests, ~2-3 minutes on 2 cores
    .venv/bin/python benchmarks/reliability.py --quick    # skip the slow ones (load, schemathesis)

The figures come from the tests themselves: each calls
``tests.e2e.reliability_report.record(...)`` with what it just asserted, and
this script collects those JSON lines (``QMDR_RELIABILITY_REPORT``) into the
table. So the table shows what the suite proved, on this machine, in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "reliability.md"
REPORT_ENV = "QMDR_RELIABILITY_REPORT"
TESTS = [
    "tests/e2e/test_crash_safety.py",
    "tests/e2e/test_provider_faults.py",
    "tests/e2e/test_secrets.py",
    "tests/qmdr/api/test_auth.py",
    "tests/qmdr/api/test_metrics.py",
    "tests/qmdr/api/test_reindex_confinement.py",
]
SLOW_TESTS = ["tests/e2e/test_load.py", "tests/e2e/test_schemathesis.py"]


def run_tests(paths: list[str], report: Path) -> tuple[int, float, str]:
    env = {**os.environ, REPORT_ENV: str(report)}
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    tail = (run.stdout.strip().splitlines() or [""])[-1]
    return run.returncode, time.perf_counter() - started, tail


def load(report: Path) -> dict[str, list[dict[str, Any]]]:
    sections: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if report.exists():
        for line in report.read_text().splitlines():
            entry = json.loads(line)
            sections[entry.pop("section")].append(entry)
    return sections


def rows(sections: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str, str]]:
    """(what, figure, detail) rows of the summary table."""
    out: list[tuple[str, str, str]] = []
    for entry in sections.get("crash", []):
        if entry["target"] == "reindex":
            out.append(
                (
                    "crashes survived: SIGKILL during reindex",
                    f"{entry['survived']}/{entry['kills']}",
                    f"old state {entry['old']}, new state {entry['new']}, never a mix; killed in phases "
                    f"{entry['phases']}; full run {entry['run_seconds']} s",
                )
            )
        elif entry["target"] == "settings":
            out.append(
                (
                    "crashes survived: SIGKILL during settings key rotation",
                    f"{entry['survived']}/{entry['kills']}",
                    f"all keys old or all new: {entry['states']}",
                )
            )
        elif entry["target"] == "resume":
            out.append(
                (
                    "resume after a kill mid-embedding",
                    f"{entry['kept_vectors']} vectors kept",
                    f"{entry['embedded_after_resume']} texts embedded by the resumed run",
                )
            )
    for entry in sections.get("load", []):
        out.append(
            (
                "requests under load (during a reindex)",
                f"{entry['requests']} requests, {entry['failures']} failures",
                f"p50 {entry['p50_ms']} ms, p95 {entry['p95_ms']} ms, max {entry['max_ms']} ms at concurrency "
                f"{entry['concurrency']}; {entry['during_reindex']} answered while the {entry['reindex_s']} s "
                f"reindex ran; second-process reads {entry['reader_reads']}, errors {entry['reader_errors']}",
            )
        )
    faults = sections.get("provider_faults", [])
    for stage in ("reindex", "search"):
        mine = [f for f in faults if f["stage"] == stage]
        if not mine:
            continue
        injected = sum(f["injected"] for f in mine)
        survived = sum(f["survived"] for f in mine)
        if stage == "reindex":
            resumed = sorted(f["fault"] for f in mine if f["outcome"] == "resumed")
            detail = (
                f"{len(mine)} fault kinds; finished despite the fault: {len(mine) - len(resumed)}, "
                f"stopped with a clear error and resumed from the cache: {len(resumed)} ({', '.join(resumed)})"
            )
        else:
            degraded = sum(1 for f in mine if f["degraded"])
            detail = (
                f"{len(mine)} scenarios (each kind once and as an outage); answered in full: "
                f"{len(mine) - degraded}, degraded to keyword results with a warning: {degraded}"
            )
        out.append((f"provider faults injected/survived ({stage})", f"{survived}/{injected}", detail))
    bad = sections.get("bad_input", [])
    if bad:
        cases = sum(b["cases"] for b in bad)
        errors = sum(b["server_errors"] for b in bad)
        detail = "; ".join(
            f"{b['source']}: {b['cases']}"
            + (
                f" ({b['operations']} operations, {b['schema_violations']} schema violations)"
                if "operations" in b
                else ""
            )
            for b in bad
        )
        out.append(("bad inputs tried / 5xx seen", f"{cases} / {errors}", detail))
    for entry in sections.get("secrets", []):
        out.append(
            (
                "secrets leaked",
                str(entry["leaked"]),
                f"{entry['secrets']} known fake secrets; {entry['calls']} API calls; searched responses, "
                f"DEBUG JSON logs and {entry['places'] - 2} data files",
            )
        )
    return out


def render(table: list[tuple[str, str, str]], status: str) -> str:
    lines = ["# Reliability summary", "", status, "", "| check | result | detail |", "|---|---|---|"]
    lines += [f"| {what} | {figure} | {detail} |" for what, figure, detail in table]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the load test and schemathesis")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file for the table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "reliability.jsonl"
        code, seconds, tail = run_tests(TESTS + ([] if args.quick else SLOW_TESTS), report)
        table = rows(load(report))
    status = (
        f"pytest: {tail} (exit code {code}) in {seconds:.0f} s on {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    text = render(table, status)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
