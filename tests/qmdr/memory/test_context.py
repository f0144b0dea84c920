"""POST /context: a markdown block per vault, best chunks first, then linked notes, never over budget."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from providers.local import load_local_embedder
from qmdr.api.app import create_app
from qmdr.errors import InvalidQuery
from qmdr.memory.context import build_context, render, resolve_link
from qmdr.search.limits import DEFAULT_CONTEXT_MIN_RELEVANCE
from tests.qmdr.memory_service import make_service, write_notes

NOTES = {
    "retries.md": "# Retries\n\nUploads retry with exponential backoff and jitter. See [[Backoff math]].\n",
    "math/backoff math.md": "# Backoff math\n\nThe delay doubles each attempt, capped at thirty seconds.\n",
    "ops.md": '---\nrelated: ["[[oncall]]"]\n---\n# Ops\n\nRetry storms are paged to the retry owner.\n',
    "oncall.md": "# Oncall\n\nThe oncall rota lives in the wiki; Dana owns March.\n",
    "bread.md": "# Bread\n\nSourdough needs a starter fed the night before.\n",
}
SHARED = {"shared.md": "# Shared retries\n\nAll teams retry idempotent calls only.\n"}


@pytest.fixture
async def service(tmp_path: Path):
    service = make_service(tmp_path, write_notes(tmp_path / "v", NOTES))
    await service.memory.reindex("default")
    service.memory.add("shared", write_notes(tmp_path / "shared", SHARED))
    await service.memory.reindex("shared")
    yield service
    await service.aclose()


def test_resolve_link_by_path_and_by_name() -> None:
    paths = ["a/notes.md", "notes.md", "deep/x/Backoff math.md"]
    assert resolve_link("notes", paths) == "notes.md"
    assert resolve_link("a/notes.md", paths) == "a/notes.md"
    assert resolve_link("backoff math", paths) == "deep/x/Backoff math.md"
    assert resolve_link("missing", paths) is None


@pytest.mark.anyio
async def test_block_has_vault_sections_hits_and_linked_neighbours(service) -> None:
    block = await build_context(service.memory, ["exponential jitter", "idempotent"], budget=2000, mode="keyword")
    md = block.markdown
    assert md.startswith("# Memory for: exponential jitter; idempotent")
    assert "## Vault: default" in md and "## Vault: shared" in md
    assert md.index("## Vault: default") < md.index("### Retries (") < md.index("## Vault: shared")
    assert block.entries[0].relevance is not None and block.entries[0].relevance >= DEFAULT_CONTEXT_MIN_RELEVANCE
    assert "`retries.md` lines 1-3 › Retries" in md
    kinds = [(e.vault, e.path, e.kind, e.via) for e in block.entries]
    assert kinds == [
        ("default", "retries.md", "hit", None),
        ("shared", "shared.md", "hit", None),
        ("default", "math/backoff math.md", "linked", "retries.md"),
    ]
    assert "### Backoff math (linked from `retries.md`)" in md


@pytest.mark.anyio
async def test_frontmatter_related_note_is_added(service) -> None:
    block = await build_context(service.memory, ["storms paged"], budget=2000, vaults=["default"], mode="keyword")
    assert [(e.path, e.kind, e.via) for e in block.entries] == [
        ("ops.md", "hit", None),
        ("oncall.md", "linked", "ops.md"),
    ]


@pytest.mark.anyio
async def test_no_chunk_appears_twice_across_queries(service) -> None:
    block = await build_context(service.memory, ["retry", "retry backoff", "backoff"], budget=5000)
    keys = [(e.vault, e.chunk_hash) for e in block.entries]
    assert len(keys) == len(set(keys))
    assert block.markdown.count("### Retries (") == 1


@pytest.mark.anyio
async def test_brief_profile_has_no_neighbours(service) -> None:
    block = await build_context(service.memory, ["retry backoff"], budget=2000, profile="brief")
    assert block.entries and all(e.kind == "hit" for e in block.entries)


@pytest.mark.parametrize("budget", [20, 64, 90, 150, 300, 700])
@pytest.mark.anyio
async def test_block_never_exceeds_budget_with_the_real_tokenizer(service, budget: int) -> None:
    tokenizer = load_local_embedder()
    block = await build_context(
        service.memory, ["retry backoff", "sourdough starter"], budget=budget, count_tokens=tokenizer.count_tokens
    )
    assert tokenizer.count_tokens(block.markdown) <= budget
    assert block.tokens == (tokenizer.count_tokens(block.markdown) if block.markdown else 0)
    if budget >= 300:
        assert len(block.entries) >= 2  # a roomy budget is actually filled


@pytest.mark.anyio
async def test_larger_budget_holds_more(service) -> None:
    small = await build_context(service.memory, ["retry"], budget=90)
    large = await build_context(service.memory, ["retry"], budget=3000)
    assert len(large.entries) > len(small.entries)
    assert large.markdown == render(["retry"], large.entries)


@pytest.mark.anyio
async def test_bad_requests_are_refused(service) -> None:
    with pytest.raises(InvalidQuery):
        await build_context(service.memory, ["  "], budget=100)
    with pytest.raises(InvalidQuery):
        await build_context(service.memory, ["x"], budget=100, profile="huge")


@pytest.mark.anyio
async def test_context_endpoint(service) -> None:
    app = create_app(service.settings, service=service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.post("/context", json={"query": "sourdough", "budget": 200, "vaults": ["default"]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["tokens"] <= 200 and body["entries"][0]["path"] == "bread.md"
        assert "## Vault: default" in body["markdown"] and "## Vault: shared" not in body["markdown"]
        assert (await client.post("/context", json={"budget": 200})).status_code == 422
        assert (await client.post("/context", json={"query": "x", "budget": 10})).status_code == 422
