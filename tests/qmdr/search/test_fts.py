"""FTS5 query escaping: any user text becomes a safe MATCH expression, and keyword search never raises."""

from __future__ import annotations

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmdr.search.keyword_query import (
    MAX_QUERY_TERMS,
    MAX_TRIGRAM_TERMS,
    UNSPACED_GLOB,
    keyword_pieces,
    match_query,
    query_pieces,
    quote,
    short_unspaced_runs,
    trigram_query,
    unspaced_runs,
    words,
)
from qmdr.search.stopwords import LUCENE_STOP_WORDS, STOP_WORDS, is_stop_word
from qmdr.store.base import IndexChange
from qmdr.store.sqlite import SqliteStore
from tests.qmdr.store_contract import NASTY_QUERIES, make_note


def test_every_piece_is_quoted_and_joined_with_or():
    assert match_query("C++ don't NEAR(a b) \"x") == '"C++" OR "don\'t" OR "NEAR(a" OR "b)" OR """x"'


def test_pieces_without_letters_or_digits_are_dropped_and_none_means_nothing_to_search():
    assert query_pieces("--- ?! ... **") == []
    assert match_query("--- ?! ... **") is None
    assert match_query("   ") is None
    assert match_query("") is None


def test_pieces_are_deduplicated_case_insensitively_keeping_the_first_spelling():
    assert query_pieces("Retry retry RETRY backoff") == ["Retry", "backoff"]


def test_terms_are_capped():
    text = " ".join(f"w{i}" for i in range(MAX_QUERY_TERMS * 2))
    assert len(query_pieces(text)) == MAX_QUERY_TERMS


def test_and_operator_and_unknown_operator():
    assert match_query("a1 b2", "AND") == '"a1" AND "b2"'
    with pytest.raises(ValueError):
        match_query("x", "NEAR")  # type: ignore[arg-type]


def test_control_characters_and_lone_surrogates_split_pieces():
    assert query_pieces("abc\x00def\x1fghi\ud800jkl") == ["abc", "def", "ghi", "jkl"]


def test_quote_doubles_inner_quotes():
    assert quote('say "hi"') == '"say ""hi"""'


def test_words_are_casefolded_letter_runs():
    assert words("Größe_Ünïcode 42x! café") == ["grösse", "ünïcode", "42x", "café"]


@pytest.fixture(scope="module")
def searchable_store():
    store = SqliteStore(memory=True)
    notes = [
        make_note("ops/retries.md", ["Failed uploads are retried with backoff", "rock and roll near the lake"]),
        make_note("lang/cpp.md", ["notes on C++ templates and don't-repeat-yourself"]),
        make_note("food/cafe.md", ["the café serves crème brûlée"]),
        make_note("intl/ja.md", ["東京 の 天気 は 晴れ"]),
    ]
    store.apply(IndexChange(upserts=notes))
    yield store
    store.close()


def paths(hits):
    return [h.note_path for h in hits]


def test_operator_words_are_searched_as_plain_words(searchable_store):
    assert paths(searchable_store.keyword("NEAR", 5)) == ["ops/retries.md"]
    assert paths(searchable_store.keyword("AND", 5))[0] in {"ops/retries.md", "lang/cpp.md"}


def test_stemming_and_accent_folding_apply_to_queries(searchable_store):
    hits = searchable_store.keyword("retrying", 5)  # porter: retrying, retried, retries -> retri
    assert hits[0].text == "Failed uploads are retried with backoff"
    assert set(paths(hits)) == {"ops/retries.md"}  # the other chunk matches on its note title only
    assert paths(searchable_store.keyword("cafe creme", 5)) == ["food/cafe.md"]  # remove_diacritics
    assert paths(searchable_store.keyword("東京", 5)) == ["intl/ja.md"]


@pytest.mark.parametrize("query", NASTY_QUERIES)
def test_nasty_queries_do_not_raise(searchable_store, query):
    assert isinstance(searchable_store.keyword(query, 5), list)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(), max_size=200))  # every code point, lone surrogates included
def test_keyword_never_raises_for_any_text(searchable_store, text):
    hits = searchable_store.keyword(text, 5)
    assert len(hits) <= 5


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(), max_size=120))
def test_match_query_is_always_valid_fts5_syntax(text):
    conn = apsw.Connection(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='porter unicode61 remove_diacritics 2')")
    conn.execute("INSERT INTO t(body) VALUES ('some text')")
    expression = match_query(text)
    if expression is not None:
        conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()


def test_unspaced_runs_are_the_cjk_thai_and_hangul_stretches_of_a_query():
    assert unspaced_runs("東京タワー、tower 夜景 สวัสดีครับ 서울에 東京タワー") == [
        "東京タワー",
        "夜景",
        "สวัสดีครับ",
        "서울에",
    ]
    assert unspaced_runs("plain latin, ünïcode and кириллица") == []


def test_trigram_query_ors_every_trigram_of_runs_of_three_or_more():
    assert trigram_query("北京大学 and 夜") == '"北京大" OR "京大学"'
    assert trigram_query("東京 夜景") is None  # every run shorter than a trigram
    assert short_unspaced_runs("東京 夜景 北京大学") == ["東京", "夜景"]
    long_run = "".join(chr(0x4E00 + i) for i in range(MAX_TRIGRAM_TERMS * 2))
    assert trigram_query(long_run).count(" OR ") == MAX_TRIGRAM_TERMS - 1


def test_the_glob_class_and_the_regex_agree(fresh_store):
    samples = ["東京", "latin only", "ไทย", "한국어", "mixed 中 text", "кириллица", "\U00020000"]
    conn = fresh_store._conn
    for text in samples:
        globbed = conn.execute("SELECT ? GLOB ?", (text, UNSPACED_GLOB)).fetchone()[0]
        assert bool(globbed) == bool(unspaced_runs(text)), text


def test_stop_words_are_left_out_of_the_keyword_query():
    assert match_query("What are the effects of wall heating on the boundary layer?") == (
        '"effects" OR "wall" OR "heating" OR "boundary" OR "layer?"'
    )
    assert keyword_pieces("how do THE uploads, retry") == ["uploads,", "retry"]


def test_a_query_of_only_stop_words_is_searched_as_it_is():
    assert match_query("to be or not to be") == '"to" OR "be" OR "or" OR "not"'
    assert keyword_pieces("The Who?") == ["The", "Who?"]


def test_stop_words_do_not_count_against_the_term_cap():
    text = " ".join(f"the w{i}" for i in range(MAX_QUERY_TERMS))
    assert keyword_pieces(text) == [f"w{i}" for i in range(MAX_QUERY_TERMS)]


def test_stop_word_pieces_with_punctuation_or_contractions_are_stop_words_but_compounds_are_not():
    assert all(is_stop_word(p) for p in ("the", "The,", "(of)", "what's", "They're", "it’s"))
    assert not any(is_stop_word(p) for p in ("state-of-the-art", "the-art", "don't", "C++", "theory", "東京"))


def test_the_stop_list_is_lucenes_plus_question_words():
    assert LUCENE_STOP_WORDS <= STOP_WORDS and len(LUCENE_STOP_WORDS) == 33
    assert {"what", "how", "does", "which"} <= STOP_WORDS
    assert all(word == word.casefold() and word.isalpha() for word in STOP_WORDS)


def test_stop_words_do_not_touch_unspaced_scripts(searchable_store):
    assert match_query("the 東京 of") == '"東京"'
    assert trigram_query("the 北京大学 of") == '"北京大" OR "京大学"'
    assert paths(searchable_store.keyword("what is the weather in 東京", 5)) == ["intl/ja.md"]


def test_a_stop_word_no_longer_ranks_a_chunk_that_only_shares_it(searchable_store):
    # "the" and "with" are in two notes; only retries.md holds "backoff"
    assert paths(searchable_store.keyword("the backoff with", 5)) == ["ops/retries.md"]
    assert paths(searchable_store.keyword("the", 5))  # alone, the stop word is still searched
