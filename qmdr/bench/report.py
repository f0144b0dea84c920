"""Shared report plumbing: machine and version facts, tables, plots, results files.

Every results file records the machine (cores, RAM, CPU model), library
versions and the settings used, because a benchmark figure without them
cannot be compared or trusted.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from qmdr.util.terminal_text import literal

# Distributions whose versions change benchmark figures.
VERSIONED_PACKAGES = ("qmdr", "numpy", "apsw", "sqlite-vec", "tokenizers", "fastapi", "uvicorn", "httpx")


# Width used when output is not a terminal (a log file, CI): wide enough for the quality table.
PIPED_CONSOLE_WIDTH = 180


def machine_info() -> dict[str, Any]:
    """Cores, RAM, CPU model, OS and Python of this machine."""
    cpu_model = platform.processor() or platform.machine()
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        if match:
            cpu_model = match.group(1).strip()
    except OSError:
        pass
    ram_gb: float | None = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        ram_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "usable_cores": affinity,
        "ram_gb": ram_gb,
        "os": platform.platform(),
        "python": sys.version.split()[0],
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def versions() -> dict[str, str | None]:
    """Versions of qmdr, SQLite and the libraries that shape the figures."""
    found: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    try:
        import apsw

        found["sqlite"] = apsw.sqlite_lib_version()
    except (ImportError, AttributeError):
        found["sqlite"] = None
    found["git_commit"] = _git_commit()
    return found


def fmt(value: Any, digits: int = 3) -> str:
    """Format a cell: floats rounded, None as 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def print_table(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], console: Console | None = None
) -> None:
    """Show a table on the terminal with rich."""
    table = Table(title=literal(title))  # literal: dataset names and modes come from the user
    for header in headers:
        table.add_column(literal(header), overflow="fold")
    for row in rows:
        table.add_row(*(literal(fmt(c)) for c in row))
    if console is None:
        console = Console()
        if not console.is_terminal:  # piped to a file: don't squeeze the table into 80 columns
            console = Console(width=PIPED_CONSOLE_WIDTH)
    console.print(table)


def facts_markdown(report: dict[str, Any]) -> str:
    """Machine, versions and settings as a short markdown list."""
    lines = ["## Machine, versions, settings", ""]
    for section in ("machine", "versions", "settings"):
        values = report.get(section) or {}
        lines.append(f"- **{section}**: " + ", ".join(f"{k}={fmt(v)}" for k, v in values.items()))
    return "\n".join(lines)


def write_results(
    results_dir: Path, name: str, markdown: str, data: dict[str, Any], plots: dict[str, Callable[[Path], None]]
) -> list[Path]:
    """Write ``<name>.md``, ``<name>.json`` and one PNG per plot; return the paths written."""
    results_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    md_path = results_dir / f"{name}.md"
    md_path.write_text(markdown.rstrip("\n") + "\n", encoding="utf-8")
    json_path = results_dir / f"{name}.json"
    json_path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    written += [md_path, json_path]
    for suffix, draw in plots.items():
        png = results_dir / f"{name}-{suffix}.png"
        draw(png)
        written.append(png)
    return written


def emit(report: Any, *, as_json: bool, results_dir: Path, name: str | None) -> list[Path]:
    """Print a report (JSON, or its tables) and, when ``name`` is given, write its result files.

    The one output path of ``qmdr bench`` and the ``benchmarks/`` scripts; returns the files written.
    """
    if as_json:
        print(report.to_json())
    else:
        report.print()  # its own console: wide tables when piped
    return list(report.write(results_dir, name)) if name else []


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
