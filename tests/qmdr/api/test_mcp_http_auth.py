"""``qmdr mcp --http`` behind the API's tokens, driven by the MCP SDK's own client over a real socket:
no token or a wrong one is a 401 before the SDK sees the request, the admin token reaches every vault,
and an agent token's tools keep to its vaults (search over all = its vaults; get/remember elsewhere refused)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from qmdr.access.stores import open_token_store
from qmdr.access.tokens import create_token
from qmdr.api.mcp_server import MCP_HTTP_PATH, create_mcp_server, mcp_http_app
from tests.qmdr.live_server import serve_in_thread
from tests.qmdr.memory_service import make_service, write_notes

ADMIN = "mcp-admin-token-0123456789"
QUERY = {"query": "herons lake", "mode": "keyword", "k": 10}
NOTES = {
    "default": {"d.md": "# D\n\nHerons nest by the lake (default).\n"},
    "alice": {"a.md": "# A\n\nHerons nest by the lake (alice).\n"},
    "bob": {"b.md": "# B\n\nHerons nest by the lake (bob).\n"},
}


@pytest.fixture
def mcp_url(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    folders = {name: write_notes(tmp_path / name, notes) for name, notes in NOTES.items()}
    service = make_service(tmp_path, folders["default"], qmdr_api_token=ADMIN, qmdr_auth_free_failures=2)

    async def prepare() -> None:
        for name in ("alice", "bob"):
            service.memory.add(name, folders[name])
        for name in NOTES:
            await service.memory.reindex(name)

    asyncio.run(prepare())
    store = open_token_store(service.settings)
    tokens = {
        "alice": create_token(store, "alice", {"alice": "rw"})[1],
        "reader": create_token(store, "reader", {"bob": "r"})[1],
    }
    store.close()
    app = mcp_http_app(create_mcp_server(service.settings, service=service), service.settings, "127.0.0.1")
    try:
        with serve_in_thread(app, lifespan="auto") as port:
            yield f"http://127.0.0.1:{port}{MCP_HTTP_PATH}", tokens
    finally:
        app.close()
        asyncio.run(service.aclose())


def connect(url: str, token: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return Client(streamable_http_client(url, http_client=http))


def test_requests_without_a_valid_token_never_reach_the_mcp_server(mcp_url) -> None:
    url, _ = mcp_url
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    for headers in ({}, {"Authorization": "Bearer qmdr_" + "x" * 43}, {"Authorization": f"Bearer {ADMIN}x"}):
        answer = httpx.post(url, json=hello, headers={"Accept": "application/json, text/event-stream", **headers})
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert answer.headers["content-type"] == "application/problem+json"
    wrong = {"Authorization": f"Bearer {ADMIN}x"}
    assert httpx.post(url, json=hello, headers=wrong).status_code == 401  # two free failures; this third locks
    locked = httpx.post(url, json=hello, headers={"Authorization": f"Bearer {ADMIN}"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1  # not even the right one now


@pytest.mark.anyio
async def test_the_admin_token_reaches_every_vault(mcp_url) -> None:
    url, _ = mcp_url
    async with connect(url, ADMIN) as client:
        status = (await client.call_tool("status", {})).structured_content
        assert [v["name"] for v in status["vaults"]] == ["default", "alice", "bob"]
        found = (await client.call_tool("search", QUERY)).structured_content
        assert {hit["vault"] for hit in found["results"]} == {"default", "alice", "bob"}


@pytest.mark.anyio
async def test_an_agent_token_keeps_to_its_vaults(mcp_url, tmp_path: Path) -> None:
    url, tokens = mcp_url
    async with connect(url, tokens["alice"]) as client:
        status = (await client.call_tool("status", {})).structured_content
        assert [v["name"] for v in status["vaults"]] == ["alice"]
        found = (await client.call_tool("search", QUERY)).structured_content
        assert found["vaults"] == ["alice"] and {hit["vault"] for hit in found["results"]} == {"alice"}
        refused = await client.call_tool("search", {"query": "herons", "vaults": ["bob"]})
        assert refused.is_error and "cannot read the vault 'bob'" in refused.content[0].text
        block = (await client.call_tool("context", {"query": "herons lake"})).content[0].text
        assert "(alice)" in block and "(bob)" not in block and "(default)" not in block
        other = await client.call_tool("get", {"path": "b.md", "vault": "bob"})
        assert other.is_error and "'bob'" in other.content[0].text
        written = await client.call_tool("remember", {"path": "kites.md", "content": "Kites.", "vault": "alice"})
        assert not written.is_error and (tmp_path / "alice" / "kites.md").exists()
    async with connect(url, tokens["reader"]) as client:
        denied = await client.call_tool("remember", {"path": "kites.md", "content": "Kites.", "vault": "bob"})
        assert denied.is_error and "writing needs rw" in denied.content[0].text
        assert not (tmp_path / "bob" / "kites.md").exists()
