"""One error body for every 4xx and 5xx: RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

import pytest

from qmdr.api.errors import MAX_ECHO_CHARS
from qmdr.search.limits import MAX_QUERY_CHARS
from tests.qmdr.api.test_auth import concrete_path, effective_routes

TOKEN = "problem-details-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: the members every problem body carries
PROBLEM_MEMBERS = {"type", "title", "status", "detail"}


@pytest.fixture
def client(make_client):
    return make_client(qmdr_api_token=TOKEN, qmdr_auth_free_failures=10_000)


def assert_problem(answer, status: int) -> dict:  # noqa: ANN001
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert set(body) >= PROBLEM_MEMBERS, body
    assert body["status"] == status and isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == answer.headers["x-request-id"]
    return body


def test_our_errors_name_their_type(client) -> None:
    body = assert_problem(client.get("/notes/nope.md", headers=AUTH), 404)
    assert body["type"] == "urn:qmdr:error:NotFound" and body["error"] == "NotFound"
    assert body["title"] == "Not Found"


def test_an_unknown_route_is_a_problem_too(client) -> None:
    body = assert_problem(client.get("/no/such/route", headers=AUTH), 404)
    assert body["type"] == "about:blank" and "/no/such/route" in body["detail"]


def test_a_validation_error_lists_fields_and_echoes_only_a_prefix(client) -> None:
    query = "q" * (MAX_QUERY_CHARS + 1)
    answer = client.post("/search", headers=AUTH, json={"query": query, "k": 0})
    body = assert_problem(answer, 422)
    assert body["type"] == "urn:qmdr:error:RequestValidationError"
    fields = {tuple(e["loc"]): e for e in body["errors"]}
    assert set(fields) == {("body", "query"), ("body", "k")}
    assert fields[("body", "query")]["input"] == "q" * MAX_ECHO_CHARS + "…"
    assert fields[("body", "k")]["input"] == 0
    assert len(answer.content) < 2_000  # the 10,000 characters never come back
    assert "and 1 more" in body["detail"]


def test_invalid_json_is_a_422_problem(client) -> None:
    answer = client.post("/search", headers={**AUTH, "content-type": "application/json"}, content=b'{"query": ')
    body = assert_problem(answer, 422)
    assert body["errors"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"query": "\\ud800"}',
        b'{"query": "ok", "tags": ["\\udfff"]}',
        b'{"query": "a\\ud83d"}',  # a high surrogate whose low half is missing
        b'{"\\udc00": 1, "query": "ok"}',
    ],
)
def test_a_lone_surrogate_is_a_400_on_search(client, payload: bytes) -> None:
    answer = client.post("/search", headers={**AUTH, "content-type": "application/json"}, content=payload)
    body = assert_problem(answer, 400)
    assert body["error"] == "InvalidUnicode" and "surrogate" in body["detail"]


def test_a_paired_surrogate_is_fine(client) -> None:
    answer = client.post(
        "/search",
        headers={**AUTH, "content-type": "application/json"},
        content=b'{"query": "\\ud83d\\ude00 \\\\ud800", "mode": "keyword"}',
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["query"] == "\U0001f600 \\ud800"


def test_a_lone_surrogate_is_never_a_500_on_any_route(client) -> None:
    """Every route that takes a body, with a surrogate in every string the fuzz probe used: 400, never 5xx."""
    payload = b'{"query": "\\ud800", "path": "\\ud800", "name": "\\ud800", "api_key": "\\ud800"}'
    checked = 0
    for path, methods, _ in effective_routes(client.app):
        if path.startswith("/ui") or path == "/health":
            continue
        for method in sorted(methods & {"POST", "PUT", "DELETE"}):
            answer = client.request(
                method, concrete_path(path), headers={**AUTH, "content-type": "application/json"}, content=payload
            )
            assert_problem(answer, 400)
            checked += 1
    assert checked >= 10


def test_405_names_every_method_the_path_serves(client) -> None:
    answer = client.put("/vaults/default", headers=AUTH)
    body = assert_problem(answer, 405)
    allowed = {m.strip() for m in answer.headers["allow"].split(",")}
    assert allowed == {"GET", "DELETE"}
    assert "DELETE" in body["detail"]
    answer = client.get("/search", headers=AUTH)
    assert_problem(answer, 405)
    assert answer.headers["allow"] == "POST"


def test_throttling_is_a_problem_with_retry_after(make_client) -> None:
    client = make_client(qmdr_api_token=TOKEN, qmdr_auth_free_failures=1)
    assert_problem(client.get("/reindex/status", headers={"Authorization": "Bearer wrong"}), 401)
    assert_problem(client.get("/reindex/status", headers={"Authorization": "Bearer wrong"}), 401)
    answer = client.get("/reindex/status", headers={"Authorization": "Bearer wrong"})
    body = assert_problem(answer, 429)
    assert int(answer.headers["retry-after"]) >= 1 and answer.headers["retry-after"] in body["detail"]


def test_an_unexpected_exception_is_a_500_problem_without_the_exception(make_client) -> None:
    client = make_client()
    client.app.state.service.store.close()  # every read now fails inside the store library
    from fastapi.testclient import TestClient

    quiet = TestClient(client.app, raise_server_exceptions=False)
    answer = quiet.get("/notes/a.md")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == 500 and body["type"] == "urn:qmdr:error:InternalError"
    assert body["request_id"] == answer.headers["x-request-id"]  # the id to look for in the server log
    assert "Traceback" not in answer.text


@pytest.mark.parametrize("value", ["true", "false", 1, 0, "yes", None], ids=repr)
def test_boolean_fields_take_only_booleans(client, value) -> None:
    answer = client.post("/search", headers=AUTH, json={"query": "herons", "mode": "keyword", "expand": value})
    body = assert_problem(answer, 422)
    assert body["errors"][0]["loc"] == ["body", "expand"]


def test_the_openapi_document_lists_the_error_answers(client) -> None:
    spec = client.get("/openapi.json", headers=AUTH).json()
    search = spec["paths"]["/search"]["post"]["responses"]
    assert {"200", "400", "401", "403", "413", "422", "429", "500", "502", "503", "504"} <= set(search)
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert search["422"]["content"] == problem
    assert set(spec["paths"]["/health"]["get"]["responses"]) == {"200", "500"}
    assert "404" in spec["paths"]["/vaults/{vault}"]["get"]["responses"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_the_vault_name_rule_is_in_the_schema_and_enforced(client) -> None:
    spec = client.get("/openapi.json", headers=AUTH).json()
    parameter = next(p for p in spec["paths"]["/vaults/{vault}"]["get"]["parameters"] if p["name"] == "vault")
    assert parameter["schema"]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,63}$"
    assert_problem(client.get("/vaults/Bad%20Name", headers=AUTH), 422)
    assert_problem(client.get("/vaults/ghost", headers=AUTH), 404)
