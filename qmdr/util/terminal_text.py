"""Show user text on a terminal exactly as written: never as Rich markup, never as terminal control.

Note text, titles, paths, headings, provider names and error messages all come
from outside the program. Printed as a plain ``str``, Rich reads ``[b]`` or
``[[link]]`` as markup (text vanishes, ``[/b]`` raises ``MarkupError``), and the
terminal obeys any escape sequence in it (``\\x1b[2J`` clears the screen, a
right-to-left override reorders what is shown). :func:`literal` turns such text
into a :class:`rich.text.Text`, which Rich never parses, with every control
character replaced by its visible escape (``\\x1b``, ``\\u202e``).
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

#: kept as they are: they lay text out rather than control the terminal
_LAYOUT = frozenset("\n\t")
#: not category Cc but reorders or hides what is shown (bidi overrides, isolates, marks; line separators)
_INVISIBLE_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _is_control(char: str) -> bool:
    if char in _LAYOUT:
        return False
    # Cc: C0, DEL and C1 (ESC starts every ANSI sequence); Cs: a lone surrogate cannot even be encoded
    return char in _INVISIBLE_CONTROLS or unicodedata.category(char) in ("Cc", "Cs")


def visible(text: str) -> str:
    """``text`` with each control character written as its escape; a CRLF line end counts as a newline."""
    text = text.replace("\r\n", "\n")
    if text.isprintable():  # the common case: nothing to replace (printable excludes every control)
        return text
    return "".join(_escape(char) if _is_control(char) else char for char in text)


#: columns per tab stop when a tab is laid out in a table cell
TAB_SIZE = 4


def literal(text: object, style: str = "") -> Text:
    """A Rich ``Text`` that shows ``str(text)`` literally: no markup, no emoji codes, no terminal control.

    Tabs become spaces here: Rich measures a table cell before it expands tabs, so a tab
    left in a cell makes the cell wider than its column and the line folds.
    """
    return Text(visible(str(text)).expandtabs(TAB_SIZE), style=style)
