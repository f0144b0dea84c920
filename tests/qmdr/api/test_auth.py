"""Every route but /health needs the API token; wrong or missing tokens get a 401 saying what to send."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from qmdr.api.deps import require_token, token_matches
from qmdr.ui.web import require_login

TOKEN = "test-api-token-0123456789"
#: routes anyone may call: the container healthcheck and load balancers have no token
OPEN_ROUTES = {"/health"}
#: the docs pages send a browser without a session to the login page themselves (tested below)
DOCS_PAGES = {"/docs", "/redoc"}
#: the dashboard's login and static files: its own session auth (qmdr.ui) guards the rest of /ui;
#: the Swagger UI and ReDoc bundles are public files that hold nothing of this server
DASHBOARD_OPEN = re.compile(r"^/ui(/login|/logout)?$|^/ui/static|^/docs/static$")


def effective_routes(app) -> Iterator[tuple[str, set[str], Any]]:  # noqa: ANN001
    """(path, methods, dependant) of every endpoint, with the including router's dependencies merged.

    FastAPI >= 0.165 keeps included routers as ``_IncludedRouter`` entries and
    builds the effective routes lazily; older versions copy ``APIRoute`` objects.
    """
    for route in app.routes:
        if isinstance(route, APIRoute):
            yield route.path, set(route.methods), route.dependant
        elif hasattr(route, "effective_route_contexts"):
            for context in route.effective_route_contexts():
                if context.dependant is not None:
                    yield context.path, set(context.methods), context.dependant


def dependency_calls(dependant: Any) -> set:
    """Every callable the endpoint depends on, through sub-dependencies."""
    found, todo = set(), [dependant]
    while todo:
        dependant = todo.pop()
        if dependant.call is not None:
            found.add(dependant.call)
        todo.extend(dependant.dependencies)
    return found


def concrete_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


@pytest.fixture
def client(make_client):
    # the route walk sends one wrong token per route: more than the throttle lets through by default
    return make_client(qmdr_api_token=TOKEN, qmdr_auth_free_failures=10_000)


def test_every_api_route_but_health_depends_on_require_token(client) -> None:
    checked = 0
    for route in client.app.routes:
        if isinstance(route, Mount):
            assert DASHBOARD_OPEN.match(route.path), f"unexpected mount {route.path}"
    for path, _, dependant in effective_routes(client.app):
        calls = dependency_calls(dependant)
        if path in OPEN_ROUTES or path in DOCS_PAGES:
            assert require_token not in calls
        elif path.startswith("/ui"):
            assert require_login in calls or DASHBOARD_OPEN.match(path), path
        else:
            assert require_token in calls, f"{path} does not require the API token"
            checked += 1
    assert checked >= 10  # search, reindex, notes, providers, settings, models, chat, vaults, memory, metrics


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer "},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ],
    ids=["missing", "wrong", "empty", "no-scheme", "basic"],
)
def test_every_protected_route_answers_401_saying_what_to_send(client, headers) -> None:
    refused = 0
    for path, methods, _ in effective_routes(client.app):
        if path in OPEN_ROUTES or path in DOCS_PAGES or path.startswith("/ui"):
            continue
        for method in sorted(methods - {"HEAD"}):
            answer = client.request(method, concrete_path(path), headers=headers, json={})
            assert answer.status_code == 401, (method, path, answer.status_code)
            body = answer.json()
            assert answer.headers["content-type"] == "application/problem+json"
            assert {k: body[k] for k in ("type", "title", "status")} == {
                "type": "about:blank",
                "title": "Unauthorized",
                "status": 401,
            }
            assert "Authorization: Bearer <QMDR_API_TOKEN>" in body["detail"]
            assert answer.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in answer.text
            refused += 1
    assert refused >= 10


def test_the_right_token_passes_and_health_needs_none(client) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/reindex/status", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    client.cookies.set("qmdr_session", "forged")
    assert client.get("/reindex/status").status_code == 401
    client.cookies.clear()


def test_without_a_configured_token_routes_are_open(make_client) -> None:
    assert make_client().get("/reindex/status").status_code == 200


def test_token_comparison_is_constant_time_and_exact(monkeypatch) -> None:
    """token_matches must go through hmac.compare_digest (constant time), never ==."""
    import qmdr.api.deps as deps

    seen = []
    real = deps.hmac.compare_digest

    def spy(a, b):  # noqa: ANN001, ANN202
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(deps.hmac, "compare_digest", spy)
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN[:-1], TOKEN)
    assert not token_matches(TOKEN + "0", TOKEN)
    assert not token_matches("", TOKEN) and not token_matches(None, TOKEN)
    assert not token_matches("tëst", TOKEN)  # non-ASCII does not crash the comparison
    assert len(seen) == 4 and all(isinstance(a, bytes) for a, _ in seen)


def signed_in(client) -> None:  # noqa: ANN001
    from qmdr.api.deps import SESSION_COOKIE, session_cookie_value

    client.cookies.set(SESSION_COOKIE, session_cookie_value(TOKEN))


@pytest.mark.parametrize(
    "origin_headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://testserver:3000"},
        {"Referer": "http://evil.example/page"},
        {},
    ],
    ids=["other-site", "other-port", "referer", "none"],
)
def test_the_session_cookie_cannot_change_state_from_another_origin(client, origin_headers) -> None:
    """A bodyless cross-origin POST /reindex with the dashboard's cookie: refused, and no reindex starts."""
    signed_in(client)
    answer = client.post("/reindex", headers=origin_headers)
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert "Authorization: Bearer" in answer.json()["detail"]
    assert client.app.state.service.memory.jobs.status.state == "idle"
    client.cookies.clear()


def test_the_session_cookie_works_from_our_own_pages(client) -> None:
    signed_in(client)
    assert client.get("/reindex/status").status_code == 200  # reads need no Origin (browsers omit it on GET)
    answer = client.put("/settings/defaults", headers={"Origin": "http://testserver"}, json={"thinking_level": "low"})
    assert answer.status_code == 200 and answer.json()["thinking_level"] == "low"
    client.cookies.clear()


def test_the_bearer_token_needs_no_origin(client) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"}
    answer = client.put("/settings/defaults", headers=headers, json={"thinking_level": "high"})
    assert answer.status_code == 200


def test_the_docs_pages_send_a_browser_without_a_session_to_the_login(client) -> None:
    for page in sorted(DOCS_PAGES):
        answer = client.get(page, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == f"/ui/login?next={page}"
        assert client.get(page, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/openapi.json").status_code == 401


def test_without_a_token_the_docs_are_open_like_the_api(make_client) -> None:
    open_client = make_client()
    assert open_client.get("/docs").status_code == 200 and open_client.get("/openapi.json").status_code == 200
