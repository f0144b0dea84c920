"""Figures the reliability tests measure, collected for ``benchmarks/reliability.py``.

Tests call ``record("crash", survived=20, runs=20)``; when the environment
variable ``QMDR_RELIABILITY_REPORT`` names a file, each call appends one JSON
line to it, otherwise it does nothing. The tests assert on the same numbers,
so the table the benchmark prints is what the suite proved, not a second run
of different code.
"""

from __future__ import annotations

import json
import os
from typing import Any

REPORT_ENV = "QMDR_RELIABILITY_REPORT"


def record(section: str, **figures: Any) -> None:
    """Append ``{"section": section, **figures}`` to the report file, if one is configured."""
    target = os.environ.get(REPORT_ENV)
    if not target:
        return
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps({"section": section, **figures}, default=str) + "\n")
