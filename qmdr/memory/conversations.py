"""Read chat exports (ChatGPT, Claude) into plain conversations; no files are written here.

Two exporters, two shapes (both a ``conversations.json`` that is a JSON list,
inside the ZIP the user downloads; a bare ``.json`` is accepted too):

* **ChatGPT** (Settings -> Data controls -> Export): each conversation has
  ``id``/``conversation_id``, ``title``, ``create_time``/``update_time``
  (POSIX seconds) and a ``mapping`` of node id -> ``{message, parent,
  children}``: a *tree*, because an edited prompt or a regenerated answer
  starts a new branch. The conversation the user last saw is the path from
  ``current_node`` up to the root; without ``current_node`` we follow the
  last child at each step (the newest branch). Messages carry
  ``author.role`` and ``content.parts`` (strings; images are dicts and are
  left out); system and hidden messages are left out.
* **Claude** (Settings -> Privacy -> Export data): each conversation has
  ``uuid``, ``name``, ``created_at``/``updated_at`` (ISO 8601) and a linear
  ``chat_messages`` list with ``sender`` (``human``/``assistant``), ``text``
  and ``content`` blocks (the ``text`` blocks are the message; tool blocks
  are left out).

The whole export is parsed and checked before anything is returned, so a
malformed or truncated export fails with ``BadExport`` naming what is wrong
and where, and the caller writes nothing.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from qmdr.errors import InvalidQuery

Source = Literal["chatgpt", "claude"]
SOURCES: tuple[Source, ...] = ("chatgpt", "claude")
#: the file inside either exporter's ZIP that holds the conversations
CONVERSATIONS_FILE = "conversations.json"
#: largest conversations.json read (uncompressed): parsing holds several times this in memory, and a
#: ZIP entry claiming more is either a decompression bomb or an export to split before importing
MAX_EXPORT_JSON_BYTES = 512 * 1024 * 1024
#: ChatGPT roles kept as sections; "system" prompts and "tool" plumbing are not what the user said or read
CHATGPT_ROLES = ("user", "assistant")


class BadExport(InvalidQuery):
    """The export file is not a readable ChatGPT or Claude export (truncated, malformed, wrong format)."""


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # "user" or "assistant"
    text: str
    created: datetime | None
    id: str = ""


@dataclass(frozen=True, slots=True)
class Conversation:
    source: Source
    id: str
    title: str
    created: datetime | None
    updated: datetime | None
    messages: tuple[Message, ...]
    extra: dict[str, Any] = field(default_factory=dict)  # exporter fields worth keeping, e.g. the model


def read_export(source: str, path: Path | str) -> list[Conversation]:
    """Every conversation of an export file (ZIP or JSON), or ``BadExport``."""
    if source not in SOURCES:
        raise BadExport(f"unknown export source {source!r}: use one of {', '.join(SOURCES)}")
    return parse_export(source, Path(path).read_bytes(), name=Path(path).name)


def parse_export(source: str, raw: bytes, *, name: str = "the export") -> list[Conversation]:
    """Parse the bytes of an export (a ZIP holding conversations.json, or the JSON itself)."""
    if source not in SOURCES:
        raise BadExport(f"unknown export source {source!r}: use one of {', '.join(SOURCES)}")
    text = _json_text(raw, name)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadExport(
            f"{name} is not valid JSON (truncated or damaged?): {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except UnicodeDecodeError:
        raise BadExport(f"{name} is not UTF-8 text: is it a chat export?") from None
    except RecursionError:
        raise BadExport(f"{name} nests JSON too deeply to be a chat export") from None
    if isinstance(data, dict) and isinstance(data.get("conversations"), list):
        data = data["conversations"]
    if not isinstance(data, list):
        raise BadExport(f"{name}: expected a JSON list of conversations, found {type(data).__name__}")
    parse: Callable[[dict[str, Any]], Conversation] = _chatgpt if source == "chatgpt" else _claude
    conversations = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise BadExport(f"{name}: conversation #{index + 1} is a {type(item).__name__}, not an object")
        try:
            conversations.append(parse(item))
        except BadExport as exc:
            raise BadExport(f"{name}: conversation #{index + 1}: {exc.message}") from None
    ids = [c.id for c in conversations]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise BadExport(f"{name}: conversation id {duplicate!r} appears twice")
    return conversations


def _json_text(raw: bytes, name: str) -> bytes:
    if raw[:4] == b"PK\x03\x04":
        return _from_zip(raw, name)
    if len(raw) > MAX_EXPORT_JSON_BYTES:
        raise BadExport(f"{name} is larger than {MAX_EXPORT_JSON_BYTES} bytes; split the export first")
    if not raw.strip():
        raise BadExport(f"{name} is empty")
    return raw


def _from_zip(raw: bytes, name: str) -> bytes:
    import io

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            entries = [i for i in archive.infolist() if i.filename.rsplit("/", 1)[-1] == CONVERSATIONS_FILE]
            if not entries:
                raise BadExport(f"{name} is a ZIP without {CONVERSATIONS_FILE}: is it a chat export?")
            entry = min(entries, key=lambda i: i.filename.count("/"))
            if entry.file_size > MAX_EXPORT_JSON_BYTES:
                raise BadExport(f"{CONVERSATIONS_FILE} in {name} is larger than {MAX_EXPORT_JSON_BYTES} bytes")
            return archive.read(entry)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise BadExport(f"{name} is not a readable ZIP (truncated or damaged?): {exc}") from None


# --- ChatGPT --------------------------------------------------------------------------------------
def _chatgpt(item: dict[str, Any]) -> Conversation:
    conv_id = _text_field(item, "conversation_id") or _text_field(item, "id")
    if not conv_id:
        raise BadExport("no 'id' or 'conversation_id'")
    mapping = item.get("mapping")
    if not isinstance(mapping, dict):
        raise BadExport(f"{conv_id}: 'mapping' (the message tree) is missing or not an object")
    for node_id, node in mapping.items():
        if not isinstance(node, dict):
            raise BadExport(f"{conv_id}: node {node_id!r} is not an object")
    messages = [
        m
        for m in (_chatgpt_message(mapping[n], conv_id) for n in _active_path(mapping, item, conv_id))
        if m is not None
    ]
    extra = {key: item[key] for key in ("default_model_slug", "gizmo_id") if isinstance(item.get(key), str)}
    return Conversation(
        "chatgpt",
        conv_id,
        _title(item.get("title")),
        _epoch(item.get("create_time"), conv_id),
        _epoch(item.get("update_time"), conv_id),
        tuple(messages),
        extra,
    )


def _active_path(mapping: dict[str, Any], item: dict[str, Any], conv_id: str) -> list[str]:
    """Node ids from the root to the current leaf (the branch the user last saw)."""
    leaf = item.get("current_node")
    if not isinstance(leaf, str) or leaf not in mapping:
        roots = [n for n, node in mapping.items() if not node.get("parent")]
        if not roots:
            if not mapping:
                return []
            raise BadExport(f"{conv_id}: the message tree has no root")
        leaf = roots[0]
        while True:
            children = [c for c in (mapping[leaf].get("children") or []) if c in mapping]
            if not children:
                break
            leaf = children[-1]
    path: list[str] = []
    seen: set[str] = set()
    node_id: Any = leaf
    while isinstance(node_id, str) and node_id:
        if node_id in seen:
            raise BadExport(f"{conv_id}: the message tree has a cycle at {node_id!r}")
        if node_id not in mapping:
            raise BadExport(f"{conv_id}: node {node_id!r} is named as a parent but missing (truncated export?)")
        seen.add(node_id)
        path.append(node_id)
        node_id = mapping[node_id].get("parent")
    return path[::-1]


def _chatgpt_message(node: dict[str, Any], conv_id: str) -> Message | None:
    message = node.get("message")
    if message is None:
        return None
    if not isinstance(message, dict):
        raise BadExport(f"{conv_id}: a message is not an object")
    author = message.get("author") or {}
    role = author.get("role") if isinstance(author, dict) else None
    if role not in CHATGPT_ROLES:
        return None
    metadata = message.get("metadata") or {}
    if isinstance(metadata, dict) and metadata.get("is_visually_hidden_from_conversation"):
        return None
    content = message.get("content")
    if not isinstance(content, dict):
        raise BadExport(f"{conv_id}: message {message.get('id')!r} has no 'content' object")
    parts = content.get("parts")
    if isinstance(parts, list):
        text = "\n\n".join(p for p in parts if isinstance(p, str) and p.strip())
    elif isinstance(content.get("text"), str):  # content_type "code" and friends
        text = content["text"]
    else:
        text = ""
    if not text.strip():
        return None
    return Message(role, text.strip(), _epoch(message.get("create_time"), conv_id), str(message.get("id") or ""))


def _epoch(value: Any, conv_id: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadExport(f"{conv_id}: a time is {value!r}, not POSIX seconds")
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise BadExport(f"{conv_id}: the time {value!r} is out of range") from None


# --- Claude ---------------------------------------------------------------------------------------
def _claude(item: dict[str, Any]) -> Conversation:
    conv_id = _text_field(item, "uuid")
    if not conv_id:
        raise BadExport("no 'uuid'")
    raw_messages = item.get("chat_messages")
    if not isinstance(raw_messages, list):
        raise BadExport(f"{conv_id}: 'chat_messages' is missing or not a list")
    messages = []
    for message in raw_messages:
        if not isinstance(message, dict):
            raise BadExport(f"{conv_id}: a message is not an object")
        sender = message.get("sender")
        if sender not in ("human", "assistant"):
            continue
        text = _claude_text(message, conv_id)
        if text.strip():
            messages.append(
                Message(
                    "user" if sender == "human" else "assistant",
                    text.strip(),
                    _iso(message.get("created_at"), conv_id),
                    str(message.get("uuid") or ""),
                )
            )
    return Conversation(
        "claude",
        conv_id,
        _title(item.get("name")),
        _iso(item.get("created_at"), conv_id),
        _iso(item.get("updated_at"), conv_id),
        tuple(messages),
    )


def _claude_text(message: dict[str, Any], conv_id: str) -> str:
    blocks = message.get("content")
    if isinstance(blocks, list):
        texts = [
            b["text"]
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
        if texts:
            return "\n\n".join(texts)
    text = message.get("text")
    if text is None:
        return ""
    if not isinstance(text, str):
        raise BadExport(f"{conv_id}: message {message.get('uuid')!r} has a 'text' that is not a string")
    return text


def _iso(value: Any, conv_id: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadExport(f"{conv_id}: a time is {value!r}, not an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadExport(f"{conv_id}: the time {value!r} is not ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- shared ---------------------------------------------------------------------------------------
def _text_field(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    return value.strip() if isinstance(value, str) else ""


def _title(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) and value.strip() else "Untitled conversation"
