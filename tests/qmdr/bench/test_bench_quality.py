"""Smoke test: the quality benchmark end to end on a five-document dataset."""

import json
import re

import pytest

from providers.types import ChatResult
from qmdr.bench.quality import QualityReport, run_quality
from qmdr.bench.synthetic import HashingEmbedder
from tests.qmdr.bench.test_bench_beir import write_dataset

DOCS = [
    {
        "_id": "wing",
        "title": "Propeller slipstream over a swept wing",
        "text": "Lift increase of a wing immersed in a propeller slipstream at several angles of attack.",
    },
    {
        "_id": "heat",
        "title": "Heat conduction in composite slabs",
        "text": "Transient heat conduction through layered composite slabs with contact resistance.",
    },
    {
        "_id": "shock/7",
        "title": "Shock wave boundary layer interaction",
        "text": "Separation caused by an oblique shock wave impinging on a turbulent boundary layer.",
    },
    {
        "_id": "Buckling",
        "title": "Buckling of thin cylindrical shells",
        "text": "Axial compression buckling loads of thin cylindrical shells with imperfections.",
    },
    {
        "_id": "flutter",
        "title": "Panel flutter at supersonic speed",
        "text": "Flutter boundaries of flat panels exposed to supersonic flow on one side.",
    },
]
QUERIES = [
    {"_id": "1", "text": "heat conduction in composite slabs"},  # exact title
    {"_id": "2", "text": "shock wave interaction with a boundary layer"},
    {"_id": "3", "text": "cylindrical shell buckling under compression"},
]
QRELS = [("1", "heat", 2), ("2", "shock/7", 3), ("2", "flutter", 1), ("3", "Buckling", 1)]


@pytest.fixture
def dataset(tmp_path):
    return write_dataset(tmp_path / "tiny", DOCS, QUERIES, QRELS)


def test_quality_report_has_every_mode_with_metrics_in_range(dataset, tmp_path):
    report = run_quality(
        dataset, modes=["keyword", "vector", "hybrid"], embedder_factories={"hashing": HashingEmbedder}, progress=False
    )
    data = report.to_dict()
    assert data["dataset"] == "tiny"
    assert set(data["modes"]) == {"keyword", "vector", "hybrid"}
    for mode in data["modes"].values():
        for metric in ("ndcg@10", "recall@10", "recall@100", "mrr@10"):
            assert 0.0 <= mode[metric] <= 1.0
        assert set(mode["latency_ms"]) == {"p50", "p95"} and mode["queries"] == 3
        assert "total" in mode["stages"]
    assert data["machine"]["cores"] >= 1 and data["versions"]["numpy"]
    assert data["settings"]["queries"] == 3 and data["index"]["hashing"]["chunks"] >= 5
    # query 1 is an exact title: BM25 puts that document first
    keyword = data["modes"]["keyword"]
    assert keyword["mrr@10"] >= (1.0 + 0 + 0) / 3
    assert keyword["recall@100"] == 1.0  # five documents: everything relevant is found somewhere
    # the hashing embedder is local: no cost, and one embed call per vector query
    assert data["modes"]["vector"]["api_calls"] == 3 and data["modes"]["vector"]["cost_usd"] == 0.0

    written = report.write(tmp_path / "results", "tiny")
    assert {p.name for p in written} == {"tiny.md", "tiny.json", "tiny-quality.png"}
    assert json.loads((tmp_path / "results" / "tiny.json").read_text())["modes"]["hybrid"]["queries"] == 3
    markdown = report.to_markdown()
    assert re.search(r"\| keyword \| - \| - \| \d\.\d{3} \|", markdown)
    assert "cpu_model=" in markdown


def test_exact_title_query_ranks_its_document_first_in_keyword_mode(dataset):
    report = run_quality(
        dataset, modes=["keyword"], embedder_factories={"hashing": HashingEmbedder}, limit_queries=1, progress=False
    )
    assert report.to_dict()["modes"]["keyword"]["mrr@10"] == 1.0


def test_rerank_mode_counts_model_calls(dataset):
    from qmdr.search.rerank import LLMReranker

    async def grade_by_overlap(messages, *, json_output, timeout, response_format=None):
        # a deterministic "model": grade 3 for passages sharing 2+ words with the query
        prompt = messages[-1].content
        query = set(prompt.split("\n", 1)[0].removeprefix("Query: ").lower().split())
        passages = re.findall(r'<passage id="(\d+)">\n(.*?)\n</passage>', prompt, re.S)
        grades = [{"id": int(i), "grade": 3 if len(query & set(t.lower().split())) >= 2 else 0} for i, t in passages]
        return ChatResult(text=json.dumps({"grades": grades}), provider="test", model="gpt-4o-mini")

    report = run_quality(
        dataset,
        modes=["hybrid", "hybrid+rerank"],
        embedder_factories={"hashing": HashingEmbedder},
        reranker_factories={"gpt-4o-mini": lambda: LLMReranker(grade_by_overlap, model_id="gpt-4o-mini")},
        progress=False,
    )
    reranked = report.to_dict()["modes"]["hybrid+rerank"]
    assert reranked["api_calls"] >= 3 + 3  # three query embeddings plus at least one grading call each
    assert reranked["tokens"] > 0 and reranked["cost_usd"] > 0
    assert 0.0 <= reranked["ndcg@10"] <= 1.0


def test_unknown_mode_and_rerank_without_reranker_are_refused(dataset):
    with pytest.raises(ValueError, match="unknown mode"):
        run_quality(dataset, modes=["semantic"], embedder_factories={"h": HashingEmbedder}, progress=False)
    with pytest.raises(ValueError, match="needs at least one reranker"):
        run_quality(dataset, modes=["hybrid+rerank"], embedder_factories={"h": HashingEmbedder}, progress=False)


def test_report_labels_rows_per_embedder_when_several():
    from qmdr.bench.quality import ModeResult

    def row(mode, emb):
        metrics = dict.fromkeys(("ndcg@10", "recall@10", "recall@100", "mrr@10"), 0.5)
        return ModeResult(mode, emb, None, metrics, {"p50": 1.0, "p95": 2.0}, {}, 3, 0, 0, 0.0)

    report = QualityReport("d", [row("keyword", "a"), row("vector", "a"), row("vector", "b")], {})
    assert list(report.to_dict()["modes"]) == ["keyword", "a:vector", "b:vector"]


def test_a_failing_query_is_reported_with_its_reason_and_the_run_completes(tmp_path):
    from qmdr.search.limits import MAX_QUERY_CHARS

    too_long = {"_id": "4", "text": "heat " * (MAX_QUERY_CHARS // 5 + 1)}
    dataset = write_dataset(tmp_path / "tiny", DOCS, [*QUERIES, too_long], [*QRELS, ("4", "heat", 2)])
    report = run_quality(
        dataset, modes=["keyword", "hybrid"], embedder_factories={"hashing": HashingEmbedder}, progress=False
    )
    full = run_quality(
        write_dataset(tmp_path / "three", DOCS, QUERIES, QRELS),
        modes=["keyword"],
        embedder_factories={"hashing": HashingEmbedder},
        progress=False,
    )
    for label, row in report.to_dict()["modes"].items():
        assert row["queries"] == 4, label
        assert [f["query_id"] for f in row["failed"]] == ["4"]
        assert "InvalidQuery" in row["failed"][0]["reason"] and str(MAX_QUERY_CHARS) in row["failed"][0]["reason"]
    # the failed query counts as a miss: the mean is over all four judged queries
    assert report.to_dict()["modes"]["keyword"]["mrr@10"] == pytest.approx(
        full.to_dict()["modes"]["keyword"]["mrr@10"] * 3 / 4, abs=1e-4
    )
    markdown = report.to_markdown()
    assert "## Failed queries" in markdown and "InvalidQuery" in markdown
