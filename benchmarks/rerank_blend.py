"""How should the LLM grade and the fused rank be blended? Simulated graders on Cranfield.

``python benchmarks/rerank_blend.py /work/shared/data/cranfield --index-dir DIR [--reps 20]``

``qmdr.search.rerank`` orders the top ``DEFAULT_TOP_N`` (30) fused candidates by
``w_llm * grade/3 + w_rank * (rank_k + 1) / (rank_k + fused_rank)``. Choosing
``w_llm`` and ``rank_k`` needs graders, and this machine has no LLM key. So the
grader is **simulated from the relevance judgements**, not asked of an LLM:

1. Each judged query's hybrid results come from the product path: the corpus is
   indexed by ``qmdr.memory.indexer.reindex`` (reused from ``--index-dir``, so it is
   embedded once) and searched by ``qmdr.search.searcher.Searcher`` in hybrid mode with
   the quality benchmark's depth (``k = candidates = 100``).
2. An **oracle grade** (0-3, the reranker's scale) is given to each candidate
   chunk from its document's judgement (``ORACLE_GRADE``).
3. The oracle is corrupted by a noise model of known strength: ``p=X`` replaces
   each grade, with probability X, by a uniform random grade 0-3; ``one-bad-top``
   keeps the oracle but forces the grade of the fused rank-1 candidate to 0.
4. The top 30 are reordered by the product's own ``qmdr.search.rerank.blend_order``
   (imported, not reimplemented) for every ``w_llm`` in 0..1 (``w_rank = 1 - w_llm``)
   and ``rank_k``; candidates beyond 30 follow in fused order, as in ``GradingReranker``.
5. nDCG@10 and MRR@10 are scored at document level with ``qmdr.bench.metrics``.

Random noise is drawn with fixed seeds, ``--reps`` times, with common random
numbers: within one repetition every setting and every p sees the same draws
(a grade replaced at p=0.1 is also replaced at p=0.2), so differences between
settings are paired. Figures are mean and sd over repetitions.

Writes ``benchmarks/results/rerank_blend.md``, ``.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # so `qmdr` imports when run as a script from a checkout

from qmdr.bench import report as rpt  # noqa: E402
from qmdr.bench.metrics import collapse_to_docs, mrr_at_k, ndcg_at_k  # noqa: E402
from qmdr.search.rerank import DEFAULT_TOP_N, MAX_GRADE, BlendWeights, blend_order  # noqa: E402

RESULTS_DIR = ROOT / "benchmarks" / "results"
RESULTS_NAME = "rerank_blend"

#: Cranfield's judgement (gain 4..1, Cleverdon's codes 1..4) -> the reranker's 0-3 grade.
#: 4 "complete answer" -> 3 "directly answers"; 3 "high relevance" and 2 "useful background"
#: -> 2 "holds useful information"; 1 "minimum interest" -> 1 "same topic, would not help";
#: unjudged -> 0. A 5-level judgement onto a 4-level grade must merge two levels; merging 3 with 2
#: (not 4 with 3) keeps "complete answer" on top. ``ALT_ORACLE_GRADE`` checks the other merge.
ORACLE_GRADE: dict[int, int] = {4: 3, 3: 2, 2: 2, 1: 1}
#: the other merge (high relevance counts as a direct answer), for a sensitivity check
ALT_ORACLE_GRADE: dict[int, int] = {4: 3, 3: 3, 2: 2, 1: 1}
#: grades the random-noise grader draws from (uniformly): the whole 0-3 scale
GRADE_LEVELS = tuple(range(MAX_GRADE + 1))

#: replacement probabilities of the random-noise grader; 0 is the oracle
NOISE_PROBABILITIES = (0.0, 0.1, 0.2, 0.3, 0.5)
#: w_llm grid (w_rank = 1 - w_llm): 0 = fused order, 1 = grades only (fused rank breaks ties)
W_LLM_GRID = tuple(round(0.1 * i, 1) for i in range(11))
#: rank_k grid: 1 = very steep prior, 60 = nearly flat over 30 candidates (RRF's usual k)
RANK_K_GRID = (1.0, 5.0, 10.0, 30.0, 60.0)
#: repetitions of each random-noise level; 20 puts the sd of a mean nDCG@10 well under 0.005
DEFAULT_REPS = 20
#: base seed of the noise draws (fixed, so a rerun gives the same figures)
DEFAULT_SEED = 20250101
#: hybrid search depth: the quality benchmark's (``qmdr.bench.quality.SEARCH_DEPTH``), so the fused
#: baseline here is the ``hybrid`` row of ``results/cranfield.md``
SEARCH_DEPTH = 100
#: metrics cutoff, as in every quality table of the project
CUTOFF = 10
#: noise levels averaged when looking for a setting that is good across graders: a real LLM grader
#: sits somewhere in here, and the one-bad-grade case must not be ignored
ROBUST_NOISES = ("p=0.0", "p=0.1", "p=0.2", "p=0.3", "one-bad-top")
ONE_BAD_TOP = "one-bad-top"


@dataclass(frozen=True, slots=True)
class QueryCandidates:
    """One query's fused hybrid results as document ids (chunks of one document repeat), and its judgements."""

    qid: str
    docs: tuple[str, ...]
    judged: dict[str, int]


Grades = list[int]
Setting = tuple[float, float]  # (w_llm, rank_k)


def oracle_grades(query: QueryCandidates, grade_map: dict[int, int] = ORACLE_GRADE) -> Grades:
    """The grade a perfect grader (one that agrees with the judges) gives each candidate."""
    return [grade_map.get(query.judged.get(doc, 0), 0) for doc in query.docs]


def reranked_docs(
    query: QueryCandidates, grades: Sequence[int], weights: BlendWeights, top_n: int = DEFAULT_TOP_N
) -> list[str]:
    """Document ranking after the product's blend of the top ``top_n``; the rest keep fused order."""
    head = [grade / MAX_GRADE for grade in grades[:top_n]]
    order = [query.docs[i] for i, _ in blend_order(head, weights)]
    return collapse_to_docs([*order, *query.docs[top_n:]], lambda doc: doc)


def evaluate(
    queries: Sequence[QueryCandidates],
    grades: Sequence[Sequence[int]],
    weights: BlendWeights,
    top_n: int = DEFAULT_TOP_N,
) -> dict[str, float]:
    """Mean nDCG@10 and MRR@10 over ``queries`` when each is reranked with its ``grades``."""
    ndcg = mrr = 0.0
    for query, graded in zip(queries, grades, strict=True):
        ranked = reranked_docs(query, graded, weights, top_n)
        ndcg += ndcg_at_k(ranked, query.judged, CUTOFF)
        mrr += mrr_at_k(ranked, query.judged, CUTOFF)
    n = max(len(queries), 1)
    return {"ndcg@10": ndcg / n, "mrr@10": mrr / n}


@dataclass(frozen=True, slots=True)
class Draw:
    """One repetition's random numbers for one candidate: replace if ``u < p``, by ``grade``."""

    u: float
    grade: int


def draw_noise(queries: Sequence[QueryCandidates], rng: random.Random) -> list[list[Draw]]:
    """Random numbers for every candidate of every query (shared by all p and all settings)."""
    return [[Draw(rng.random(), rng.choice(GRADE_LEVELS)) for _ in q.docs] for q in queries]


def random_noise(grades: Sequence[int], draws: Sequence[Draw], p: float) -> Grades:
    """Noise model (a): each grade replaced, with probability ``p``, by a uniform random grade."""
    return [d.grade if d.u < p else g for g, d in zip(grades, draws, strict=True)]


def one_bad_top(grades: Sequence[int]) -> Grades:
    """Noise model (b): the fused rank-1 candidate graded 0, every other grade correct."""
    return [0, *grades[1:]] if grades else []


@dataclass(slots=True)
class SweepResult:
    """Per noise level and setting: mean and sd over repetitions of each metric."""

    noises: list[str]
    settings: list[Setting]
    reps: dict[str, int]
    # noise -> setting -> metric -> per-repetition values
    values: dict[str, dict[Setting, dict[str, list[float]]]] = field(default_factory=dict)

    def mean(self, noise: str, setting: Setting, metric: str = "ndcg@10") -> float:
        return statistics.fmean(self.values[noise][setting][metric])

    def sd(self, noise: str, setting: Setting, metric: str = "ndcg@10") -> float:
        vals = self.values[noise][setting][metric]
        return statistics.stdev(vals) if len(vals) > 1 else 0.0

    def paired_diff(self, noise: str, setting: Setting, base: Setting, metric: str = "ndcg@10") -> tuple[float, float]:
        """Mean and sd over repetitions of ``setting - base`` (paired: both saw the same noise draws)."""
        diffs = [
            a - b for a, b in zip(self.values[noise][setting][metric], self.values[noise][base][metric], strict=True)
        ]
        return statistics.fmean(diffs), (statistics.stdev(diffs) if len(diffs) > 1 else 0.0)

    def best(self, noise: str, metric: str = "ndcg@10") -> Setting:
        """The setting with the highest mean; ties go to the earlier (smaller w_llm, smaller k) one."""
        return max(self.settings, key=lambda s: (round(self.mean(noise, s, metric), 10), -s[0], -s[1]))

    def robust_best(self, noises: Sequence[str] = ROBUST_NOISES, metric: str = "ndcg@10") -> Setting:
        """The setting with the highest nDCG@10 averaged over ``noises`` (each level weighs the same)."""
        present = [n for n in noises if n in self.values]
        return max(
            self.settings,
            key=lambda s: (round(statistics.fmean(self.mean(n, s, metric) for n in present), 10), -s[0], -s[1]),
        )


def sweep(
    queries: Sequence[QueryCandidates],
    *,
    probabilities: Sequence[float] = NOISE_PROBABILITIES,
    w_grid: Sequence[float] = W_LLM_GRID,
    k_grid: Sequence[float] = RANK_K_GRID,
    reps: int = DEFAULT_REPS,
    seed: int = DEFAULT_SEED,
    grade_map: dict[int, int] = ORACLE_GRADE,
    one_bad: bool = True,
    top_n: int = DEFAULT_TOP_N,
    progress: Callable[[str], None] | None = None,
) -> SweepResult:
    """Score every (noise, w_llm, rank_k) with the product's ``blend_order``; see the module docstring."""
    settings = [(w, k) for w in w_grid for k in k_grid]
    noises = [f"p={p:.1f}" for p in probabilities] + ([ONE_BAD_TOP] if one_bad else [])
    result = SweepResult(noises=noises, settings=settings, reps={})
    oracle = [oracle_grades(q, grade_map) for q in queries]

    def run(noise: str, grades: Sequence[Sequence[int]]) -> None:
        per_setting = result.values.setdefault(noise, {s: {"ndcg@10": [], "mrr@10": []} for s in settings})
        for w, k in settings:
            scores = evaluate(queries, grades, BlendWeights(w_llm=w, w_rank=round(1.0 - w, 10), rank_k=k), top_n)
            for metric, value in scores.items():
                per_setting[(w, k)][metric].append(value)
        result.reps[noise] = result.reps.get(noise, 0) + 1

    deterministic = [p for p in probabilities if p == 0.0]
    for p in deterministic:
        run(f"p={p:.1f}", oracle)  # the oracle needs no repetitions
    random_ps = [p for p in probabilities if p > 0.0]
    for rep in range(reps if random_ps else 0):
        draws = draw_noise(queries, random.Random(seed + rep))
        for p in random_ps:
            run(f"p={p:.1f}", [random_noise(g, d, p) for g, d in zip(oracle, draws, strict=True)])
        if progress:
            progress(f"repetition {rep + 1}/{reps} done")
    if one_bad:
        run(ONE_BAD_TOP, [one_bad_top(g) for g in oracle])
    return result


# --- candidates from the product's hybrid search --------------------------------------------------------


async def fetch_candidates(
    dataset_dir: Path, index_dir: Path, depth: int = SEARCH_DEPTH
) -> tuple[list[QueryCandidates], dict[str, Any]]:
    """Index (or reuse) the dataset under ``index_dir`` and run every judged query in hybrid mode."""
    from providers.local.embedder import load_local_embedder
    from qmdr.bench.beir import load_beir, write_vault
    from qmdr.bench.quality import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS
    from qmdr.memory.indexer import reindex
    from qmdr.search.searcher import Searcher
    from qmdr.store.sqlite import SqliteStore

    dataset = load_beir(dataset_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    mapping = write_vault(dataset, index_dir / f"{dataset.name}-vault")
    embedder = load_local_embedder()
    # the file name quality.py gives its "local" embedder index, so either script reuses the other's
    store = SqliteStore(index_dir / f"{dataset.name}-local-{DEFAULT_MAX_TOKENS}-{DEFAULT_OVERLAP_TOKENS}.db")
    try:
        started = time.perf_counter()
        summary = await reindex(
            store,
            index_dir / f"{dataset.name}-vault",
            embedder,
            max_tokens=DEFAULT_MAX_TOKENS,
            overlap_tokens=DEFAULT_OVERLAP_TOKENS,
        )
        index_s = time.perf_counter() - started
        searcher = Searcher(store, embedder)
        queries: list[QueryCandidates] = []
        for qid, text in dataset.judged_queries().items():
            response = await searcher.search(text, mode="hybrid", k=depth, candidates=depth)
            docs = tuple(d for d in (mapping.doc_for(r.path) for r in response.results) if d is not None)
            queries.append(QueryCandidates(qid, docs, dict(dataset.qrels.get(qid, {}))))
        info = {
            "dataset": dataset.name,
            "documents": len(dataset.docs),
            "queries": len(queries),
            "chunks": store.stats().chunks,
            "index_seconds": round(index_s, 1),
            "embedded_now": getattr(summary, "embedded", None),
            "search_depth": depth,
            "max_tokens": DEFAULT_MAX_TOKENS,
            "overlap_tokens": DEFAULT_OVERLAP_TOKENS,
        }
    finally:
        store.close()
    return queries, info


# --- report ----------------------------------------------------------------------------------------------

DEFAULT_SETTING: Setting = (BlendWeights().w_llm, BlendWeights().rank_k)
FUSED: Setting = (0.0, RANK_K_GRID[0])  # w_llm = 0: the prior alone, i.e. fused order whatever rank_k


def _cell(res: SweepResult, noise: str, setting: Setting, metric: str = "ndcg@10") -> str:
    sd = res.sd(noise, setting, metric)
    return f"{res.mean(noise, setting, metric):.4f}" + (f" ± {sd:.4f}" if res.reps[noise] > 1 else "")


def _label(setting: Setting) -> str:
    return f"w_llm={setting[0]:.1f}, k={setting[1]:g}"


def summary_rows(res: SweepResult, default: Setting, robust: Setting) -> list[list[str]]:
    rows = []
    for noise in res.noises:
        best = res.best(noise)
        pure = (1.0, RANK_K_GRID[0])
        rows.append(
            [
                noise,
                str(res.reps[noise]),
                _cell(res, noise, FUSED),
                _cell(res, noise, pure),
                _cell(res, noise, default),
                _cell(res, noise, default, "mrr@10"),
                _label(best),
                _cell(res, noise, best),
                _cell(res, noise, best, "mrr@10"),
                _cell(res, noise, robust),
                _cell(res, noise, robust, "mrr@10"),
            ]
        )
    return rows


SUMMARY_HEADERS = (
    "grader noise",
    "reps",
    "fused only nDCG",
    "grades only nDCG",
    "default nDCG",
    "default MRR",
    "best setting",
    "best nDCG",
    "best MRR",
    "robust nDCG",
    "robust MRR",
)


def robust_rows(res: SweepResult, top: int = 8) -> list[list[str]]:
    """Settings ranked by nDCG@10 averaged over ``ROBUST_NOISES``."""
    present = [n for n in ROBUST_NOISES if n in res.values]
    ranked = sorted(res.settings, key=lambda s: -statistics.fmean(res.mean(n, s) for n in present))
    return [
        [
            _label(s),
            f"{statistics.fmean(res.mean(n, s) for n in present):.4f}",
            f"{max_regret(res, s):.4f}",
            *(f"{res.mean(n, s):.4f}" for n in res.noises),
        ]
        for s in ranked[:top]
    ]


def paired_rows(res: SweepResult, settings: Sequence[Setting], base: Setting) -> list[list[str]]:
    """``setting - base`` per noise level, nDCG@10 and MRR@10, mean ± sd of the paired difference."""
    rows = []
    for setting in dict.fromkeys(settings):
        for metric in ("ndcg@10", "mrr@10"):
            cells = []
            for noise in res.noises:
                mean, sd = res.paired_diff(noise, setting, base, metric)
                cells.append(f"{mean:+.4f}" + (f" ± {sd:.4f}" if res.reps[noise] > 1 else ""))
            rows.append([_label(setting), metric, *cells])
    return rows


def max_regret(res: SweepResult, setting: Setting) -> float:
    """The largest nDCG@10 shortfall of ``setting`` against the best setting of each noise level."""
    return max(res.mean(n, res.best(n)) - res.mean(n, setting) for n in res.noises)


def plot(res: SweepResult, path: Path, w_grid: Sequence[float], k_grid: Sequence[float]) -> None:
    plt = rpt.pyplot()
    fig, axes = plt.subplots(1, len(k_grid), figsize=(3.6 * len(k_grid), 4.2), sharey=True)
    for ax, k in zip(axes, k_grid, strict=True):
        for noise in res.noises:
            means = [res.mean(noise, (w, k)) for w in w_grid]
            sds = [res.sd(noise, (w, k)) for w in w_grid]
            ax.errorbar(w_grid, means, yerr=sds, marker="o", markersize=3, capsize=2, label=noise)
        ax.set_title(f"rank_k = {k:g}")
        ax.set_xlabel("w_llm (w_rank = 1 - w_llm)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("nDCG@10")
    axes[-1].legend(title="simulated grader", fontsize=8)
    fig.suptitle("Cranfield: LLM-grade / fused-rank blend with SIMULATED graders (oracle from qrels + noise)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def to_markdown(
    res: SweepResult, alt: SweepResult, info: dict[str, Any], facts: dict[str, Any], halves: dict[str, Any]
) -> str:
    default = DEFAULT_SETTING
    robust = res.robust_best()
    alt_robust = alt.robust_best()
    noise_cols = list(res.noises)
    return "\n\n".join(
        [
            "# Rerank blend constants on Cranfield (simulated graders)",
            "**The grader here is simulated from the relevance judgements, not an LLM.** No LLM key was available. "
            "Each candidate gets an oracle grade from its document's Cranfield judgement, then a noise model of "
            "known strength corrupts it. The figures show how the blend behaves for graders of a known quality; "
            "they do not show how good any real model is. A real LLM's errors are not uniform and are likely "
            "correlated with what retrieval already ranks high (lexical overlap), which this simulation does not "
            "model.",
            f"Candidates: {info['queries']} judged queries, hybrid search through `qmdr.search.searcher.Searcher` "
            f"(k = candidates = {info['search_depth']}, {info['chunks']} chunks); the top {DEFAULT_TOP_N} "
            "are reordered by `qmdr.search.rerank.blend_order` (the product function), the rest keep fused order; "
            "document-level nDCG@10 / MRR@10 (`qmdr.bench.metrics`).",
            "Oracle grade map (Cranfield gain -> 0-3 grade): 4 (complete answer) -> 3, 3 (high relevance) -> 2, "
            "2 (useful background) -> 2, 1 (minimum interest) -> 1, unjudged -> 0.\n"
            "Noise: `p=X` replaces each grade with probability X by a uniform random grade 0-3 "
            f"({res.reps.get('p=0.1', 0)} seeded repetitions, mean ± sd over repetitions; draws shared across "
            "settings and levels); `one-bad-top` is the oracle with the fused rank-1 candidate graded 0.",
            f"## Best setting per noise level, and the current default ({_label(default)})",
            "`fused only` is w_llm = 0 (no rerank); `grades only` is w_llm = 1 (fused rank only breaks ties); "
            f"`robust` is the one setting with the best nDCG@10 averaged over {', '.join(ROBUST_NOISES)}: "
            f"**{_label(robust)}**.",
            rpt.markdown_table(SUMMARY_HEADERS, summary_rows(res, default, robust)),
            "At p=0.0 and one-bad-top the best nDCG is a tie with grades only: any setting whose rank prior spans "
            "less than one grade step sorts by grade; ties are shown as the smallest w_llm, then the smallest k.",
            "## Settings ranked by nDCG@10 averaged over " + ", ".join(ROBUST_NOISES),
            "`max regret` is the largest shortfall against the best setting of any one noise level "
            f"(the default's: {max_regret(res, default):.4f}).",
            rpt.markdown_table(["setting", "mean", "max regret", *noise_cols], robust_rows(res)),
            f"## Paired differences against the default ({_label(default)})",
            "Each row is `setting - default`, mean ± sd over repetitions of the same noise draws; the robust "
            "setting, the best per noise level and the other oracle map's robust setting.",
            rpt.markdown_table(
                ["setting", "metric", *noise_cols],
                paired_rows(res, [robust, *(res.best(n) for n in res.noises), alt_robust], default),
            ),
            "## Checks",
            f"- Other oracle map (3 -> 3 instead of 3 -> 2): robust setting {_label(alt_robust)}; default "
            + ", ".join(f"{n} {alt.mean(n, default):.4f}" for n in alt.noises)
            + "; robust "
            + ", ".join(f"{n} {alt.mean(n, alt_robust):.4f}" for n in alt.noises)
            + ".",
            "- Split halves (robust setting chosen on one half of the queries, scored on the other): "
            + "; ".join(
                f"chosen on {h['chosen_on']}: {_label(tuple(h['setting']))}, on {h['scored_on']} "
                f"{h['mean_ndcg']:.4f} vs default {h['default_mean_ndcg']:.4f}"
                for h in halves.values()
            )
            + ".",
            "![nDCG@10 vs w_llm](rerank_blend.png)",
            rpt.facts_markdown(facts),
        ]
    )


def split_halves(queries: Sequence[QueryCandidates], reps: int, seed: int) -> dict[str, Any]:
    """Choose the robust setting on odd query ids and score it on even ones, and the other way round."""
    odd = [q for q in queries if int(q.qid) % 2 == 1]
    even = [q for q in queries if int(q.qid) % 2 == 0]
    out: dict[str, Any] = {}
    for name, pick, score in (("odd->even", odd, even), ("even->odd", even, odd)):
        chosen = sweep(pick, reps=reps, seed=seed).robust_best()
        scored = sweep(score, reps=reps, seed=seed)
        present = [n for n in ROBUST_NOISES if n in scored.values]
        out[name] = {
            "chosen_on": name.split("->")[0],
            "scored_on": name.split("->")[1],
            "setting": list(chosen),
            "mean_ndcg": statistics.fmean(scored.mean(n, chosen) for n in present),
            "default_mean_ndcg": statistics.fmean(scored.mean(n, DEFAULT_SETTING) for n in present),
        }
    return out


def to_json(res: SweepResult) -> dict[str, Any]:
    return {
        noise: {
            f"w_llm={s[0]:.1f},rank_k={s[1]:g}": {
                "w_llm": s[0],
                "rank_k": s[1],
                "reps": res.reps[noise],
                **{m: round(res.mean(noise, s, m), 5) for m in ("ndcg@10", "mrr@10")},
                **{f"{m}_sd": round(res.sd(noise, s, m), 5) for m in ("ndcg@10", "mrr@10")},
            }
            for s in res.settings
        }
        for noise in res.noises
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=None,
        help="keep the vault and index here (shared file names with quality.py --index-dir)",
    )
    parser.add_argument("--reps", type=int, default=DEFAULT_REPS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--candidates",
        type=Path,
        default=None,
        help="JSON cache of the fetched candidates: read if it exists, else written "
        "(to re-run the sweep without searching again)",
    )
    args = parser.parse_args(argv)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.candidates is not None and args.candidates.exists():
        cached = json.loads(args.candidates.read_text(encoding="utf-8"))
        queries = [QueryCandidates(q["qid"], tuple(q["docs"]), q["judged"]) for q in cached["queries"]]
        info = cached["info"]
    else:
        with tempfile.TemporaryDirectory(prefix="qmdr-blend-") as tmp:
            index_dir = args.index_dir or Path(tmp)
            say(f"indexing / searching with index dir {index_dir}")
            queries, info = asyncio.run(fetch_candidates(args.dataset, index_dir))
        if args.candidates is not None:
            args.candidates.write_text(
                json.dumps(
                    {
                        "info": info,
                        "queries": [{"qid": q.qid, "docs": list(q.docs), "judged": q.judged} for q in queries],
                    }
                ),
                encoding="utf-8",
            )
    say(f"{len(queries)} queries; sweeping")
    started = time.perf_counter()
    res = sweep(queries, reps=args.reps, seed=args.seed, progress=say)
    alt = sweep(queries, reps=args.reps, seed=args.seed, grade_map=ALT_ORACLE_GRADE)
    halves = split_halves(queries, args.reps, args.seed)
    sweep_s = time.perf_counter() - started
    facts = {
        "machine": rpt.machine_info(),
        "versions": rpt.versions(),
        "settings": {
            **info,
            "top_n": DEFAULT_TOP_N,
            "reps": args.reps,
            "seed": args.seed,
            "w_llm_grid": list(W_LLM_GRID),
            "rank_k_grid": list(RANK_K_GRID),
            "noise_probabilities": list(NOISE_PROBABILITIES),
            "sweep_seconds": round(sweep_s, 1),
        },
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    md = to_markdown(res, alt, info, facts, halves)
    (args.results_dir / f"{RESULTS_NAME}.md").write_text(md + "\n", encoding="utf-8")
    data = {
        "grader": "SIMULATED from qrels (oracle grade + noise), not an LLM",
        "oracle_grade_map": {str(k): v for k, v in ORACLE_GRADE.items()} | {"unjudged": 0},
        "default": {"w_llm": DEFAULT_SETTING[0], "rank_k": DEFAULT_SETTING[1]},
        "robust_best": dict(zip(("w_llm", "rank_k"), res.robust_best(), strict=True)),
        "best_per_noise": {n: dict(zip(("w_llm", "rank_k"), res.best(n), strict=True)) for n in res.noises},
        "results": to_json(res),
        "alt_oracle_map": {str(k): v for k, v in ALT_ORACLE_GRADE.items()},
        "results_alt_map": to_json(alt),
        "split_halves": halves,
        **facts,
    }
    (args.results_dir / f"{RESULTS_NAME}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    plot(res, args.results_dir / f"{RESULTS_NAME}.png", W_LLM_GRID, RANK_K_GRID)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
