"""Explore fusion and keyword-query settings on a BEIR dataset without re-embedding for each one.

``python benchmarks/fusion_tuning.py /work/shared/data/cranfield [--max-tokens 256]``

It chunks the dataset with the product's chunker and tokenizer, embeds every
chunk once with the embedded model, loads a real in-memory ``SqliteStore``, and
then evaluates variants of the *fusion step* on the stored keyword and vector
lists: RRF constants and list weights, min-max score blending, and stop words
removed from the keyword query. It is an exploration tool for choosing
defaults (the product path is ``benchmarks/quality.py``); each variant it finds
worth keeping should then be confirmed there through ``Searcher``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from providers.local import load_local_embedder  # noqa: E402
from qmdr.bench.beir import load_beir, write_vault  # noqa: E402
from qmdr.bench.metrics import collapse_to_docs, mean_metrics, query_metrics  # noqa: E402
from qmdr.fusion import reciprocal_rank_fusion  # noqa: E402
from qmdr.store.base import IndexChange  # noqa: E402
from qmdr.store.sqlite import SqliteStore  # noqa: E402
from vault.chunk import chunk_note  # noqa: E402
from vault.model import Note  # noqa: E402
from vault.parse import read_note  # noqa: E402

# A short English stop list (function words and question words). Queries in
# benchmark sets are questions ("what are the ..."); these words match nearly
# every document and only add noise to an OR-ed BM25 query. The last line holds words
# that are noise in benchmark questions ("what methods are available ..."); the figures in
# results/cranfield-tuning.md were measured with exactly this list.
_STOP_TEXT = """
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having
he her here hers him his how i if in into is it its itself may me more most must my no nor not of off on
once only or other our out over own same she should so some such than that the their them then there
these they this those through to too under until up very was we were what when where which while who
whom why will with would you your yours
one two obtained available
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
_WORD = re.compile(r"[A-Za-z0-9]+")


def strip_stop_words(query: str) -> str:
    kept = [w for w in _WORD.findall(query) if w.lower() not in STOP_WORDS]
    return " ".join(kept) or query


def min_max_blend(keyword_hits, vector_hits, keyword_share: float) -> list[str]:
    """Blend per-note best scores after min-max scaling each list to [0, 1]."""
    def scaled(hits):
        best: dict[str, float] = {}
        for h in hits:
            best[h.note_path] = max(best.get(h.note_path, float("-inf")), h.score)
        if not best:
            return {}
        lo, hi = min(best.values()), max(best.values())
        return {p: (s - lo) / (hi - lo) if hi > lo else 1.0 for p, s in best.items()}

    kw, vec = scaled(keyword_hits), scaled(vector_hits)
    score = {p: keyword_share * kw.get(p, 0.0) + (1 - keyword_share) * vec.get(p, 0.0) for p in kw.keys() | vec}
    return sorted(score, key=lambda p: -score[p])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--overlap-tokens", type=int, default=32)
    parser.add_argument("--depth", type=int, default=100, help="chunks taken from each list")
    args = parser.parse_args(argv)

    data = load_beir(args.dataset)
    queries = list(data.judged_queries().items())
    embedder = load_local_embedder()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mapping = write_vault(data, root)
        upserts = []
        for path in mapping.path_to_doc:
            note = read_note(root, path)
            if isinstance(note, Note):
                upserts.append((note, chunk_note(note, max_tokens=args.max_tokens,
                                                 overlap_tokens=args.overlap_tokens,
                                                 count_tokens=embedder.count_tokens)))
    chunks = [c for _, cs in upserts for c in cs]
    print(f"{len(chunks)} chunks; embedding...", file=sys.stderr)
    vectors = embedder.embed_sync([c.text for c in chunks])
    store = SqliteStore(memory=True)
    store.apply(IndexChange(upserts=upserts, vectors={c.hash: v for c, v in zip(chunks, vectors, strict=True)},
                            model=(embedder.model_id, embedder.dim)))
    qvecs = embedder.embed_sync([t for _, t in queries])

    def evaluate(ranked_paths: list[list[str]]) -> str:
        per = [query_metrics(collapse_to_docs(r, mapping.doc_for), data.qrels[qid])
               for (qid, _), r in zip(queries, ranked_paths, strict=True)]
        m = mean_metrics(per)
        return " ".join(f"{k}={v:.4f}" for k, v in m.items())

    vec_hits = [store.nearest(v, args.depth) for v in qvecs]
    print(f"vector                       {evaluate([[h.note_path for h in hs] for hs in vec_hits])}")
    for label, transform in (("plain", lambda q: q), ("no-stop", strip_stop_words)):
        kw_hits = [store.keyword(transform(t), args.depth) for _, t in queries]
        path_of = {h.chunk_id: h.note_path for hs in kw_hits + vec_hits for h in hs}
        print(f"keyword {label:<21}{evaluate([[h.note_path for h in hs] for hs in kw_hits])}")
        for k, wk, wv in ((60, 1, 1), (30, 1, 1), (10, 1, 1), (60, 1, 1.5), (10, 1, 1.5)):
            fused = [[path_of[c] for c, _ in reciprocal_rank_fusion(
                {"keyword": [h.chunk_id for h in a], "vector": [h.chunk_id for h in b]}, k=k,
                weights={"keyword": wk, "vector": wv})] for a, b in zip(kw_hits, vec_hits, strict=True)]
            print(f"  {label} rrf k={k:<3} w={wk}/{wv:<4}  {evaluate(fused)}")
        for share in (0.4, 0.5, 0.6):
            blended = [min_max_blend(a, b, share) for a, b in zip(kw_hits, vec_hits, strict=True)]
            print(f"  {label} min-max blend kw={share}  {evaluate(blended)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
