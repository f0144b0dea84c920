"""scan_vault: which files are notes, which are skipped and why, and symlink safety."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vault import IgnoreFileError, PathOutsideVault, VaultNotFound, safe_note_path, scan_vault


def write(root: Path, rel: str, text: str = "# note\n\nbody\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def skip_reasons(result) -> dict[str, str]:
    return {s.path: s.reason for s in result.skipped}


def test_scan_finds_markdown_in_any_case_and_returns_sorted_posix_paths(tmp_path: Path) -> None:
    write(tmp_path, "b.md")
    write(tmp_path, "a/deep/c.MARKDOWN")
    write(tmp_path, "A.Md")
    write(tmp_path, "notes.txt")
    write(tmp_path, "image.png")
    result = scan_vault(tmp_path)
    assert result.files == ["A.Md", "a/deep/c.MARKDOWN", "b.md"]
    assert result.skipped == []


def test_scan_leaves_out_hidden_files_and_folders(tmp_path: Path) -> None:
    write(tmp_path, "visible.md")
    write(tmp_path, ".hidden.md")
    write(tmp_path, ".obsidian/workspace.md")
    write(tmp_path, "sub/.trash/old.md")
    assert scan_vault(tmp_path).files == ["visible.md"]


def test_scan_respects_qmdrignore_with_gitignore_syntax(tmp_path: Path) -> None:
    write(tmp_path, ".qmdrignore", "# private stuff\ndrafts/\n*.tmp.md\n!keep.tmp.md\n/top-only.md\n")
    write(tmp_path, "drafts/a.md")
    write(tmp_path, "projects/drafts/b.md")
    write(tmp_path, "x.tmp.md")
    write(tmp_path, "keep.tmp.md")
    write(tmp_path, "top-only.md")
    write(tmp_path, "sub/top-only.md")
    write(tmp_path, "kept.md")
    assert scan_vault(tmp_path).files == ["keep.tmp.md", "kept.md", "sub/top-only.md"]


def test_scan_reports_oversize_notes_with_size_and_limit(tmp_path: Path) -> None:
    write(tmp_path, "small.md", "x" * 100)
    write(tmp_path, "big.md", "x" * 101)
    result = scan_vault(tmp_path, max_bytes=100)
    assert result.files == ["small.md"]
    reason = skip_reasons(result)["big.md"]
    assert reason.startswith("too large") and "101" in reason and "100" in reason


def test_scan_raises_for_missing_vault(tmp_path: Path) -> None:
    with pytest.raises(VaultNotFound):
        scan_vault(tmp_path / "nope")
    write(tmp_path, "file.md")
    with pytest.raises(VaultNotFound):
        scan_vault(tmp_path / "file.md")


def test_scan_refuses_an_ignore_file_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / ".qmdrignore").mkdir()
    write(tmp_path, "a.md")
    with pytest.raises(IgnoreFileError):
        scan_vault(tmp_path)


def test_scan_does_not_loop_on_symlink_cycles(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    write(vault, "sub/note.md")
    os.symlink(vault, vault / "sub" / "back-to-root")
    os.symlink("../sub", vault / "sub" / "self")
    result = scan_vault(vault)
    assert result.files == ["sub/note.md"]
    reasons = skip_reasons(result)
    assert "cycle" in reasons["sub/back-to-root"]
    assert "cycle" in reasons["sub/self"]


def test_scan_does_not_follow_symlinks_out_of_the_vault(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    outside = tmp_path / "outside"
    write(vault, "in.md")
    write(outside, "secret.md")
    os.symlink(outside, vault / "escape-dir")
    os.symlink(outside / "secret.md", vault / "escape.md")
    result = scan_vault(vault)
    assert result.files == ["in.md"]
    reasons = skip_reasons(result)
    assert "outside the vault" in reasons["escape-dir"]
    assert "outside the vault" in reasons["escape.md"]


def test_scan_follows_symlinks_inside_the_vault_once(tmp_path: Path) -> None:
    write(tmp_path, "real/a.md")
    write(tmp_path, "other/b.md")
    os.symlink(tmp_path / "other", tmp_path / "linked")  # a second route to other/
    os.symlink(tmp_path / "real" / "a.md", tmp_path / "alias.md")  # a second name for a.md
    result = scan_vault(tmp_path)
    # Real locations win over links, and each file is listed once.
    assert result.files == ["other/b.md", "real/a.md"]
    reasons = skip_reasons(result)
    assert "already scanned as 'other'" in reasons["linked"]
    assert "duplicate" in reasons["alias.md"]


def test_scan_lists_notes_reached_only_through_an_inner_symlink(tmp_path: Path) -> None:
    write(tmp_path, "store/n.md")
    write(tmp_path, ".qmdrignore", "store/\n")
    os.symlink(tmp_path / "store", tmp_path / "view")
    # The link target is ignored, so the link must not bring it back.
    assert scan_vault(tmp_path).files == []
    (tmp_path / ".qmdrignore").unlink()
    assert scan_vault(tmp_path).files == ["store/n.md"]


def test_scan_reports_broken_symlinks(tmp_path: Path) -> None:
    write(tmp_path, "ok.md")
    os.symlink(tmp_path / "missing.md", tmp_path / "dangling.md")
    os.symlink("loop-b.md", tmp_path / "loop-a.md")
    os.symlink("loop-a.md", tmp_path / "loop-b.md")
    result = scan_vault(tmp_path)
    assert result.files == ["ok.md"]
    assert set(skip_reasons(result)) == {"dangling.md", "loop-a.md", "loop-b.md"}
    assert all("broken symlink" in r for r in skip_reasons(result).values())


# --- safe_note_path ------------------------------------------------------------------------------


def test_safe_note_path_resolves_inside_the_vault(tmp_path: Path) -> None:
    write(tmp_path, "a/b.md")
    assert safe_note_path(tmp_path, "a/b.md") == (tmp_path / "a" / "b.md").resolve()
    assert safe_note_path(tmp_path, "./a//new.md") == (tmp_path / "a" / "new.md").resolve()


@pytest.mark.parametrize(
    "rel",
    [
        "../x.md",
        "a/../../x.md",
        "a/../b.md",
        "..\\x.md",
        "/etc/passwd",
        "\\\\server\\share.md",
        "C:/x.md",
        "",
        " ",
        ".",
        "nul\x00.md",
    ],
)
def test_safe_note_path_rejects_paths_that_could_leave_the_vault(tmp_path: Path, rel: str) -> None:
    with pytest.raises(PathOutsideVault):
        safe_note_path(tmp_path, rel)


def test_safe_note_path_rejects_symlinks_that_escape(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    outside = tmp_path / "outside"
    write(outside, "secret.md")
    os.symlink(outside, vault / "door")
    with pytest.raises(PathOutsideVault, match="symlink"):
        safe_note_path(vault, "door/secret.md")
    with pytest.raises(PathOutsideVault):
        safe_note_path(vault, "door/new-file.md")  # writes through the link are refused too


def test_safe_note_path_allows_symlinks_that_stay_inside(tmp_path: Path) -> None:
    write(tmp_path, "real/n.md")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    assert safe_note_path(tmp_path, "alias/n.md") == (tmp_path / "real" / "n.md").resolve()
