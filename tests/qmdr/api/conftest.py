"""An app over a real in-memory index and a real settings store in tmp_path, with injected provider env."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qmdr.api.app import create_app
from qmdr.service import Service
from qmdr.settings import Settings
from qmdr.store.sqlite import SqliteStore

ENCRYPTION_KEY = "test-encryption-key-0123456789abcdef"


@pytest.fixture
def make_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., TestClient]]:
    """make_client(env={...}, **settings) -> a TestClient whose service reads provider keys from ``env``."""
    clients: list[TestClient] = []
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)

    def make(env: dict[str, str] | None = None, **overrides: object) -> TestClient:
        values = {"qmdr_data_dir": tmp_path / "data", "secret_encryption_key": ENCRYPTION_KEY, **overrides}
        settings = Settings(**values)
        service = Service.from_settings(settings, store=SqliteStore(memory=True), env=env or {})
        client = TestClient(create_app(settings, service=service))
        client.__enter__()  # one event loop for the client's life: the service's HTTP pool is bound to it
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
        client.app.state.service.store.close()
        client.app.state.service.secrets.close()
