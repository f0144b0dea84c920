"""Metadata and date filters over HTTP (a real socket) and through the Python client, on both stores."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest

from qmdr.client import QmdrClient
from tests.qmdr.live_server import live_server
from tests.qmdr.memory_service import make_service, write_notes

NOTES = {
    "decisions/cache.md": "---\nstatus: decided\nproject: [atlas, borealis]\nupdated: 2026-02-10\n---\n"
    "# Cache\n\nWe decided the walrus cache keeps entries for one hour.\n",
    "decisions/queue.md": "---\nstatus: open\nproject: borealis\npriority: 2\ndate: 2026-01-05\n---\n"
    "# Queue\n\nThe walrus queue question is still open.\n",
    "notes/old.md": "---\nstatus: decided\nproject: atlas\ncreated: 2025-03-01\nreviewed: true\n---\n"
    "# Old\n\nAn early walrus decision about logging.\n",
    "notes/related.md": "---\nstatus: open\ndate: 2024-01-01\n---\n# Related\n\nBackground on walrus penguins.\n",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def base_url(request, tmp_path: Path):
    vault = write_notes(tmp_path / "vault", NOTES)
    extra = {"qmdr_database_url": request.getfixturevalue("pg_url")} if request.param == "postgres" else {}
    service = make_service(tmp_path, vault, **extra)
    with live_server(service) as base:
        assert httpx.post(f"{base}/vaults/default/reindex", json={}, timeout=60).status_code == 200
        yield base


def found(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted({hit["path"] for hit in response.json()["results"]})


def test_where_and_dates_filter_every_search_route(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for route in ("/search", "/vaults/default/search", "/vaults/search"):
            for mode in ("keyword", "vector", "hybrid"):
                query = {"query": "walrus decision", "mode": mode, "k": 10}
                assert found(http.post(route, json={**query, "where": {"status": "decided"}})) == [
                    "decisions/cache.md",
                    "notes/old.md",
                ], (route, mode)
                assert found(http.post(route, json={**query, "where": {"project": ["borealis"]}})) == [
                    "decisions/cache.md",
                    "decisions/queue.md",
                ]  # a frontmatter list matches through any element
                assert found(
                    http.post(route, json={**query, "where": {"status": "decided", "project": {"$in": ["borealis"]}}})
                ) == ["decisions/cache.md"]
                assert found(http.post(route, json={**query, "where": {"priority": 2, "reviewed": True}})) == []
                assert found(http.post(route, json={**query, "where": {"reviewed": True}})) == ["notes/old.md"]
                assert found(http.post(route, json={**query, "after": "2026-01-01"})) == [
                    "decisions/cache.md",
                    "decisions/queue.md",
                ]
                assert found(http.post(route, json={**query, "after": "2026-01-01", "before": "2026-02-10"})) == [
                    "decisions/queue.md"
                ]  # before is exclusive: cache is dated 2026-02-10
                assert found(http.post(route, json={**query, "before": "2025-12-31T23:59:59Z"})) == [
                    "notes/old.md",
                    "notes/related.md",
                ]


def test_bad_filters_are_422_naming_the_field(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for body, field, words in (
            ({"where": {"priority": {"$gt": 1}}}, "where", "where.priority: unknown operator '$gt'"),
            ({"where": {"status": None}}, "where", "where.status: values must be"),
            ({"where": {"status": []}}, "where", "where.status: give at least one value"),
            ({"where": {"status": {"nested": "x"}}}, "where", "where.status: unknown operator 'nested'"),
            ({"after": "last tuesday"}, "after", "after: 'last tuesday' is not an ISO 8601 date"),
            ({"before": "01/02/2026"}, "before", "before: '01/02/2026' is not an ISO 8601 date"),
            ({"after": "2026-02-01", "before": "2026-01-01"}, "body", "before: must be later than after"),
        ):
            for route in ("/search", "/vaults/search", "/context"):
                response = http.post(route, json={"query": "walrus", **body})
                assert response.status_code == 422, (route, body, response.text)
                problem = response.json()
                assert problem["errors"][0]["loc"][:2] == (["body", field] if field != "body" else ["body"]), problem
                assert words in problem["detail"], problem["detail"]


def test_context_blocks_hold_only_notes_the_filter_keeps(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        block = http.post("/context", json={"query": "walrus", "where": {"status": "decided"}, "after": "2026-01-01"})
        assert block.status_code == 200, block.text
        assert {e["path"] for e in block.json()["entries"]} == {"decisions/cache.md"}
        assert "walrus cache" in block.json()["markdown"] and "queue" not in block.json()["markdown"]


def test_python_client_sends_filters_and_dates(base_url: str) -> None:
    with QmdrClient(base_url) as client:
        hits = client.search("walrus", where={"project": ["atlas"]}, after=date(2025, 1, 1), mode="keyword")
        assert sorted(h.path for h in hits.results) == ["decisions/cache.md", "notes/old.md"]
        block = client.context("walrus", where={"status": "open"}, after="2025-01-01", before="2026-02-01")
        assert {e.path for e in block.entries} == {"decisions/queue.md"}
