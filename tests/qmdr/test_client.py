"""The typed client, sync and async, against the real app on a real socket (uvicorn in a thread)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from qmdr.api.schemas import ContextResponse, MemorySearchResponse, NoteWriteResult
from qmdr.client import AsyncQmdrClient, QmdrClient, QmdrClientError
from tests.qmdr.live_server import live_server
from tests.qmdr.memory_service import make_service, write_notes

TOKEN = "client-test-token"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The app (HashEmbedder service, one vault) served by uvicorn on 127.0.0.1 in a thread."""
    folder = write_notes(tmp_path / "v", {"herons.md": "# Herons\n\nHerons nest near the lake.\n"})
    service = make_service(tmp_path, folder, qmdr_api_token=TOKEN, qmdr_vault_roots=[tmp_path])
    asyncio.run(service.memory.reindex("default"))
    with live_server(service) as base:
        yield base


def test_sync_client_covers_notes_search_context_feedback(server: str) -> None:
    with QmdrClient(server, token=TOKEN) as memory:
        written = memory.remember(
            "agents/alice/log", "# Log\n\nAlice saw a kingfisher.", frontmatter={"agent": "alice"}
        )
        assert isinstance(written, NoteWriteResult) and written.path == "agents/alice/log.md" and written.created
        found = memory.search("kingfisher", mode="keyword")
        assert isinstance(found, MemorySearchResponse)
        assert [(r.vault, r.path) for r in found.results] == [("default", "agents/alice/log.md")]
        block = memory.context("kingfisher", budget=200)
        assert isinstance(block, ContextResponse) and "kingfisher" in block.markdown and block.tokens <= 200
        assert memory.get_note("agents/alice/log.md").frontmatter == {"agent": "alice"}
        vote = memory.feedback("agents/alice/log.md", useful=True, query="kingfisher")
        assert (vote.useful, vote.not_useful) == (1, 0)
        assert [v.name for v in memory.vaults().vaults] == ["default"]
        assert memory.delete_note("agents/alice/log.md").deleted
        with pytest.raises(QmdrClientError) as missing:
            memory.get_note("agents/alice/log.md")
        assert missing.value.status == 404
        with pytest.raises(QmdrClientError) as escape:
            memory.remember("../outside.md", "x")
        assert escape.value.status == 400 and escape.value.error == "PathOutsideVault"


def test_client_without_token_is_refused(server: str) -> None:
    with QmdrClient(server) as anonymous, pytest.raises(QmdrClientError) as refused:
        anonymous.search("herons")
    assert refused.value.status == 401 and refused.value.error == "Unauthorized"
    assert "Authorization: Bearer" in refused.value.detail and refused.value.problem["status"] == 401
    assert refused.value.errors == []


@pytest.mark.anyio
async def test_async_client_and_vault_management(server: str, tmp_path: Path) -> None:
    shared = write_notes(tmp_path / "shared", {"otters.md": "# Otters\n\nOtters hold hands while sleeping.\n"})
    async with AsyncQmdrClient(server, token=TOKEN) as memory:
        added = await memory.add_vault("shared", str(shared), settings={"description": "team notes"})
        assert added.index["notes"] == 1 and added.settings["description"] == "team notes"
        both = await memory.search("otters herons", mode="keyword", vaults=["default", "shared"])
        assert {r.vault for r in both.results} == {"default", "shared"}
        await memory.remember("decisions", "We name the otter Pebble.", vault="shared")
        only_shared = await memory.search("Pebble", vaults=["shared"], mode="keyword")
        assert [r.path for r in only_shared.results] == ["decisions.md"]
        explained = await memory.search("otters", vaults=["shared"], explain=True)
        assert explained.results[0].explain is not None and "stages" in explained.results[0].explain
        block = await memory.context(["otters", "herons"], budget=300, profile="brief")
        assert "## Vault: shared" in block.markdown and "## Vault: default" in block.markdown
        await memory.remove_vault("shared")
        assert [v.name for v in (await memory.vaults()).vaults] == ["default"]
