"""``qmdr bench quality|speed`` through the installed console script, on tiny data (seconds each)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from qmdr.cli.bench import build_matrix, default_modes
from tests.e2e.qmdr_process import qmdr_env, qmdr_executable
from tests.qmdr.bench.test_bench_beir import write_dataset
from tests.qmdr.bench.test_bench_quality import DOCS, QRELS, QUERIES

METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
# Generous: each run loads the embedded model and indexes five notes; a loaded CI machine is slow.
RUN_TIMEOUT_S = 240


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The working directory of the command: no folder named ``vault`` (it would shadow the package)."""
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "tiny", DOCS, QUERIES, QRELS)


def run_bench(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [qmdr_executable(), "bench", *args],
        cwd=cwd,
        env=qmdr_env(cwd / "data"),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def check_metrics(row: dict) -> None:
    for metric in METRICS:
        assert 0.0 <= row[metric] <= 1.0, (metric, row[metric])
    assert row["queries"] == len(QUERIES)
    assert row["latency_ms"]["p50"] <= row["latency_ms"]["p95"]


def test_bench_quality_json_has_every_base_mode(dataset: Path, workdir: Path) -> None:
    result = run_bench(["quality", str(dataset), "--json"], workdir)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # --json prints only JSON: no table, no progress
    assert set(data["modes"]) == {"keyword", "vector", "hybrid"}
    for row in data["modes"].values():
        check_metrics(row)
    assert data["modes"]["keyword"]["mrr@10"] > 0  # an exact title query finds its document
    assert data["index"]["local"]["chunks"] >= len(DOCS)
    assert not any(workdir.glob("benchmarks/results/*")), "nothing is written without --name"


def test_bench_quality_matrix_runs_local_server_rows_over_http(dataset: Path, workdir: Path) -> None:
    matrix = workdir / "matrix.yaml"
    matrix.write_text("embedders:\n  served: local-server\nrerankers:\n  grader: local-server\n")
    result = run_bench(
        [
            "quality",
            str(dataset),
            "--matrix",
            str(matrix),
            "--embedder",
            "local",
            "--rerank",
            "none",
            "--latency-ms",
            "0",
            "--json",
            "--out",
            "res",
            "--name",
            "tiny",
        ],
        workdir,
    )
    assert result.returncode == 0, result.stderr
    modes = json.loads(result.stdout)["modes"]
    assert {
        "keyword",
        "local:vector",
        "local:hybrid",
        "served:vector",
        "served:hybrid",
        "local:hybrid+rerank",
        "served:hybrid+rerank",
    } == set(modes)
    for row in modes.values():
        check_metrics(row)
    # the served embedder is the same model behind HTTP: same vectors, same ranking, but real requests
    assert modes["served:vector"]["ndcg@10"] == modes["local:vector"]["ndcg@10"]
    assert modes["served:vector"]["http_requests"] == len(QUERIES) and modes["local:vector"]["http_requests"] == 0
    reranked = modes["served:hybrid+rerank"]
    assert reranked["api_calls"] > len(QUERIES)  # query embeddings plus grading calls
    assert reranked["tokens"] > 0 and reranked["http_requests"] > len(QUERIES)
    assert modes["local:hybrid+rerank"]["http_requests"] > 0  # grading is remote even with a local embedder
    written = {p.name for p in (workdir / "res").iterdir()}
    assert written == {"tiny.md", "tiny.json", "tiny-quality.png"}
    table = (workdir / "res" / "tiny.md").read_text()
    assert "| served:hybrid+rerank | served | grader |" in table and "HTTP reqs" in table


def test_bench_quality_refuses_a_folder_that_is_not_a_dataset(tmp_path: Path, workdir: Path) -> None:
    result = run_bench(["quality", str(tmp_path / "missing")], workdir)
    assert result.returncode == 2
    assert "corpus.jsonl" in result.stderr and "Traceback" not in result.stderr


def test_bench_speed_tiny_json(workdir: Path) -> None:
    result = run_bench(
        [
            "speed",
            "--sizes",
            "200",
            "--no-http",
            "--json",
            "--queries",
            "10",
            "--no-embedders",
            "--real-max",
            "0",
        ],  # the hashing embedder: seconds, not a model run
        workdir,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    (size,) = data["sizes"]
    assert size["target_chunks"] == 200 and size["chunks"] >= 150 and size["embedder"] == "bench-hashing-384"
    assert size["reindex_unchanged"]["embedded"] == 0  # an unchanged vault embeds nothing
    assert 0 < size["reindex_changed"]["embedded"] < size["chunks"]
    assert set(size["search"]) == {"keyword", "vector", "hybrid"} and size["http"] is None
    for latencies in size["search"].values():
        assert latencies["p50"] <= latencies["p95"] <= latencies["p99"]
    assert size["nearest"]["memory"]["recall@10"] == 1.0  # the in-memory snapshot is exact
    assert data["embedders"] == [] and data["settings"]["queries_per_mode"] == 10


def test_command_line_entries_become_settings_and_modes() -> None:
    matrix = build_matrix(
        None, ["local", "openrouter:openai/text-embedding-3-small"], ["none", "openai:openai/gpt-4o-mini", "llm"], []
    )
    assert matrix.embedders["local"] == {"qmd_embed_provider": "local"}
    assert matrix.embedders["openrouter:openai/text-embedding-3-small"] == {
        "qmd_embed_provider": "openrouter",
        "qmd_openai_embed_model": "openai/text-embedding-3-small",
    }
    assert matrix.rerankers == {
        "openai:openai/gpt-4o-mini": {
            "qmd_rerank_provider": "openai",
            "qmd_rerank_mode": "llm",
            "qmd_openai_model": "openai/gpt-4o-mini",
        },
        "llm": {},
    }
    assert default_modes(matrix) == ["keyword", "vector", "hybrid", "hybrid+rerank"]
    assert default_modes(build_matrix(None, [], ["none"], [])) == ["keyword", "vector", "hybrid"]
    assert build_matrix(None, [], [], []).embedders == {"local": {"qmd_embed_provider": "local"}}
