"""The auth walk: every route of the app, called with every kind of credential, answers the expected class.

Kinds: no token, a wrong token, a revoked agent token, the admin QMDR_API_TOKEN,
an agent token that reads ``alice`` (and ``default``), one that reads and writes
them, and one scoped to another vault (``bob``). Every route must be classified
in ``API_ROUTES`` (or be a dashboard page): a new route fails this test until
someone decides who may call it, and an unclassified route is admin-only for
agent tokens anyway (``require_token``'s default deny). The dashboard's pages
(everything under /ui but its login) are the admin's: an agent token is sent to the login.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from qmdr.access.tokens import create_token, revoke_token
from qmdr.api.app import create_app
from qmdr.api.deps import token_store_of
from qmdr.memory.hub import VaultHub
from qmdr.service import Service
from qmdr.settings import Settings
from qmdr.wiring import build_components
from tests.qmdr.api.conftest import ENCRYPTION_KEY
from tests.qmdr.api.test_auth import DASHBOARD_OPEN, effective_routes
from tests.qmdr.embedders import HashEmbedder
from tests.qmdr.memory_service import write_notes

ADMIN = "walk-admin-token-0123456789"
NOTE = {"a.md": "# Alpha\n\nHerons nest by the lake.\n"}

# route classes: who gets through (not 401/403) and who is refused
OPEN = "open"  # anyone, even without a token
ANY = "any"  # every valid token; an agent token sees only its vaults in the answer
ADMIN_ONLY = "admin"  # QMDR_API_TOKEN only: agent tokens get 403
READ = "read"  # the vault named by the request must be readable
WRITE = "write"  # the vault named by the request must be writable (rw)
PAGE = "page"  # a browser page: admin (or session) only, everyone else is sent to the login
JOB = "job"  # like READ of the vault the last reindex was of, whose name the refusal does not give away

#: (method, path) -> (class, the vault it concerns, path params, JSON body)
API_ROUTES: dict[tuple[str, str], tuple[str, str | None, dict[str, str], Any]] = {
    ("GET", "/health"): (OPEN, None, {}, None),
    ("POST", "/search"): (READ, "default", {}, {"query": "herons", "mode": "keyword"}),
    ("POST", "/reindex"): (WRITE, "default", {}, None),
    # the walk has started a reindex of default (POST /reindex above): only tokens that read it see its status
    ("GET", "/reindex/status"): (JOB, "default", {}, None),
    ("GET", "/notes/{path:path}"): (READ, "default", {"path": "a.md"}, None),
    ("GET", "/providers"): (ADMIN_ONLY, None, {}, None),
    ("PUT", "/providers/{provider_id}/key"): (ADMIN_ONLY, None, {"provider_id": "nope"}, {"key": "sk-x"}),
    ("DELETE", "/providers/{provider_id}/key"): (ADMIN_ONLY, None, {"provider_id": "nope"}, None),
    ("POST", "/providers/custom"): (ADMIN_ONLY, None, {}, {}),
    ("DELETE", "/providers/custom/{slug}"): (ADMIN_ONLY, None, {"slug": "nope"}, None),
    ("POST", "/providers/{provider_id}/test"): (ADMIN_ONLY, None, {"provider_id": "nope"}, None),
    ("GET", "/settings/defaults"): (ADMIN_ONLY, None, {}, None),
    ("PUT", "/settings/defaults"): (ADMIN_ONLY, None, {}, {"thinking_level": "low"}),
    ("GET", "/models"): (ADMIN_ONLY, None, {}, None),
    ("GET", "/models/resolve"): (ADMIN_ONLY, None, {}, None),
    ("POST", "/chat"): (ADMIN_ONLY, None, {}, {}),
    ("GET", "/vaults"): (ANY, None, {}, None),
    ("POST", "/vaults"): (ADMIN_ONLY, None, {}, {}),
    ("POST", "/vaults/search"): (READ, "alice", {}, {"query": "herons", "vaults": ["alice"], "mode": "keyword"}),
    ("GET", "/vaults/{vault}"): (READ, "alice", {"vault": "alice"}, None),
    ("DELETE", "/vaults/{vault}"): (ADMIN_ONLY, None, {"vault": "zz-missing"}, None),
    ("POST", "/vaults/{vault}/search"): (READ, "alice", {"vault": "alice"}, {"query": "herons", "mode": "keyword"}),
    ("POST", "/vaults/{vault}/reindex"): (WRITE, "alice", {"vault": "alice"}, None),
    ("POST", "/vaults/{vault}/notes"): (WRITE, "alice", {"vault": "alice"}, {"path": "walk.md", "content": "Kites."}),
    ("GET", "/vaults/{vault}/notes/{path:path}"): (READ, "alice", {"vault": "alice", "path": "a.md"}, None),
    ("DELETE", "/vaults/{vault}/notes/{path:path}"): (WRITE, "alice", {"vault": "alice", "path": "gone.md"}, None),
    ("POST", "/context"): (READ, "alice", {}, {"query": "herons", "vaults": ["alice"]}),
    ("POST", "/feedback"): (WRITE, "alice", {}, {"vault": "alice", "path": "a.md", "useful": True}),
    ("GET", "/vaults/{vault}/export"): (READ, "alice", {"vault": "alice"}, None),
    ("POST", "/vaults/{vault}/import/{source}"): (WRITE, "alice", {"vault": "alice", "source": "claude"}, []),
    ("GET", "/metrics"): (ADMIN_ONLY, None, {}, None),
    ("POST", "/tokens"): (ADMIN_ONLY, None, {}, {}),
    ("GET", "/tokens"): (ADMIN_ONLY, None, {}, None),
    ("DELETE", "/tokens/{name}"): (ADMIN_ONLY, None, {"name": "nobody"}, None),
    ("GET", "/openapi.json"): (ANY, None, {}, None),
    ("GET", "/docs"): (PAGE, None, {}, None),
    ("GET", "/redoc"): (PAGE, None, {}, None),
}
#: the vaults each agent token reaches
GRANTS = {"read": {"alice": "r", "default": "r"}, "rw": {"alice": "rw", "default": "rw"}, "other": {"bob": "rw"}}
KINDS = ("none", "wrong", "revoked", "read", "other", "rw", "admin")


@pytest.fixture
def walk(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    default = write_notes(tmp_path / "default", NOTE)
    alice, bob = write_notes(tmp_path / "alice", NOTE), write_notes(tmp_path / "bob", NOTE)
    config = Settings(
        _env_file=None,
        qmdr_data_dir=tmp_path / "data",
        qmdr_vault=default,
        qmdr_api_token=ADMIN,
        qmdr_auth_free_failures=10_000,
        secret_encryption_key=ENCRYPTION_KEY,
    )
    # the providers' routes need the real components; memory uses the deterministic HashEmbedder
    service = Service(config, VaultHub(config, HashEmbedder()), build_components(config, env={}))

    async def prepare() -> None:
        service.memory.add("alice", alice)
        service.memory.add("bob", bob)
        for name in ("default", "alice", "bob"):
            await service.memory.reindex(name)

    anyio.run(prepare)
    with TestClient(create_app(service.settings, service=service)) as client:
        store = token_store_of(client)
        headers = {
            "none": {},
            "admin": {"Authorization": f"Bearer {ADMIN}"},
            "wrong": {"Authorization": "Bearer qmdr_" + "x" * 43},
        }
        for kind, grants in GRANTS.items():
            headers[kind] = {"Authorization": f"Bearer {create_token(store, kind, grants)[1]}"}
        headers["revoked"] = {"Authorization": f"Bearer {create_token(store, 'gone', {'alice': 'rw'})[1]}"}
        revoke_token(store, "gone")
        yield client, headers
    anyio.run(service.aclose)


def expected(route_class: str, vault: str | None, kind: str) -> str:
    """'ok' (through: neither 401 nor 403), '401', '403' or 'login' (a 303 to the dashboard's login)."""
    if route_class == OPEN:
        return "ok"
    if kind in ("none", "wrong", "revoked"):
        return "login" if route_class == PAGE else "401"
    if kind == "admin":
        return "ok"
    if route_class == PAGE:
        return "login"
    if route_class == ADMIN_ONLY:
        return "403"
    if route_class == ANY:
        return "ok"
    right = GRANTS[kind].get(vault or "")
    allowed = right is not None if route_class in (READ, JOB) else right == "rw"
    return "ok" if allowed else "403"


def answer_class(status: int, location: str | None) -> str:
    if status in (401, 403):
        return str(status)
    if status == 303 and (location or "").startswith("/ui/login"):
        return "login"
    return "ok"


def test_every_route_is_classified(walk) -> None:
    client, _ = walk
    routes = {(method, path) for path, methods, _ in effective_routes(client.app) for method in methods - {"HEAD"}}
    dashboard = {r for r in routes if r[1].startswith("/ui") and r not in API_ROUTES}
    unclassified = routes - set(API_ROUTES) - dashboard
    assert not unclassified, f"classify these routes in API_ROUTES (who may call them?): {sorted(unclassified)}"
    assert not set(API_ROUTES) - routes, "API_ROUTES names routes that no longer exist"
    assert len(dashboard) >= 10


def test_every_route_with_every_kind_of_token(walk) -> None:
    client, headers = walk
    checked = 0
    for (method, path), (route_class, vault, params, body) in API_ROUTES.items():
        url = path
        for name, value in params.items():
            url = url.replace(f"{{{name}:path}}", value).replace(f"{{{name}}}", value)
        for kind in KINDS:
            answer = client.request(method, url, headers=headers[kind], json=body, follow_redirects=False)
            got = answer_class(answer.status_code, answer.headers.get("location"))
            want = expected(route_class, vault, kind)
            assert got == want, (method, path, kind, answer.status_code, answer.text[:300])
            assert answer.status_code < 500, (method, path, kind, answer.text[:300])
            if got == "403":
                problem = answer.json()
                assert answer.headers["content-type"] == "application/problem+json"
                assert problem["error"] == "Forbidden" and problem["status"] == 403
                if route_class in (READ, WRITE):
                    assert problem["vault"] == vault and repr(vault) in problem["detail"]
                elif route_class == JOB:
                    assert "vault" not in problem and repr(vault) not in problem["detail"]
                else:
                    assert "admin token" in problem["detail"] and "vault" not in problem
            for value in headers.values():  # no answer ever echoes a token
                token = value.get("Authorization", " ").split(" ", 1)[1]
                assert not token or token not in answer.text
            checked += 1
    assert checked == len(API_ROUTES) * len(KINDS)


def test_no_dashboard_page_lets_an_agent_token_in(walk) -> None:
    """The dashboard (keys, settings, tokens) is the admin's: any bearer but QMDR_API_TOKEN goes to the login."""
    client, headers = walk
    pages = 0
    for path, methods, _ in effective_routes(client.app):
        if not path.startswith("/ui") or DASHBOARD_OPEN.match(path):  # the login form checks its own token
            continue
        url = (
            path.replace("{path:path}", "a.md")
            .replace("{provider_id}", "nope")
            .replace("{slug}", "nope")
            .replace("{name}", "nobody")
        )
        for method in sorted(methods - {"HEAD"}):
            for kind in ("none", "wrong", "read", "rw", "other"):
                data = {"x": "1"} if method == "POST" else None
                answer = client.request(method, url, headers=headers[kind], data=data, follow_redirects=False)
                assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login"), (
                    method,
                    path,
                    kind,
                    answer.status_code,
                )
            admin = client.request(method, url, headers=headers["admin"], follow_redirects=False)
            assert not (admin.status_code == 303 and admin.headers["location"].startswith("/ui/login"))
            pages += 1
    assert pages >= 10
