"""Importing chat exports: fixtures in each exporter's documented shape, idempotent re-import, nothing half-written."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qmdr.memory.conversations import BadExport, parse_export, read_export
from qmdr.memory.importer import import_conversations, note_path, slug
from tests.qmdr.memory_service import make_service
from vault.frontmatter import split_frontmatter

FIXTURES = Path(__file__).parent / "fixtures"
CHATGPT_JSON = FIXTURES / "chatgpt_conversations.json"
CLAUDE_JSON = FIXTURES / "claude_conversations.json"


def chatgpt_zip(tmp_path: Path, conversations: bytes | None = None) -> Path:
    """An export ZIP as ChatGPT sends it: conversations.json beside chat.html and user.json."""
    target = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(target, "w") as archive:
        body = conversations if conversations is not None else CHATGPT_JSON.read_bytes()
        archive.writestr("conversations.json", body)
        archive.writestr("chat.html", "<html></html>")
        archive.writestr("user.json", json.dumps({"id": "user-1"}))
    return target


def test_chatgpt_follows_the_branch_last_shown_and_drops_system_and_images(tmp_path: Path) -> None:
    conversations = read_export("chatgpt", chatgpt_zip(tmp_path))
    first = conversations[0]
    assert first.id == "6630f3a0-1b2c-4d5e-8f90-aabbccddeeff" and first.title == "Retry policy for uploads"
    assert [(m.role, m.text) for m in first.messages] == [
        ("user", "How should failed uploads be retried?"),
        ("assistant", "Use exponential backoff with jitter, starting at half a second."),
        ("user", "And what is the cap on the delay?"),
    ]
    assert first.created is not None and first.created.isoformat() == "2024-05-01T10:00:00+00:00"
    assert first.extra == {"default_model_slug": "gpt-4o"}


def test_chatgpt_without_current_node_takes_the_newest_branch() -> None:
    data = json.loads(CHATGPT_JSON.read_text())
    del data[0]["current_node"]
    first = parse_export("chatgpt", json.dumps(data).encode())[0]
    assert [m.id for m in first.messages] == ["u-1", "a-new", "u-2"]


def test_claude_takes_text_blocks_and_leaves_tool_blocks_out() -> None:
    conversations = read_export("claude", CLAUDE_JSON)
    assert [c.id for c in conversations] == [
        "0b9f5a62-7c1e-4b7a-9d2e-3f4a5b6c7d8e",
        "1c0a6b73-8d2f-4c8b-ae3f-4a5b6c7d8e9f",
    ]
    first = conversations[0]
    assert [(m.role, m.text) for m in first.messages] == [
        ("user", "Should we use HNSW or an exact scan for 100k vectors?"),
        ("assistant", "An exact scan of 100k vectors takes a few milliseconds; HNSW pays off above a million."),
    ]
    assert conversations[1].title == "Untitled conversation" and conversations[1].messages == ()


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (CHATGPT_JSON.read_bytes()[:-200], "not valid JSON"),
        (b'{"not": "a list"}', "expected a JSON list"),
        (b"", "is empty"),
        (b'[{"title": "x", "mapping": {}}]', "no 'id'"),
        (
            b'[{"id": "c1", "mapping": {"n": {"message": null, "parent": "gone", "children": []}}, "current_node": "n"}]',  # noqa: E501
            "missing (truncated export?)",
        ),
        (b'[{"id": "c1", "mapping": {"a": {"parent": "b"}, "b": {"parent": "a"}}, "current_node": "a"}]', "cycle"),
        (b'[{"id": "c1", "create_time": "yesterday", "mapping": {}}]', "not POSIX seconds"),
        (b"PK\x03\x04broken zip", "not a readable ZIP"),
        (b"@\x0c\xca\x8aPL#\xff", "not UTF-8 text"),
        (b"[" * 100_000, "nests JSON too deeply"),
    ],
)
def test_malformed_chatgpt_exports_fail_with_a_clear_message(raw: bytes, needle: str) -> None:
    with pytest.raises(BadExport) as caught:
        parse_export("chatgpt", raw, name="export.json")
    assert needle in caught.value.message


def test_malformed_claude_exports_fail_with_a_clear_message() -> None:
    with pytest.raises(BadExport, match="'chat_messages' is missing"):
        parse_export("claude", b'[{"uuid": "c1", "name": "x"}]')
    with pytest.raises(BadExport, match="not ISO 8601"):
        parse_export("claude", b'[{"uuid": "c1", "created_at": "last week", "chat_messages": []}]')
    with pytest.raises(BadExport, match="appears twice"):
        parse_export("claude", b'[{"uuid": "c1", "chat_messages": []}, {"uuid": "c1", "chat_messages": []}]')


def test_a_zip_without_conversations_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "other.zip"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("photos/cat.jpg", b"\xff\xd8")
    with pytest.raises(BadExport, match="without conversations.json"):
        read_export("chatgpt", target)


def test_paths_are_dated_slugged_and_carry_the_id() -> None:
    conv = read_export("claude", CLAUDE_JSON)[0]
    assert note_path(conv) == "conversations/claude/2024-06-10-choosing-a-vector-index-0b9f5a627c1e.md"
    assert slug("Café: naïve  plans!") == "cafe-naive-plans" and slug("東京の天気") == ""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def service(request, tmp_path: Path):
    """The default vault on each store (imported notes are indexed through the vault's store)."""
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "readme.md").write_text("# Readme\n\nNotes about nothing in particular.\n")
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    service = make_service(tmp_path, vault, qmdr_database_url=url)
    await service.memory.reindex("default")
    yield service
    await service.aclose()


@pytest.mark.anyio
async def test_import_writes_one_searchable_note_per_conversation_and_reimport_writes_nothing(
    service, tmp_path: Path
) -> None:
    conversations = read_export("chatgpt", chatgpt_zip(tmp_path))
    first = await import_conversations(service.memory, "default", "chatgpt", conversations)
    assert len(first.written) == 2 and first.unchanged == []
    assert first.summary is not None and first.summary.added == 2
    vault = tmp_path / "vault"
    note = split_frontmatter((vault / first.written[0]).read_text())
    assert note.frontmatter["source"] == "chatgpt"
    assert note.frontmatter["conversation_id"] == "6630f3a0-1b2c-4d5e-8f90-aabbccddeeff"
    assert note.frontmatter["messages"] == 3 and note.frontmatter["date"] == "2024-05-01T10:00:00+00:00"
    assert "## Assistant (2024-05-01 10:00 UTC)" in note.body and "Retry immediately forever" not in note.body
    found = await service.memory.search("heronries", mode="keyword")
    assert [h.result.path for h in found.results] == [first.written[1]]

    again = await import_conversations(service.memory, "default", "chatgpt", conversations)
    assert again.written == [] and sorted(again.unchanged) == sorted(first.written) and again.summary is None
    assert service.memory.stats("default")["notes"] == 3


@pytest.mark.anyio
async def test_a_renamed_conversation_that_grew_updates_its_own_note(service, tmp_path: Path) -> None:
    data = json.loads(CLAUDE_JSON.read_text())
    first = await import_conversations(
        service.memory, "default", "claude", parse_export("claude", json.dumps(data).encode())
    )
    assert len(first.written) == 1 and first.skipped_empty == ["1c0a6b73-8d2f-4c8b-ae3f-4a5b6c7d8e9f"]
    data[0]["name"] = "Vector index decision"
    data[0]["chat_messages"].append(
        {
            "uuid": "m-3",
            "sender": "human",
            "text": "Agreed: exact scan until a million.",
            "content": [],
            "created_at": "2024-06-11T08:00:00Z",
        }
    )
    second = await import_conversations(
        service.memory, "default", "claude", parse_export("claude", json.dumps(data).encode())
    )
    assert second.written == first.written  # same path although the title changed
    text = (tmp_path / "vault" / first.written[0]).read_text()
    assert "title: Vector index decision" in text and "Agreed: exact scan until a million." in text
    found = await service.memory.search("Agreed exact scan", mode="keyword")
    assert found.results and found.results[0].result.path == first.written[0]


def test_cli_import_and_a_truncated_export_that_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    from qmdr.cli.main import app

    vault = tmp_path / "vault"
    vault.mkdir()
    monkeypatch.setenv("QMDR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QMDR_VAULT", str(vault))
    monkeypatch.setenv("QMD_EMBED_PROVIDER", "local")
    runner = CliRunner()
    truncated = chatgpt_zip(tmp_path, CHATGPT_JSON.read_bytes()[: len(CHATGPT_JSON.read_bytes()) // 2])
    result = runner.invoke(app, ["import", "chatgpt", str(truncated)])
    assert result.exit_code == 1 and "nothing imported" in result.output and "not valid JSON" in result.output
    assert list(vault.rglob("*")) == []

    result = runner.invoke(app, ["import", "claude", str(CLAUDE_JSON), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["written"] == ["conversations/claude/2024-06-10-choosing-a-vector-index-0b9f5a627c1e.md"]
    assert (vault / data["written"][0]).is_file()


@pytest.mark.anyio
async def test_a_large_import_is_indexed_in_batches_and_every_note_is_found(service, monkeypatch) -> None:
    import qmdr.memory.importer as importer

    monkeypatch.setattr(importer, "INDEX_BATCH_NOTES", 3)
    data = [
        {
            "uuid": f"c{i:04d}-aaaa",
            "name": f"Chat {i}",
            "created_at": "2024-06-10T09:15:00Z",
            "chat_messages": [{"uuid": f"m{i}", "sender": "human", "text": f"Question about kestrel number {i}"}],
        }
        for i in range(8)
    ]
    outcome = await import_conversations(
        service.memory, "default", "claude", parse_export("claude", json.dumps(data).encode())
    )
    assert len(outcome.written) == 8 and outcome.summary is not None and outcome.summary.added == 8
    assert service.memory.stats("default")["notes"] == 9


@pytest.mark.anyio
async def test_import_over_http_and_the_python_client(service, tmp_path: Path) -> None:
    import httpx

    from qmdr.api.app import create_app
    from qmdr.client import AsyncQmdrClient, QmdrClientError

    app = create_app(service.settings, service=service)
    vault = tmp_path / "vault"
    async with AsyncQmdrClient("http://qmdr", transport=httpx.ASGITransport(app)) as client:
        done = await client.import_export("chatgpt", chatgpt_zip(tmp_path))
        assert done.conversations == 2 and len(done.written) == 2 and done.index.added == 2
        again = await client.import_export("claude", CLAUDE_JSON.read_bytes(), folder="chats")
        assert again.written == ["chats/claude/2024-06-10-choosing-a-vector-index-0b9f5a627c1e.md"]
        before = sorted(p.relative_to(vault).as_posix() for p in vault.rglob("*.md"))
        with pytest.raises(QmdrClientError) as caught:
            await client.import_export("claude", CLAUDE_JSON.read_bytes()[:-40])
        assert caught.value.status == 422 and "not valid JSON" in caught.value.detail
        assert sorted(p.relative_to(vault).as_posix() for p in vault.rglob("*.md")) == before
        with pytest.raises(QmdrClientError) as caught:
            await client.import_export("claude", CLAUDE_JSON, vault="nobody")
        assert caught.value.status == 404
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://qmdr") as http:
        response = await http.post("/vaults/default/import/gemini", content=b"[]")
        assert response.status_code == 422
