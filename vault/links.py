"""Links and inline tags found in a note's body (outside code).

Link targets come in two normalised forms, told apart by their suffix:

* ``[[Target]]``, ``[[Target|alias]]``, ``[[Target#Heading]]``, ``![[Target]]``
  give the note *name* as written (``Target``, or ``folder/Target``), without
  heading, alias or a ``.md`` suffix, whitespace collapsed. Wiki links are
  resolved by name against the whole vault, which this module cannot see.
* ``[text](other.md)`` and ``[text](../x/y.markdown#part)`` give a *vault
  path* (``sub/other.md``): resolved against the linking note's folder,
  URL-decoded, fragment and query dropped. Links to the web, to non-markdown
  files or out of the vault are not note links and are left out.

Each target appears once, in order of first appearance.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from urllib.parse import unquote

from vault.frontmatter import normalise_tag
from vault.markdown import strip_inline_code
from vault.scan import is_markdown_name

_WIKI_LINK = re.compile(r"!?\[\[([^\[\]\n]+?)\]\]")
# [text](dest) or [text](<dest with spaces>), with an optional "title".
_MD_LINK = re.compile(r"\[[^\]\n]*\]\(\s*(<[^>\n]*>|[^)\s]+)(?:\s+\"[^\"\n]*\"|\s+'[^'\n]*')?\s*\)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")

# Obsidian-style inline tag: '#' not preceded by a word char, '#', '/', '&' (URLs, entities,
# headings are excluded by the required non-space after '#'), at least one non-digit.
_INLINE_TAG = re.compile(r"(?<![\w#/&\\])#([\w][\w\-/]*)")


def _wiki_target(inner: str) -> str:
    target = inner.split("|", 1)[0].split("#", 1)[0]
    target = " ".join(target.split())
    if target.lower().endswith(".md"):
        target = target[:-3]
    return target


def _markdown_target(dest: str, note_path: str) -> str | None:
    dest = dest.strip()
    if dest.startswith("<") and dest.endswith(">"):
        dest = dest[1:-1].strip()
    if not dest or dest.startswith("#") or _SCHEME.match(dest):
        return None  # same-note anchor, or a URL (http:, mailto:, obsidian:, ...)
    dest = unquote(dest.split("#", 1)[0].split("?", 1)[0])
    if not is_markdown_name(dest):
        return None
    # A leading '/' means vault-root-relative, as some editors write links.
    root_relative = dest.startswith("/")
    joined = dest.lstrip("/") if root_relative else posixpath.join(posixpath.dirname(note_path), dest)
    normalised = posixpath.normpath(joined)
    if normalised.startswith("../") or normalised == ".." or normalised.startswith("/"):
        return None
    return normalised


def extract_links(lines: Sequence[str], in_code: Sequence[bool], note_path: str) -> list[str]:
    """Link targets in the body lines that are not code (see the module docstring for the forms)."""
    found: dict[str, None] = {}
    for line, code in zip(lines, in_code, strict=True):
        if code or ("[" not in line):
            continue
        text = strip_inline_code(line)
        for match in _WIKI_LINK.finditer(text):
            target = _wiki_target(match.group(1))
            if target:
                found.setdefault(target, None)
        for match in _MD_LINK.finditer(text):
            target = _markdown_target(match.group(1), note_path)
            if target:
                found.setdefault(target, None)
    return list(found)


def extract_inline_tags(lines: Sequence[str], in_code: Sequence[bool]) -> list[str]:
    """``#tags`` written in the body text (outside code, links and headings' leading '#')."""
    found: list[str] = []
    for line, code in zip(lines, in_code, strict=True):
        if code or "#" not in line:
            continue
        text = _MD_LINK.sub(" ", strip_inline_code(line))  # '](#anchor)' is not a tag
        for match in _INLINE_TAG.finditer(text):
            tag = normalise_tag(match.group(1).rstrip("/-"))
            if tag and not tag.replace("/", "").isdigit():  # '#123' is an issue number, not a tag
                found.append(tag)
    return found


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """Items in first-seen order without repeats."""
    return tuple(dict.fromkeys(items))
