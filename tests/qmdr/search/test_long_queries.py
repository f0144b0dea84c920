"""Long queries (agents paste context): accepted far past a typed question, the keyword side keeps the
rarest words, the embedding gets what the model can read, and the HTTP API takes them too."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from qmdr.memory.indexer import reindex
from qmdr.search.keyword_query import MAX_QUERY_TERMS, keyword_pieces, match_query, rarest_pieces
from qmdr.search.limits import MAX_EMBED_QUERY_CHARS, MAX_QUERY_CHARS
from qmdr.search.searcher import Searcher
from tests.qmdr.conftest import write_vault
from tests.qmdr.embedders import HashEmbedder
from tests.qmdr.live_server import live_server
from tests.qmdr.memory_service import make_service, write_notes

#: words every note of the vault below holds: the filler of a pasted paragraph
COMMON = [f"common{i}" for i in range(40)]


class RecordingEmbedder(HashEmbedder):
    """The hashing embedder, remembering every text it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    async def embed(self, texts):
        self.seen.extend(texts)
        return await super().embed(texts)


@pytest.fixture
async def filler_index(tmp_path, fresh_store):
    notes = {f"n{i}.md": f"# Note {i}\n\n{' '.join(COMMON)} topic{i}\n" for i in range(5)}
    notes["heron.md"] = f"# Birds\n\n{' '.join(COMMON)} heron\n"
    await reindex(fresh_store, write_vault(tmp_path / "v", notes), HashEmbedder())
    return fresh_store


def test_rarest_pieces_keep_the_fewest_held_words_in_query_order():
    pieces = ["common", "heron", "absent", "lake", "the"]
    assert rarest_pieces(pieces, [90, 1, 0, 5, 100], limit=3) == ["common", "heron", "lake"]
    assert rarest_pieces(pieces, [0] * 5, limit=2) == ["common", "heron"]


def test_a_short_query_never_asks_for_frequencies():
    def fail(pieces):
        raise AssertionError("looked up frequencies for a short query")

    assert keyword_pieces("retry failed uploads", fail) == ["retry", "failed", "uploads"]


def test_without_frequencies_a_long_query_keeps_its_first_words():
    text = " ".join(COMMON + ["heron"])
    assert keyword_pieces(text) == COMMON[:MAX_QUERY_TERMS]
    assert '"heron"' not in (match_query(text) or "")


@pytest.mark.anyio
async def test_a_rare_word_past_the_term_cap_still_finds_its_note(filler_index):
    query = " ".join(COMMON + ["heron"])  # 41 words: the rare one comes last
    assert len(keyword_pieces(query)) == MAX_QUERY_TERMS
    hits = filler_index.keyword(query, 3)
    assert hits[0].note_path == "heron.md"


@pytest.mark.anyio
async def test_a_query_of_many_thousand_characters_is_searched(filler_index):
    embedder = RecordingEmbedder()
    query = ("heron " + " ".join(COMMON) + " ") * 40  # ~14k characters
    assert MAX_EMBED_QUERY_CHARS < len(query.strip()) <= MAX_QUERY_CHARS
    response = await Searcher(filler_index, embedder).search(query, k=3)
    assert response.results[0].path == "heron.md" and not response.warnings
    assert embedder.seen and all(len(text) <= MAX_EMBED_QUERY_CHARS for text in embedder.seen)


def test_the_http_api_accepts_a_query_past_the_old_limit_and_refuses_one_past_the_new(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "notes", {"heron.md": "# Birds\n\nA heron by the lake.\n"})
    with live_server(make_service(tmp_path, folder)) as base, httpx.Client(base_url=base, timeout=60) as client:
        assert client.post("/vaults/default/reindex", json={}).status_code == 200
        long = ("heron lake " * 400).strip()  # 4,399 characters
        answer = client.post("/search", json={"query": long, "mode": "keyword"})
        assert answer.status_code == 200, answer.text
        assert [h["path"] for h in answer.json()["results"]] == ["heron.md"]
        too_long = client.post("/search", json={"query": "x" * (MAX_QUERY_CHARS + 1)})
        assert too_long.status_code == 422
