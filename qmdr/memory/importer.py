"""Turn a chat export into notes: one markdown note per conversation, written into a vault and indexed.

Each conversation becomes ``<folder>/<source>/<YYYY-MM-DD>-<title slug>-<id>.md``
(``folder`` is ``conversations`` unless given) with frontmatter (``title``,
``date``, ``updated``, ``source``, ``conversation_id``, ``messages``, ``tags``)
and one ``##`` section per message (role and time). The path carries the first
12 characters of the conversation's id, and a re-import looks the id up first,
so the same conversation lands on the same path even when its title changed:
importing an export twice writes nothing the second time, and a newer export
updates the notes of conversations that grew.

All or nothing, in this order: the whole export is parsed and checked
(``qmdr.memory.conversations``); every note is rendered and written to a hidden
temporary file beside its target; only then are the temporary files moved over
their targets (``os.replace``, atomic per note) and the touched paths reindexed
under the vault's writer lock, ``INDEX_BATCH_NOTES`` notes per transaction. A
malformed or truncated export therefore writes nothing, and a failure while
staging removes what was staged.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import yaml

from qmdr.memory.conversations import Conversation, Message
from qmdr.memory.hub import VaultHub
from qmdr.memory.indexer import IndexSummary
from qmdr.memory.notes_write import TEMP_PREFIX, note_rel_path
from qmdr.memory.vaults import InvalidVault

#: the vault folder imported conversations go under (then one folder per source)
DEFAULT_IMPORT_FOLDER = "conversations"
#: characters of the conversation id kept in the file name: 48 bits, so two conversations of one user
#: never share a name, while the name stays readable
ID_CHARS = 12
#: longest title slug in a file name; titles are often whole first prompts
MAX_SLUG_CHARS = 60
ROLE_LABELS = {"user": "User", "assistant": "Assistant"}
#: notes indexed per transaction after an import: one embed call and one write per batch, so a
#: thousands-of-conversations export never sends every chunk to the embedder at once
INDEX_BATCH_NOTES = 100


@dataclass(slots=True)
class ImportOutcome:
    """What an import did: notes written (created or changed), unchanged, and skipped as empty."""

    vault: str
    source: str
    conversations: int
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped_empty: list[str] = field(default_factory=list)  # conversation ids without a single message
    summary: IndexSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "vault": self.vault,
            "source": self.source,
            "conversations": self.conversations,
            "written": self.written,
            "unchanged": self.unchanged,
            "skipped_empty": self.skipped_empty,
            "index": self.summary.to_dict() if self.summary else None,
        }


def slug(title: str) -> str:
    """ASCII words of the title joined by '-' (accents dropped; empty for scripts without Latin letters)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    words = re.findall(r"[a-z0-9]+", ascii_title)
    out = "-".join(words)[:MAX_SLUG_CHARS].rstrip("-")
    return out


def id_token(conversation_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", conversation_id)[:ID_CHARS].lower() or "x"


def note_path(conv: Conversation, folder: str = DEFAULT_IMPORT_FOLDER) -> str:
    """The vault-relative path a conversation gets the first time it is imported."""
    date = conv.created.strftime("%Y-%m-%d") if conv.created else "undated"
    name = "-".join(part for part in (date, slug(conv.title), id_token(conv.id)) if part)
    return f"{folder.strip('/')}/{conv.source}/{name}.md" if folder.strip("/") else f"{conv.source}/{name}.md"


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def render_note(conv: Conversation) -> str:
    """The note's full text: frontmatter, the title, one section per message."""
    meta: dict[str, Any] = {"title": conv.title}
    if conv.created:
        meta["date"] = _stamp(conv.created)
    if conv.updated:
        meta["updated"] = _stamp(conv.updated)
    meta.update(
        {
            "source": conv.source,
            "conversation_id": conv.id,
            "messages": len(conv.messages),
            "tags": ["conversation", conv.source],
        }
    )
    meta.update(conv.extra)
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
    lines = [f"---\n{header}---", f"# {conv.title}"]
    for message in conv.messages:
        lines += ["", _section_heading(message), "", message.text]
    return "\n".join(lines) + "\n"


def _section_heading(message: Message) -> str:
    label = ROLE_LABELS.get(message.role, message.role.title())
    when = f" ({message.created.strftime('%Y-%m-%d %H:%M')} UTC)" if message.created else ""
    return f"## {label}{when}"


def existing_paths(root: Path, folder: str, source: str) -> dict[str, str]:
    """id token -> vault-relative path of conversations imported before (so a renamed one keeps its note)."""
    base = root / folder.strip("/") / source if folder.strip("/") else root / source
    if not base.is_dir():
        return {}
    found = {}
    for path in sorted(base.glob("*.md")):
        token = path.stem.rsplit("-", 1)[-1]
        if token:
            found.setdefault(token, path.relative_to(root).as_posix())
    return found


async def import_conversations(
    hub: VaultHub, vault: str, source: str, conversations: list[Conversation], *, folder: str = DEFAULT_IMPORT_FOLDER
) -> ImportOutcome:
    """Write one note per conversation into ``vault`` and index them (see the module docstring)."""
    info = hub.info(vault)
    if not info.settings.writable:
        raise InvalidVault(f"vault {vault!r} is read-only (its settings say writable: false)")
    root = info.folder
    outcome = ImportOutcome(vault, source, len(conversations))
    async with hub.writer(vault):

        def stage() -> list[tuple[str, Path, str]]:
            known = existing_paths(root, folder, source)
            planned: list[tuple[str, Path, str]] = []
            for conv in conversations:
                if not conv.messages:
                    outcome.skipped_empty.append(conv.id)
                    continue
                rel = known.get(id_token(conv.id)) or note_path(conv, folder)
                key, target = note_rel_path(root, rel)
                text = render_note(conv)
                if target.is_file() and target.read_text(encoding="utf-8", errors="replace") == text:
                    outcome.unchanged.append(key)
                    continue
                planned.append((key, target, text))
            return planned

        planned = await anyio.to_thread.run_sync(stage)
        written = await anyio.to_thread.run_sync(_write_all, planned)
        outcome.written = written
        for start in range(0, len(written), INDEX_BATCH_NOTES):
            summary = await hub.index_paths(vault, written[start : start + INDEX_BATCH_NOTES], locked=True)
            outcome.summary = summary if outcome.summary is None else _add(outcome.summary, summary)
    return outcome


def _add(total: IndexSummary, part: IndexSummary) -> IndexSummary:
    """Two index summaries as one (counts and seconds summed, lists joined)."""
    for name in ("added", "changed", "removed", "unchanged", "skipped", "embedded", "chunks", "reused"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.seconds += part.seconds
    total.warnings.extend(part.warnings)
    total.skipped_files.extend(part.skipped_files)
    return total


def _write_all(planned: list[tuple[str, Path, str]]) -> list[str]:
    """Stage every note as a synced temp file, then move them all into place; on failure remove the temps."""
    staged: list[tuple[str, str, Path]] = []
    try:
        for key, target, text in planned:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=target.parent)
            staged.append((key, temp, target))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o644)
    except BaseException:
        for _, temp, _ in staged:
            Path(temp).unlink(missing_ok=True)
        raise
    for _, temp, target in staged:
        os.replace(temp, target)
    return [key for key, _, _ in staged]
