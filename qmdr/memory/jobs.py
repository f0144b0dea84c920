"""Background reindex jobs: one at a time, with live progress for the API and dashboard.

Every background reindex of the service (``POST /reindex``, the dashboard's
button), whichever vault it is for, goes through one ``ReindexJobs`` instance
of the vault hub: a second request while one runs gets ``IndexBusy`` (HTTP 409)
instead of queuing unbounded work, and ``GET /reindex/status`` has one answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from qmdr.errors import IndexBusy

log = logging.getLogger(__name__)
JobState = Literal["idle", "running", "done", "failed"]


@dataclass
class JobStatus:
    """What GET /reindex/status returns."""

    state: JobState = "idle"
    vault: str | None = None  # the folder being indexed
    name: str | None = None  # the vault it is indexed into
    started_at: float | None = None
    finished_at: float | None = None
    progress: dict[str, Any] = field(default_factory=dict)  # phase, done, total
    summary: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressFn = Callable[[dict[str, Any]], None]


class ReindexJobs:
    """Runs at most one reindex coroutine at a time and tracks its status."""

    def __init__(self) -> None:
        self.status = JobStatus()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(
        self, vault: str, run: Callable[[ProgressFn], Awaitable[dict[str, Any]]], *, name: str | None = None
    ) -> JobStatus:
        """Start ``run(progress)`` (indexing folder ``vault`` into vault ``name``) in the background;
        raise IndexBusy when one is running."""
        if self.running:
            raise IndexBusy(
                f"a reindex of vault {self.status.name or self.status.vault!r} is already running; "
                "check GET /reindex/status"
            )
        self.status = JobStatus(state="running", vault=vault, name=name, started_at=time.time())
        self._task = asyncio.create_task(self._run(run))
        return self.status

    async def wait(self) -> JobStatus:
        """Wait for the current job (tests and the CLI use this)."""
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.status

    async def _run(self, run: Callable[[ProgressFn], Awaitable[dict[str, Any]]]) -> None:
        def progress(event: dict[str, Any]) -> None:
            self.status.progress = event

        try:
            self.status.summary = await run(progress)
            self.status.state = "done"
        except Exception as exc:  # noqa: BLE001 - any failure is reported in the status, the index stays as it was
            log.warning("reindex failed: %s", exc)
            self.status.state = "failed"
            self.status.error = str(exc) or type(exc).__name__
        finally:
            self.status.finished_at = time.time()
