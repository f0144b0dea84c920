"""Benchmarks users can trust: retrieval quality on BEIR data and speed on synthetic vaults.

``run_quality`` and ``run_speed`` are what ``qmdr bench quality|speed`` call;
each returns a report with ``to_markdown()``, ``to_json()``, ``print()`` and
``write(results_dir, name)``. Heavy imports (the indexer, search, the model)
happen inside the runs, so importing this package is cheap.
"""

from qmdr.bench.quality import QualityReport, quality_async, run_quality
from qmdr.bench.speed import SpeedReport, run_speed, speed_async

__all__ = ["QualityReport", "SpeedReport", "quality_async", "run_quality", "run_speed", "speed_async"]
