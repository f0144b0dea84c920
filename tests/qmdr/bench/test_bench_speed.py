"""Smoke test: the speed benchmark at a tiny size, plus the synthetic vault and hashing embedder."""

import json
from pathlib import Path

import apsw
import numpy as np
import pytest

from qmdr.bench.speed import run_speed
from qmdr.bench.synthetic import HashingEmbedder, change_notes, generate_vault, sample_queries


def test_synthetic_vault_is_reproducible_from_its_seed(tmp_path):
    a = generate_vault(tmp_path / "a", 120, seed=7)
    b = generate_vault(tmp_path / "b", 120, seed=7)
    c = generate_vault(tmp_path / "c", 120, seed=8)
    assert a.sections == 120 and a.notes == b.notes
    assert all((a.root / n).read_bytes() == (b.root / n).read_bytes() for n in a.notes)
    assert any((a.root / n).read_bytes() != (c.root / n).read_bytes() for n in set(a.notes) & set(c.notes))
    first = (a.root / a.notes[0]).read_text()
    assert first.startswith("# ") and "\n## " in first
    assert sample_queries(3, seed=1) == sample_queries(3, seed=1)


def test_change_notes_rewrites_the_asked_fraction(tmp_path):
    vault = generate_vault(tmp_path, 400, seed=3)
    before = {n: (tmp_path / n).read_text() for n in vault.notes}
    changed = change_notes(vault, 0.1, seed=3)
    assert len(changed) == max(1, round(len(vault.notes) * 0.1))
    assert {n for n in vault.notes if (tmp_path / n).read_text() != before[n]} == set(changed)


@pytest.mark.anyio
async def test_hashing_embedder_is_deterministic_normalised_and_topical():
    embedder = HashingEmbedder(dim=64)
    vectors = await embedder.embed(["cache retry timeout", "cache retry timeout", "garden coffee music", ""])
    assert vectors.shape == (4, 64) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.array_equal(vectors[0], vectors[1])
    close = float(vectors[0] @ (await embedder.embed(["cache retry"]))[0])
    far = float(vectors[0] @ vectors[2])
    assert close > far


def test_speed_report_at_a_tiny_size(tmp_path):
    report = run_speed(
        [200], seed=1, http=False, progress=False, real_embedder_max_chunks=0, embedders=False, queries_per_mode=5
    )
    data = json.loads(report.to_json())
    (size,) = data["sizes"]
    assert size["embedder"] == "bench-hashing-384"
    assert size["chunks"] >= 150 and size["notes"] >= 1
    assert size["index"]["chunks_per_s"] > 0 and size["index"]["embedded"] >= size["chunks"] * 0.9
    # an unchanged vault embeds nothing; a 1% change embeds a little, not everything
    assert size["reindex_unchanged"]["embedded"] == 0
    assert 0 < size["reindex_changed"]["embedded"] < size["chunks"]
    assert set(size["search"]) == set(size["search_unwarmed"]) == {"keyword", "vector", "hybrid"}
    for lat in [*size["search"].values(), *size["search_unwarmed"].values()]:
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    # the searcher's own stage timings: hybrid embeds, searches both lists and fuses; keyword never embeds
    assert {"embed_query", "keyword", "vector", "fuse", "total"} <= set(size["stages"]["hybrid"])
    assert "embed_query" not in size["stages"]["keyword"] and "keyword" in size["stages"]["keyword"]
    for stages in size["stages"].values():
        assert all(0 < ms <= stages["total"] for ms in stages.values())
    # the warmed store holds an in-memory keyword index of every chunk's terms (~90 per chunk)
    assert size["warm"]["keyword_postings"] > size["chunks"] * 10 and size["warm"]["keyword_index_bytes"] > 0
    assert size["warm"]["vector_snapshot_s"] >= 0 and size["warm"]["keyword_index_cpu_s"] > 0
    assert size["http"] is None and size["http_note"] == "not requested"
    assert size["nearest"]["vectors"] >= size["chunks"] * 0.9
    for backend in ("memory", "vec0"):
        assert 0.0 <= size["nearest"][backend]["recall@10"] <= 1.0
    assert size["memory"]["index_peak_rss_mb"] > 0
    assert data["machine"]["cores"] >= 1 and data["settings"]["seed"] == 1

    written = report.write(tmp_path, "speed-tiny")
    assert {p.name for p in written} == {"speed-tiny.md", "speed-tiny.json", "speed-tiny-latency.png"}
    assert "| memory |" in report.to_markdown() and "| vec0 |" in report.to_markdown()
    assert f"| {size['warm']['keyword_postings']:,} |" in report.to_markdown()


def _indexed_store(tmp_path):
    import asyncio

    from qmdr.memory.indexer import reindex
    from qmdr.store.sqlite import SqliteStore

    vault = generate_vault(tmp_path / "vault", 80, seed=5)
    store = SqliteStore(tmp_path / "index.db")
    asyncio.run(reindex(store, vault.root, HashingEmbedder()))
    return store


def test_warming_reports_the_keyword_index_the_store_holds(tmp_path):
    from qmdr.bench.speed import _warm_like_the_server

    store = _indexed_store(tmp_path)
    try:
        assert store.stats().extra["keyword_index"]["state"].startswith("not kept")  # indexing alone does not warm
        warm = _warm_like_the_server(store)
        index = store._keyword_keeper.index  # noqa: SLF001 - the test checks the report against the index itself
        assert warm["keyword_index_state"] == "current" and index.generation == store.generation()
        # FTS5's own count of (term, chunk) pairs, read apart from the index
        conn = apsw.Connection(str(tmp_path / "index.db"), flags=apsw.SQLITE_OPEN_READONLY)
        conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, chunks_fts, row)")
        (fts5_postings,) = conn.execute("SELECT sum(doc) FROM temp.vocab").fetchone()
        conn.close()
        assert warm["keyword_postings"] == index.postings == fts5_postings
        # int32 document and float64 impact per posting, int64 chunk ids and term starts
        held = 12 * index.postings + 8 * len(index) + 8 * (len(index.terms) + 1)
        assert warm["keyword_index_bytes"] == held
    finally:
        store.close()


def test_warming_a_vault_too_large_for_the_keyword_index_reports_none(tmp_path, monkeypatch):
    from qmdr.bench.speed import _warm_like_the_server
    from qmdr.store import keyword_index

    monkeypatch.setattr(keyword_index, "MAX_POSTINGS", 10)
    store = _indexed_store(tmp_path)
    try:
        warm = _warm_like_the_server(store)
    finally:
        store.close()
    assert warm["keyword_index_state"].startswith("too large")
    assert warm["keyword_postings"] is None and warm["keyword_index_bytes"] is None


def test_speed_report_over_http_uses_a_separate_server_process(tmp_path):
    report = run_speed(
        [200],
        seed=2,
        http=True,
        progress=False,
        real_embedder_max_chunks=0,
        embedders=False,
        queries_per_mode=4,
        work_dir=tmp_path,
    )
    (size,) = json.loads(report.to_json())["sizes"]
    assert size["http_note"] is None
    assert set(size["http"]) == {"keyword", "vector", "hybrid"}
    for lat in size["http"].values():
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert list(tmp_path.iterdir()) == []  # the temporary vault, index and server cwd are gone


def test_bench_server_serves_the_index_and_stops(tmp_path):
    import asyncio

    import httpx

    from qmdr.bench.http_server import serve_index
    from qmdr.memory.indexer import reindex
    from qmdr.store.sqlite import SqliteStore

    vault = generate_vault(tmp_path / "vault", 60, seed=4)
    store = SqliteStore(tmp_path / "index.db")
    asyncio.run(reindex(store, vault.root, HashingEmbedder()))
    store.close()
    # the working folder holds a `vault/` directory: it must not shadow the package in the child
    with serve_index(tmp_path / "index.db", vault.root, "hashing", cwd=tmp_path) as base:
        hits = httpx.post(f"{base}/search", json={"query": sample_queries(1, seed=4)[0], "mode": "hybrid"}).json()
        assert hits["results"], hits
        assert all(Path(vault.root / r["path"]).is_file() for r in hits["results"])
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/health", timeout=2.0)


def test_bench_server_refuses_an_embedder_it_cannot_rebuild(tmp_path):
    from qmdr.bench.http_server import embedder_name_for, serve_index

    assert embedder_name_for(HashingEmbedder()) == "hashing"
    with pytest.raises(ValueError, match="cannot rebuild"):
        embedder_name_for(object())
    with (
        pytest.raises(ValueError, match="unknown bench embedder"),
        serve_index(tmp_path / "index.db", tmp_path, "torch", cwd=tmp_path),
    ):
        pass
