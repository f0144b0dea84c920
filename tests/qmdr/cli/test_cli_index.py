"""``qmdr index`` through the installed console script: the default vault's folder, and the seams a newcomer
hit (issue 14): a file for a folder, an empty folder over notes, a second folder, the removed ``--index``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.qmdr_process import qmdr_env, qmdr_executable
from tests.qmdr.memory_service import write_notes

#: each run loads the embedded model and indexes two notes; generous for a loaded machine
RUN_TIMEOUT_S = 240
NOTES = {
    "retries.md": "# Retries\n\nUploads retry with exponential backoff.\n",
    "garden.md": "# Garden\n\nTomatoes need sun and water.\n",
}


@pytest.fixture
def run(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()

    def qmdr(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [qmdr_executable(), *args],
            cwd=work,
            env=qmdr_env(tmp_path / "data"),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )

    return qmdr


def test_index_remembers_the_first_folder_and_never_re_points_the_default_vault(tmp_path: Path, run) -> None:
    notes = write_notes(tmp_path / "notes", NOTES)
    other = write_notes(tmp_path / "other", {"x.md": "# X\n\nSomething else entirely.\n"})
    first = run("index", str(notes), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) | {"vault": "default", "folder": str(notes.resolve()), "added": 2} == json.loads(
        first.stdout
    )
    again = run("index", "--json")  # no folder: the one the default vault was first indexed from
    assert again.returncode == 0 and json.loads(again.stdout)["unchanged"] == 2
    moved = run("index", str(other))
    assert moved.returncode == 1 and "Traceback" not in moved.stderr
    assert "qmdr vault add NAME" in moved.stderr and "QMDR_VAULT" in moved.stderr
    gone = run("index", str(other), "--index", str(tmp_path / "other.sqlite"))
    assert gone.returncode == 2 and "--index was removed" in gone.stderr and "qmdr vault add" in gone.stderr
    assert not (tmp_path / "other.sqlite").exists()
    listed = json.loads(run("vault", "list", "--json").stdout)
    assert [(v["name"], v["folder"], v["index"]["notes"]) for v in listed] == [("default", str(notes.resolve()), 2)]


def test_index_refuses_a_file_and_an_empty_folder_over_notes(tmp_path: Path, run) -> None:
    notes = write_notes(tmp_path / "notes", NOTES)
    file_given = run("index", str(notes / "garden.md"))
    assert file_given.returncode == 1 and "is a file, not a folder" in file_given.stderr
    assert run("index", str(notes)).returncode == 0
    for note in NOTES:
        (notes / note).unlink()
    refused = run("index")
    assert refused.returncode == 1 and "has no notes" in refused.stderr and "--allow-empty" in refused.stderr
    assert json.loads(run("vault", "list", "--json").stdout)[0]["index"]["notes"] == 2  # nothing lost
    emptied = run("index", "--allow-empty", "--json")
    assert emptied.returncode == 0 and json.loads(emptied.stdout)["removed"] == 2
