"""Turn a markdown file's bytes into a ``Note`` (or a ``Skipped`` saying why not).

Reading is forgiving where a human would be: invalid UTF-8 is decoded with
replacement characters, broken frontmatter falls back to plain text, and each
such repair leaves a line in ``Note.warnings`` so the index summary can show it.
It refuses only what cannot be a note: binary content and empty files.

Newlines are normalised (``\\r\\n`` and lone ``\\r`` become ``\\n``) and lines are
split on ``\\n`` only, so line numbers match what editors and ``grep -n`` show.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
from pathlib import Path, PurePosixPath

from vault.errors import BinaryNote, EmptyNote, IngestError, NoteTooLarge, NoteUnreadable
from vault.frontmatter import frontmatter_dates, frontmatter_tags, frontmatter_title, split_frontmatter
from vault.links import extract_inline_tags, extract_links, unique
from vault.markdown import code_mask, parse_heading
from vault.model import Note, Skipped
from vault.scan import MAX_NOTE_BYTES, safe_note_path

# Only the head of the file is sniffed for binary content: 8 KiB is what git uses
# for the same decision, and binary formats give themselves away in their header.
BINARY_SNIFF_BYTES = 8 * 1024

# Text has almost no C0 control characters besides tab/newline/CR/form feed; a
# sample with more than 10% of them is an image, archive or database, not a note.
MAX_CONTROL_CHAR_RATIO = 0.10

_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\x1b")  # \x1b: ANSI colours in pasted terminal output
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _binary_reason(raw: bytes) -> str | None:
    """Why the bytes look binary, or None when they look like text."""
    sample = raw[:BINARY_SNIFF_BYTES]
    if b"\x00" in sample:
        return "NUL bytes in the first 8 KiB (not a text file)"
    if not sample:
        return None
    controls = sum(1 for b in sample if (b < 0x20 and b not in _TEXT_CONTROLS) or b == 0x7F)
    if controls / len(sample) > MAX_CONTROL_CHAR_RATIO:
        return f"{controls} control characters in the first {len(sample)} bytes (not a text file)"
    return None


def _decode(raw: bytes) -> tuple[str, list[str]]:
    """Bytes to text: UTF-8 (BOM allowed), UTF-16 when it says so with a BOM, else UTF-8 with repair."""
    if raw.startswith(_UTF16_BOMS):
        try:
            return raw.decode("utf-16"), []
        except UnicodeDecodeError:
            return raw.decode("utf-16", errors="replace"), ["invalid UTF-16; undecodable bytes replaced"]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        warning = (
            f"invalid UTF-8 (first bad byte at offset {exc.start}); undecodable bytes "
            "replaced with U+FFFD, re-save the file as UTF-8 to fix"
        )
        return raw.decode("utf-8-sig", errors="replace"), [warning]


def _first_h1(lines: list[str], in_code: list[bool]) -> str | None:
    for line, code in zip(lines, in_code, strict=True):
        if code:
            continue
        heading = parse_heading(line)
        if heading and heading[0] == 1 and heading[1]:
            return heading[1]
    return None


def parse_note(path: str, raw: bytes, mtime: float) -> Note | Skipped:
    """Parse one note's bytes. ``path`` is the vault-relative POSIX path the note is keyed by.

    Returns ``Skipped`` for binary or empty content; never raises for bad input.
    """
    try:
        return _parse(path, raw, mtime)
    except IngestError as exc:
        return Skipped(path, str(exc))


def _parse(path: str, raw: bytes, mtime: float) -> Note:
    if not raw.startswith(_UTF16_BOMS):  # UTF-16 text is full of NULs by design
        reason = _binary_reason(raw)
        if reason:
            raise BinaryNote(path, reason)
    text, warnings = _decode(raw)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise EmptyNote(path)

    split = split_frontmatter(text)
    warnings.extend(split.warnings)
    lines = split.body.split("\n")
    in_code = code_mask(lines)

    title = frontmatter_title(split.frontmatter) or _first_h1(lines, in_code) or PurePosixPath(path).stem
    dates, date_warnings = frontmatter_dates(split.frontmatter)
    warnings.extend(date_warnings)
    tags = unique([*frontmatter_tags(split.frontmatter), *extract_inline_tags(lines, in_code)])

    return Note(
        path=path,
        title=title,
        tags=tags,
        frontmatter=split.frontmatter,
        body=split.body,
        content_hash=hashlib.sha256(raw).hexdigest(),
        mtime=mtime,
        size=len(raw),
        links=tuple(extract_links(lines, in_code, path)),
        dates=dates,
        warnings=tuple(warnings),
        body_line=split.body_line,
    )


def read_note(root: Path, rel: str, *, max_bytes: int = MAX_NOTE_BYTES) -> Note | Skipped:
    """Read and parse ``rel`` inside the vault at ``root``.

    Raises ``PathOutsideVault`` when ``rel`` would leave the vault (a caller bug or
    an attack, not a property of the file). Everything else that can go wrong
    with one file (vanished since the scan, unreadable, too large, binary, empty)
    comes back as ``Skipped``. At most ``max_bytes + 1`` bytes are read, so a
    file that grows after the scan cannot make us load it whole.
    """
    path = safe_note_path(root, rel)
    key = "/".join(p for p in rel.replace("\\", "/").split("/") if p not in ("", "."))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        return Skipped(key, str(NoteUnreadable(key, exc.strerror or type(exc).__name__)))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return Skipped(key, str(NoteUnreadable(key, "not a regular file")))
        if info.st_size > max_bytes:
            return Skipped(key, str(NoteTooLarge(key, info.st_size, max_bytes)))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        return Skipped(key, str(NoteUnreadable(key, exc.strerror or type(exc).__name__)))
    finally:
        os.close(fd)
    if len(raw) > max_bytes:
        return Skipped(key, str(NoteTooLarge(key, len(raw), max_bytes)))
    return parse_note(key, raw, info.st_mtime)
