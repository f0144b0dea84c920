"""Handoff: a context block from what changed after a date (``since``), for an agent picking up a run."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from qmdr.api.app import create_app
from qmdr.client import AsyncQmdrClient, QmdrClientError
from qmdr.errors import InvalidQuery
from qmdr.memory.context import build_context
from qmdr.memory.handoff import changed_notes, parse_since
from qmdr.memory.notes_write import write_note
from tests.qmdr.memory_service import make_service, write_notes

NOTES = {
    "old/retries.md": "# Retries (old)\n\nRetries back off exponentially with jitter; decided in January.\n",
    "run/log.md": "# Run log\n\nStep 1: migrated the upload bucket. Retries now cap at 8 seconds.\n",
    "run/next.md": "# Next steps\n\nRotate the storage keys before Friday.\n",
}
JAN, JUNE_1, JUNE_2 = (datetime(2024, m, d, tzinfo=UTC).timestamp() for m, d in ((1, 10), (6, 1), (6, 2)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def service(request, tmp_path: Path):
    """The default vault on each store (the changed notes are the store's notes whose files changed)."""
    vault = write_notes(tmp_path / "vault", NOTES)
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    service = make_service(tmp_path, vault, qmdr_database_url=url)
    await service.memory.reindex("default")
    for rel, stamp in (("old/retries.md", JAN), ("run/log.md", JUNE_1), ("run/next.md", JUNE_2)):
        os.utime(vault / rel, (stamp, stamp))
    yield service
    await service.aclose()


def test_parse_since_takes_dates_and_date_times_and_names_the_field() -> None:
    assert parse_since("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_since("2024-05-01T10:30:00+02:00").utcoffset().total_seconds() == 7200
    with pytest.raises(InvalidQuery, match="since: 'last week'"):
        parse_since("last week")


@pytest.mark.anyio
async def test_without_a_query_the_block_is_what_changed_newest_first(service) -> None:
    changed = await changed_notes(service.memory, parse_since("2024-05-01"))
    assert [c.path for c in changed] == ["run/next.md", "run/log.md"]
    block = await build_context(service.memory, [], budget=1000, since=parse_since("2024-05-01"))
    assert [e.path for e in block.entries] == ["run/next.md", "run/log.md"]
    assert {e.kind for e in block.entries} == {"changed"}
    assert block.markdown.startswith("# Memory changed since 2024-05-01T00:00:00+00:00")
    assert "changed 2024-06-02T00:00:00+00:00" in block.markdown and "decided in January" not in block.markdown
    later = await build_context(service.memory, [], budget=1000, since=parse_since("2024-06-01T12:00:00Z"))
    assert [e.path for e in later.entries] == ["run/next.md"]


@pytest.mark.anyio
async def test_with_a_query_only_changed_notes_answer(service) -> None:
    everything = await build_context(service.memory, ["retries jitter"], budget=1000, mode="keyword")
    assert everything.entries[0].path == "old/retries.md"  # the best match overall is the old note
    block = await build_context(
        service.memory, ["retries jitter"], budget=1000, mode="keyword", since=parse_since("2024-05-01")
    )
    assert [e.path for e in block.entries] == ["run/log.md"]
    assert block.markdown.startswith("# Memory for: retries jitter (changed since 2024-05-01")


@pytest.mark.anyio
async def test_a_note_written_by_another_agent_is_in_the_next_handoff(service) -> None:
    before = datetime.fromtimestamp(time.time() - 5, tz=UTC)
    await write_note(service.memory, "default", "run/log", content="Step 2: keys rotated.", append=True)
    block = await build_context(service.memory, [], budget=1000, since=before)
    assert [e.path for e in block.entries] == ["run/log.md"]
    assert "Step 2: keys rotated." in block.markdown


@pytest.mark.anyio
async def test_since_over_http_and_the_python_client(service) -> None:
    app = create_app(service.settings, service=service)
    async with AsyncQmdrClient("http://qmdr", transport=httpx.ASGITransport(app)) as client:
        block = await client.context(since="2024-05-01", budget=800)
        assert [e.path for e in block.entries] == ["run/next.md", "run/log.md"]
        assert {e.kind for e in block.entries} == {"changed"}
        with pytest.raises(QmdrClientError) as caught:
            await client.context()
        assert caught.value.status == 422 and "since" in caught.value.detail
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://qmdr") as http:
        response = await http.post("/context", json={"since": "yesterday"})
        assert response.status_code == 422 and "since" in response.text


def test_cli_context_since(tmp_path: Path, monkeypatch) -> None:
    from qmdr.cli.main import app

    vault = write_notes(tmp_path / "vault", NOTES)
    monkeypatch.setenv("QMDR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QMDR_VAULT", str(vault))
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(vault)]).exit_code == 0
    os.utime(vault / "old/retries.md", (JAN, JAN))
    result = runner.invoke(app, ["context", "--since", "2024-05-01"])
    assert result.exit_code == 0, result.output
    assert "Run log" in result.stdout and "Next steps" in result.stdout and "Retries (old)" not in result.stdout
    result = runner.invoke(app, ["context", "--since", "soon"])
    assert result.exit_code == 1 and "not an ISO 8601 date" in result.output
    assert runner.invoke(app, ["context"]).exit_code == 1
