"""Property-based tests: the chunker covers every line within budget, and parsing never raises."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault import (
    ChunkingOptions,
    Note,
    PathOutsideVault,
    Skipped,
    approx_token_count,
    chunk_hash,
    chunk_note,
    parse_note,
    safe_note_path,
)
from vault.frontmatter import split_frontmatter

EXAMPLES = 60  # enough to explore the shapes below, small enough to keep the suite at a few seconds

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789", min_size=1, max_size=12)
punctuated = st.tuples(words, st.sampled_from(["", "", ".", ",", "!", "?", ":"])).map("".join)
text_line = st.lists(punctuated, min_size=1, max_size=60).map(" ".join)
markdown_line = st.one_of(
    text_line,
    text_line.map(lambda t: "- " + t),
    st.tuples(st.integers(1, 6), st.lists(words, max_size=4)).map(lambda h: "#" * h[0] + " " + " ".join(h[1])),
    st.sampled_from(["", "", "   ", "```", "```python", "~~~", "#", "---"]),
)
frontmatter = st.sampled_from(
    [
        "",
        "---\ntitle: Prop\ntags: [a, b]\n---\n",
        "---\nbroken: [yaml\n---\n",
        "---\nnever: closed\n",
        "---\n---\n",
    ]
)
markdown_doc = st.tuples(frontmatter, st.lists(markdown_line, min_size=1, max_size=40)).map(
    lambda parts: parts[0] + "\n".join(parts[1])
)
budgets = st.sampled_from([16, 32, 64, 128]).flatmap(
    lambda m: st.tuples(st.just(m), st.integers(min_value=0, max_value=m // 2))
)


def as_note(text: str) -> Note | None:
    result = parse_note("p/note.md", text.encode("utf-8"), 0.0)
    return result if isinstance(result, Note) else None


@settings(max_examples=EXAMPLES, deadline=None)
@given(doc=markdown_doc, budget=budgets)
def test_chunks_cover_every_line_and_word_within_budget(doc: str, budget: tuple[int, int]) -> None:
    max_tokens, overlap = budget
    note = as_note(doc)
    if note is None:
        assert not doc.strip()
        return
    chunks = chunk_note(note, max_tokens=max_tokens, overlap_tokens=overlap)
    file_line_count = len(doc.split("\n"))

    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert 1 <= chunk.start_line <= chunk.end_line <= file_line_count
        # Budget holds exactly with the default counter: words here are never longer than the budget.
        assert approx_token_count(chunk.text) <= max_tokens

    for index, line in enumerate(note.body.split("\n")):
        if not line.strip():
            continue
        file_line = note.body_line + index
        covering = [c for c in chunks if c.start_line <= file_line <= c.end_line]
        assert covering, f"line {file_line} {line!r} is in no chunk"
        for word in line.split():
            assert any(word in c.text for c in covering), f"{word!r} of line {file_line} lost"


@settings(max_examples=EXAMPLES, deadline=None)
@given(doc=markdown_doc, budget=budgets)
def test_chunking_is_deterministic_and_hashes_follow_the_recipe(doc: str, budget: tuple[int, int]) -> None:
    max_tokens, overlap = budget
    note = as_note(doc)
    if note is None:
        return
    first = chunk_note(note, max_tokens=max_tokens, overlap_tokens=overlap)
    assert first == chunk_note(note, max_tokens=max_tokens, overlap_tokens=overlap)
    options = ChunkingOptions(max_tokens, overlap)
    assert all(c.hash == chunk_hash(c.text, options) for c in first)


@settings(max_examples=EXAMPLES, deadline=None)
@given(doc=markdown_doc, budget=budgets)
def test_budget_holds_with_a_counter_that_is_not_additive(doc: str, budget: tuple[int, int]) -> None:
    def by_chars(text: str) -> int:  # rounds up per call, so parts never add up to the whole
        return -(-len(text) // 4)

    max_tokens, overlap = budget
    note = as_note(doc)
    if note is None:
        return
    for chunk in chunk_note(note, max_tokens=max_tokens, overlap_tokens=overlap, count_tokens=by_chars):
        assert by_chars(chunk.text) <= max_tokens


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=2000))
def test_parse_note_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    result = parse_note("x.md", raw, 0.0)
    assert isinstance(result, Note | Skipped)
    if isinstance(result, Note):
        chunk_note(result, max_tokens=32, overlap_tokens=4)  # and whatever it parsed can be chunked


@settings(max_examples=100, deadline=None)
@given(inner=st.text(max_size=400), tail=st.text(max_size=200))
def test_frontmatter_parser_never_raises_and_keeps_line_numbers(inner: str, tail: str) -> None:
    for text in (f"---\n{inner}\n---\n{tail}", f"---\n{inner}", inner):
        split = split_frontmatter(text)
        lines = text.split("\n")
        assert split.body == "\n".join(lines[split.body_line - 1 :])
        assert isinstance(split.frontmatter, dict)
        result = parse_note("f.md", text.encode("utf-8", errors="surrogatepass"), 0.0)
        assert isinstance(result, Note | Skipped)


@pytest.fixture(scope="module")
def vault_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vault")
    (root / "sub").mkdir()
    return root.resolve()


@settings(max_examples=100, deadline=None)
@given(rel=st.text(alphabet="ab./\\:~ \x00", max_size=20))
def test_safe_note_path_is_inside_or_refused(vault_root: Path, rel: str) -> None:
    try:
        path = safe_note_path(vault_root, rel)
    except PathOutsideVault:
        return
    assert path.is_relative_to(vault_root) and path != vault_root
