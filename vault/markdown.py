"""The few bits of markdown syntax the parser and the chunker both need.

Not a markdown parser: only fenced code blocks (so ``# comment`` lines in code
are not headings and ``[[x]]`` in code is not a link), ATX headings, and inline
code spans. Following CommonMark, a fence that is never closed runs to the end
of the document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Up to three spaces of indent, then 3+ backticks or tildes (CommonMark fenced code).
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")

# ATX heading: 1-6 '#', then a space/tab or end of line; optional closing '#'s are not part of the text.
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")

_INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)")


def code_mask(lines: Sequence[str]) -> list[bool]:
    """For each line, True when it belongs to a fenced code block (fence lines included)."""
    mask = [False] * len(lines)
    fence_char = ""
    fence_len = 0
    for i, line in enumerate(lines):
        if fence_char:
            mask[i] = True
            close = _FENCE_CLOSE.match(line)
            if close and close.group(1)[0] == fence_char and len(close.group(1)) >= fence_len:
                fence_char = ""
            continue
        opening = _FENCE_OPEN.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence_char, fence_len = opening.group(1)[0], len(opening.group(1))
            mask[i] = True
    return mask


def parse_heading(line: str) -> tuple[int, str] | None:
    """``(level, text)`` for an ATX heading line, else None. Call only for lines outside code."""
    match = _HEADING.match(line)
    if not match:
        return None
    return len(match.group(1)), (match.group(2) or "").strip()


def strip_inline_code(line: str) -> str:
    """Blank out inline code spans so ``[[x]]`` or ``#x`` inside backticks is not read as markup."""
    return _INLINE_CODE.sub(" ", line)
