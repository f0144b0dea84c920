"""The watcher: debounced bursts, per-note reindex of changed files, full reindex for folder changes."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from qmdr.memory.vaults import VaultInfo
from qmdr.memory.watch import Debouncer, VaultWatcher, needs_full_reindex, vault_of
from tests.qmdr.memory_service import make_service, write_notes

#: upper bound while waiting for the watcher; a guard against hanging, not a speed assertion
WAIT_LIMIT_S = 30.0


def test_debouncer_waits_for_quiet_then_hands_over_one_batch() -> None:
    d = Debouncer(quiet_s=2.0)
    d.add("a", {"x.md"}, now=0.0)
    d.add("a", {"y.md"}, now=1.5)
    assert d.take_due(3.0) == {}  # only 1.5 s quiet
    assert d.next_deadline() == 3.5
    assert d.take_due(3.5) == {"a": {"x.md", "y.md"}}
    assert len(d) == 0 and d.next_deadline() is None


def test_debouncer_flushes_a_never_quiet_folder_at_max_wait() -> None:
    d = Debouncer(quiet_s=1.0, max_wait_s=5.0)
    for t in range(6):
        d.add("a", {f"{t}.md"}, now=float(t))
    assert d.take_due(5.0) == {"a": {f"{t}.md" for t in range(6)}}


def test_debouncer_keeps_vaults_apart() -> None:
    d = Debouncer(quiet_s=1.0)
    d.add("a", {"x.md"}, now=0.0)
    d.add("b", {"y.md"}, now=0.8)
    assert d.take_due(1.0) == {"a": {"x.md"}}
    assert d.take_due(1.8) == {"b": {"y.md"}}


def test_vault_of_picks_the_deepest_folder(tmp_path: Path) -> None:
    outer = VaultInfo("outer", tmp_path)
    inner = VaultInfo("inner", tmp_path / "sub")
    assert vault_of(tmp_path / "sub" / "n.md", [outer, inner]) == ("inner", "n.md")
    assert vault_of(tmp_path / "n.md", [outer, inner]) == ("outer", "n.md")
    assert vault_of(Path("/elsewhere/n.md"), [outer, inner]) is None


def test_folder_and_ignore_file_changes_need_a_full_reindex() -> None:
    assert needs_full_reindex(".qmdrignore", False)
    assert needs_full_reindex("projects", False)  # a deleted folder: no suffix
    assert needs_full_reindex("projects.v2", True)
    assert not needs_full_reindex("projects/a.md", False)


async def wait_until(condition: Callable[[], bool], poke: Callable[[], None] | None = None) -> None:
    """Poll ``condition`` (re-running ``poke`` each round) until it holds, at most WAIT_LIMIT_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_S
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the watcher did not catch up")
        if poke is not None:
            poke()
        await asyncio.sleep(0.2)


@pytest.mark.anyio
async def test_watcher_follows_creates_edits_deletes_and_folder_removal(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "v", {"keep.md": "# Keep\n\nalpaca\n", "sub/a.md": "# A\n\nbadger\n"})
    service = make_service(tmp_path, folder)
    hub = service.memory
    await service.memory.reindex("default")
    watcher = VaultWatcher(hub, quiet_s=0.2)
    task = asyncio.create_task(watcher.run(catch_up=False))

    def indexed() -> set[str]:
        return set(hub.open("default").store.note_hashes())

    try:
        counter = iter(range(10_000))
        # the first event can race the watch starting: poke a probe note until the watcher picks it up
        await wait_until(
            lambda: "probe.md" in indexed(),
            poke=lambda: (folder / "probe.md").write_text(f"# Probe\n\n{next(counter)}\n"),
        )
        for i in range(5):  # a burst
            (folder / f"burst{i}.md").write_text(f"# Burst {i}\n\ncapybara {i}\n")
        await wait_until(lambda: {f"burst{i}.md" for i in range(5)} <= indexed())
        (folder / "keep.md").write_text("# Keep\n\nalpaca and wombat\n")
        await wait_until(lambda: bool(hub.open("default").store.keyword("wombat", 5)))
        (folder / "burst0.md").unlink()
        await wait_until(lambda: "burst0.md" not in indexed())
        shutil.rmtree(folder / "sub")
        await wait_until(lambda: "sub/a.md" not in indexed())
        (folder / ".hidden.md").write_text("# hidden\n")
        (folder / "after.md").write_text("# After\n")
        await wait_until(lambda: "after.md" in indexed())
        assert ".hidden.md" not in indexed()
        assert watcher.errors == []
    finally:
        watcher.stop()
        await asyncio.wait_for(task, WAIT_LIMIT_S)
        await service.aclose()


@pytest.mark.anyio
async def test_watcher_picks_up_a_vault_added_while_running(tmp_path: Path) -> None:
    service = make_service(tmp_path, write_notes(tmp_path / "v", {"a.md": "# A\n"}))
    hub = service.memory
    watcher = VaultWatcher(hub, quiet_s=0.2)
    hub.listeners.append(watcher.vaults_changed)
    task = asyncio.create_task(watcher.run(catch_up=True))
    try:
        other = write_notes(tmp_path / "other", {"first.md": "# First\n"})
        hub.add("other", other)
        counter = iter(range(10_000))
        await wait_until(
            lambda: "new.md" in hub.open("other").store.note_hashes(),
            poke=lambda: (other / "new.md").write_text(f"# New {next(counter)}\n"),
        )
    finally:
        watcher.stop()
        await asyncio.wait_for(task, WAIT_LIMIT_S)
        await service.aclose()
