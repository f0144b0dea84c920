"""The public surface of the vault package and its error tree."""

from __future__ import annotations

import ast
from pathlib import Path

import vault
from vault import errors


def test_every_public_name_is_exported_and_importable() -> None:
    for name in vault.__all__:
        assert hasattr(vault, name), name
    expected = {
        "scan_vault",
        "read_note",
        "parse_note",
        "chunk_note",
        "ChunkingOptions",
        "Note",
        "Chunk",
        "Skipped",
        "safe_note_path",
        "IngestError",
        "PathOutsideVault",
        "NoteTooLarge",
        "BinaryNote",
    }
    assert expected <= set(vault.__all__)


def test_every_error_class_derives_from_ingest_error_and_is_exported() -> None:
    classes = [obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, Exception)]
    assert len(classes) >= 8
    for cls in classes:
        assert issubclass(cls, vault.IngestError)
        assert cls.__name__ in vault.__all__
        assert cls.__name__ in (errors.__doc__ or ""), f"{cls.__name__} missing from the drawn tree"


def test_error_messages_say_what_happened() -> None:
    assert "101" in str(vault.NoteTooLarge("a.md", 101, 100))
    assert "'..' is not allowed" in str(vault.PathOutsideVault("../a.md", "'..' is not allowed"))


def test_vault_imports_neither_qmdr_nor_providers() -> None:
    package = Path(vault.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"qmdr", "providers"}, f"{source.name} imports {name}"


def test_every_public_name_is_the_object_its_module_defines() -> None:
    import importlib

    assert set(vault.__all__) == set(vault._EXPORTS)
    for name in vault.__all__:
        assert getattr(vault, name) is getattr(importlib.import_module(vault._EXPORTS[name]), name), name
    assert set(vault.__all__) <= set(dir(vault))


def test_an_unknown_name_is_an_attribute_error() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        vault.NoSuchThing  # noqa: B018


def test_importing_the_chunker_does_not_import_the_parser_or_scanner() -> None:
    """Why the package exports lazily: a search imports ``vault.chunk`` (snippets) and ``vault.frontmatter``
    (note dates), and must not pay for PyYAML and pathspec, which only reading and scanning notes need."""
    import subprocess
    import sys

    probe = (
        "import sys, vault.chunk, vault.frontmatter, vault.model; "
        "print(sorted(m for m in ('vault.parse', 'vault.scan', 'yaml', 'pathspec') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
