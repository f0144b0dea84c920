"""Every piece of user text the CLI prints is shown literally: no markup, no terminal control."""

from __future__ import annotations

import io
import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from qmdr.cli import render
from qmdr.cli.common import fail
from qmdr.search.searcher import SearchResult
from qmdr.util.terminal_text import visible

# Wide enough that no cell is folded, so each written line must appear whole in the output.
WIDE = 100_000
# Text as notes, headings and paths may hold it: markup brackets, backslashes, escape sequences, controls.
PIECES = st.sampled_from(
    [
        "[",
        "]",
        "[/b]",
        "[b]",
        "[[",
        "]]",
        "\\",
        "\x1b[31m",
        "\x1b[2J",
        "\x1b]0;t\x07",
        "\r",
        "\n",
        "\t",
        "\x00",
        "\x08",
        "\x7f",
        "\x9b",
        "\u202e",
        "\u2066",
        ":smile:",
        "@click",
    ]
)
HOSTILE = st.lists(st.one_of(PIECES, st.text(max_size=3)), max_size=15).map("".join)


def result(path: str, title: str, heading: str, snippet: str) -> SearchResult:
    return SearchResult(
        path=path,
        title=title,
        heading_trail=(title, heading),
        start_line=3,
        end_line=9,
        snippet=snippet,
        text=snippet,
        score=1.25,
        chunk_hash="h",
    )


def rendered(renderable: object) -> str:
    # no colour system: Rich adds no escape sequences of its own, so any in the output came from the input
    console = Console(file=io.StringIO(), width=WIDE, color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def squeeze(text: str) -> str:
    """Runs of white space as one space (Rich pads cells and trims white space where it lays out a line),
    and no zero-width characters: Rich lays out grapheme clusters, and one that takes no cell (a lone
    combining mark or emoji modifier) may be dropped at a cell's edge; every character that takes a
    cell must still be shown."""
    shown = "".join(char for char in text if char.isspace() or cell_len(char) > 0)
    return re.sub(r"\s+", " ", shown).strip()


def shown_lines(text: str) -> list[str]:
    """The lines a literal cell shows (controls escaped), white space squeezed."""
    return [squeeze(line) for line in visible(text).split("\n")]


def assert_no_terminal_control(out: str) -> None:
    bad = [c for c in out if c != "\n" and (unicodedata.category(c) in ("Cc", "Cs") or c in "\u202e\u2066")]
    assert not bad, bad


@settings(max_examples=150, deadline=None)
@given(path=HOSTILE, title=HOSTILE, heading=HOSTILE, snippet=HOSTILE)
def test_search_table_shows_any_text_literally(path: str, title: str, heading: str, snippet: str) -> None:
    out = rendered(render.search_table([result(path, title, heading, snippet)], total_ms=12.0))
    assert_no_terminal_control(out)
    for text in (f"{path}:3-9", f"{title} > {heading}", snippet):
        for line in shown_lines(text):
            assert line in squeeze(out), (line, out)


@settings(max_examples=100, deadline=None)
@given(title=HOSTILE, key=HOSTILE, value=HOSTILE)
def test_key_value_tables_and_messages_show_any_text_literally(title: str, key: str, value: str) -> None:
    for out in (
        rendered(render.key_values(title, [(key, value)])),
        rendered(render.labelled("warning: ", "yellow", value)),
    ):
        assert_no_terminal_control(out)
        for line in shown_lines(value):
            assert line in squeeze(out)


def test_links_and_closing_tags_in_a_snippet_survive() -> None:
    out = rendered(
        render.search_table(
            [
                result(
                    "decisions/retries.md",
                    "Retry [policy]",
                    "Consequences",
                    "See also [[meetings/2026-03-12-incident-review]]. [/b] done",
                )
            ],
            5,
        )
    )
    assert "See also [[meetings/2026-03-12-incident-review]]. [/b] done" in out
    assert "Retry [policy] > Consequences" in out


def test_escape_sequences_are_made_visible_not_obeyed() -> None:
    assert visible("red \x1b[31malert\x1b[0m\x07") == "red \\x1b[31malert\\x1b[0m\\x07"
    assert visible("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert visible("line one\r\nline two\tend") == "line one\nline two\tend"
    assert visible("caf\xe9 \u65e5\u672c [x]") == "caf\xe9 \u65e5\u672c [x]"


def test_error_messages_quote_user_input_literally(capsys) -> None:  # type: ignore[no-untyped-def]
    fail("no note at [/b]notes/\x1b[2J.md")
    err = capsys.readouterr().err
    assert "error: no note at [/b]notes/\\x1b[2J.md" in err
    assert "\x1b[2J" not in err


def test_search_table_shows_small_scores_and_the_relevance() -> None:
    tiny = SearchResult(
        path="a.md",
        title="A",
        heading_trail=("A",),
        start_line=1,
        end_line=2,
        snippet="s",
        text="s",
        score=1.234e-6,
        chunk_hash="h",
        relevance=72.4,
    )
    out = rendered(render.search_table([tiny], total_ms=3.0))
    assert "1.23e-06" in out and "0.000" not in out
    assert "72%" in out and "relevance" in out
