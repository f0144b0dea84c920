"""The dashboard over FastAPI's TestClient: real settings store (SQLite file), real index, real forms.

Covers CSRF (missing, wrong, foreign-origin), form validation (slug, URL, key),
key storage (masked on the page, encrypted on disk, beats env), custom
providers, default models, login, search, reindex and the note viewer.
Remote provider calls are faked at the HTTP boundary with respx.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from qmdr.api.deps import SESSION_COOKIE
from qmdr.search.limits import MAX_QUERY_CHARS
from qmdr.ui.csrf import CSRF_COOKIE
from tests.e2e.qmdr_process import wait_for_reindex
from tests.qmdr.app_clients import MakeClient, app_client_factory

ENCRYPTION_KEY = "ui-test-encryption-key-0123456789"
ORIGIN = "http://testserver"
SAME_ORIGIN = {"origin": ORIGIN}
SAMPLE_VAULT = Path(__file__).resolve().parents[3] / "examples" / "notes"
#: the reindex job runs on the client's event loop; this bounds the wait, it is not a speed check
REINDEX_WAIT_S = 120.0
API_KEY = "sk-live-dashboard-test-9f8e7d6c5b4a"
ENV_KEY = "sk-env-openai-key-1111222233334444"


@pytest.fixture
def make_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeClient]:
    """make_client(env={...}, **settings): a client over a real store; provider keys come from ``env``."""
    with app_client_factory(tmp_path, monkeypatch, ENCRYPTION_KEY) as make:
        yield make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def csrf_token(client: TestClient, page: str = "/ui/settings/providers") -> str:
    """Load a page like a browser does (sets the nonce cookie) and read its form token."""
    response = client.get(page)
    assert response.status_code == 200, response.text
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', response.text)
    assert match, "page renders no CSRF field"
    return match.group(1)


def post(
    client: TestClient,
    path: str,
    data: dict[str, str],
    *,
    page: str = "/ui/settings/providers",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a form the way the dashboard's own page would: same origin, valid token, no redirect following."""
    return client.post(
        path,
        data={"csrf_token": csrf_token(client, page), **data},
        headers=SAME_ORIGIN if headers is None else headers,
        follow_redirects=False,
    )


def settings_db(client: TestClient) -> Path:
    return client.app.state.service.settings.settings_db_path


def settings_db_bytes(client: TestClient) -> bytes:
    """The settings SQLite file plus its WAL: everything that is on disk."""
    path = settings_db(client)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


# --- CSRF and origin ----------------------------------------------------------------------------------


def test_post_without_csrf_token_is_refused(client: TestClient) -> None:
    csrf_token(client)  # the browser holds a nonce cookie, but the form omits the field
    response = client.post("/ui/settings/providers/openai/key", data={"api_key": API_KEY}, headers=SAME_ORIGIN)
    assert response.status_code == 403
    assert "could not be verified" in response.text
    assert not client.app.state.service.secrets.has_key("openai")


def test_post_with_wrong_csrf_token_is_refused(client: TestClient) -> None:
    token = csrf_token(client)
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    response = client.post(
        "/ui/settings/providers/openai/key", data={"api_key": API_KEY, "csrf_token": forged}, headers=SAME_ORIGIN
    )
    assert response.status_code == 403
    assert not client.app.state.service.secrets.has_key("openai")


def test_token_of_another_browser_is_refused(make_client: MakeClient) -> None:
    victim, attacker = make_client(), make_client()
    attacker_token = csrf_token(attacker)
    csrf_token(victim)
    # different nonces, and each app has its own secret: neither browser's token works for the other
    response = victim.post(
        "/ui/settings/custom",
        data={"slug": "evil", "base_url": "http://evil.example/v1", "csrf_token": attacker_token},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 403
    assert victim.app.state.service.secrets.get_custom_provider("evil") is None


@pytest.mark.parametrize("headers", [{}, {"origin": "http://evil.example"}, {"referer": "http://evil.example/x"}])
def test_post_from_another_origin_is_refused_even_with_a_valid_token(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = post(client, "/ui/settings/providers/openai/key", {"api_key": API_KEY}, headers=headers)
    assert response.status_code == 403
    assert not client.app.state.service.secrets.has_key("openai")


def test_same_origin_referer_is_enough_without_origin(client: TestClient) -> None:
    response = post(
        client,
        "/ui/settings/providers/openai/key",
        {"api_key": API_KEY},
        headers={"referer": f"{ORIGIN}/ui/settings/providers"},
    )
    assert response.status_code == 303


def test_every_state_changing_route_checks_csrf(client: TestClient) -> None:
    client.app.state.service.secrets.add_custom_provider("box", "http://127.0.0.1:9/v1")
    csrf_token(client)
    for path in (
        "/ui/settings/providers/openai/key",
        "/ui/settings/providers/openai/key/delete",
        "/ui/settings/providers/openai/test",
        "/ui/settings/custom",
        "/ui/settings/custom/box",
        "/ui/settings/custom/box/delete",
        "/ui/settings/models",
        "/ui/memory/reindex",
        "/ui/login",
        "/ui/logout",
    ):
        assert client.post(path, data={"x": "1"}, headers=SAME_ORIGIN).status_code == 403, path
    assert client.app.state.service.secrets.get_custom_provider("box") is not None


# --- validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "   ", "two words", "k" * 5000])
def test_bad_key_is_rejected_and_nothing_is_stored(client: TestClient, key: str) -> None:
    response = post(client, "/ui/settings/providers/openai/key", {"api_key": key})
    assert response.status_code == 422
    assert 'class="field-error"' in response.text
    assert not client.app.state.service.secrets.has_key("openai")


@pytest.mark.parametrize("slug", ["My-Ollama", "-x", "my_ollama", "a" * 41, ""])
def test_bad_slug_is_rejected_with_the_rule(client: TestClient, slug: str) -> None:
    response = post(client, "/ui/settings/custom", {"slug": slug, "base_url": "http://localhost:11434/v1"})
    assert response.status_code == 422
    assert "lowercase letters, digits and dashes" in response.text or "enter a name" in response.text
    assert client.app.state.service.secrets.list_custom_providers() == []


@pytest.mark.parametrize(
    "url", ["localhost:11434/v1", "ftp://example.com/v1", "http://", "not a url", "http://me:secret@example.com/v1"]
)
def test_bad_base_url_is_rejected_and_the_slug_is_kept(client: TestClient, url: str) -> None:
    response = post(client, "/ui/settings/custom", {"slug": "myollama", "base_url": url, "api_key": API_KEY})
    assert response.status_code == 422
    assert 'value="myollama"' in response.text  # the non-secret field is refilled ...
    assert API_KEY not in response.text  # ... the key never is
    assert client.app.state.service.secrets.list_custom_providers() == []


def test_adding_an_existing_slug_is_refused(client: TestClient) -> None:
    client.app.state.service.secrets.add_custom_provider("myollama", "http://localhost:11434/v1")
    response = post(client, "/ui/settings/custom", {"slug": "myollama", "base_url": "http://other:1/v1"})
    assert response.status_code == 422 and "already exists" in response.text
    assert client.app.state.service.secrets.get_custom_provider("myollama").base_url == "http://localhost:11434/v1"


def test_unknown_provider_is_404(client: TestClient) -> None:
    assert post(client, "/ui/settings/providers/nosuch/key", {"api_key": API_KEY}).status_code == 404
    assert post(client, "/ui/settings/custom/nosuch/delete", {}).status_code == 404


# --- keys ---------------------------------------------------------------------------------------------------


def test_saved_key_is_masked_on_the_page_and_encrypted_on_disk(make_client: MakeClient) -> None:
    client = make_client(env={"OPENAI_API_KEY": ENV_KEY})
    page = client.get("/ui/settings/providers").text
    assert "from env" in page and ENV_KEY not in page and "…4444" in page

    saved = post(client, "/ui/settings/providers/openai/key", {"api_key": f"  {API_KEY}\n"})
    assert saved.status_code == 303 and saved.headers["location"].startswith("/ui/settings/providers")
    page = client.get("/ui/settings/providers")
    assert API_KEY not in page.text and "…5b4a" in page.text and "Saved the openai key" in page.text
    card = page.text.split('id="p-openai"', 1)[1].split("</article>", 1)[0]
    assert 'data-source="stored"' in card and "overrides <code>OPENAI_API_KEY</code>" in card
    password_inputs = re.findall(r'<input[^>]*type="password"[^>]*>', page.text)
    assert password_inputs and not any("value=" in tag for tag in password_inputs)

    assert API_KEY.encode() not in settings_db_bytes(client)
    assert client.app.state.service.keys.credentials("openai").api_key == API_KEY  # the stored key wins
    assert client.get("/providers").json()[2]["source"] == "stored"

    removed = post(client, "/ui/settings/providers/openai/key/delete", {})
    assert removed.status_code == 303
    page = client.get("/ui/settings/providers").text
    assert "OPENAI_API_KEY from the environment applies again" in page
    assert client.app.state.service.keys.credentials("openai").api_key == ENV_KEY


def test_storing_a_key_without_encryption_key_names_the_setting(make_client: MakeClient) -> None:
    client = make_client(secret_encryption_key=None)
    page = client.get("/ui/settings/providers").text
    assert "SECRET_ENCRYPTION_KEY</code> is not set" in page
    response = post(client, "/ui/settings/providers/openai/key", {"api_key": API_KEY})
    assert response.status_code == 303
    assert "SECRET_ENCRYPTION_KEY" in client.get("/ui/settings/providers").text
    assert not client.app.state.service.secrets.has_key("openai")


@respx.mock
def test_test_button_shows_the_providers_error(client: TestClient, respx_mock: respx.MockRouter) -> None:
    respx_mock.get("https://api.openai.com/v1/models").mock(
        return_value=httpx.Response(401, json={"error": {"message": "Incorrect API key provided"}})
    )
    assert post(client, "/ui/settings/providers/openai/key", {"api_key": API_KEY}).status_code == 303
    client.get("/ui/settings/providers")  # consume the "saved" message
    response = post(client, "/ui/settings/providers/openai/test", {})
    assert response.status_code == 303
    page = client.get("/ui/settings/providers").text
    assert "flash-error" in page and "openai test failed" in page and API_KEY not in page
    sent = respx_mock.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"


@respx.mock
def test_test_button_reports_success_for_a_custom_provider(client: TestClient, respx_mock: respx.MockRouter) -> None:
    respx_mock.get("http://ollama.local:11434/v1/models").mock(
        return_value=httpx.Response(200, json={"object": "list", "data": [{"id": "llama3.3", "object": "model"}]})
    )
    assert (
        post(
            client, "/ui/settings/custom", {"slug": "myollama", "base_url": "http://ollama.local:11434/v1"}
        ).status_code
        == 303
    )
    client.get("/ui/settings/providers")
    assert post(client, "/ui/settings/providers/custom-myollama/test", {}).status_code == 303
    page = client.get("/ui/settings/providers").text
    assert "flash-ok" in page and "1 models available" in page


# --- custom providers ---------------------------------------------------------------------------------------


def test_custom_provider_add_edit_remove(client: TestClient) -> None:
    added = post(
        client,
        "/ui/settings/custom",
        {"slug": "myollama", "base_url": "http://localhost:11434/v1/", "display_name": "My Ollama", "api_key": API_KEY},
    )
    assert added.status_code == 303
    page = client.get("/ui/settings/providers").text
    assert "custom-myollama/&lt;model&gt;" in page and "My Ollama" in page and API_KEY not in page
    assert any(m["model_string"] == "custom-myollama/<model>" for m in client.get("/models").json())
    assert API_KEY.encode() not in settings_db_bytes(client)

    # an empty key field keeps the stored key; the URL changes
    edited = post(
        client, "/ui/settings/custom/myollama", {"base_url": "http://127.0.0.1:11434/v1", "display_name": "My Ollama"}
    )
    assert edited.status_code == 303
    secrets = client.app.state.service.secrets
    assert secrets.get_custom_provider("myollama").base_url == "http://127.0.0.1:11434/v1"
    assert secrets.get_custom_key("myollama") == API_KEY

    bad = post(client, "/ui/settings/custom/myollama", {"base_url": "ftp://nope"})
    assert bad.status_code == 422 and "<details open>" in bad.text

    assert (
        post(
            client, "/ui/settings/custom/myollama", {"base_url": "http://127.0.0.1:11434/v1", "remove_key": "1"}
        ).status_code
        == 303
    )
    assert secrets.get_custom_key("myollama") is None

    assert post(client, "/ui/settings/custom/myollama/delete", {}).status_code == 303
    assert secrets.get_custom_provider("myollama") is None
    assert not any(m["provider"] == "custom-myollama" for m in client.get("/models").json())


# --- default models ---------------------------------------------------------------------------------------------


def test_default_models_are_saved_with_thinking_hints_and_cleared(client: TestClient) -> None:
    page = "/ui/settings/models"
    saved = post(
        client,
        page,
        {
            "working_model": "openai/gpt-4o-mini",
            "thinking_model": "anthropic/claude-sonnet-4",
            "thinking_level": "high",
        },
        page=page,
    )
    assert saved.status_code == 303
    assert client.get("/settings/defaults").json() == {
        "working_model": "openai/gpt-4o-mini",
        "thinking_model": "anthropic/claude-sonnet-4",
        "thinking_level": "high",
    }
    html = client.get(page).text
    working_hint = html.split('data-hint-for="working_model"', 1)[1].split("</p>", 1)[0]
    thinking_hint = html.split('data-hint-for="thinking_model"', 1)[1].split("</p>", 1)[0]
    assert "No thinking support" in working_hint and "Supports thinking." in thinking_hint
    assert "anthropic has no key yet" in thinking_hint

    assert (
        post(
            client,
            page,
            {"working_model": "", "thinking_model": "anthropic/claude-sonnet-4", "thinking_level": ""},
            page=page,
        ).status_code
        == 303
    )
    assert client.get("/settings/defaults").json() == {
        "working_model": None,
        "thinking_model": "anthropic/claude-sonnet-4",
        "thinking_level": None,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"working_model": "gpt-4o"}, "provider/model"),
        ({"working_model": "custom-nosuch/llama3"}, "no custom provider"),
        ({"thinking_level": "extreme"}, "choose one of"),
    ],
)
def test_bad_defaults_are_rejected(client: TestClient, fields: dict[str, str], message: str) -> None:
    response = post(client, "/ui/settings/models", fields, page="/ui/settings/models")
    assert response.status_code == 422 and message in response.text
    assert client.get("/settings/defaults").json()["working_model"] is None


# --- login ----------------------------------------------------------------------------------------------------------


def test_login_sets_a_derived_httponly_strict_cookie(make_client: MakeClient) -> None:
    token = "dashboard-api-token-abcdef"
    client = make_client(qmdr_api_token=token)
    first = client.get("/ui/settings/providers", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/ui/login?next=/ui/settings/providers"
    assert client.get("/providers").status_code == 401

    wrong = post(client, "/ui/login", {"token": "not-the-token", "next": "/ui/settings/providers"}, page="/ui/login")
    assert wrong.status_code == 401 and "not QMDR_API_TOKEN" in wrong.text and SESSION_COOKIE not in wrong.cookies

    ok = post(client, "/ui/login", {"token": token, "next": "/ui/settings/providers"}, page="/ui/login")
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/settings/providers"
    cookie = next(h for h in ok.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/" in cookie
    assert token not in cookie
    assert client.get("/ui/settings/providers").status_code == 200
    assert client.get("/providers").status_code == 200  # the API accepts the dashboard session too

    session = client.cookies[SESSION_COOKIE]
    for presented in (session[:-2] + ("00" if not session.endswith("00") else "11"), token):
        client.cookies.clear()  # the raw token in the cookie is not a session either
        client.cookies.set(SESSION_COOKIE, presented)
        assert client.get("/providers").status_code == 401


def test_logout_ends_the_session(make_client: MakeClient) -> None:
    token = "dashboard-api-token-abcdef"
    client = make_client(qmdr_api_token=token)
    assert post(client, "/ui/login", {"token": token}, page="/ui/login").status_code == 303
    out = post(client, "/ui/logout", {}, page="/ui/memory")
    assert out.status_code == 303
    assert client.get("/ui/memory", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/ui/", "/docsx", "/metrics", "/ui\\@evil"])
def test_login_never_redirects_outside_the_dashboard(make_client: MakeClient, target: str) -> None:
    token = "dashboard-api-token-abcdef"
    client = make_client(qmdr_api_token=token)
    response = post(client, "/ui/login", {"token": token, "next": target}, page="/ui/login")
    assert response.headers["location"] == "/ui/memory"


@pytest.mark.parametrize("target", ["/docs", "/redoc"])
def test_login_returns_to_the_api_docs(make_client: MakeClient, target: str) -> None:
    token = "dashboard-api-token-abcdef"
    client = make_client(qmdr_api_token=token)
    response = post(client, "/ui/login", {"token": token, "next": target}, page="/ui/login")
    assert response.headers["location"] == target


def test_bearer_token_opens_the_dashboard_for_scripts(make_client: MakeClient) -> None:
    client = make_client(qmdr_api_token="dashboard-api-token-abcdef")
    page = client.get("/ui/memory", headers={"Authorization": "Bearer dashboard-api-token-abcdef"})
    assert page.status_code == 200 and "Memory" in page.text


# --- memory: reindex, search, notes -------------------------------------------------------------------------------


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLE_VAULT, tmp_path / "vault"))


def wait_for_job(client: TestClient) -> dict:
    return wait_for_reindex(client, REINDEX_WAIT_S)


def test_reindex_search_and_note_viewer(make_client: MakeClient, vault: Path) -> None:
    client = make_client(qmdr_vault=vault)
    page = client.get("/ui/memory").text
    assert 'data-stat="notes">0<' in page and "never" in page

    started = post(
        client, "/ui/memory/reindex", {}, page="/ui/memory", headers={**SAME_ORIGIN, "accept": "application/json"}
    )
    assert started.status_code == 202 and started.json()["state"] == "running"
    assert wait_for_job(client)["state"] == "done"

    page = client.get("/ui/memory").text
    assert 'data-stat="notes">5<' in page and "5 added" in page

    results = client.get("/ui/memory", params={"q": "what did we decide about retries", "k": "3"}).text
    assert results.count('class="result card"') == 3
    first = results.split('class="result card"', 2)[1]
    assert "decisions/retries.md" in first and 'href="/ui/notes/decisions/retries.md?vault=default#L' in first
    assert 'data-result-vault="default"' in first
    assert "keyword #" in first and "vector #" in first and "ms total" in results
    # BM25 scores on a five-note vault are tiny (~1e-6): shown to significant digits, never as 0.000
    keyword_chip = re.search(r"keyword #\d+ \(([^)]*)\)", first)
    assert keyword_chip is not None and float(keyword_chip.group(1)) > 0, first

    note_path = re.search(r'href="(/ui/notes/decisions/retries\.md\?vault=default)#L(\d+)"', first)
    note = client.get(note_path.group(1))
    assert note.status_code == 200 and "Retry policy for provider calls" in note.text
    assert f'id="L{note_path.group(2)}"' in note.text
    assert client.get("/ui/notes/nope.md").status_code == 404


def test_reindex_form_without_js_redirects_with_a_message(make_client: MakeClient, vault: Path) -> None:
    client = make_client()
    response = post(client, "/ui/memory/reindex", {}, page="/ui/memory")
    assert response.status_code == 303
    assert "QMDR_VAULT" in client.get("/ui/memory").text  # no vault configured: say what to set
    response = post(client, "/ui/memory/reindex", {"vault": str(vault)}, page="/ui/memory")
    assert response.status_code == 303
    assert wait_for_job(client)["state"] == "done"


def test_memory_page_lists_every_vault_and_searches_and_reindexes_the_chosen_ones(
    make_client: MakeClient, vault: Path, tmp_path: Path
) -> None:
    client = make_client(qmdr_vault=vault, qmdr_vault_roots=[tmp_path])
    team = tmp_path / "<b>team"  # a folder name that looks like markup is shown as text
    team.mkdir()
    (team / "otters.md").write_text("# Otters\n\nOtters hold hands while sleeping; we decided to adopt one.\n")
    assert client.post("/vaults", json={"name": "team", "folder": str(team), "index": False}).status_code == 201
    page = client.get("/ui/memory").text
    assert page.index('data-vault="default"') < page.index('data-vault="team"')
    assert "&lt;b&gt;team" in page and "<b>team" not in page
    team_card = page.split('data-vault="team"', 1)[1].split("</article>", 1)[0]
    assert 'data-stat="notes">0<' in team_card

    started = post(
        client,
        "/ui/memory/reindex",
        {"name": "team"},
        page="/ui/memory",
        headers={**SAME_ORIGIN, "accept": "application/json"},
    )
    assert started.status_code == 202 and started.json()["name"] == "team"
    assert wait_for_job(client)["state"] == "done"
    page = client.get("/ui/memory").text
    assert 'data-stat="notes">1<' in page.split('data-vault="team"', 1)[1].split("</article>", 1)[0]
    assert 'data-stat="notes">0<' in page.split('data-vault="default"', 1)[1].split("</article>", 1)[0]
    assert "Done (team)" in page

    assert (
        post(
            client,
            "/ui/memory/reindex",
            {"name": "default"},
            page="/ui/memory",
            headers={**SAME_ORIGIN, "accept": "application/json"},
        ).status_code
        == 202
    )
    assert wait_for_job(client)["state"] == "done"
    only_team = client.get("/ui/memory", params=[("q", "what did we decide"), ("vault", "team")]).text
    assert set(re.findall(r'data-result-vault="([^"]+)"', only_team)) == {"team"}
    assert 'name="vault" value="team" checked' in only_team and 'value="default" checked' not in only_team
    both = client.get("/ui/memory", params=[("q", "what did we decide"), ("vault", "team"), ("vault", "default")])
    assert set(re.findall(r'data-result-vault="([^"]+)"', both.text)) == {"team", "default"}
    assert "from default, team" in both.text
    link = re.search(r'href="(/ui/notes/otters\.md\?vault=team)#L\d+"', both.text)
    assert link and "Otters hold hands" in client.get(link.group(1)).text
    assert client.get("/ui/notes/otters.md").status_code == 404  # not a note of the default vault
    assert client.get("/ui/notes/otters.md", params={"vault": "Bad Name"}).status_code == 404


def test_search_page_reports_bad_queries_instead_of_failing(client: TestClient) -> None:
    page = client.get("/ui/memory", params={"q": "x" * (MAX_QUERY_CHARS + 1)})
    assert page.status_code == 200 and f"at most {MAX_QUERY_CHARS} characters" in page.text
    empty = client.get("/ui/memory", params={"q": "anything", "mode": "nonsense", "k": "many"})
    assert empty.status_code == 200 and "No results" in empty.text


# --- page hygiene --------------------------------------------------------------------------------------------------


def test_pages_send_security_headers_and_a_strict_nonce_cookie(make_client: MakeClient) -> None:
    client = make_client()
    response = client.get("/ui/settings/providers")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    nonce_cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{CSRF_COOKIE}="))
    assert "HttpOnly" in nonce_cookie and "samesite=strict" in nonce_cookie.lower()
    assert client.get("/ui/static/dashboard.css").status_code == 200
    assert client.get("/ui/static/dashboard.js").status_code == 200


def test_a_forged_flash_cookie_is_not_shown(client: TestClient) -> None:
    client.cookies.set("qmdr_flash", "eyJrIjoiZXJyb3IiLCJtIjoiR28gdG8gZXZpbC5leGFtcGxlIn0=.00", path="/ui")
    assert "evil.example" not in client.get("/ui/memory").text


def test_user_text_is_escaped(client: TestClient) -> None:
    response = post(client, "/ui/settings/custom", {"slug": "<script>x</script>", "base_url": "http://a/v1"})
    assert response.status_code == 422
    assert "<script>x</script>" not in response.text and "&lt;script&gt;" in response.text
