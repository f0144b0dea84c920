"""chunk_note: sections, trails, line numbers, splitting, overlap, context line and hashes."""

from __future__ import annotations

import dataclasses
import re

import pytest

from vault import (
    Chunk,
    ChunkingOptions,
    Note,
    approx_token_count,
    chunk_hash,
    chunk_note,
    parse_note,
    split_context_line,
)
from vault.chunk import CONTEXT_SHARE_DIVISOR


def note_from(text: str, path: str = "notes/n.md") -> Note:
    note = parse_note(path, text.encode("utf-8"), 0.0)
    assert isinstance(note, Note), note
    return note


def content(chunk: Chunk) -> str:
    """The chunk text without its context line."""
    return chunk.text.split("\n", 1)[1]


def sentences(n: int, word: str = "alpha") -> str:
    return " ".join(f"{word} sentence number {i} has some words." for i in range(n))


def test_heading_trail_follows_the_heading_stack() -> None:
    text = (
        "# Top\n\n"
        + sentences(20, "top")
        + "\n\n## Mid\n\n"
        + sentences(20, "mid")
        + "\n\n### Low\n\n"
        + sentences(20, "low")
        + "\n\n## Mid2\n\n"
        + sentences(20, "mid2")
        + "\n"
    )
    chunks = chunk_note(note_from(text), max_tokens=256, overlap_tokens=0)
    trails = [c.heading_trail for c in chunks]
    assert trails == [("Top",), ("Top", "Mid"), ("Top", "Mid", "Low"), ("Top", "Mid2")]
    assert [c.ordinal for c in chunks] == [0, 1, 2, 3]


def test_hash_lines_inside_code_fences_are_not_headings() -> None:
    text = "# Real\n\n```bash\n# not a heading\necho hi\n~~~\n## still code\n```\n\nafter\n\n## Next\n\nmore\n"
    chunks = chunk_note(note_from(text), max_tokens=64, overlap_tokens=0)
    all_trails = {t for c in chunks for t in c.heading_trail}
    assert all_trails <= {"Real", "Next"}
    assert any("# not a heading\necho hi\n~~~\n## still code" in c.text for c in chunks)


def test_unclosed_fence_runs_to_the_end() -> None:
    text = "# Real\n\n```\n# code\n\n## code too\n"
    chunks = chunk_note(note_from(text), max_tokens=64, overlap_tokens=0)
    assert [c.heading_trail for c in chunks] == [("Real",)]


def test_line_numbers_point_into_the_original_file_with_frontmatter() -> None:
    text = (
        "---\ntitle: T\n---\nintro line\n\n# First\n\n"
        + sentences(40)
        + "\n\n## Second\n\n"
        + sentences(40, "beta")
        + "\n"
    )
    file_lines = text.split("\n")
    chunks = chunk_note(note_from(text), max_tokens=128, overlap_tokens=0)
    assert len(chunks) > 2
    for chunk in chunks:
        first_content_line = content(chunk).split("\n")[0]
        # The chunk's first line of content is found on its start line in the file.
        assert first_content_line in file_lines[chunk.start_line - 1]
        last_content_line = content(chunk).split("\n")[-1]
        assert last_content_line in file_lines[chunk.end_line - 1]
    assert chunks[0].start_line == 4  # "intro line"
    second = next(c for c in chunks if c.heading_trail == ("First", "Second"))
    assert file_lines[second.start_line - 1] == "## Second"


def test_broken_frontmatter_lines_count_from_line_one() -> None:
    text = "---\nnot: [closed\n---\n# Head\n\nbody\n"
    chunks = chunk_note(note_from(text), max_tokens=64, overlap_tokens=0)
    assert (chunks[0].start_line, chunks[-1].end_line) == (1, 6)


def test_context_line_is_title_and_trail_without_repeating_the_title() -> None:
    text = "---\ntitle: Deploy notes\n---\n# Deploy notes\n\nintro\n\n## Retries\n\n### Backoff\n\n" + sentences(40)
    chunks = chunk_note(note_from(text), max_tokens=256, overlap_tokens=0)
    backoff = [c for c in chunks if c.heading_trail == ("Deploy notes", "Retries", "Backoff")]
    assert backoff
    assert backoff[0].text.split("\n")[0] == "Deploy notes > Retries > Backoff"
    assert chunks[0].text.split("\n")[0] == "Deploy notes"


def test_heading_with_no_text_of_its_own_is_folded_into_its_child() -> None:
    text = "# Retries\n\n## Backoff\n\n" + sentences(40) + "\n"
    chunks = chunk_note(note_from(text), max_tokens=128, overlap_tokens=0)
    assert chunks[0].start_line == 1
    assert content(chunks[0]).startswith("# Retries\n\n## Backoff\n\n")
    assert all(c.heading_trail == ("Retries", "Backoff") for c in chunks)


def test_small_related_sections_merge_and_keep_their_shared_trail() -> None:
    text = "# Guide\n\nshort intro\n\n## Install\n\npip install it\n\n## Use\n\nrun it\n"
    chunks = chunk_note(note_from(text), max_tokens=128, overlap_tokens=0)
    assert len(chunks) == 1
    assert chunks[0].heading_trail == ("Guide",)
    assert (chunks[0].start_line, chunks[0].end_line) == (1, 11)


def test_sections_of_useful_size_are_not_merged() -> None:
    text = "## A\n\n" + sentences(8, "aa") + "\n\n## B\n\n" + sentences(8, "bb") + "\n"
    chunks = chunk_note(note_from(text), max_tokens=128, overlap_tokens=0)
    assert [c.heading_trail for c in chunks] == [("A",), ("B",)]


def test_long_section_is_split_between_paragraphs_first() -> None:
    paragraphs = [sentences(3, f"p{i}") for i in range(6)]
    text = "# Head\n\n" + "\n\n".join(paragraphs) + "\n"
    chunks = chunk_note(note_from(text), max_tokens=100, overlap_tokens=0)
    assert len(chunks) > 1
    for chunk in chunks:
        body = content(chunk).removeprefix("# Head\n\n")
        # Every piece is made of whole paragraphs.
        assert all(part in paragraphs for part in body.split("\n\n"))


def test_code_block_stays_whole_when_it_fits_and_is_cut_when_it_alone_is_too_big() -> None:
    small_code = "```\n" + "\n".join(f"x{i} = {i}" for i in range(12)) + "\n```"
    text = "# H\n\n" + sentences(5) + "\n\n" + small_code + "\n\n" + sentences(5, "beta") + "\n"
    chunks = chunk_note(note_from(text), max_tokens=90, overlap_tokens=0)
    assert sum(small_code in c.text for c in chunks) == 1

    big_code = "```\n" + "\n".join(f"value_{i} = compute({i})" for i in range(80)) + "\n```"
    chunks = chunk_note(note_from("# H\n\n" + big_code + "\n"), max_tokens=90, overlap_tokens=0)
    assert len(chunks) > 1
    assert all(approx_token_count(c.text) <= 90 for c in chunks)
    joined = "\n".join(content(c) for c in chunks)
    assert all(f"value_{i} = compute({i})" in joined for i in range(80))


def test_overlap_carries_the_tail_of_the_previous_piece() -> None:
    text = "# H\n\n" + sentences(60) + "\n"
    chunks = chunk_note(note_from(text), max_tokens=128, overlap_tokens=24)
    assert len(chunks) > 2
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        prev_body, next_body = content(prev), content(nxt)
        shared = next((k for k in range(len(next_body), 0, -1) if prev_body.endswith(next_body[:k])), 0)
        assert shared > 0, "next chunk should start with the end of the previous one"
        assert approx_token_count(next_body[:shared]) <= 24


def test_no_overlap_when_disabled() -> None:
    text = "# H\n\n" + sentences(60) + "\n"
    chunks = chunk_note(note_from(text), max_tokens=128, overlap_tokens=0)
    numbers = [re.findall(r"number (\d+) ", content(c)) for c in chunks]
    flat = [n for group in numbers for n in group]
    assert flat == [str(i) for i in range(60)]  # every sentence exactly once, in order


def test_overlap_does_not_cross_sections() -> None:
    text = "## A\n\n" + sentences(30, "aa") + "\n\n## B\n\n" + sentences(30, "bb") + "\n"
    chunks = chunk_note(note_from(text), max_tokens=128, overlap_tokens=24)
    first_b = next(c for c in chunks if c.heading_trail == ("B",))
    assert "aa" not in content(first_b)


def test_unbroken_blob_is_cut_by_characters_within_budget() -> None:
    blob = "QUJD" * 2000
    chunks = chunk_note(note_from("# Data\n\n" + blob + "\n"), max_tokens=64, overlap_tokens=0)
    assert all(approx_token_count(c.text) <= 64 for c in chunks)
    pieces = [content(c) for c in chunks]
    # The heading cannot share a chunk with a budget-sized piece of blob, so it stands alone.
    assert pieces[0] == "# Data"
    assert "".join(pieces[1:]) == blob


def test_overlong_context_line_is_shortened_to_a_quarter_of_the_budget() -> None:
    heading = " ".join(f"word{i}" for i in range(100))
    chunks = chunk_note(note_from(f"# {heading}\n\nbody text\n"), max_tokens=64, overlap_tokens=0)
    context = chunks[0].text.split("\n")[0]
    assert context.endswith("…")
    assert approx_token_count(context) <= 64 // CONTEXT_SHARE_DIVISOR
    assert chunks[0].heading_trail == (heading,)


def test_custom_token_counter_is_respected() -> None:
    def by_chars(text: str) -> int:  # a counter unlike the default: one token per 3 characters
        return -(-len(text) // 3)

    text = "# H\n\n" + sentences(50) + "\n\n```\n" + "\n".join(f"line {i}" for i in range(40)) + "\n```\n"
    chunks = chunk_note(note_from(text), max_tokens=80, overlap_tokens=10, count_tokens=by_chars)
    assert len(chunks) > 3
    assert all(by_chars(c.text) <= 80 for c in chunks)


def test_frontmatter_only_note_has_no_chunks() -> None:
    assert chunk_note(note_from("---\ntitle: Only meta\n---\n\n  \n")) == []


@pytest.mark.parametrize(("max_tokens", "overlap"), [(8, 0), (64, 33), (64, -1)])
def test_invalid_options_are_refused(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        ChunkingOptions(max_tokens=max_tokens, overlap_tokens=overlap)
    with pytest.raises(ValueError):
        chunk_note(note_from("x\n"), max_tokens=max_tokens, overlap_tokens=overlap)


# --- hashes ----------------------------------------------------------------------------------------


def test_hash_is_stable_and_matches_the_documented_recipe() -> None:
    note = note_from("# A\n\n" + sentences(40) + "\n")
    first = chunk_note(note, max_tokens=128, overlap_tokens=16)
    again = chunk_note(note, max_tokens=128, overlap_tokens=16)
    assert [c.hash for c in first] == [c.hash for c in again]
    assert len({c.hash for c in first}) == len(first)
    options = ChunkingOptions(max_tokens=128, overlap_tokens=16)
    assert all(c.hash == chunk_hash(c.text, options) for c in first)
    assert all(re.fullmatch(r"[0-9a-f]{64}", c.hash) for c in first)


def test_hash_ignores_path_but_follows_text_and_parameters() -> None:
    text = "## One\n\n" + sentences(8, "one") + "\n\n## Two\n\n" + sentences(8, "two") + "\n"
    base = chunk_note(note_from(text, "a.md"), max_tokens=128, overlap_tokens=16)
    moved = chunk_note(note_from(text, "elsewhere/a.md"), max_tokens=128, overlap_tokens=16)
    assert [c.hash for c in base] == [c.hash for c in moved]

    edited = chunk_note(
        note_from(text.replace("two sentence number 3", "two sentence NUMBER 3"), "a.md"),
        max_tokens=128,
        overlap_tokens=16,
    )
    assert base[0].hash == edited[0].hash  # section One untouched
    assert base[1].hash != edited[1].hash

    other_params = chunk_note(note_from(text, "a.md"), max_tokens=128, overlap_tokens=8)
    assert [c.text for c in other_params] == [c.text for c in base]  # one piece per section: no overlap used
    assert all(a.hash != b.hash for a, b in zip(base, other_params, strict=True))


def test_chunks_are_frozen_values() -> None:
    chunk = chunk_note(note_from("text\n"))[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        chunk.text = "x"  # type: ignore[misc]


def test_split_context_line_separates_every_chunks_context_from_its_content() -> None:
    text = "---\ntitle: Deploy notes\n---\n# Deploy notes\n\nintro\n\n## Retries\n\n### Backoff\n\n" + sentences(40)
    note = note_from(text)
    chunks = chunk_note(note, max_tokens=128, overlap_tokens=16)
    assert len(chunks) > 2
    for chunk in chunks:
        context, body = split_context_line(chunk.text, note.title, chunk.heading_trail)
        assert f"{context}\n{body}" == chunk.text and body == content(chunk)
        assert context.startswith("Deploy notes")


def test_split_context_line_recognises_a_shortened_context_line() -> None:
    heading = " ".join(f"word{i}" for i in range(100))
    note = note_from(f"# {heading}\n\nbody text\n")
    chunks = chunk_note(note, max_tokens=64, overlap_tokens=0)
    for chunk in chunks:
        context, body = split_context_line(chunk.text, note.title, chunk.heading_trail)
        assert context.endswith("…") and body == content(chunk)
    assert split_context_line(chunks[-1].text, note.title, chunks[-1].heading_trail)[1].endswith("body text")


@pytest.mark.parametrize("text", ["no context line at all", "Other title\nbody", "Deploy\nbody"])
def test_split_context_line_leaves_text_without_its_context_line_whole(text: str) -> None:
    assert split_context_line(text, "Deploy notes", ("Retries",)) == ("", text)


def test_a_heading_is_never_left_alone_above_a_sentence_too_long_to_join_it() -> None:
    # one run-on sentence that nearly fills a chunk by itself: before, the heading became a chunk of its own
    run_on = " ".join(f"word{i}" for i in range(110))
    text = "# Title\n\n## Findings of the study\n\n" + run_on + " and the end.\n"
    chunks = chunk_note(note_from(text), max_tokens=128, overlap_tokens=16)
    assert all(content(c).strip() not in ("## Findings of the study", "# Title") for c in chunks)
    first = content(chunks[0])
    assert first.startswith("## Findings of the study") or "## Findings of the study" in first
    assert "word0" in first  # the first words under the heading joined it
    assert all(approx_token_count(c.text) <= 128 for c in chunks)
    joined = " ".join(content(c) for c in chunks)
    assert all(f"word{i}" in joined for i in range(110)) and "the end." in joined
    assert chunks[0].start_line == 1 and chunks[-1].end_line == 5  # "# Title" has no text: folded in


def test_a_code_block_is_not_cut_between_words_to_join_a_heading() -> None:
    def words(text: str) -> int:
        return len(text.split())

    # budget = 128 - 3 (context "T > Code") - 2: the block (122 words) fits alone, not with "## Code"
    code = "```\n" + " ".join(f"tok{i}" for i in range(120)) + "\n```"
    chunks = chunk_note(
        note_from("# T\n\n## Code\n\n" + code + "\n"), max_tokens=128, overlap_tokens=0, count_tokens=words
    )
    assert any(code in c.text for c in chunks)  # whole: never split by words to fill the heading's chunk
