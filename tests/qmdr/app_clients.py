"""TestClients over the real app: a real in-memory index and a real settings store under tmp_path.

The API and dashboard tests both build clients this way; each passes its own
encryption key so it can look for that key's ciphertext (and never the
plaintext) in its own settings store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qmdr.api.app import create_app
from qmdr.service import Service
from qmdr.settings import Settings
from qmdr.store.sqlite import SqliteStore

MakeClient = Callable[..., TestClient]


@contextlib.contextmanager
def app_client_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encryption_key: str) -> Iterator[MakeClient]:
    """Yield ``make(env={...}, **settings)``: a TestClient whose service reads provider keys from ``env``.

    The process's QMDR settings variables are cleared first, so only what a test passes counts;
    every client made is closed, with its store and settings store, on exit.
    """
    clients: list[TestClient] = []
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)

    def make(env: dict[str, str] | None = None, **overrides: object) -> TestClient:
        values = {"qmdr_data_dir": tmp_path / "data", "secret_encryption_key": encryption_key, **overrides}
        settings = Settings(**values)
        service = Service.from_settings(settings, store=SqliteStore(memory=True), env=env or {})
        client = TestClient(create_app(settings, service=service))
        client.__enter__()  # one event loop for the client's life: the service's HTTP pool is bound to it
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            client.__exit__(None, None, None)
            client.app.state.service.store.close()
            client.app.state.service.secrets.close()
