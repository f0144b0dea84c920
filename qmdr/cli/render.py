"""The tables and lines ``qmdr`` commands print, with every piece of user text shown literally.

Cells, titles and messages are built as :class:`rich.text.Text` through
:func:`qmdr.util.terminal_text.literal`, so a note saying ``[[link]]`` or
``[/b]`` prints as written and an escape sequence in a note cannot drive the
terminal. Commands build their output here and only ``print`` it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from qmdr.cli.common import labelled
from qmdr.util.terminal_text import literal, visible


def cells(*values: object) -> list[Text]:
    """Each value as a literal cell."""
    return [literal(value) for value in values]


def where(path: str, start_line: int, end_line: int, heading_trail: Sequence[str]) -> str:
    """``path:start-end`` and, on a second line, the heading trail."""
    text = f"{path}:{start_line}-{end_line}"
    return text + "\n" + " > ".join(heading_trail) if heading_trail else text


def table(
    title: str | None,
    columns: Iterable[str],
    rows: Iterable[Sequence[object]],
    *,
    show_header: bool = True,
    right: Iterable[str] = (),
) -> Table:
    """A table whose title, headers and cells are all literal (long cells fold instead of being cut)."""
    right = set(right)
    out = Table(title=literal(title) if title is not None else None, show_header=show_header)
    for column in columns:
        out.add_column(literal(column), justify="right" if column in right else "left", overflow="fold")
    for row in rows:
        out.add_row(*cells(*row))
    return out


def key_values(title: str, pairs: Iterable[tuple[object, object]]) -> Table:
    """A two-column table of names and values, no header."""
    return table(title, ("key", "value"), pairs, show_header=False)


def search_table(results: Sequence[Any], total_ms: float) -> Table:
    """``qmdr search``: rank, relevance, score, where (path, lines, heading trail) and snippet of each result.

    Scores get three significant digits, not three decimals: BM25 scores on a small vault are ~1e-6
    (FTS5's idf is near 0 when most notes hold the word) and printed as 0.000."""
    rows = [
        (
            rank,
            f"{r.relevance:.0f}%",
            f"{r.score:.3g}",
            where(r.path, r.start_line, r.end_line, r.heading_trail),
            r.snippet,
        )
        for rank, r in enumerate(results, 1)
    ]
    return table(
        f"{len(results)} results ({total_ms:.0f} ms)",
        ("#", "relevance", "score", "note", "snippet"),
        rows,
        right=("#", "relevance", "score"),
    )


def vault_search_table(hits: Sequence[Any], vaults: Sequence[str], explain: bool) -> Table:
    """``qmdr search --vault``: each hit with its vault and relevance, and with ``--explain`` the stages."""
    columns = ["#", "vault", "rel %", "note", "snippet", *(["why"] if explain else [])]
    rows = []
    for rank, h in enumerate(hits, 1):
        r = h.result
        row: list[object] = [
            rank,
            h.vault,
            f"{h.relevance:.0f}",
            where(r.path, r.start_line, r.end_line, r.heading_trail),
            r.snippet,
        ]
        if explain:
            row.append(explain_text(h.explain, h.score))
        rows.append(row)
    return table(f"{len(hits)} results from {', '.join(vaults)}", columns, rows)


def explain_text(explain: dict[str, Any], final: float) -> str:
    """One line per stage: rank, raw score and RRF share per retriever, the vault fusion, boosts, the final score."""
    lines = []
    for name, stage in (explain.get("stages") or {}).items():
        if stage.get("rank"):
            lines.append(f"{name}: #{stage['rank']} score {stage['score']:.4g} rrf {stage['rrf']:.4f}")
        else:
            lines.append(f"{name}: not found")
    if "vault_rrf" in explain:
        lines.append(f"vault #{explain['vault_rank']} -> rrf {explain['vault_rrf']:.4f}")
    for name, factor in (explain.get("boosts") or {}).items():
        lines.append(f"{name} boost x{factor:.3f}")
    lines.append(f"final {final:.4f}")
    return "\n".join(lines)


def say(console: Console, message: object, style: str = "") -> None:
    """Print one literal line (never wrapped into a table, never parsed)."""
    console.print(literal(message, style), soft_wrap=True)


def warn(console: Console, warnings: Iterable[object]) -> None:
    """One ``warning:`` line per warning."""
    for warning in warnings:
        console.print(labelled("warning: ", "yellow", warning), soft_wrap=True)


__all__ = [
    "cells",
    "explain_text",
    "key_values",
    "labelled",
    "literal",
    "say",
    "search_table",
    "table",
    "vault_search_table",
    "visible",
    "warn",
    "where",
]
