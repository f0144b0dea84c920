"""``--where``, ``--after`` and ``--before`` on ``qmdr search`` and ``qmdr context``: values read as frontmatter
reads them, through the installed console script."""

from __future__ import annotations

import json
import subprocess

import pytest

from qmdr.cli.filters import parse_where
from qmdr.errors import InvalidQuery
from tests.e2e.qmdr_process import qmdr_env, qmdr_executable
from tests.qmdr.memory_service import write_notes

#: each run starts the CLI (the embedded model for index and vector searches); generous for a loaded machine
RUN_TIMEOUT_S = 240
NOTES = {
    "cache.md": "---\nstatus: decided\nproject: [atlas, borealis]\npriority: 2\nupdated: 2026-02-10\n---\n"
    "# Cache\n\nThe walrus cache keeps entries for one hour.\n",
    "queue.md": "---\nstatus: open\nproject: borealis\npriority: '2'\ndate: 2026-01-05\n---\n"
    "# Queue\n\nThe walrus queue question is still open.\n",
    "old.md": "---\nstatus: decided\nproject: atlas\ncreated: 2025-03-01\n---\n# Old\n\nAn early walrus decision.\n",
}


def test_where_values_are_read_as_frontmatter_reads_them() -> None:
    assert parse_where(["status=decided", "project=a, b", "priority=2", "done=true", "ratio=0.5"]) == {
        "status": ["decided"],
        "project": ["a", "b"],
        "priority": [2],
        "done": [True],
        "ratio": [0.5],
    }
    assert parse_where(['priority="2"', 'title="a, b"', "day=2026-01-05"]) == {
        "priority": ["2"],
        "title": ["a, b"],
        "day": ["2026-01-05"],
    }  # quoted: a string; a date: its ISO text
    assert parse_where(["project=a", "project=b"]) == {"project": ["a", "b"]}  # a repeated key: any of them
    for bad in ("status", "=decided", "status="):
        with pytest.raises(InvalidQuery, match="--where"):
            parse_where([bad])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("cli-filters")
    notes = write_notes(root / "notes", NOTES)
    work = root / "work"
    work.mkdir()

    def qmdr(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [qmdr_executable(), *args],
            cwd=work,
            env=qmdr_env(root / "data"),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )

    indexed = qmdr("index", str(notes))
    assert indexed.returncode == 0, indexed.stderr
    return qmdr


def found(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return sorted({hit["path"] for hit in json.loads(result.stdout)["results"]})


def test_search_filters_by_frontmatter_and_date(run) -> None:
    assert found(run("search", "walrus", "--mode", "keyword", "--json", "--where", "status=decided")) == [
        "cache.md",
        "old.md",
    ]
    assert found(
        run(
            "search",
            "walrus",
            "--mode",
            "keyword",
            "--json",
            "--where",
            "project=borealis,zeta",
            "--where",
            "priority=2",
        )
    ) == ["cache.md"]  # 2 is a number; queue.md has the string '2'
    assert found(run("search", "walrus", "--mode", "keyword", "--json", "--where", 'priority="2"')) == ["queue.md"]
    assert found(run("search", "walrus", "--json", "--after", "2026-01-01", "--before", "2026-02-10")) == [
        "queue.md"
    ]  # hybrid; before is exclusive
    assert found(run("search", "walrus", "--json", "--vault", "all", "--after", "2026-02-10")) == ["cache.md"]


def test_context_takes_the_same_filters(run) -> None:
    block = run("context", "walrus", "--where", "status=decided", "--before", "2026-01-01")
    assert block.returncode == 0, block.stderr
    assert "old.md" in block.stdout and "cache.md" not in block.stdout and "queue.md" not in block.stdout


def test_bad_filters_are_one_line_naming_the_option(run) -> None:
    for args, words in (
        (["--after", "last week"], "--after: 'last week' is not an ISO 8601 date"),
        (["--where", "status"], "--where: 'status' is not KEY=VALUE"),
        (["--after", "2026-02-01", "--before", "2026-01-01"], "--before: must be later than after"),
    ):
        for command in (["search", "walrus"], ["context", "walrus"]):
            result = run(*command, *args)
            assert result.returncode == 2 and words in result.stderr, (command, args, result.stderr)
            assert "Traceback" not in result.stderr
