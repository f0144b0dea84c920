"""Cut a note into heading-aware chunks that fit an embedding model's token budget.

How a note is cut, step by step:

1. **Sections.** The body is split at ATX headings (``#`` lines inside fenced code
   are not headings). Each section keeps its heading trail, the stack of
   enclosing headings (``("Retries", "Backoff")``).
2. **Folding and merging.** A heading with no text of its own is folded into
   the section that follows when that section is nested under it, since a chunk
   holding only a heading matches everything and says nothing. Then adjacent
   small sections are merged while their total stays under
   ``MERGE_LIMIT_FRACTION`` of the budget, but only parent-with-child or
   sibling-with-sibling, and the merged chunk keeps the trail they share. This
   keeps short notes in one chunk without gluing unrelated parts together.
3. **Splitting.** A section over the budget is cut between paragraphs (blank
   lines); a fenced code block stays whole unless it alone is over the budget;
   a paragraph or block still too big is cut between lines, a line between
   sentences, a sentence between words, and a word (a pasted blob) between
   characters.
4. **Overlap.** Each piece after the first in a section starts with the tail
   of the previous piece (up to ``overlap_tokens``), so a sentence cut at a
   boundary can still be found from either side. The overlap is dropped when
   it would not fit next to the following unit. A chunk's line range covers
   its overlap too, since its text does.

Headings stick to what follows them: a heading is never the last part of a
piece that could take the next part instead. It stands alone only when the
next part fills a whole chunk by itself (a budget-sized code block or blob).

Every chunk's text starts with a *context line*: the note title and heading
trail (``Deploy notes > Retries > Backoff``). A paragraph that says "wait twice
as long each time" does not mention backoff; with the context line both the
embedding and the keyword index know what it is about, and search results can
show where a hit sits without reading the file.

Budget guarantee: ``count_tokens(chunk.text) <= max_tokens`` for every chunk.
Pieces are sized from the tokens of their parts and then checked once with the
real counter on the full text, so it holds for any counter whose joining of
two texts with a newline costs at most ``JOIN_SLACK_TOKENS``. The one exception
is a single character that alone counts as more than the budget, which cannot
be split at all.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vault.markdown import code_mask, parse_heading
from vault.model import Chunk, Note

# Bump whenever the same input could be cut differently: it is part of every
# chunk hash, so old chunks stop matching and get re-embedded.
CHUNKER_VERSION = "2"

# 512 tokens: the input limit of most small embedding models (BERT-sized).
DEFAULT_MAX_TOKENS = 512
# ~10% of the budget: enough to carry a sentence across a cut, small enough not to
# double-count much text in the index.
DEFAULT_OVERLAP_TOKENS = 48
# Below 16 tokens the context line alone would take most of a chunk.
MIN_MAX_TOKENS = 16
# The context line may use at most a quarter of the budget; longer trails are shortened.
CONTEXT_SHARE_DIVISOR = 4
# Small sections are merged only while the result stays under half the budget, so
# sections of a useful size keep their own chunk and their exact heading trail.
MERGE_LIMIT_FRACTION = 0.5
# A heading is joined by the first words under it only if they reach this many tokens (else it may
# stand alone, as before): a cut for three words would only move the heading's loneliness one chunk on.
MIN_CUT_TOKENS = 16
# Tokens kept free for the newline joining context line and content, which some
# tokenizers (BPE) count as a token of its own.
JOIN_SLACK_TOKENS = 2

CONTEXT_SEPARATOR = " > "
_ELLIPSIS = "…"

# Default counter. A WordPiece/BPE vocabulary keeps common words whole and cuts long
# or rare ones, and punctuation is a token of its own; CJK is about a token per
# character. So: each punctuation mark and each CJK character counts 1, and each run
# of letters/digits counts 1 plus 1 for every CHARS_PER_EXTRA_TOKEN characters past
# the first. Measured against the all-MiniLM-L6-v2 WordPiece tokenizer on 102 markdown
# READMEs (package METADATA files): median 1.14x the real count, lowest 1.02x. It leans
# high on purpose, so chunks cut with it still fit the real model; 5 gave a median of
# 1.05x but undercounted some files by 7%.
CHARS_PER_EXTRA_TOKEN = 4
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN_PIECE = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+|\S")

_SENTENCE_END = re.compile(r"(?<=[.!?;:。！？])\s+")
_WHITESPACE = re.compile(r"\s+")
_WORD = re.compile(r"\S+")

TokenCounter = Callable[[str], int]


def approx_token_count(text: str) -> int:
    """Cheap stand-in for a subword tokenizer's count (see ``CHARS_PER_EXTRA_TOKEN``).

    It is additive over whitespace (``count(a + "\\n" + b) == count(a) + count(b)``),
    which keeps the chunker's arithmetic exact. Pass the embedding model's real
    counter to ``chunk_note`` when you have one.
    """
    pieces = _TOKEN_PIECE.findall(text)
    extra = sum((len(p) - 1) // CHARS_PER_EXTRA_TOKEN for p in pieces if len(p) > CHARS_PER_EXTRA_TOKEN)
    return len(pieces) + extra


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    """The two numbers that decide where chunks are cut (both are part of every chunk hash)."""

    max_tokens: int = DEFAULT_MAX_TOKENS
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS

    def __post_init__(self) -> None:
        if self.max_tokens < MIN_MAX_TOKENS:
            raise ValueError(f"max_tokens must be at least {MIN_MAX_TOKENS}, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens <= self.max_tokens // 2:
            raise ValueError(
                f"overlap_tokens must be between 0 and half of max_tokens ({self.max_tokens // 2}), "
                f"got {self.overlap_tokens}"
            )


def chunk_hash(text: str, options: ChunkingOptions) -> str:
    """Identity of a chunk: sha256 over a JSON array of (chunker version, max, overlap, text).

    JSON gives an unambiguous, stable encoding: no separator inside ``text`` can
    make two different inputs collide.
    """
    fields = [CHUNKER_VERSION, options.max_tokens, options.overlap_tokens, text]
    payload = json.dumps(fields, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class _Section:
    trail: tuple[str, ...]
    start: int  # index into body lines, inclusive
    end: int  # exclusive
    heading_only: bool
    tokens: int


@dataclass(slots=True)  # not frozen: frozen dataclasses are slow to build, and there can be one per word
class _Unit:
    """The smallest piece the packer moves around: a block, a line or part of a line."""

    start: int  # file line, 1-based
    end: int
    text: str
    sep: str  # what joins it to the unit before it in the file: "\n\n", "\n" or " "
    tokens: int
    heading: bool = False  # a heading line: never left as the last unit of a piece
    code: bool = False  # inside a fenced code block: never cut between words


def _render(units: Sequence[_Unit]) -> str:
    parts = [units[0].text]
    for unit in units[1:]:
        parts.append(unit.sep)
        parts.append(unit.text)
    return "".join(parts)


def _is_descendant(child: tuple[str, ...], parent: tuple[str, ...]) -> bool:
    return len(child) > len(parent) and child[: len(parent)] == parent


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


class _Chunker:
    def __init__(self, note: Note, options: ChunkingOptions, count: TokenCounter) -> None:
        self.note = note
        self.options = options
        self.count = count
        self.lines = note.body.split("\n")
        self.in_code = code_mask(self.lines)
        self.line_tokens = [count(line) if line.strip() else 0 for line in self.lines]

    def file_line(self, index: int) -> int:
        return self.note.body_line + index

    # -- 1. sections -----------------------------------------------------------------
    def sections(self) -> list[_Section]:
        found: list[_Section] = []
        stack: list[tuple[int, str]] = []
        start, trail, has_heading = 0, (), False

        def close(end: int) -> None:
            lines = range(start, end)
            if not any(self.lines[i].strip() for i in lines):
                return
            body = range(start + 1, end) if has_heading else lines
            heading_only = has_heading and not any(self.lines[i].strip() for i in body)
            found.append(_Section(trail, start, end, heading_only, sum(self.line_tokens[i] for i in lines)))

        for i, line in enumerate(self.lines):
            heading = None if self.in_code[i] else parse_heading(line)
            if heading is None:
                continue
            close(i)
            level, text = heading
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
            start, trail, has_heading = i, tuple(t for _, t in stack if t), True
        close(len(self.lines))
        return found

    # -- 2. folding and merging ------------------------------------------------------
    def fold_and_merge(self, sections: list[_Section]) -> list[_Section]:
        folded: list[_Section] = []
        for section in sections:
            prev = folded[-1] if folded else None
            if prev and prev.heading_only and (_is_descendant(section.trail, prev.trail) or not prev.trail):
                folded[-1] = _Section(
                    section.trail, prev.start, section.end, section.heading_only, prev.tokens + section.tokens
                )
            else:
                folded.append(section)

        limit = self.options.max_tokens * MERGE_LIMIT_FRACTION
        merged: list[_Section] = []
        for section in folded:
            prev = merged[-1] if merged else None
            related = prev is not None and (section.trail[:-1] == prev.trail or section.trail[:-1] == prev.trail[:-1])
            if prev is not None and related and prev.tokens + section.tokens <= limit:
                merged[-1] = _Section(
                    _common_prefix(prev.trail, section.trail),
                    prev.start,
                    section.end,
                    False,
                    prev.tokens + section.tokens,
                )
            else:
                merged.append(section)
        return merged

    # -- context line ----------------------------------------------------------------
    def context_line(self, trail: tuple[str, ...]) -> str:
        context = full_context_line(self.note.title, trail)
        limit = self.options.max_tokens // CONTEXT_SHARE_DIVISOR
        if self.count(context) <= limit:
            return context
        words = context.split(" ")
        low, high = 0, len(words)  # longest word prefix that fits with the ellipsis
        while low < high:
            mid = (low + high + 1) // 2
            if self.count(" ".join(words[:mid]) + _ELLIPSIS) <= limit:
                low = mid
            else:
                high = mid - 1
        if low == 0:
            return _hard_split(context, limit - self.count(_ELLIPSIS), self.count)[0] + _ELLIPSIS
        return " ".join(words[:low]) + _ELLIPSIS

    # -- 3. splitting into units -----------------------------------------------------
    def blocks(self, section: _Section) -> list[tuple[int, int, bool]]:
        """(first, last, is_code) for paragraphs and fenced blocks; blank lines separate them."""
        blocks: list[tuple[int, int, bool]] = []
        current: list[int] = []
        current_code = False
        for i in range(section.start, section.end):
            code, blank = self.in_code[i], not self.lines[i].strip()
            if current and (code != current_code or (blank and not code)):
                blocks.append((current[0], current[-1], current_code))
                current = []
            if blank and not code:
                continue
            if not current:
                current_code = code
            current.append(i)
        if current:
            blocks.append((current[0], current[-1], current_code))
        return blocks

    def units(self, section: _Section, budget: int) -> list[_Unit]:
        units: list[_Unit] = []
        for first, last, is_code in self.blocks(section):
            text = "\n".join(self.lines[first : last + 1])
            tokens = self.count(text) if last > first else self.line_tokens[first]
            if tokens <= budget:
                heading = first == last and not is_code and parse_heading(text) is not None
                start, end = self.file_line(first), self.file_line(last)
                units.append(_Unit(start, end, text, "\n\n", tokens, heading, is_code))
                continue
            sep = "\n\n"
            for i in range(first, last + 1):
                line = self.lines[i]
                if not line.strip():
                    continue  # blank line inside a code block being cut: nothing to carry
                ln = self.file_line(i)
                if self.line_tokens[i] <= budget:
                    heading = not is_code and parse_heading(line) is not None
                    units.append(_Unit(ln, ln, line, sep, self.line_tokens[i], heading, is_code))
                else:
                    for j, (part, part_tokens) in enumerate(_split_long(line, budget, self.count)):
                        units.append(_Unit(ln, ln, part, sep if j == 0 else " ", part_tokens, code=is_code))
                sep = "\n"
        return units

    # -- 4. packing with overlap -----------------------------------------------------
    def overlap(self, previous: Sequence[_Unit], room: int) -> list[_Unit]:
        """The tail of the previous piece worth at most ``room`` tokens."""
        if room <= 0 or not previous:
            return []
        taken: list[_Unit] = []
        used = 0
        for unit in reversed(previous):
            if used + unit.tokens > room:
                break
            taken.insert(0, unit)
            used += unit.tokens
        if taken:
            return taken
        last = previous[-1]
        starts = [m.start() for m in _WORD.finditer(last.text)]
        low, high = 0, len(starts) - 1  # fewest-words index whose tail fits: search the largest tail
        best = None
        while low <= high:
            mid = (low + high) // 2
            if self.count(last.text[starts[mid] :]) <= room:
                best, high = mid, mid - 1
            else:
                low = mid + 1
        if best is None:
            return []
        tail = last.text[starts[best] :]
        line = last.start + last.text.count("\n", 0, starts[best])
        return [_Unit(line, last.end, tail, last.sep, self.count(tail))]

    def cut_to_fit(self, unit: _Unit, room: int) -> tuple[_Unit, _Unit] | None:
        """``unit`` cut at a word boundary into (longest head within ``room`` tokens, rest), or None.

        Only prose is cut (not headings, not code), and only when the head
        would hold at least ``MIN_CUT_TOKENS``: a few words are not worth a cut.
        """
        if unit.heading or room < MIN_CUT_TOKENS or unit.tokens <= room or unit.code:
            return None
        starts = [m.start() for m in _WORD.finditer(unit.text)][1:]  # cut points: every word start but the first
        low, high, best = 0, len(starts) - 1, None
        while low <= high:  # the latest cut whose head fits
            mid = (low + high) // 2
            if self.count(unit.text[: starts[mid]].rstrip()) <= room:
                best, low = mid, mid + 1
            else:
                high = mid - 1
        if best is None:
            return None
        at = starts[best]
        head_text, rest_text = unit.text[:at].rstrip(), unit.text[at:]
        head_tokens = self.count(head_text)
        if head_tokens < MIN_CUT_TOKENS:
            return None
        cut_line = unit.start + unit.text.count("\n", 0, at)
        mid_line = unit.text[at - 1] != "\n"
        head = _Unit(unit.start, unit.start + head_text.count("\n"), head_text, unit.sep, head_tokens)
        rest = _Unit(cut_line, unit.end, rest_text, " " if mid_line else "\n", self.count(rest_text))
        return head, rest

    def pack(self, units: list[_Unit], budget: int, context: str) -> list[list[_Unit]]:
        max_tokens = self.options.max_tokens
        queue = deque(units)
        pieces: list[list[_Unit]] = []
        while queue:
            first = queue.popleft()
            carried = []
            if pieces and self.options.overlap_tokens:
                carried = self.overlap(pieces[-1], min(self.options.overlap_tokens, budget - first.tokens))
            piece = [*carried, first]
            tokens = sum(u.tokens for u in piece)
            while queue and tokens + queue[0].tokens <= budget:
                unit = queue.popleft()
                piece.append(unit)
                tokens += unit.tokens
            # A heading belongs with what follows it: move a trailing heading to the next piece.
            if len(piece) > len(carried) + 1 and piece[-1].heading and queue:
                queue.appendleft(piece.pop())
            # A piece of headings only would be a chunk that says nothing but a title, and the text
            # under it would lose its heading: cut the next unit so its first words join them.
            if queue and all(u.heading for u in piece[len(carried) :]):
                cut = self.cut_to_fit(queue[0], budget - tokens)
                if cut is not None:
                    piece.append(cut[0])
                    queue[0] = cut[1]
            # One check with the real counter on the real text: give back units that overflow.
            while len(piece) > len(carried) + 1 and self.count(f"{context}\n{_render(piece)}") > max_tokens:
                queue.appendleft(piece.pop())
            if carried and self.count(f"{context}\n{_render(piece)}") > max_tokens:
                piece = piece[len(carried) :]
            pieces.append(piece)
        return pieces

    def run(self) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in self.fold_and_merge(self.sections()):
            context = self.context_line(section.trail)
            budget = max(1, self.options.max_tokens - self.count(context) - JOIN_SLACK_TOKENS)
            for piece in self.pack(self.units(section, budget), budget, context):
                text = f"{context}\n{_render(piece)}"
                chunks.append(
                    Chunk(
                        note_path=self.note.path,
                        ordinal=len(chunks),
                        heading_trail=section.trail,
                        start_line=piece[0].start,
                        end_line=max(u.end for u in piece),
                        text=text,
                        hash=chunk_hash(text, self.options),
                    )
                )
        return chunks


def full_context_line(title: str, heading_trail: Sequence[str]) -> str:
    """The context line for a note title and heading trail, before any shortening to the budget."""
    title = " ".join(title.split())
    shown = list(heading_trail)
    if shown and shown[0].casefold() == title.casefold():
        shown = shown[1:]  # "# Title" as the first heading would repeat the title
    return CONTEXT_SEPARATOR.join([title, *shown]) if title else CONTEXT_SEPARATOR.join(shown)


def split_context_line(text: str, title: str, heading_trail: Sequence[str]) -> tuple[str, str]:
    """``(context line, content)`` of a chunk's ``text``; ``("", text)`` when it has no context line.

    Search snippets show the content: the title and headings are shown apart,
    and repeating them would fill a two-line snippet with what the result card
    already says. The first line counts as the context line only when it is
    this title and trail's line, whole or shortened (cut with an ellipsis), so
    text that merely contains a newline is never cut.
    """
    first, newline, rest = text.partition("\n")
    if not newline:
        return "", text
    full = full_context_line(title, heading_trail)
    if first == full or (first.endswith(_ELLIPSIS) and full.startswith(first[: -len(_ELLIPSIS)])):
        return first, rest
    return "", text


def _split_long(text: str, budget: int, count: TokenCounter) -> list[tuple[str, int]]:
    """Cut one line into (part, tokens) within ``budget``: sentences, or words for an
    overlong sentence, or characters for an overlong word. The packer joins parts
    back up to the budget, so parts are kept as small and natural as possible here."""
    parts: list[tuple[str, int]] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        if not sentence:
            continue
        tokens = count(sentence)
        if tokens <= budget:
            parts.append((sentence, tokens))
            continue
        for word in _WHITESPACE.split(sentence):
            if not word:
                continue
            tokens = count(word)
            if tokens <= budget:
                parts.append((word, tokens))
            else:
                parts.extend((piece, count(piece)) for piece in _hard_split(word, budget, count))
    return parts


def _hard_split(text: str, budget: int, count: TokenCounter) -> list[str]:
    """Cut a text with no spaces (a pasted blob) into the longest prefixes that fit."""
    out: list[str] = []
    rest = text
    while rest:
        low, high = 1, len(rest)
        while low < high:  # longest prefix within budget; at least one character
            mid = (low + high + 1) // 2
            if count(rest[:mid]) <= budget:
                low = mid
            else:
                high = mid - 1
        out.append(rest[:low])
        rest = rest[low:]
    return out


def chunk_note(
    note: Note,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    count_tokens: TokenCounter | None = None,
) -> list[Chunk]:
    """Cut ``note`` into chunks (see the module docstring); an empty body gives no chunks.

    ``count_tokens`` should be the embedding model's tokenizer counter; without
    it ``approx_token_count`` is used. Raises ``ValueError`` for a budget below
    ``MIN_MAX_TOKENS`` or an overlap over half the budget.
    """
    options = ChunkingOptions(max_tokens=max_tokens, overlap_tokens=overlap_tokens)
    return _Chunker(note, options, count_tokens or approx_token_count).run()
