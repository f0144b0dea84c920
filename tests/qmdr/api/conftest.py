"""An app over a real in-memory index and a real settings store in tmp_path, with injected provider env."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.qmdr.app_clients import MakeClient, app_client_factory

ENCRYPTION_KEY = "test-encryption-key-0123456789abcdef"


@pytest.fixture
def make_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeClient]:
    """make_client(env={...}, **settings) -> a TestClient whose service reads provider keys from ``env``."""
    with app_client_factory(tmp_path, monkeypatch, ENCRYPTION_KEY) as make:
        yield make
