"""SIGKILL a real reindex (and a settings write) at many points: the files stay whole, never half-new.

Each run forks a child process that opens the on-disk index of an *old*
vault state and reindexes the *new* state (20% of notes changed, some deleted,
some added); the parent kills it with SIGKILL after a delay drawn from one of
``KILL_POINTS`` equal slices of a measured full run (plus a tail past the end,
so some kills land after the commit). The work is sized to a budget, not a
count: when a full run takes longer than ``TARGET_RUN_S`` (a loaded machine),
the vault shrinks until it fits, so the test keeps every kill point and stays
inside its timeout at any load; nothing asserts a duration. After each kill the index must pass
``PRAGMA integrity_check`` and equal exactly the old or the new state
(notes, chunks, vectors, full-text index); a second run must then finish and
reach the new state without re-embedding what the killed run had cached.

The settings store gets the same treatment: a child rotates the encryption
key of every stored provider key back and forth and is killed mid-way; every
key must then decrypt with exactly one of the two encryption keys (all old or
all new), and the file must pass ``integrity_check``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import anyio
import pytest

from providers.errors import SecretStoreError
from providers.secret_store import SecretStore
from qmdr.memory.indexer import reindex
from qmdr.store.sqlite import SqliteStore
from tests.e2e.reindex_kill import EMBED_SCALE, PHASES, reindex_publishing_phase, visible_state, write_state
from tests.e2e.reindex_kill import wait_for_phase as wait_phase
from tests.e2e.reliability_report import record
from tests.qmdr.embedders import HashEmbedder

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")]

#: kills of the reindex (the issue asks for at least 20 random points)
KILL_POINTS = 24
#: kills of the settings store's key rotation
SETTINGS_KILLS = 10
#: notes in the vault on a quiet machine: enough that a run lasts long enough to be hit in every phase
NOTES = 300
#: a full reindex should take about this long; slower (a busy machine), the vault is shrunk to fit. About
#: 40 runs are made (kills, resumes, probes), so this keeps the whole module near a minute at any load
TARGET_RUN_S = 1.0
#: never fewer notes than this: the new state still needs ~56 texts embedded (4 batches of 16), so a kill
#: after two batches leaves work for the resumed run, and the write phase is long enough to hit
MIN_NOTES = 150
#: the parent polls the child's phase this often: fine enough to land a kill inside any phase, coarse
#: enough that the polling loop does not take a core from the child it is waiting for
POLL_S = 0.002
#: full runs timed before the kills (the slowest one sets the span)
PROBE_RUNS = 3
ENC_A = "crash-test-encryption-key-A-0123456789"
ENC_B = "crash-test-encryption-key-B-9876543210"
PROVIDERS = ("openrouter", "openai", "anthropic", "mistral", "groq")

# Children come from a fork server: a clean single-threaded process that imported the indexer once. A
# plain fork of the pytest process would copy whatever threads and locks earlier tests left running
# (embedder pools, BLAS threads, loggers), and a child can hang on a lock copied while held.
FORK = multiprocessing.get_context("forkserver")
FORK.set_forkserver_preload(
    ["qmdr.memory.indexer", "qmdr.store.sqlite", "providers.secret_store", "tests.qmdr.embedders", __name__]
)


def state_of(index: Path) -> tuple:
    """Everything a search can see, after SQLite's own integrity check."""
    with SqliteStore(index) as store:
        assert store.integrity_check() == ["ok"]
        return visible_state(store)


def run_reindex(index: str, root: str, phase) -> None:  # noqa: ANN001 - a multiprocessing.Value
    """The child: one reindex of ``root`` into ``index``, publishing its phase for the parent."""

    async def go() -> None:
        with SqliteStore(index) as store:
            await reindex_publishing_phase(store, root, phase)

    anyio.run(go)


def wait_for_phase(child: multiprocessing.Process, phase, name: str) -> float:  # noqa: ANN001
    """Block until the child reports phase ``name`` (or later) or exits; return the seconds waited."""
    return wait_phase(child, phase, name, poll_s=POLL_S, limit_s=60)


def fork_reindex(index: Path, root: Path) -> tuple[multiprocessing.Process, object]:
    phase = FORK.Value("i", 0)
    child = FORK.Process(target=run_reindex, args=(str(index), str(root), phase), daemon=True)
    child.start()
    return child, phase


def build_states(base: Path, notes: int, probe_runs: int) -> dict:
    """The old state's pristine index and snapshot, the new state's snapshot, and a full run's timing."""
    root = base / "vault"
    write_state(root, 1, notes)
    pristine = base / f"old-{notes}.sqlite"
    pristine.unlink(missing_ok=True)
    child, _ = fork_reindex(pristine, root)
    child.join(120)
    assert child.exitcode == 0
    old = state_of(pristine)

    write_state(root, 2, notes)
    durations, writes = [], []
    for run in range(probe_runs):  # timing of a full run, to spread the kills over it
        probe = base / f"probe-{notes}-{run}.sqlite"
        shutil.copy(pristine, probe)
        started = time.perf_counter()
        child, phase = fork_reindex(probe, root)
        to_write = wait_for_phase(child, phase, "write")
        writes.append(wait_for_phase(child, phase, "done"))
        child.join(120)
        durations.append(time.perf_counter() - started)
        assert child.exitcode == 0 and to_write > 0
    new = state_of(probe)
    assert old != new and new[-1]  # the new state really differs, and its new word is searchable
    return {
        "root": root,
        "pristine": pristine,
        "old": old,
        "new": new,
        "duration": max(durations),
        "write_seconds": max(writes),
        "notes": notes,
    }


@pytest.fixture(scope="module")
def states(tmp_path_factory) -> dict:
    """``build_states`` for a vault sized so that a full run fits ``TARGET_RUN_S`` on this machine now."""
    base = tmp_path_factory.mktemp("crash")
    sizing = build_states(base, NOTES, probe_runs=1)
    if sizing["duration"] <= TARGET_RUN_S:
        return sizing
    fitted = max(MIN_NOTES, int(NOTES * TARGET_RUN_S / sizing["duration"]))
    return build_states(base, fitted, PROBE_RUNS)


def kill_delay(point: int, rng: random.Random, states: dict) -> tuple[str, float]:
    """Where kill number ``point`` lands: a random instant of the run, or of its write transaction.

    Even points: one random instant in each equal slice of the whole run (plus a tail past its end).
    Odd points: a random instant after the write phase starts, up to twice its measured length,
    because that transaction is where a mix would come from. The last point waits for ``done``:
    a kill after the commit must show the new state.
    """
    if point == KILL_POINTS - 1:
        return "done", 0.0
    if point % 2:
        return "write", rng.random() * 2 * states["write_seconds"]
    span = states["duration"] * 1.3
    slices = KILL_POINTS // 2
    return "start", span * (point // 2 + rng.random()) / slices


def test_sigkill_during_reindex_leaves_old_or_new_state_never_a_mix(tmp_path: Path, states: dict) -> None:
    rng = random.Random(os.environ.get("QMDR_CRASH_SEED", "8"))
    outcomes: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    for point in range(KILL_POINTS):
        index = tmp_path / f"run{point}.sqlite"
        shutil.copy(states["pristine"], index)
        after_phase, delay = kill_delay(point, rng, states)
        child, phase = fork_reindex(index, states["root"])
        wait_for_phase(child, phase, after_phase)
        time.sleep(delay)
        if child.is_alive():
            # the child may end on its own between the check and the kill (a fork-server child is reaped
            # by the server, not by us): then there is nothing to kill and its state is simply the new one
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        phases[PHASES[phase.value // EMBED_SCALE]] += 1
        after = state_of(index)  # integrity_check inside
        assert after in (states["old"], states["new"]), f"mixed state after a kill {delay:.3f}s after {after_phase}"
        outcomes["old" if after == states["old"] else "new"] += 1
        if point % 4 == 0:  # the next run resumes and reaches the new state
            child, _ = fork_reindex(index, states["root"])
            child.join(120)
            assert child.exitcode == 0
            assert state_of(index) == states["new"]
    assert outcomes["old"] and outcomes["new"]  # the kills spanned the commit
    record(
        "crash",
        target="reindex",
        kills=KILL_POINTS,
        survived=KILL_POINTS,
        old=outcomes["old"],
        new=outcomes["new"],
        phases=dict(phases),
        run_seconds=round(states["duration"], 3),
        notes=states["notes"],
    )


def test_a_killed_reindex_keeps_completed_embedding_batches(tmp_path: Path, states: dict) -> None:
    """Kill after a few embedding batches: the next run pays only for the texts not cached yet."""
    index = tmp_path / "resume.sqlite"
    shutil.copy(states["pristine"], index)
    with SqliteStore(index) as store:
        cached_before = store.stats().extra["embedding_cache_entries"]
    child, progress = fork_reindex(index, states["root"])
    target = PHASES.index("embed") * EMBED_SCALE + 32  # two batches of 16 embedded and cached
    deadline = time.monotonic() + 60
    while progress.value < target and child.is_alive() and time.monotonic() < deadline:
        time.sleep(POLL_S)
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert state_of(index) == states["old"]  # killed before the write: nothing applied
    with SqliteStore(index) as store:
        kept = store.stats().extra["embedding_cache_entries"] - cached_before
    assert kept >= 32

    async def resume():  # noqa: ANN202
        with SqliteStore(index) as store:
            return await reindex(store, states["root"], HashEmbedder(), embed_batch_size=16)

    summary = anyio.run(resume)
    assert state_of(index) == states["new"]
    assert summary.reused == kept and summary.embedded > 0
    record("crash", target="resume", kept_vectors=kept, embedded_after_resume=summary.embedded)


def rotate_forever(path: str) -> None:
    """The child: rotate the encryption key A -> B -> A ... until killed."""
    store = SecretStore(path, encryption_key=ENC_A)
    keys = (ENC_A, ENC_B)
    turn = 0
    while True:
        store.rotate_encryption_key(keys[turn % 2], keys[(turn + 1) % 2])
        store.set_defaults(working_model=f"model-{turn}")
        turn += 1


def readable_with(path: Path, encryption_key: str) -> list[str]:
    """The stored keys that decrypt with ``encryption_key``."""
    found = []
    with SecretStore(path, encryption_key=encryption_key) as store:
        for provider in PROVIDERS:
            with contextlib.suppress(SecretStoreError):
                found.append(store.get_key(provider) or "")
    return found


def test_sigkill_during_settings_writes_leaves_all_old_or_all_new(tmp_path: Path) -> None:
    rng = random.Random(os.environ.get("QMDR_CRASH_SEED", "8"))
    path = tmp_path / "settings.sqlite"
    with SecretStore(path, encryption_key=ENC_A) as store:
        for provider in PROVIDERS:
            store.set_key(provider, f"sk-fake-{provider}-0123456789abcdef")
    expected = sorted(f"sk-fake-{p}-0123456789abcdef" for p in PROVIDERS)
    which: Counter[str] = Counter()
    for _ in range(SETTINGS_KILLS):
        child = FORK.Process(target=rotate_forever, args=(str(path),), daemon=True)
        child.start()
        time.sleep(0.05 + rng.random() * 0.25)
        assert child.is_alive()
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        assert child.exitcode == -signal.SIGKILL  # it was killed mid-rotation, not finished or stuck
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        with_a, with_b = readable_with(path, ENC_A), readable_with(path, ENC_B)
        assert (sorted(with_a), with_b) == (expected, []) or (with_a, sorted(with_b)) == ([], expected)
        which["A" if with_a else "B"] += 1
        if with_b:  # the next child starts from key A again
            with SecretStore(path, encryption_key=ENC_B) as store:
                store.rotate_encryption_key(ENC_B, ENC_A)
    record("crash", target="settings", kills=SETTINGS_KILLS, survived=SETTINGS_KILLS, states=dict(which))
