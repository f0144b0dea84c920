"""`qmdr mcp` over stdio, driven by the official MCP SDK's own client, with the real embedded model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.e2e.qmdr_process import qmdr_env
from tests.qmdr.memory_service import write_notes

pytestmark = pytest.mark.e2e
NOTES = {
    "decisions/retries.md": "---\nstatus: decided\ndate: 2026-01-10\n---\n"
    "# Retries\n\nWe retry failed uploads with exponential backoff. See [[Backoff]].\n",
    "Backoff.md": "# Backoff\n\nThe delay doubles after each attempt and is capped at thirty seconds.\n",
    "recipes/bread.md": "# Bread\n\nFeed the sourdough starter the night before baking.\n",
}


def payload(result) -> dict:  # type: ignore[no-untyped-def]
    assert not result.is_error, result.content
    return result.structured_content


@pytest.mark.anyio
async def test_every_tool_over_stdio(tmp_path: Path) -> None:
    vault = write_notes(tmp_path / "notes", NOTES)  # not "vault": cwd is on sys.path
    env = qmdr_env(tmp_path / "data", QMDR_VAULT=str(vault))
    indexed = subprocess.run(
        [sys.executable, "-m", "qmdr.cli.main", "index", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert indexed.returncode == 0, indexed.stderr
    params = StdioServerParameters(command=sys.executable, args=["-m", "qmdr.cli.main", "mcp"], env=env, cwd=tmp_path)
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {"search", "get", "context", "remember", "status"}

        status = payload(await client.call_tool("status", {}))
        assert status["embedding"]["model"] == "local/all-MiniLM-L6-v2"
        assert [(v["name"], v["notes"]) for v in status["vaults"]] == [("default", 3)]

        found = payload(await client.call_tool("search", {"query": "how do we handle failed uploads", "k": 2}))
        assert found["results"][0]["path"] == "decisions/retries.md"
        assert found["results"][0]["vault"] == "default" and found["results"][0]["relevance"] > 30
        # calibrated relevance: nothing in the vault is about this, and the numbers say so
        unrelated = payload(await client.call_tool("search", {"query": "quarterly tax receipts", "k": 3}))
        assert max(r["relevance"] for r in unrelated["results"]) < 10

        decided = payload(
            await client.call_tool(
                "search", {"query": "baking bread", "k": 3, "where": {"status": ["decided"]}, "after": "2026-01-01"}
            )
        )
        assert [r["path"] for r in decided["results"]] == ["decisions/retries.md"]  # the only note the filter keeps
        assert (
            payload(
                await client.call_tool(
                    "search", {"query": "uploads", "before": "2026-01-10", "where": {"status": "decided"}}
                )
            )["results"]
            == []
        )
        bad = await client.call_tool("search", {"query": "x", "where": {"status": {"$regex": "dec"}}})
        assert bad.is_error and "where.status: unknown operator '$regex'" in bad.content[0].text
        filtered = (
            (
                await client.call_tool(
                    "context", {"query": "upload retries", "budget": 300, "where": {"status": "decided"}}
                )
            )
            .content[0]
            .text
        )
        assert "decisions/retries.md" in filtered  # its linked note Backoff.md has no status: the filter keeps it out
        assert "Backoff.md" not in filtered and "The delay doubles" not in filtered

        note = payload(await client.call_tool("get", {"path": "decisions/retries.md"}))
        assert note["title"] == "Retries" and note["links"] == ["Backoff"]

        block = await client.call_tool("context", {"query": "upload retries", "budget": 300})
        text = block.content[0].text
        assert "## Vault: default" in text and "decisions/retries.md" in text and "Backoff" in text

        written = payload(
            await client.call_tool(
                "remember", {"path": "agents/claude/today", "content": "The quarterly offsite is in Lisbon."}
            )
        )
        assert written == {
            "vault": "default",
            "path": "agents/claude/today.md",
            "action": "written",
            "created": True,
            "chunks": 1,
            "similar": [],
            "superseded": None,
        }
        assert (vault / "agents" / "claude" / "today.md").is_file()
        again = payload(
            await client.call_tool(
                "remember",
                {
                    "path": "agents/claude/offsite",
                    "content": "The quarterly offsite is in Lisbon.",
                    "on_duplicate": "skip",
                },
            )
        )
        assert again["action"] == "skipped" and again["similar"][0]["path"] == "agents/claude/today.md"
        assert not (vault / "agents" / "claude" / "offsite.md").exists()
        after = payload(await client.call_tool("search", {"query": "where is the offsite", "k": 1}))
        assert after["results"][0]["path"] == "agents/claude/today.md"

        escape = await client.call_tool("remember", {"path": "../../outside.md", "content": "x"})
        assert escape.is_error and "outside the vault" in escape.content[0].text
        assert not (tmp_path / "outside.md").exists()
        unknown = await client.call_tool("search", {"query": "x", "vaults": ["nope"]})
        assert unknown.is_error and "no vault named 'nope'" in unknown.content[0].text
