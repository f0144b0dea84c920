"""POST /reindex may only index QMDR_VAULT, QMDR_VAULT_ROOTS or registered vaults."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from qmdr.memory.vault_roots import confine
from tests.e2e.reliability_report import record
from vault.errors import PathOutsideVault


def wait_done(client, limit_s: float = 60.0) -> dict:
    """Poll GET /reindex/status until the background job is no longer running."""
    deadline = time.monotonic() + limit_s
    while (status := client.get("/reindex/status").json())["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    return status


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    vault = tmp_path / "vault"
    (vault / "sub").mkdir(parents=True)
    (vault / "sub" / "a.md").write_text("# A\n\nalpha\n")
    extra = tmp_path / "extra"
    extra.mkdir()
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "passwords.md").write_text("# Private\n\nhunter2\n")
    os.symlink(outside, vault / "escape")
    return {"vault": vault, "extra": extra, "outside": outside}


def test_confine_accepts_roots_and_their_subfolders(layout) -> None:
    roots = [layout["vault"].resolve(), layout["extra"].resolve()]
    assert confine(str(layout["vault"]), roots) == roots[0]
    assert confine("sub", roots) == roots[0] / "sub"  # relative: to QMDR_VAULT
    assert confine(str(layout["extra"]), roots) == roots[1]
    assert confine(str(layout["vault"] / "sub" / ".." / "sub"), roots) == roots[0] / "sub"


@pytest.mark.parametrize(
    "attempt", ["..", "../secret", "sub/../../secret", "escape", "/", "/etc", "~", "\x00", "x" * 5000]
)
def test_confine_refuses_escapes(layout, attempt: str) -> None:
    roots = [layout["vault"].resolve()]
    with pytest.raises(PathOutsideVault):
        confine(attempt, roots)


def test_confine_refuses_when_no_root_is_configured(layout) -> None:
    with pytest.raises(PathOutsideVault, match="QMDR_VAULT_ROOTS"):
        confine(str(layout["vault"]), [])


def test_reindex_route_refuses_folders_outside_the_roots(make_client, layout) -> None:
    client = make_client(qmdr_vault=layout["vault"], qmdr_vault_roots=[layout["extra"]])
    attempts = (
        str(layout["outside"]),
        "../secret",
        "escape",
        str(layout["vault"] / "escape"),
        "/",
        "0" * 4000,
        "sub/" + "x" * 300,
    )
    for folder in attempts:
        answer = client.post("/reindex", json={"vault": folder})
        assert answer.status_code == 400, folder
        assert answer.json()["error"] == "PathOutsideVault"
    record("bad_input", source="reindex folders outside the roots", cases=len(attempts), server_errors=0)
    assert client.get("/reindex/status").json()["state"] == "idle"  # nothing started
    # inside the roots, but the folder of no vault: indexing it would replace the default vault's notes
    answer = client.post("/reindex", json={"vault": str(layout["extra"])})
    assert answer.status_code == 409 and answer.json()["error"] == "VaultFolderConflict"
    assert "qmdr vault add" in answer.json()["detail"] and str(layout["vault"].resolve()) in answer.json()["detail"]
    assert client.get("/reindex/status").json()["state"] == "idle"


def test_a_root_folder_becomes_the_default_vaults_folder_while_it_has_none(make_client, layout) -> None:
    client = make_client(qmdr_vault_roots=[layout["extra"], layout["vault"]])
    answer = client.post("/reindex", json={"vault": str(layout["vault"])})
    assert answer.status_code == 202
    assert answer.json()["vault"] == str(layout["vault"].resolve()) and answer.json()["name"] == "default"
    assert wait_done(client)["state"] == "done"
    (default,) = client.get("/vaults").json()["vaults"]
    assert default["name"] == "default" and default["folder"] == str(layout["vault"].resolve())
    assert client.post("/reindex", json={"vault": str(layout["extra"])}).status_code == 409  # taken now


def test_reindex_route_without_folder_uses_qmdr_vault(make_client, layout) -> None:
    client = make_client(qmdr_vault=layout["vault"])
    answer = client.post("/reindex", json={})
    assert answer.status_code == 202 and answer.json()["vault"] == str(layout["vault"].resolve())
