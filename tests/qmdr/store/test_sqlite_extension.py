"""The SQLite store loads sqlite-vec from the path its package gives, without importing the package."""

from __future__ import annotations

import subprocess
import sys

from qmdr.store import sqlite as sqlite_store


def test_the_extension_path_is_the_one_the_sqlite_vec_package_gives():
    import sqlite_vec

    assert sqlite_store.sqlite_vec_library() == sqlite_vec.loadable_path()


def test_opening_a_store_imports_neither_the_sqlite_vec_package_nor_numpy(tmp_path):
    """The package's ``__init__`` imports numpy (~60 ms a CLI call) for a helper qmdr does not use."""
    probe = (
        "import sys\n"
        "from qmdr.store.sqlite import SqliteStore\n"
        f"store = SqliteStore({str(tmp_path / 'index.sqlite')!r})\n"
        "assert store.stats().chunks == 0\n"
        "store.close()\n"
        "print(sorted(m for m in ('sqlite_vec', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
