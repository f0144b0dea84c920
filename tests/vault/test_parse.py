"""parse_note and read_note: decoding, refusals, frontmatter fallback, title, tags, dates, links."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from vault import Note, PathOutsideVault, Skipped, parse_note, read_note


def parse(text: str | bytes, path: str = "notes/n.md") -> Note:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    note = parse_note(path, raw, 1700000000.0)
    assert isinstance(note, Note), note
    return note


def test_parse_keeps_path_hash_size_and_mtime() -> None:
    raw = b"# Hello\n\nworld\n"
    note = parse_note("a/b.md", raw, 123.5)
    assert isinstance(note, Note)
    assert (note.path, note.mtime, note.size) == ("a/b.md", 123.5, len(raw))
    assert note.content_hash == hashlib.sha256(raw).hexdigest()
    assert note.warnings == ()


def test_parse_accepts_utf8_bom_and_crlf() -> None:
    note = parse("\ufeff# Title\r\n\r\nline one\rline two\r\n".encode())
    assert note.title == "Title"
    assert note.body == "# Title\n\nline one\nline two\n"


def test_parse_reads_utf16_with_bom() -> None:
    note = parse("# Überblick\n\ntext\n".encode("utf-16"))
    assert note.title == "Überblick"


def test_invalid_utf8_is_replaced_with_a_warning() -> None:
    note = parse(b"# Caf\xe9\n\nlatin-1 bytes \xff here\n")
    assert "\ufffd" in note.body
    assert note.title == "Caf\ufffd"
    assert len(note.warnings) == 1 and "invalid UTF-8" in note.warnings[0]
    assert "offset 5" in note.warnings[0]


@pytest.mark.parametrize(
    "raw",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"text then a NUL \x00 byte", bytes(range(1, 32)) * 10],
)
def test_binary_content_is_skipped(raw: bytes) -> None:
    result = parse_note("image.md", raw, 0.0)
    assert isinstance(result, Skipped)
    assert result.path == "image.md"
    assert result.reason.startswith("binary")


def test_text_with_a_few_control_characters_is_still_a_note() -> None:
    assert isinstance(parse_note("log.md", b"colour \x1b[31mred\x1b[0m and a bell \x07\n" * 5, 0.0), Note)


@pytest.mark.parametrize("raw", [b"", b"   \n\t\r\n  ", b"\xef\xbb\xbf\n"])
def test_empty_or_whitespace_only_is_skipped(raw: bytes) -> None:
    result = parse_note("e.md", raw, 0.0)
    assert isinstance(result, Skipped) and result.reason.startswith("empty")


def test_frontmatter_title_tags_and_dates() -> None:
    note = parse(
        "---\ntitle: From YAML\ntags: [Ops, '#infra', 42]\ncreated: 2024-01-05\n"
        "modified: 2024-02-03T10:20:30\ndate: 2023/12/31\nauthor: me\n---\n# Heading One\n\nbody\n"
    )
    assert note.title == "From YAML"
    assert note.tags == ("ops", "infra", "42")
    assert note.dates == {"created": "2024-01-05", "updated": "2024-02-03T10:20:30", "date": "2023-12-31"}
    assert note.frontmatter["author"] == "me"
    assert note.frontmatter["created"] == "2024-01-05"  # stored JSON-friendly
    assert note.body == "# Heading One\n\nbody\n"
    assert note.body_line == 9  # the line of "# Heading One" in the file


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a, b c", ("a", "b", "c")),
        ('"#x #y/z"', ("x", "y/z")),  # quoted: a bare '#' starts a YAML comment
        ("[one, two]", ("one", "two")),
        ("solo", ("solo",)),
    ],
)
def test_frontmatter_tags_as_string_or_list(value: str, expected: tuple[str, ...]) -> None:
    assert parse(f"---\ntags: {value}\n---\ntext\n").tags == expected


def test_unreadable_frontmatter_date_is_a_warning_not_a_failure() -> None:
    note = parse("---\ncreated: next tuesday\nupdated: 2024-03-01\n---\ntext\n")
    assert note.dates == {"updated": "2024-03-01"}
    assert any("created" in w for w in note.warnings)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("---\ntitle: [unclosed\n---\n# Real\n\nbody\n", "not valid YAML"),
        ("---\ntitle: x\n# Real\n\nno closing line\n", "never closed"),
        ("---\n- just\n- a list\n---\n# Real\n", "not a mapping"),
        ("---\ndate: 2023-02-30\n---\n# Real\n", "not valid YAML"),
    ],
)
def test_broken_frontmatter_warns_and_indexes_whole_file_as_text(text: str, why: str) -> None:
    note = parse(text)
    assert note.frontmatter == {}
    assert note.body == text
    assert note.body_line == 1
    assert len(note.warnings) == 1 and why in note.warnings[0]
    assert note.title == "Real"


def test_yaml_alias_bomb_is_refused() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]")
    note = parse("---\n" + "\n".join(lines) + "\n---\nbody\n")
    assert note.frontmatter == {}
    assert "expands" in note.warnings[0]


def test_empty_frontmatter_block_is_fine() -> None:
    note = parse("---\n---\nbody\n")
    assert (note.frontmatter, note.body, note.body_line, note.warnings) == ({}, "body\n", 3, ())


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("---\ntitle: Front\n---\n# H1\n", "Front"),
        ("intro\n\n## Not h1\n\n# The H1 #\n", "The H1"),
        ("```\n# comment in code\n```\n\nplain\n", "n"),
        ("no heading at all\n", "n"),
        ("---\ntitle: ''\n---\n# Fallback\n", "Fallback"),
    ],
)
def test_title_fallback_order(text: str, title: str) -> None:
    assert parse(text, path="dir/n.md").title == title


def test_links_wiki_and_relative_markdown_are_normalised() -> None:
    note = parse(
        "See [[Target]], [[folder/Other|alias]], [[Target#Heading]], ![[Embedded.md]] and [[#local]].\n"
        "Also [rel](sibling.md), [up](../top.md#part), [deep](<with space/n%C3%A9.markdown>), "
        '[titled](x.md "Title"), [web](https://e.com/a.md), [img](pic.png), [anchor](#here), '
        "[escape](../../../out.md).\n"
        "```\n[[in code]] [c](code.md)\n```\n"
        "Inline `[[also code]]` is not a link.\n",
        path="notes/sub/n.md",
    )
    assert note.links == (
        "Target",
        "folder/Other",
        "Embedded",
        "notes/sub/sibling.md",
        "notes/top.md",
        "notes/sub/with space/né.markdown",
        "notes/sub/x.md",
    )


def test_inline_tags_from_the_body_but_not_code_headings_links_or_numbers() -> None:
    note = parse(
        "---\ntags: [Alpha]\n---\n# Heading\n\nText with #beta and #Nested/Tag, issue #123, "
        "[link](#anchor), http://e.com/#frag, a&#39;b and #alpha again.\n"
        "`#incode`\n```\n#fenced\n```\n"
    )
    assert note.tags == ("alpha", "beta", "nested/tag")


def test_read_note_reads_from_disk(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "n.md"
    path.write_bytes(b"# On disk\n")
    os.utime(path, (1000, 2000))
    note = read_note(tmp_path, "sub/n.md")
    assert isinstance(note, Note)
    assert (note.path, note.title, note.mtime) == ("sub/n.md", "On disk", 2000)


def test_read_note_skips_oversize_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "big.md").write_bytes(b"x" * 50)
    big = read_note(tmp_path, "big.md", max_bytes=49)
    assert isinstance(big, Skipped) and big.reason.startswith("too large")
    assert isinstance(read_note(tmp_path, "big.md", max_bytes=50), Note)
    gone = read_note(tmp_path, "gone.md")
    assert isinstance(gone, Skipped) and gone.reason.startswith("unreadable")
    (tmp_path / "dir.md").mkdir()
    assert isinstance(read_note(tmp_path, "dir.md"), Skipped)


def test_read_note_refuses_paths_outside_the_vault(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    (tmp_path / "secret.md").write_text("secret")
    os.symlink(tmp_path / "secret.md", vault / "link.md")
    for rel in ("../secret.md", "link.md", str(tmp_path / "secret.md")):
        with pytest.raises(PathOutsideVault):
            read_note(vault, rel)
