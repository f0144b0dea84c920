"""Explore keyword-query and fusion settings on an index built by ``benchmarks/quality.py --index-dir``.

``python benchmarks/fusion_tuning.py /work/shared/data/cranfield --index-dir DIR [--max-tokens 256]``

It opens the index ``quality.py`` kept (no re-embedding), takes each judged
query's keyword list (``SqliteStore.keyword``, so the product's FTS5 query with
or without stop words) and vector list (``SqliteStore.nearest`` with the
embedded model) once per setting, and fuses them with the product's own
``qmdr.search.fusion`` functions under many settings: RRF constants and list weights,
min-max and z-score score blends, and RRF plus a share of the blend. Lists are
taken at depth 100 (what the quality benchmark uses) and 50 (the product's
default ``candidates`` for a 10-result search), fused at chunk level as
``Searcher`` does, and scored at document level.

To avoid choosing defaults that only fit this one query set, every figure is
given for the whole set and for its two halves (odd and even query ids): pick
on one half, check on the other. Last, the real ``Searcher`` with its defaults
is run over the same queries (as the quality benchmark calls it, k = candidates
= 100, and with the product's default 50 candidates), so the halves are also
reported through the product path; ``benchmarks/quality.py`` gives the full report.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import qmdr.search.keyword_query  # noqa: E402
import qmdr.search.stopwords  # noqa: E402
from providers.local import load_local_embedder  # noqa: E402
from qmdr.bench.beir import load_beir, write_vault  # noqa: E402
from qmdr.bench.metrics import collapse_to_docs, mean_metrics, query_metrics  # noqa: E402
from qmdr.search.fusion import max_rrf_score, reciprocal_rank_fusion, score_blend  # noqa: E402
from qmdr.search.searcher import DEFAULT_CANDIDATES, Searcher  # noqa: E402
from qmdr.store.base import Hit  # noqa: E402
from qmdr.store.sqlite import SqliteStore  # noqa: E402

#: depths (candidates per list) tried: the quality benchmark's and the product default's
DEPTHS = (100, 50)
#: a longer general-purpose list (NLTK-like function words) to compare with the product's short one
_LONG_STOP_TEXT = """
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having
he her here hers him his how i if in into is it its itself may me more most must my no nor not of off on
once only or other our out over own same she should so some such than that the their them then there
these they this those through to too under until up very was we were what when where which while who
whom why will with would you your yours
"""
LONG_STOP_WORDS = frozenset(_LONG_STOP_TEXT.split())
STOP_LISTS: dict[str, frozenset[str] | None] = {
    "none": None,
    "lucene": qmdr.search.stopwords.LUCENE_STOP_WORDS,
    "product": qmdr.search.stopwords.STOP_WORDS,
    "long": LONG_STOP_WORDS,
}

Fuse = Callable[[list[Hit], list[Hit]], list[int]]


def rrf(k: int, vector_weight: float = 1.0) -> Fuse:
    def fuse(kw: list[Hit], vec: list[Hit]) -> list[int]:
        lists = {"keyword": [h.chunk_id for h in kw], "vector": [h.chunk_id for h in vec]}
        return [c for c, _ in reciprocal_rank_fusion(lists, k=k, weights={"vector": vector_weight})]

    return fuse


def blend(alpha: float, normalisation: str) -> Fuse:
    """alpha = the vector list's share."""

    def fuse(kw: list[Hit], vec: list[Hit]) -> list[int]:
        lists = {"keyword": [(h.chunk_id, h.score) for h in kw], "vector": [(h.chunk_id, h.score) for h in vec]}
        return [c for c, _ in score_blend(lists, {"keyword": 1 - alpha, "vector": alpha}, normalisation)]  # type: ignore[arg-type]

    return fuse


def rrf_plus_blend(k: int, share: float, alpha: float = 0.5) -> Fuse:
    """(1 - share) * RRF scaled to [0, 1] + share * min-max blend."""

    def fuse(kw: list[Hit], vec: list[Hit]) -> list[int]:
        ranks = dict(
            reciprocal_rank_fusion({"keyword": [h.chunk_id for h in kw], "vector": [h.chunk_id for h in vec]}, k=k)
        )
        top = max_rrf_score(["keyword", "vector"], k=k)
        scores = dict(
            score_blend(
                {"keyword": [(h.chunk_id, h.score) for h in kw], "vector": [(h.chunk_id, h.score) for h in vec]},
                {"keyword": 1 - alpha, "vector": alpha},
            )
        )
        total = {c: (1 - share) * ranks[c] / top + share * scores[c] for c in ranks}
        return sorted(total, key=lambda c: -total[c])

    return fuse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--index-dir", type=Path, required=True, help="the --index-dir given to quality.py")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--overlap-tokens", type=int, default=32)
    parser.add_argument("--embedder", default="local", help="the embedder config name the index was built with")
    parser.add_argument("--searcher-only", action="store_true", help="only the product Searcher rows")
    args = parser.parse_args(argv)

    data = load_beir(args.dataset)
    queries = list(data.judged_queries().items())
    halves = {
        "A(odd)": [i for i, (qid, _) in enumerate(queries) if int(qid) % 2 == 1],
        "B(even)": [i for i, (qid, _) in enumerate(queries) if int(qid) % 2 == 0],
    }
    with tempfile.TemporaryDirectory() as tmp:
        mapping = write_vault(data, Path(tmp))
    db = args.index_dir / f"{data.name}-{args.embedder}-{args.max_tokens}-{args.overlap_tokens}.db"
    store = SqliteStore(db)
    embedder = load_local_embedder()
    qvecs = embedder.embed_sync([t for _, t in queries])
    path_of: dict[int, str] = {}

    def evaluate(ranked_chunks: Sequence[list[int]]) -> str:
        return evaluate_paths([[path_of[c] for c in r] for r in ranked_chunks])

    def evaluate_paths(ranked_paths: Sequence[list[str]]) -> str:
        per = [
            query_metrics(collapse_to_docs(r, mapping.doc_for), data.qrels[qid])
            for (qid, _), r in zip(queries, ranked_paths, strict=True)
        ]
        parts = [f"all={mean_metrics(per)['ndcg@10']:.4f}"]
        parts += [f"{name}={mean_metrics([per[i] for i in idx])['ndcg@10']:.4f}" for name, idx in halves.items()]
        return " ".join(parts)

    fusions: dict[str, Fuse] = {}
    for k in (60, 30, 20, 10, 5, 2):
        fusions[f"rrf k={k}"] = rrf(k)
    for k in (60, 20, 10):
        for w in (0.75, 1.25, 1.5):
            fusions[f"rrf k={k} wv={w}"] = rrf(k, w)
    for norm in ("minmax", "zscore"):
        for alpha in (0.3, 0.4, 0.5, 0.6, 0.7):
            fusions[f"blend {norm} a={alpha}"] = blend(alpha, norm)
    for k in (60, 10):
        for share in (0.25, 0.5, 0.75):
            fusions[f"rrf k={k} + {share} minmax"] = rrf_plus_blend(k, share)

    def searcher_rows() -> None:
        """The product path: ``Searcher`` with every default, at the benchmark's depth and the default one."""
        searcher = Searcher(store, embedder)
        for k, candidates in ((100, 100), (DEFAULT_CANDIDATES, DEFAULT_CANDIDATES)):
            for mode in ("keyword", "vector", "hybrid"):
                ranked = [
                    [r.path for r in asyncio.run(searcher.search(text, mode=mode, k=k, candidates=candidates)).results]
                    for _, text in queries
                ]
                print(
                    f"Searcher defaults {mode:<7} k={k:<3} candidates={candidates:<3} {evaluate_paths(ranked)}",
                    flush=True,
                )

    searcher_rows()
    if args.searcher_only:
        store.close()
        return 0
    original = qmdr.search.stopwords.STOP_WORDS
    for depth in DEPTHS:
        vec_hits = [store.nearest(v, depth) for v in qvecs]
        path_of.update({h.chunk_id: h.note_path for hs in vec_hits for h in hs})
        vector_only = evaluate([[h.chunk_id for h in hs] for hs in vec_hits])
        print(f"== depth {depth}\nvector                         {vector_only}")
        for label, stop in STOP_LISTS.items():
            qmdr.search.stopwords.STOP_WORDS = stop if stop is not None else frozenset()
            try:
                kw_hits = [store.keyword(t, depth) for _, t in queries]
            finally:
                qmdr.search.stopwords.STOP_WORDS = original
            path_of.update({h.chunk_id: h.note_path for hs in kw_hits for h in hs})
            print(f"keyword stop={label:<17}{evaluate([[h.chunk_id for h in hs] for hs in kw_hits])}")
            for name, fuse in fusions.items():
                fused = [fuse(a, b) for a, b in zip(kw_hits, vec_hits, strict=True)]
                print(f"  stop={label:<8} {name:<22}{evaluate(fused)}", flush=True)
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
