"""Find the markdown notes in a vault folder, and keep paths confined to it.

Rules, in the order they are applied to every entry met while walking:

1. Hidden entries (name starts with ``.``) are left out silently, files and
   folders alike: ``.git``, ``.obsidian``, ``.trash`` are never notes.
2. Paths matched by ``.qmdrignore`` at the vault root (gitignore syntax) are
   left out silently. A symlink is also left out when its *target* is hidden
   or ignored, so a link cannot smuggle an ignored folder back in.
3. Symlinks are followed only when their target is inside the vault. Every
   folder's real path is remembered, so a cycle (a link to an ancestor) or a
   second route to an already scanned folder is reported and not walked again.
   Symlinks are visited after the plain tree, so a note reachable both directly
   and through a link is listed under its real location.
4. Only ``.md`` and ``.markdown`` files (any case) are kept; other files are
   left out silently. Notes over ``max_bytes`` are reported as skipped.

Things left out on purpose (hidden, ignored, not markdown) are not reported;
``ScanResult.skipped`` lists only notes the user probably expected to see
indexed, each with the reason it was not.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pathspec

from vault.errors import IgnoreFileError, NoteTooLarge, PathOutsideVault, VaultNotFound
from vault.model import Skipped

# 8 MiB: far above any hand-written note, low enough that one pasted log or
# base64 blob cannot stall indexing or blow up the embedder's queue.
MAX_NOTE_BYTES = 8 * 1024 * 1024

# The ignore file lives at the vault root; gitignore syntax so users already know it.
IGNORE_FILE_NAME = ".qmdrignore"

# 1 MiB: an ignore file is a few lines; anything bigger is a mistake, not rules.
MAX_IGNORE_FILE_BYTES = 1024 * 1024

MARKDOWN_SUFFIXES = (".md", ".markdown")


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What a scan found: notes to read (sorted POSIX paths relative to the root) and notes it passed over."""

    files: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def is_markdown_name(name: str) -> bool:
    """True for ``.md``/``.markdown`` names in any letter case (``NOTES.MD`` counts)."""
    return name.lower().endswith(MARKDOWN_SUFFIXES)


def is_hidden(rel: str) -> bool:
    """True when any component of a relative POSIX path starts with a dot."""
    return any(part.startswith(".") for part in PurePosixPath(rel).parts)


def load_ignore_spec(root: Path) -> pathspec.PathSpec | None:
    """Read ``.qmdrignore`` at the root, or return None when there is none.

    Raises ``IgnoreFileError`` if it exists but cannot be read or parsed:
    silently indexing notes the user asked to keep out is worse than failing.
    """
    path = root / IGNORE_FILE_NAME
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IgnoreFileError(f"cannot read {IGNORE_FILE_NAME}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise IgnoreFileError(f"{IGNORE_FILE_NAME} at the vault root is not a regular file")
    if info.st_size > MAX_IGNORE_FILE_BYTES:
        raise IgnoreFileError(f"{IGNORE_FILE_NAME} is over {MAX_IGNORE_FILE_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise IgnoreFileError(f"cannot read {IGNORE_FILE_NAME}: {exc.strerror}") from exc
    try:
        return pathspec.GitIgnoreSpec.from_lines(text.splitlines())
    except (ValueError, TypeError) as exc:  # pathspec reports bad patterns as ValueError subclasses
        raise IgnoreFileError(f"invalid pattern in {IGNORE_FILE_NAME}: {exc}") from exc


class _Walker:
    """One scan's state: the real paths already seen, and the symlinks still to visit."""

    def __init__(self, root: Path, spec: pathspec.PathSpec | None, max_bytes: int) -> None:
        self.root = root  # already resolved
        self.spec = spec
        self.max_bytes = max_bytes
        self.files: list[str] = []
        self.skipped: list[Skipped] = []
        self.seen_dirs: dict[Path, str] = {root: "."}  # real path -> rel path it was scanned as
        self.seen_files: dict[Path, str] = {}
        self.deferred_links: list[str] = []  # rel paths of symlinks, visited after the plain tree

    def ignored(self, rel: str, *, is_dir: bool) -> bool:
        if self.spec is None:
            return False
        return self.spec.match_file(rel + "/" if is_dir else rel)

    def left_out(self, rel: str, *, is_dir: bool) -> bool:
        """Hidden or ignored: dropped without a report."""
        return is_hidden(rel) or self.ignored(rel, is_dir=is_dir)

    def walk_dir(self, real_dir: Path, rel_dir: str) -> None:
        """Walk a folder tree (by real path), reporting entries under ``rel_dir``.

        Iterative, with an explicit stack: a deeply nested vault must not hit
        Python's recursion limit.
        """
        stack = [(real_dir, rel_dir)]
        while stack:
            real, rel = stack.pop()
            stack.extend(reversed(self.scan_one(real, rel)))

    def scan_one(self, real_dir: Path, rel_dir: str) -> list[tuple[Path, str]]:
        """List one folder: record its notes, queue its links, return its plain sub-folders."""
        try:
            with os.scandir(real_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.skipped.append(Skipped(rel_dir, f"unreadable folder: {exc.strerror}"))
            return []
        sub_dirs: list[tuple[Path, str]] = []
        for entry in entries:
            rel = entry.name if rel_dir == "." else f"{rel_dir}/{entry.name}"
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_symlink():
                    # Symlinks wait until the plain tree is done, so real locations win.
                    self.deferred_links.append(rel)
                    continue
                is_dir = entry.is_dir(follow_symlinks=False)
                if is_dir:
                    if not self.ignored(rel, is_dir=True):
                        real = Path(entry.path)
                        self.seen_dirs[real] = rel
                        sub_dirs.append((real, rel))
                    continue
                if not entry.is_file(follow_symlinks=False) or not is_markdown_name(entry.name):
                    continue
                if self.ignored(rel, is_dir=False):
                    continue
                size = entry.stat(follow_symlinks=False).st_size
            except OSError as exc:
                self.skipped.append(Skipped(rel, f"unreadable: {exc.strerror}"))
                continue
            self.add_file(Path(entry.path), rel, size)
        return sub_dirs

    def add_file(self, real: Path, rel: str, size: int) -> None:
        if real in self.seen_files:
            self.skipped.append(Skipped(rel, f"duplicate: same file as {self.seen_files[real]!r} (symlink)"))
            return
        self.seen_files[real] = rel
        if size > self.max_bytes:
            self.skipped.append(Skipped(rel, str(NoteTooLarge(rel, size, self.max_bytes))))
            return
        self.files.append(rel)

    def visit_link(self, rel: str) -> None:
        """Follow one symlink if it stays in the vault and leads somewhere new."""
        link = self.root / rel
        try:
            real = link.resolve(strict=True)
        except (OSError, RuntimeError):  # RuntimeError: how some Pythons report a symlink loop
            self.skipped.append(Skipped(rel, "broken symlink: its target does not exist or loops"))
            return
        if not real.is_relative_to(self.root):
            self.skipped.append(Skipped(rel, "symlink points outside the vault; not followed"))
            return
        real_rel = real.relative_to(self.root).as_posix()
        is_dir = real.is_dir()
        if not is_dir and not is_markdown_name(rel):
            return
        if self.ignored(rel, is_dir=is_dir):
            return
        if real_rel != "." and self.left_out(real_rel, is_dir=is_dir):
            return  # the target is hidden or ignored: a link must not bring it back
        if is_dir:
            if real in self.seen_dirs:
                self.skipped.append(
                    Skipped(rel, f"symlink to a folder already scanned as {self.seen_dirs[real]!r} (cycle)")
                )
                return
            self.seen_dirs[real] = rel
            self.walk_dir(real, rel)
            return
        if not real.is_file():
            return
        try:
            size = real.stat().st_size
        except OSError as exc:
            self.skipped.append(Skipped(rel, f"unreadable: {exc.strerror}"))
            return
        self.add_file(real, rel, size)

    def run(self) -> ScanResult:
        self.walk_dir(self.root, ".")
        while self.deferred_links:  # walking a linked folder may queue more links
            batch, self.deferred_links = self.deferred_links, []
            for rel in batch:
                self.visit_link(rel)
        return ScanResult(
            files=sorted(self.files),
            skipped=sorted(self.skipped, key=lambda s: s.path),
        )


def scan_vault(root: Path, *, max_bytes: int = MAX_NOTE_BYTES) -> ScanResult:
    """List the markdown notes under ``root`` (see the module docstring for the rules).

    Raises ``VaultNotFound`` when ``root`` is not a folder and ``IgnoreFileError``
    when ``.qmdrignore`` is unusable; every per-file problem becomes a ``Skipped``.
    """
    root = Path(root)
    if not root.is_dir():
        raise VaultNotFound(str(root))
    real_root = root.resolve()
    spec = load_ignore_spec(real_root)
    return _Walker(real_root, spec, max_bytes).run()


def safe_note_path(root: Path, rel: str) -> Path:
    """Turn a vault-relative note path into a real path that is guaranteed to be inside the vault.

    Used wherever a path comes from outside (API requests, links, tool calls), so
    a request for ``../../etc/passwd`` or through a symlink to ``/`` fails with
    ``PathOutsideVault`` instead of reading or writing elsewhere. Both ``/`` and
    ``\\`` count as separators so Windows-style input cannot sneak ``..`` past
    the check. The file need not exist (writes create it); any existing symlink
    along the way is resolved and must stay inside the vault.
    """
    if not isinstance(rel, str) or not rel.strip():
        raise PathOutsideVault(str(rel), "the path is empty")
    if "\x00" in rel:
        raise PathOutsideVault(rel, "the path contains a NUL byte")
    normalised = rel.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) >= 2 and normalised[1] == ":"):
        raise PathOutsideVault(rel, "absolute paths are not allowed")
    parts = [p for p in normalised.split("/") if p not in ("", ".")]
    if not parts:
        raise PathOutsideVault(rel, "the path names the vault folder itself, not a note")
    if ".." in parts:
        raise PathOutsideVault(rel, "'..' is not allowed")
    real_root = Path(root).resolve()
    try:
        target = real_root.joinpath(*parts).resolve(strict=False)
    except (OSError, RuntimeError) as exc:
        raise PathOutsideVault(rel, "a symlink on the way loops") from exc
    if target == real_root or not target.is_relative_to(real_root):
        raise PathOutsideVault(rel, "a symlink leads out of the vault")
    return target
