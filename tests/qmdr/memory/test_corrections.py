"""Correcting memory: supersedes (the old note drops out of search and context) and near duplicates on write."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from qmdr.api.app import create_app
from qmdr.client import AsyncQmdrClient, QmdrClientError
from qmdr.errors import InvalidQuery, NotFound
from qmdr.memory.context import build_context
from qmdr.memory.corrections import find_similar, remember
from tests.qmdr.memory_service import make_service, write_notes
from vault.frontmatter import split_frontmatter

NOTES = {
    "facts/retries.md": "# Retries\n\nUploads retry three times with a fixed delay of one second.\n",
    "journal/herons.md": "# Herons\n\nGrey herons nest in colonies high in trees near water.\n",
}
#: cosine line for the hashed bag-of-words test embedder: a reordered restatement scores ~0.95, other notes < 0.5
THRESHOLD = 0.8


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def service(request, tmp_path: Path):
    """The default vault on each store: duplicate search and superseded filtering go through the store."""
    vault = write_notes(tmp_path / "vault", NOTES)
    if request.param == "postgres":
        service = make_service(
            tmp_path, vault, qmdr_duplicate_threshold=THRESHOLD, qmdr_database_url=request.getfixturevalue("pg_url")
        )
    else:
        service = make_service(tmp_path, vault, qmdr_duplicate_threshold=THRESHOLD)
    await service.memory.reindex("default")
    yield service
    await service.aclose()


@pytest.mark.anyio
async def test_superseded_note_leaves_search_and_context_until_asked_for(service, tmp_path: Path) -> None:
    done = await remember(
        service.memory,
        "default",
        "facts/retries-v2",
        content="# Retries\n\nUploads retry with exponential backoff capped at eight seconds.\n",
        supersedes="facts/retries.md",
        threshold=THRESHOLD,
    )
    assert done.action == "written" and done.path == "facts/retries-v2.md" and done.superseded == "facts/retries.md"
    old = split_frontmatter((tmp_path / "vault" / "facts/retries.md").read_text())
    assert old.frontmatter == {"superseded_by": "facts/retries-v2.md"}
    assert "fixed delay of one second" in old.body  # the old text is kept, only marked
    new = split_frontmatter((tmp_path / "vault" / "facts/retries-v2.md").read_text())
    assert new.frontmatter == {"supersedes": "facts/retries.md"}

    found = await service.memory.search("uploads retry", mode="keyword")
    assert [h.result.path for h in found.results] == ["facts/retries-v2.md"]
    everything = await service.memory.search("uploads retry", mode="keyword", include_superseded=True)
    assert sorted(h.result.path for h in everything.results) == ["facts/retries-v2.md", "facts/retries.md"]
    block = await build_context(service.memory, ["uploads retry delay"], budget=1000, mode="keyword")
    assert {e.path for e in block.entries} == {"facts/retries-v2.md"}
    block = await build_context(
        service.memory, ["uploads retry delay"], budget=1000, mode="keyword", include_superseded=True
    )
    assert {e.path for e in block.entries} == {"facts/retries-v2.md", "facts/retries.md"}


@pytest.mark.anyio
async def test_a_search_still_fills_k_when_superseded_notes_rank_first(service) -> None:
    for i in range(4):
        await remember(
            service.memory,
            "default",
            f"old/fact{i}",
            content=f"# Fact {i}\n\nKestrel count {i}.\n",
            threshold=THRESHOLD,
        )
        await remember(
            service.memory,
            "default",
            f"new/fact{i}",
            content=f"# Fact {i}\n\nNew tally {i}.\n",
            supersedes=f"old/fact{i}",
            on_duplicate="write",
            threshold=THRESHOLD,
        )
    for i in range(3):
        await remember(
            service.memory,
            "default",
            f"other/k{i}",
            content=f"# Other {i}\n\nA kestrel again {i}.\n",
            threshold=THRESHOLD,
        )
    found = await service.memory.search("kestrel", mode="keyword", k=3)
    assert len(found.results) == 3 and all(h.result.path.startswith("other/") for h in found.results)


@pytest.mark.anyio
async def test_supersedes_a_missing_note_or_itself_writes_nothing(service, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="supersedes: no note at 'facts/gone.md'"):
        await remember(
            service.memory, "default", "facts/new", content="New text.", supersedes="facts/gone", threshold=THRESHOLD
        )
    assert not (tmp_path / "vault" / "facts/new.md").exists()
    with pytest.raises(InvalidQuery, match="cannot supersede itself"):
        await remember(
            service.memory, "default", "facts/retries", content="x", supersedes="facts/retries.md", threshold=THRESHOLD
        )


@pytest.mark.anyio
async def test_a_restated_fact_is_reported_and_skip_or_merge_act_on_it(service, tmp_path: Path) -> None:
    restated = "# Retries\n\nWith a fixed delay of one second, uploads retry three times.\n"
    similar = await find_similar(service.memory, "default", "facts/again.md", restated, threshold=THRESHOLD)
    assert [(s.path, s.start_line, s.end_line) for s in similar] == [("facts/retries.md", 1, 3)]
    assert THRESHOLD <= similar[0].similarity <= 1.0
    unrelated = await find_similar(
        service.memory,
        "default",
        "facts/other.md",
        "# Kestrels\n\nKestrels hover over motorway verges.\n",
        threshold=THRESHOLD,
    )
    assert unrelated == []

    skipped = await remember(
        service.memory, "default", "facts/again", content=restated, on_duplicate="skip", threshold=THRESHOLD
    )
    assert skipped.action == "skipped" and skipped.write is None and skipped.similar
    assert not (tmp_path / "vault" / "facts/again.md").exists()

    merged = await remember(
        service.memory,
        "default",
        "facts/again",
        on_duplicate="merge",
        threshold=THRESHOLD,
        content="# Retries\n\nUploads retry three times with a fixed delay of one second, jittered.",
    )
    assert merged.action == "merged" and merged.path == "facts/retries.md"
    text = (tmp_path / "vault" / "facts/retries.md").read_text()
    assert text.startswith("# Retries") and text.rstrip().endswith("of one second, jittered.")
    assert not (tmp_path / "vault" / "facts/again.md").exists()

    written = await remember(service.memory, "default", "facts/again", content=restated, threshold=THRESHOLD)
    assert written.action == "written" and written.similar[0].path == "facts/retries.md"
    assert (tmp_path / "vault" / "facts/again.md").is_file()


@pytest.mark.anyio
async def test_updating_a_note_is_not_its_own_duplicate_and_embeds_each_chunk_once(service) -> None:
    embedder = service.embedder
    before = embedder.texts_embedded
    done = await remember(
        service.memory,
        "default",
        "facts/retries",
        content="# Retries\n\nUploads retry three times with a fixed delay of two seconds.\n",
        threshold=THRESHOLD,
    )
    assert done.similar == [] and done.write is not None and done.write.summary.changed == 1
    assert embedder.texts_embedded - before == 1  # the check's vector is reused by the index (embedding cache)


@pytest.mark.anyio
async def test_notes_api_and_client_carry_supersedes_and_similar(service) -> None:
    app = create_app(service.settings, service=service)
    async with AsyncQmdrClient("http://qmdr", transport=httpx.ASGITransport(app)) as client:
        answer = await client.remember(
            "facts/again",
            "# Retries\n\nUploads retry three times with a fixed delay of one second.\n",
            on_duplicate="skip",
        )
        assert answer.action == "skipped" and answer.created is False
        assert answer.similar[0].path == "facts/retries.md" and answer.similar[0].lines == [1, 3]
        answer = await client.remember("facts/retries-v2", "Exponential backoff now.", supersedes="facts/retries")
        assert answer.action == "written" and answer.superseded == "facts/retries.md" and answer.created
        hits = await client.search("retries", mode="keyword")
        assert [h.path for h in hits.results] == ["facts/retries-v2.md"]
        hits = await client.search("retries", mode="keyword", include_superseded=True)
        assert {h.path for h in hits.results} == {"facts/retries-v2.md", "facts/retries.md"}
        with pytest.raises(QmdrClientError) as caught:
            await client.remember("facts/x", "text", supersedes="nope")
        assert caught.value.status == 404
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://qmdr") as http:
        response = await http.post("/vaults/default/notes", json={"path": "a", "content": "b", "on_duplicate": "drop"})
        assert response.status_code == 422 and "on_duplicate" in response.text


def test_cli_search_leaves_superseded_notes_out_unless_asked(tmp_path: Path, monkeypatch) -> None:
    import json

    from typer.testing import CliRunner

    from qmdr.cli.main import app

    vault = write_notes(
        tmp_path / "vault",
        {
            "facts/old.md": "---\nsuperseded_by: facts/new.md\n---\n# Limit\n\nThe upload limit is 10 megabytes.\n",
            "facts/new.md": "---\nsupersedes: facts/old.md\n---\n# Limit\n\nThe upload limit is 50 megabytes.\n",
        },
    )
    monkeypatch.setenv("QMDR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QMDR_VAULT", str(vault))
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(vault)]).exit_code == 0
    for extra, expected in (([], ["facts/new.md"]), (["--include-superseded"], ["facts/new.md", "facts/old.md"])):
        for scope in ([], ["--vault", "all"]):
            result = runner.invoke(app, ["search", "upload limit", "--mode", "keyword", "--json", *scope, *extra])
            assert result.exit_code == 0, result.output
            assert sorted(r["path"] for r in json.loads(result.stdout)["results"]) == expected


@pytest.mark.anyio
async def test_superseded_answers_are_reused_until_the_index_changes(service, tmp_path: Path) -> None:
    """A search over an unchanged index reads no note to filter superseded ones; any commit refreshes them."""
    store = service.memory.open("default").store
    reads: list[str] = []
    original = store.get_note

    def counting(path: str):  # type: ignore[no-untyped-def]
        reads.append(path)
        return original(path)

    store.get_note = counting  # type: ignore[method-assign]
    try:
        await service.memory.search("uploads retry", mode="keyword")
        assert reads == ["facts/retries.md"]
        await service.memory.search("uploads retry", mode="keyword")
        assert reads == ["facts/retries.md"], "unchanged index: answered from memory"
        # another process marks the note superseded: the commit bumps the generation, the next search sees it
        (tmp_path / "vault" / "facts/retries.md").write_text(
            "---\nsuperseded_by: facts/new.md\n---\n" + NOTES["facts/retries.md"]
        )
        await service.memory.index_paths("default", ["facts/retries.md"])
        found = await service.memory.search("uploads retry", mode="keyword")
        assert found.results == [] and reads.count("facts/retries.md") == 2
    finally:
        store.get_note = original  # type: ignore[method-assign]
