"""Searcher over a real SQLite index built by the real indexer from a real vault."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence

import anyio
import numpy as np
import pytest

from providers.errors import ProviderTimeout, ProviderUnavailable
from qmdr.api.errors import status_for
from qmdr.errors import InvalidQuery, ModelMismatch
from qmdr.memory.indexer import reindex
from qmdr.search.searcher import (
    DEFAULT_RRF_K,
    MAX_K,
    MAX_QUERY_CHARS,
    RerankOutcome,
    Searcher,
    SearchResult,
)
from qmdr.search.snippets import ELLIPSIS, make_snippet, snippet_source, snippet_terms
from qmdr.store.base import Filters, Hit
from tests.qmdr.conftest import write_vault
from tests.qmdr.embedders import HashEmbedder


class TermOverlapReranker:
    """A real (if simple) reranker: orders results by how many distinct query words their text holds."""

    def __init__(self) -> None:
        self.calls = 0

    async def rerank(self, query: str, results: Sequence[SearchResult]) -> RerankOutcome:
        self.calls += 1
        terms = set(query.lower().split())
        scored = [(len(terms & set(r.text.lower().split())), i, r) for i, r in enumerate(results)]
        ordered = [
            dataclasses.replace(r, score=float(s), ranks={**r.ranks, "rerank": n})
            for n, (s, _, r) in enumerate(sorted(scored, key=lambda t: (-t[0], t[1])), start=1)
        ]
        return RerankOutcome(ordered, reranked=True, warnings=["graded by word overlap"])


class FixedExpander:
    """Expands every query into the same alternative phrasing."""

    def __init__(self, phrasing: str) -> None:
        self.phrasing = phrasing

    async def expand(self, query: str) -> list[str]:
        return [self.phrasing]


class UnreachableEmbedder(HashEmbedder):
    """The same model id as the index, but its provider is down."""

    async def embed(self, texts):
        raise ProviderUnavailable("the embedding provider answered 503", status=503)


class HungEmbedder(HashEmbedder):
    """The same model as the index, but its provider never answers (until the test is long over)."""

    async def embed(self, texts):
        await anyio.sleep(3600)
        return await super().embed(texts)


@pytest.fixture
async def indexed(vault, fresh_store, embedder):
    await reindex(fresh_store, vault, embedder)
    return fresh_store


@pytest.mark.anyio
@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
async def test_empty_query_is_invalid(indexed, embedder, query):
    with pytest.raises(InvalidQuery) as info:
        await Searcher(indexed, embedder).search(query)
    assert isinstance(info.value, ValueError)


@pytest.mark.anyio
@pytest.mark.parametrize("kwargs", [{"mode": "fuzzy"}, {"k": 0}, {"k": MAX_K + 1}, {"candidates": 0}])
async def test_bad_parameters_are_invalid(indexed, embedder, kwargs):
    with pytest.raises(InvalidQuery):
        await Searcher(indexed, embedder).search("uploads", **kwargs)
    with pytest.raises(InvalidQuery):
        await Searcher(indexed, embedder).search("x" * (MAX_QUERY_CHARS + 1))


@pytest.mark.anyio
async def test_lone_surrogates_in_a_query_are_dropped_not_fatal(indexed, embedder):
    response = await Searcher(indexed, embedder).search("sourdough\ud800 bread")
    assert response.results[0].path == "recipes/bread.md"
    with pytest.raises(InvalidQuery):
        await Searcher(indexed, embedder).search("\udfff")


@pytest.mark.anyio
async def test_keyword_mode_returns_bm25_hits_with_ranks_scores_and_snippets(indexed, embedder):
    response = await Searcher(indexed, embedder).search("exponential backoff", mode="keyword", k=5)
    assert response.mode == "keyword" and not response.reranked and response.warnings == []
    top = response.results[0]
    assert top.path == "projects/uploads.md" and top.title == "Upload pipeline"
    assert top.ranks == {"keyword": 1} and top.score == top.scores["keyword"] > 0
    assert "backoff" in top.snippet and "backoff" in top.text
    assert set(top.tags) == {"project", "backend"}
    assert top.start_line >= 1 and top.end_line >= top.start_line
    assert embedder.calls == 1  # only the indexing call: keyword mode embeds nothing
    assert set(response.timings_ms) >= {"embed_query", "keyword", "vector", "fuse", "rerank", "total"}


@pytest.mark.anyio
async def test_vector_mode_scores_are_cosine_similarities(indexed, embedder):
    query = "hiking near the lake heron"
    response = await Searcher(indexed, embedder).search(query, mode="vector", k=4)
    q = (await embedder.embed([query]))[0]
    assert response.results[0].path == "journal/2024-05-01.md"
    for result in response.results:
        expected = float(np.dot(q, (await embedder.embed([result.text]))[0]))
        assert math.isclose(result.score, expected, abs_tol=1e-5)
        assert result.ranks.keys() == {"vector"}
    assert [r.score for r in response.results] == sorted((r.score for r in response.results), reverse=True)


@pytest.mark.anyio
async def test_hybrid_fuses_both_lists_with_rrf(indexed, embedder):
    searcher = Searcher(indexed, embedder, fusion="rrf")
    query = "failed uploads retried"
    hybrid = await searcher.search(query, k=4)
    keyword = await searcher.search(query, mode="keyword", k=4)
    vector = await searcher.search(query, mode="vector", k=4)
    kw_rank = {r.chunk_hash: i for i, r in enumerate(keyword.results, start=1)}
    vec_rank = {r.chunk_hash: i for i, r in enumerate(vector.results, start=1)}
    for result in hybrid.results:
        expected = sum(
            1 / (DEFAULT_RRF_K + ranks[result.chunk_hash])
            for ranks in (kw_rank, vec_rank)
            if result.chunk_hash in ranks
        )
        assert math.isclose(result.score, expected) and math.isclose(result.scores["rrf"], expected)
        assert result.ranks == {"keyword": kw_rank.get(result.chunk_hash), "vector": vec_rank.get(result.chunk_hash)}
    assert hybrid.results[0].path == "projects/uploads.md"
    assert hybrid.results[0].ranks == {"keyword": 1, "vector": 1}


def hand_blend(
    lists: dict[str, list[tuple[str, float]]], weights: dict[str, float], normalisation: str
) -> dict[str, float]:
    """The blend as documented, computed without the code under test: each list's scores measured from its
    lowest and divided by its range (min-max) or its population standard deviation (z-score); a list with no
    spread gives its hits the top value of the widest list; weighted and summed; a miss adds nothing."""
    scaled: dict[str, dict[str, float]] = {}
    for name, entries in lists.items():
        scores = [score for _, score in entries]
        low, high = min(scores), max(scores)
        spread = (high - low if normalisation == "minmax" else statistics.pstdev(scores)) if high > low else None
        scaled[name] = {key: (score - low) / spread if spread else math.nan for key, score in entries}
    lift = max(max(values.values()) for values in scaled.values() if not math.isnan(next(iter(values.values()))))
    total: dict[str, float] = {}
    for name, values in scaled.items():
        for key, value in values.items():
            total[key] = total.get(key, 0.0) + weights[name] * (lift if math.isnan(value) else value)
    return total


@pytest.mark.anyio
@pytest.mark.parametrize("normalisation", ["minmax", "zscore"])
async def test_blend_fusion_is_the_convex_combination_of_normalised_scores(indexed, embedder, normalisation):
    query = "failed uploads retried"
    alpha = 0.3
    searcher = Searcher(indexed, embedder, fusion="blend", blend_alpha=alpha, normalisation=normalisation)
    hybrid = await searcher.search(query, k=10, candidates=10)
    keyword = await searcher.search(query, mode="keyword", k=10, candidates=10)
    vector = await searcher.search(query, mode="vector", k=10, candidates=10)
    expected = hand_blend(
        {
            "keyword": [(r.chunk_hash, r.score) for r in keyword.results],
            "vector": [(r.chunk_hash, r.score) for r in vector.results],
        },
        {"keyword": 1 - alpha, "vector": alpha},
        normalisation,
    )
    assert len(hybrid.results) == min(10, len(expected))
    for result in hybrid.results:
        assert math.isclose(result.score, expected[result.chunk_hash], abs_tol=1e-6)
        assert math.isclose(result.scores["blend"], result.score) and "rrf" not in result.scores
    assert [r.score for r in hybrid.results] == sorted((r.score for r in hybrid.results), reverse=True)
    assert hybrid.results[0].path == "projects/uploads.md"


@pytest.mark.anyio
async def test_blend_alpha_one_or_zero_follows_one_list(indexed, embedder):
    query = "failed uploads retried"
    for alpha, mode in ((1.0, "vector"), (0.0, "keyword")):
        searcher = Searcher(indexed, embedder, fusion="blend", blend_alpha=alpha)
        alone = await searcher.search(query, mode=mode, k=3)
        blended = await searcher.search(query, k=3)
        assert alone.results  # the other list's hits follow at weight 0, after every hit of this one
        assert [r.chunk_hash for r in blended.results[: len(alone.results)]] == [r.chunk_hash for r in alone.results]


@pytest.mark.anyio
async def test_fusion_settings_are_validated(indexed, embedder):
    for bad in ({"fusion": "borda"}, {"blend_alpha": 1.5}, {"blend_alpha": -0.1}, {"normalisation": "rank"}):
        with pytest.raises(ValueError):
            Searcher(indexed, embedder, **bad)


@pytest.mark.anyio
async def test_list_weights_change_the_fusion(indexed, embedder):
    query = "failed uploads retried"
    muted = await Searcher(indexed, embedder, weights={"vector": 0.0}).search(query, k=4)
    keyword = await Searcher(indexed, embedder).search(query, mode="keyword", k=4)
    assert [r.chunk_hash for r in muted.results[: len(keyword.results)]] == [r.chunk_hash for r in keyword.results]


@pytest.mark.anyio
async def test_query_vectors_are_cached_by_model_and_text(indexed, embedder):
    searcher = Searcher(indexed, embedder)
    calls = embedder.calls
    await searcher.search("sourdough starter")
    await searcher.search("sourdough starter", mode="vector")
    await searcher.search("  sourdough starter  ")
    assert embedder.calls == calls + 1
    assert searcher.query_cache.hits == 2


@pytest.mark.anyio
async def test_filters_apply_to_both_retrievers(indexed, embedder):
    searcher = Searcher(indexed, embedder)
    for mode in ("keyword", "vector", "hybrid"):
        in_projects = await searcher.search(
            "search uploads lake bread", mode=mode, k=10, filters=Filters(path_prefix="projects/")
        )
        assert in_projects.results and {r.path for r in in_projects.results} <= {
            "projects/uploads.md",
            "projects/search.md",
        }
        tagged = await searcher.search(
            "search uploads lake bread", mode=mode, k=10, filters=Filters(tags=("#Backend",))
        )
        assert {r.path for r in tagged.results} == {"projects/uploads.md"}


@pytest.mark.anyio
async def test_reranker_reorders_and_reports(indexed, embedder):
    reranker = TermOverlapReranker()
    searcher = Searcher(indexed, embedder, reranker)
    response = await searcher.search("bread starter steam", k=3)
    assert response.reranked and reranker.calls == 1
    assert response.warnings == ["graded by word overlap"]
    assert [r.ranks["rerank"] for r in response.results] == [1, 2, 3]
    assert response.results[0].path == "recipes/bread.md"
    assert response.timings_ms["rerank"] > 0

    skipped = await searcher.search("bread starter steam", k=3, rerank=False)
    assert not skipped.reranked and reranker.calls == 1
    assert all("rerank" not in r.ranks for r in skipped.results)


@pytest.mark.anyio
async def test_rerank_requested_without_a_reranker_warns(indexed, embedder):
    response = await Searcher(indexed, embedder).search("bread", rerank=True)
    assert not response.reranked and any("no reranker" in w for w in response.warnings)
    assert response.results


@pytest.mark.anyio
async def test_expansion_adds_lists_weighted_below_the_query(indexed, embedder):
    searcher = Searcher(indexed, embedder, expander=FixedExpander("sourdough bread"))
    response = await searcher.search("heron", mode="keyword", k=5, expand=True)
    paths = [r.path for r in response.results]
    assert paths[0] == "journal/2024-05-01.md"  # the original query's hit outranks the expansion's
    assert "recipes/bread.md" in paths
    assert set(response.results[0].ranks) == {"keyword", "keyword:1"}
    assert "expand" in response.timings_ms
    no_expander = await Searcher(indexed, embedder).search("heron", expand=True)
    assert any("no expander" in w for w in no_expander.warnings)


@pytest.mark.anyio
async def test_index_of_another_model_degrades_hybrid_and_refuses_vector(indexed):
    other = HashEmbedder(model_id="test/other", dim=64)
    searcher = Searcher(indexed, other)
    hybrid = await searcher.search("uploads")
    assert hybrid.results and all(r.ranks.keys() == {"keyword"} for r in hybrid.results)
    assert any("--rebuild" in w for w in hybrid.warnings)
    with pytest.raises(ModelMismatch):
        await searcher.search("uploads", mode="vector")


@pytest.mark.anyio
async def test_embedding_failure_degrades_hybrid_to_keyword(indexed):
    searcher = Searcher(indexed, UnreachableEmbedder())
    response = await searcher.search("uploads")
    assert response.results and any("could not embed" in w for w in response.warnings)
    with pytest.raises(ProviderUnavailable):
        await searcher.search("uploads", mode="vector")


@pytest.mark.anyio
async def test_a_hung_query_embedding_degrades_hybrid_and_fails_vector_within_the_budget(indexed):
    searcher = Searcher(indexed, HungEmbedder(), embed_budget_s=0.05)
    response = await searcher.search("uploads")
    assert response.results and all(r.ranks.keys() == {"keyword"} for r in response.results)
    assert any("took longer than 0.05s" in w and "QMD_EMBED_QUERY_BUDGET_S" in w for w in response.warnings)
    with pytest.raises(ProviderTimeout, match="QMD_EMBED_QUERY_BUDGET_S") as info:
        await searcher.search("uploads", mode="vector")
    assert status_for(info.value) == 504
    with pytest.raises(ValueError):
        Searcher(indexed, HungEmbedder(), embed_budget_s=0)


@pytest.mark.anyio
async def test_an_index_without_vectors_warns(fresh_store, embedder):
    response = await Searcher(fresh_store, embedder).search("anything")
    assert response.results == [] and any("no vectors" in w for w in response.warnings)


CJK_VAULT = {
    "日記/東京.md": "---\ntags: [travel]\n---\n# 旅行の記録\n\n昨日は東京タワーに行った。夜景がとてもきれいだった。\n",
    "学习/北京.md": "---\ntags: [study]\n---\n# 学习笔记\n\n我们在北京大学学习中文和历史。\n",
    "notes/tokyo.md": "# Tokyo trip\n\nTook the train to Tokyo tower at night.\n",
}


@pytest.fixture
async def cjk_indexed(tmp_path, fresh_store, embedder):
    await reindex(fresh_store, write_vault(tmp_path / "cjk", CJK_VAULT), embedder)
    return fresh_store


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("東京", "日記/東京.md"),
        ("東京タワー", "日記/東京.md"),
        ("夜景", "日記/東京.md"),
        ("北京大学", "学习/北京.md"),
        ("中文", "学习/北京.md"),
    ],
)
async def test_a_word_inside_a_cjk_sentence_is_found(cjk_indexed, embedder, mode, query, expected):
    response = await Searcher(cjk_indexed, embedder).search(query, mode=mode, k=5)
    assert response.results[0].path == expected and response.results[0].ranks["keyword"] == 1


@pytest.mark.anyio
async def test_cjk_search_keeps_filters(cjk_indexed, embedder):
    searcher = Searcher(cjk_indexed, embedder)
    for filters in (Filters(path_prefix="学习/"), Filters(tags=("study",))):
        assert (await searcher.search("東京タワー", mode="keyword", filters=filters)).results == []
        assert (await searcher.search("東京", mode="keyword", filters=filters)).results == []
    found = await searcher.search("北京大学", mode="keyword", filters=Filters(tags=("study",)))
    assert [r.path for r in found.results] == ["学习/北京.md"]


@pytest.mark.anyio
async def test_a_latin_query_over_a_cjk_vault_is_unaffected(cjk_indexed, embedder):
    response = await Searcher(cjk_indexed, embedder).search("train tower", mode="keyword", k=5)
    assert [r.path for r in response.results] == ["notes/tokyo.md"]
    assert response.results[0].ranks == {"keyword": 1} and "tower" in response.results[0].snippet


# --- snippets -----------------------------------------------------------------------------------


def test_snippet_of_short_text_is_the_whole_text_with_whitespace_collapsed():
    assert make_snippet("a  short\n\ntext", ["short"]) == "a short text"


def test_snippet_window_is_placed_on_the_matching_terms():
    filler = "lorem ipsum dolor sit amet " * 30
    text = filler + "the kestrel hovered above the meadow " + filler
    snippet = make_snippet(text, snippet_terms("kestrel meadow"), width=120)
    assert "kestrel" in snippet and "meadow" in snippet
    assert snippet.startswith(ELLIPSIS) and snippet.endswith(ELLIPSIS)
    assert len(snippet) <= 120 + 2 * len(ELLIPSIS)
    assert not snippet.removeprefix(ELLIPSIS).startswith(("orem", "psum", "olor", "met"))  # word boundary


def test_snippet_prefers_the_window_with_more_distinct_terms():
    text = "alpha " + "pad " * 60 + "alpha beta gamma " + "pad " * 60
    snippet = make_snippet(text, ["alpha", "beta", "gamma"], width=80)
    assert "beta" in snippet and "gamma" in snippet


def test_snippet_without_matches_shows_the_beginning():
    text = "first words here " + "filler " * 100
    assert make_snippet(text, ["absent"], width=60).startswith("first words here")


def test_snippet_terms_drop_stopwords_and_match_word_stems():
    assert snippet_terms("How do we retry the Uploads?") == ["retry", "uploads"]
    text = "x " * 200 + "uploads are retried later " + "y " * 200
    assert "retried" in make_snippet(text, snippet_terms("retry uploads"), width=60)


@pytest.mark.anyio
async def test_snippets_show_the_content_not_the_context_line(tmp_path, fresh_store, embedder):
    note = "---\ntitle: Garden diary\n---\n# Tomatoes\n\n## Watering\n\nWater the seedlings every morning.\n"
    await reindex(fresh_store, write_vault(tmp_path / "garden", {"garden.md": note}), embedder)
    for mode in ("keyword", "hybrid"):
        top = (await Searcher(fresh_store, embedder).search("seedlings", mode=mode)).results[0]
        assert top.text.startswith("Garden diary > Tomatoes > Watering\n")  # the chunker's context line
        assert top.heading_trail == ("Tomatoes", "Watering")
        assert top.snippet == "Water the seedlings every morning."  # no context line, no heading lines


def test_snippet_places_a_cjk_word_found_inside_a_longer_run():
    text = "今日は天気がよかった。" * 20 + "東京タワーに行った。" + "夜は家で本を読んだ。" * 20
    snippet = make_snippet(text, snippet_terms("東京タワー"), width=60)
    assert "東京タワー" in snippet and snippet.startswith(ELLIPSIS)


def test_snippet_source_keeps_text_that_is_not_the_context_or_the_trail():
    def hit(text: str, trail: tuple[str, ...] = ("Tomatoes",)) -> Hit:
        return Hit(
            chunk_id=1,
            chunk_hash="h",
            note_path="g.md",
            title="Garden",
            heading_trail=trail,
            start_line=1,
            end_line=2,
            text=text,
            score=1.0,
        )

    assert snippet_source(hit("Garden > Tomatoes\n# Tomatoes\n\n## Pests\nAphids.")) == "## Pests\nAphids."
    assert snippet_source(hit("# Tomatoes\nno context line")) == "no context line"
    assert snippet_source(hit("plain text without a context line")) == "plain text without a context line"
    assert snippet_source(hit("Garden > Tomatoes\n# Tomatoes")) == "Garden > Tomatoes\n# Tomatoes"  # nothing else


@pytest.mark.anyio
async def test_both_returns_both_results_and_raises_a_failure_as_itself():
    from qmdr.search.searcher import both

    async def value(v, delay=0.0):
        await anyio.sleep(delay)
        return v

    async def boom():
        raise ModelMismatch("index built by another model", stored=("a", 1), requested=("b", 2))

    assert await both(lambda: value(1, 0.02), lambda: value("two")) == (1, "two")
    finished = []

    async def slow():
        await anyio.sleep(5)
        finished.append(True)

    with anyio.fail_after(2):  # the failure cancels the slow side instead of waiting for it
        with pytest.raises(ModelMismatch):
            await both(slow, boom)
    assert finished == []


def test_snippet_window_is_the_one_with_most_distinct_terms_in_a_long_text():
    filler = " ".join(["lorem"] * 400)
    text = f"alpha {filler} alpha beta {filler} alpha beta gamma {filler} beta"
    snippet = make_snippet(text, ["alpha", "beta", "gamma"], width=80)
    assert "alpha beta gamma" in snippet


def test_snippet_matches_whole_words_case_insensitively_and_by_stem_only():
    text = ("zzz " * 80) + "REINDEXED INDEXES " + ("yyy " * 80)
    assert "INDEXES" in make_snippet(text, ["index"], width=60)  # a stem match ignores case
    far = ("zzz " * 80) + "reindexed " + ("yyy " * 80) + "ab_cd"
    assert "reindexed" not in make_snippet(far, ["index"], width=60)  # a stem matches word starts only
    assert make_snippet(far, ["ab"], width=60).endswith("ab_cd")  # snake_case parts are words: "ab" is one
    # a term too short for a stem matches whole words only
    assert make_snippet(("zzz " * 80) + "abc abd", ["ab"], width=60).startswith("zzz")


@pytest.mark.anyio
async def test_snippets_can_be_left_out_without_changing_the_results(indexed, embedder):
    searcher = Searcher(indexed, embedder)
    full = await searcher.search("failed uploads retried", k=5)
    bare = await searcher.search("failed uploads retried", k=5, snippets=False)
    assert [r.chunk_hash for r in bare.results] == [r.chunk_hash for r in full.results]
    assert all(r.snippet for r in full.results) and not any(r.snippet for r in bare.results)
