"""replace_atomically: the target is the whole old file or the whole new one, never a half-written one."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from qmdr.util.atomic_file import fill_new_folder, replace_atomically


def test_a_finished_write_replaces_the_target_with_the_mode_asked(tmp_path: Path) -> None:
    target = tmp_path / "notes" / "a.md"  # the folder is created too
    with replace_atomically(target, prefix=".a.md.", suffix=".tmp", text=True, mode=0o640) as handle:
        handle.write("line one\r\nline two\n")
    assert target.read_bytes() == b"line one\r\nline two\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["a.md"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "export.zip"
    target.write_bytes(b"old archive")
    with (
        pytest.raises(RuntimeError, match="disk went away"),
        replace_atomically(target, prefix=".export.zip.partial-") as handle,
    ):
        handle.write(b"half of the new")
        raise RuntimeError("disk went away")
    assert target.read_bytes() == b"old archive"
    assert [p.name for p in tmp_path.iterdir()] == ["export.zip"]


def test_without_a_mode_the_new_file_is_private(tmp_path: Path) -> None:
    target = tmp_path / "restored.sqlite"
    with replace_atomically(target, prefix=".restored.sqlite.restore-") as handle:
        handle.write(b"\x00db")
    assert target.read_bytes() == b"\x00db" and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_filled_folder_takes_the_place_of_an_empty_one(tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    dest.mkdir()
    with fill_new_folder(dest) as staging:
        (staging / "index.sqlite").write_bytes(b"copy")
        assert staging.parent == tmp_path and staging.name.startswith(".backup.partial-")
    assert [p.name for p in dest.iterdir()] == ["index.sqlite"]
    assert [p.name for p in tmp_path.iterdir()] == ["backup"]


def test_a_failed_fill_leaves_no_folder_behind(tmp_path: Path) -> None:
    dest = tmp_path / "export"
    with pytest.raises(OSError, match="no space"), fill_new_folder(dest) as staging:
        (staging / "a.md").write_text("# A\n")
        raise OSError("no space left on device")
    assert list(tmp_path.iterdir()) == []
