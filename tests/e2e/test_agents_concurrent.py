"""Two agents write and search at once through the API over real sockets while `qmdr serve --watch` runs
and an editor changes files behind the server's back: no write is lost and nothing reports a lock."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from qmdr.client import AsyncQmdrClient
from tests.e2e.qmdr_process import qmdr_env, running_server
from tests.qmdr.memory_service import write_notes

pytestmark = pytest.mark.e2e
#: writes per agent: enough to interleave with the other agent and the watcher, few enough for seconds
ROUNDS = 5
#: guard while waiting for the watcher to index the editor's files; not a speed assertion
WATCH_LIMIT_S = 60.0
WORDS = ["amber", "basalt", "cobalt", "dune", "ember", "fjord", "garnet", "heath", "indigo", "jade"]


async def agent(base: str, name: str, errors: list[str]) -> list[str]:
    """Write a note per round into its own vault, append to one shared note, read its own writes back."""
    tokens = []
    async with AsyncQmdrClient(base, timeout=120) as memory:
        for i in range(ROUNDS):
            token = f"{name}{WORDS[i]}{i}"
            tokens.append(token)
            await memory.remember(f"log/{i}.md", f"# Entry {i}\n\nToday {name} filed {token}.", vault=name)
            # the shared folder is QMDR_VAULT, i.e. the vault named "default"
            await memory.remember("log.md", f"- {name} filed {token}", vault="default", append=True)
            own = await memory.search(token, vaults=[name], mode="keyword", k=3)
            if [r.path for r in own.results][:1] != [f"log/{i}.md"]:
                errors.append(f"{name} could not read its write {token}: {own.results}")
            await memory.context(f"what did {name} file", budget=300, vaults=[name, "default"])
    return tokens


@pytest.mark.anyio
async def test_two_agents_and_an_editor_concurrently(tmp_path: Path) -> None:
    folders = {
        name: write_notes(tmp_path / "vaults" / name, {"readme.md": f"# {name}\n\nVault of {name}.\n"})
        for name in ("alice", "bob", "shared")
    }
    env = qmdr_env(
        tmp_path / "data",
        QMDR_VAULT=str(folders["shared"]),
        QMDR_WATCH_DEBOUNCE_S="0.3",
        QMDR_VAULT_ROOTS=json.dumps([str(tmp_path / "vaults")]),
    )
    with running_server(env, cwd=tmp_path, extra_args=("--watch",)) as base:
        async with AsyncQmdrClient(base, timeout=120) as admin:
            for name in ("alice", "bob"):
                await admin.add_vault(name, str(folders[name]))
            await admin.remove_vault("bob")  # and back: removal must not disturb the watcher
            await admin.add_vault("bob", str(folders["bob"]))

            async def editor() -> None:
                for i in range(ROUNDS):
                    (folders["shared"] / f"edited{i}.md").write_text(f"# Edited {i}\n\nThe editor typed quokka{i}.\n")
                    await asyncio.sleep(0.05)

            errors: list[str] = []
            alice, bob, _ = await asyncio.gather(agent(base, "alice", errors), agent(base, "bob", errors), editor())
            assert errors == []

            shared_log = (folders["shared"] / "log.md").read_text()
            for token in alice + bob:
                assert token in shared_log, f"lost append {token}"
            indexed_log = await admin.get_note("log.md", vault="default")
            assert all(token in "".join(c.text for c in indexed_log.chunks) for token in alice + bob)
            for token in alice:
                found = await admin.search(token, vaults=["alice"], mode="keyword", k=1)
                assert found.results and found.results[0].vault == "alice"

            deadline = time.monotonic() + WATCH_LIMIT_S
            while True:
                found = await admin.search(
                    "quokka0 quokka1 quokka2 quokka3 quokka4",
                    vaults=["default"],
                    mode="keyword",
                    k=20,
                    group_by_note=True,
                )
                if {r.path for r in found.results} >= {f"edited{i}.md" for i in range(ROUNDS)}:
                    break
                assert time.monotonic() < deadline, "the watcher never indexed the editor's files"
                await asyncio.sleep(0.3)
        log = (tmp_path / next(p.name for p in tmp_path.glob("qmdr-serve-*.log"))).read_text()
        assert "database is locked" not in log and "IndexBusy" not in log and "Traceback" not in log, log[-3000:]
