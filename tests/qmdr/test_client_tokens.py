"""Agent tokens from the Python client, sync and async, on a real socket: the admin makes one, the agent's
client works inside its vaults only, and a revoked token is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from qmdr.client import AsyncQmdrClient, QmdrClient, QmdrClientError
from tests.qmdr.live_server import live_server
from tests.qmdr.memory_service import make_service, write_notes

ADMIN = "client-tokens-admin-token"


def test_sync_client_makes_uses_and_revokes_an_agent_token(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "default", {"herons.md": "# Herons\n\nHerons nest near the lake.\n"})
    service = make_service(tmp_path, folder, qmdr_api_token=ADMIN, qmdr_vault_roots=[tmp_path])
    asyncio.run(service.memory.reindex("default"))
    write_notes(tmp_path / "bob", {"b.md": "# Bob\n\nBob's herons.\n"})
    with live_server(service) as base:
        with QmdrClient(base, token=ADMIN) as admin:
            admin.add_vault("bob", str(tmp_path / "bob"))
            made = admin.create_token("reader", {"default": "r"})
            assert made.token.startswith("qmdr_") and made.vaults == {"default": "r"}
            assert [t.name for t in admin.tokens().tokens] == ["reader"]
        with QmdrClient(base, token=made.token) as agent:
            found = agent.search("herons", mode="keyword")
            assert found.vaults == ["default"] and {h.vault for h in found.results} == {"default"}
            with pytest.raises(QmdrClientError) as refused:
                agent.remember("x.md", "Kites.")
            assert refused.value.status == 403 and refused.value.problem["vault"] == "default"
            with pytest.raises(QmdrClientError) as admin_only:
                agent.tokens()
            assert admin_only.value.status == 403 and admin_only.value.error == "Forbidden"
        with QmdrClient(base, token=ADMIN) as admin:
            admin.revoke_token("reader")
            with pytest.raises(QmdrClientError) as gone:
                admin.revoke_token("reader")
            assert gone.value.status == 404
        with QmdrClient(base, token=made.token) as agent, pytest.raises(QmdrClientError) as revoked:
            agent.vaults()
        assert revoked.value.status == 401


def test_async_client_has_the_same_token_methods(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "default", {"herons.md": "# Herons\n\nHerons nest near the lake.\n"})
    service = make_service(tmp_path, folder, qmdr_api_token=ADMIN)

    async def go(base: str) -> None:
        async with AsyncQmdrClient(base, token=ADMIN) as admin:
            made = await admin.create_token("writer", {"default": "rw"})
            assert [t.vaults for t in (await admin.tokens()).tokens] == [{"default": "rw"}]
        async with AsyncQmdrClient(base, token=made.token) as agent:
            written = await agent.remember("kites.md", "Red kites circle the ridge.")
            assert written.vault == "default" and written.created
        async with AsyncQmdrClient(base, token=ADMIN) as admin:
            await admin.revoke_token("writer")
            assert (await admin.tokens()).tokens == []

    with live_server(service) as base:
        asyncio.run(go(base))
