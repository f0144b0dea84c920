"""SIGKILL a real reindex into PostgreSQL: the vault is entirely old or entirely new, and the next run converges.

The PostgreSQL twin of ``test_crash_safety.py``: a child process reindexes the
*new* state of a vault over an index of its *old* state (a copy of a pristine
database, ``CREATE DATABASE ... TEMPLATE``) and is killed at points spread
over a measured run and over its write transaction. What a search can see must
then equal the old or the new state exactly; a second run reaches the new one.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import anyio
import pytest

from qmdr.store.postgres import PostgresStore
from tests.e2e.reindex_kill import reindex_publishing_phase, visible_state, write_state
from tests.e2e.reindex_kill import wait_for_phase as wait_phase

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

VAULT = "crash"
#: kills of the reindex: half spread over the whole run, half inside its write transaction
KILL_POINTS = 8
NOTES = 200
CHILD_TIMEOUT_S = 180  # generous: a spawned child imports the package first (not a speed check)
SPAWN = multiprocessing.get_context("spawn")  # no pool threads or sockets inherited by the child


def state_of(url: str) -> tuple:
    """Everything a search can see, as one comparable value."""
    with PostgresStore(url, vault=VAULT, pool_size=1) as store:
        return visible_state(store)


def run_reindex(url: str, root: str, phase) -> None:  # noqa: ANN001 - a multiprocessing.Value
    """The child: one reindex of ``root`` into vault ``VAULT`` at ``url``, publishing its phase."""

    async def go() -> None:
        with PostgresStore(url, vault=VAULT, pool_size=2) as store:
            await reindex_publishing_phase(store, root, phase)

    anyio.run(go)


def start_reindex(url: str, root: Path) -> tuple[multiprocessing.Process, object]:
    phase = SPAWN.Value("i", 0)
    child = SPAWN.Process(target=run_reindex, args=(url, str(root), phase), daemon=True)
    child.start()
    return child, phase


def wait_for_phase(child: multiprocessing.Process, phase, name: str) -> float:  # noqa: ANN001
    return wait_phase(child, phase, name, poll_s=0.0005, limit_s=CHILD_TIMEOUT_S)


def finish(child: multiprocessing.Process) -> None:
    child.join(CHILD_TIMEOUT_S)
    assert child.exitcode == 0


@pytest.fixture(scope="module")
def states(tmp_path_factory, pg_server) -> dict:
    """A pristine database holding the old state, both states' snapshots, and a run's timings."""
    base = tmp_path_factory.mktemp("pgcrash")
    root = base / "vault"
    write_state(root, 1, NOTES)
    pristine, pristine_url = pg_server.create_database()
    child, _ = start_reindex(pristine_url, root)
    finish(child)
    old = state_of(pristine_url)

    write_state(root, 2, NOTES)
    probe, probe_url = pg_server.create_database(template=pristine)
    child, phase = start_reindex(probe_url, root)
    wait_for_phase(child, phase, "start")
    started = time.perf_counter()
    wait_for_phase(child, phase, "write")
    write_seconds = wait_for_phase(child, phase, "done")
    finish(child)
    new = state_of(probe_url)
    pg_server.drop_database(probe)
    assert old != new and new[-1]  # the new state differs, and its new word is searchable
    yield {
        "root": root,
        "pristine": pristine,
        "old": old,
        "new": new,
        "duration": time.perf_counter() - started,
        "write_seconds": write_seconds,
    }
    pg_server.drop_database(pristine)


def test_sigkill_during_a_postgres_reindex_leaves_old_or_new_and_the_next_run_converges(
    states: dict, pg_server
) -> None:
    rng = random.Random(os.environ.get("QMDR_CRASH_SEED", "8"))
    outcomes: Counter[str] = Counter()
    for point in range(KILL_POINTS):
        name, url = pg_server.create_database(template=states["pristine"])
        try:
            child, phase = start_reindex(url, states["root"])
            if point == KILL_POINTS - 1:  # after the commit: must show the new state
                wait_for_phase(child, phase, "done")
            elif point % 2:  # inside the write transaction, where a mix would come from
                wait_for_phase(child, phase, "write")
                time.sleep(rng.random() * 2 * states["write_seconds"])
            else:  # anywhere in the run
                wait_for_phase(child, phase, "start")
                time.sleep(states["duration"] * 1.2 * (point // 2 + rng.random()) / (KILL_POINTS // 2))
            if child.is_alive():
                os.kill(child.pid, signal.SIGKILL)
            child.join(CHILD_TIMEOUT_S)
            after = state_of(url)
            assert after in (states["old"], states["new"]), f"mixed state after kill point {point}"
            outcomes["old" if after == states["old"] else "new"] += 1
            child, _ = start_reindex(url, states["root"])  # the killed run's lock died with it
            finish(child)
            assert state_of(url) == states["new"]
        finally:
            pg_server.drop_database(name)
    assert outcomes["old"] and outcomes["new"]  # the kills spanned the commit
