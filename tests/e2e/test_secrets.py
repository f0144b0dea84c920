"""Known fake secrets go in; none comes out: not in responses, logs (DEBUG, JSON), tracebacks or files.

A real ``qmdr serve`` runs with an API token, an encryption key, provider keys
in the environment, a key stored through the API and a custom provider whose
server *echoes the key it was sent* in its 401 body. The test then calls every
route of the OpenAPI spec (with and without the token), the error paths
(401, 404, 413, 422, provider auth failure, provider outage) and ``qmdr status``;
afterwards it searches every response, the server's whole log, and every file
in the data directory (SQLite files and their WAL) for each secret, in plain
text and in the encodings a leak would most likely take.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.fake_openai_server import FakeOpenAIServer
from tests.e2e.qmdr_process import qmdr_env, qmdr_executable, running_server, wait_for_reindex
from tests.e2e.reliability_report import record

pytestmark = pytest.mark.e2e
SAMPLE_VAULT = Path(__file__).resolve().parents[2] / "examples" / "notes"

SECRETS = {
    "QMDR_API_TOKEN": "qmdr-token-SECRET-7f3a9c1e5b",
    "SECRET_ENCRYPTION_KEY": "enc-key-SECRET-0d4e8b2f6a1c9e7d",
    "QMD_OPENAI_API_KEY": "sk-qmd-SECRET-a1b2c3d4e5f6",
    "OPENROUTER_API_KEY": "sk-or-v1-SECRET-99887766554433",
    "ANTHROPIC_API_KEY": "sk-ant-SECRET-1029384756abcd",
}
STORED_KEY = "sk-mistral-SECRET-stored-5566778899"
LEAKY_KEY = "sk-leaky-SECRET-custom-1122334455"


def encodings(secret: str) -> list[bytes]:
    """The secret as it would appear in a leak: raw, base64, JSON-escaped, percent-encoded, and its core."""
    raw = secret.encode()
    core = re.sub(r"^.*SECRET-", "", secret).encode()  # the random tail alone, if a prefix were stripped
    return [raw, base64.b64encode(raw), json.dumps(secret).encode(), raw.replace(b"-", b"%2D"), core]


@pytest.fixture
def servers():
    with (
        FakeOpenAIServer(api_key=SECRETS["QMD_OPENAI_API_KEY"]) as good,
        FakeOpenAIServer(api_key="sk-the-right-one-000000", echo_key_in_errors=True) as leaky,
    ):
        yield good, leaky


def test_no_secret_leaks_anywhere(tmp_path: Path, servers) -> None:
    good, leaky = servers
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault)
    data = tmp_path / "data"
    env = qmdr_env(
        data,
        **SECRETS,
        QMDR_VAULT=str(vault),
        QMDR_LOG_LEVEL="DEBUG",
        QMDR_LOG_FORMAT="json",
        QMD_EMBED_PROVIDER="openai",
        QMD_OPENAI_BASE_URL=good.base_url,
        QMD_OPENAI_EMBED_MODEL="fake-embed",
        QMD_RERANK_PROVIDER="openai",
        QMD_OPENAI_MODEL="fake-chat",
    )
    seen: list[bytes] = []
    calls = 0

    def keep(response: httpx.Response) -> httpx.Response:
        nonlocal calls
        calls += 1
        response.read()
        seen.append(response.content)
        seen.append(json.dumps(dict(response.headers)).encode())
        return response

    auth = {"Authorization": f"Bearer {SECRETS['QMDR_API_TOKEN']}"}
    with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:

        def call(method: str, path: str, *, ok: bool = True, **kwargs) -> httpx.Response:  # noqa: ANN003
            answer = keep(client.request(method, path, headers={**auth, **kwargs.pop("headers", {})}, **kwargs))
            assert answer.status_code < 500 or not ok, (method, path, answer.status_code, answer.text[:300])
            return answer

        # indexing through the keyed embedding provider, then every kind of search
        assert call("POST", "/reindex", json={}).status_code == 202
        assert wait_for_reindex(httpx.Client(base_url=base, headers=auth))["state"] == "done"
        for body in (
            {"query": "retries"},
            {"query": "retries", "mode": "vector"},
            {"query": "retries", "rerank": True, "expand": True},
            {"query": "x" * 3000},
            {"query": ""},
        ):
            call("POST", "/search", json=body)
        # the provider and settings routes, including a stored key and a custom provider that echoes keys
        call("PUT", "/providers/mistral/key", json={"api_key": STORED_KEY})
        call("POST", "/providers/custom", json={"slug": "leaky", "base_url": leaky.base_url, "api_key": LEAKY_KEY})
        call("POST", "/providers/custom-leaky/test")
        refused = call(
            "POST",
            "/chat",
            ok=False,
            json={"model": "custom-leaky/fake-chat", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert refused.status_code >= 400  # the provider said 401 and quoted our key back
        assert any(r.path == "/v1/chat/completions" for r in leaky.requests)
        good.fail_next(503, times=20)
        call("POST", "/search", ok=False, json={"query": "provider outage", "mode": "vector"})
        good.clear_faults()
        call(
            "POST",
            "/chat",
            ok=False,
            json={"model": "openrouter/openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        )
        call("POST", "/providers/openrouter/test", ok=False)
        # every GET route of the spec, with and without the token, plus error paths
        spec = call("GET", "/openapi.json").json()
        for path, operations in spec["paths"].items():
            concrete = re.sub(r"\{[^}]+\}", "default", path)
            if "get" in operations:
                call("GET", concrete, ok=False)
            for method in operations:
                keep(client.request(method.upper(), concrete, headers={"Authorization": "Bearer wrong"}))
        call("POST", "/search", content=b"{" * (3 * 1024 * 1024), headers={"content-type": "application/json"})
        call("GET", "/notes/../../etc/passwd")
        call("GET", "/health")
        call("GET", "/metrics")
        call("DELETE", "/providers/mistral/key")
    status = subprocess.run(
        [qmdr_executable(), "status", "--json"], env=env, cwd=tmp_path, capture_output=True, timeout=120
    )
    seen += [status.stdout, status.stderr]
    time.sleep(0.1)
    logs = b"".join(p.read_bytes() for p in tmp_path.glob("qmdr-serve-*.log"))
    assert b'"request_id"' in logs and b'"level": "DEBUG"' in logs  # the JSON logs really ran at DEBUG
    files = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    assert any(p.name.endswith(".sqlite") for p in files)  # the index and the settings store
    leaks = []
    everything = {"responses": b"\n".join(seen), "logs": logs, **{str(p): b for p, b in files.items()}}
    for name, secret in [*SECRETS.items(), ("stored", STORED_KEY), ("custom", LEAKY_KEY)]:
        for form in encodings(secret):
            leaks += [f"{name} in {where}" for where, blob in everything.items() if form in blob]
    assert leaks == []
    record("secrets", calls=calls, secrets=len(SECRETS) + 2, places=len(everything), leaked=len(leaks))
