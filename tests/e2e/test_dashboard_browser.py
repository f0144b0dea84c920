"""The dashboard in Debian's headless Chromium (Playwright) against a real ``qmdr serve`` on 127.0.0.1.

What a user does: store a key (then see only its masked tail, and find no
plaintext in the settings file), add a custom provider and test it against a
real OpenAI-compatible server, set the default models, reindex the sample
vault with the button, search and open a note, sign in with a token; and a
page on another origin cannot post to the dashboard. Each page is
screenshotted on a laptop and a phone viewport under the test's tmp dir.

Skips when /usr/bin/chromium is missing, except with CI set, where that fails (the ``browser``
fixture of tests/e2e/conftest.py).
Playwright is only ever pointed at that binary; it never downloads a browser.
"""

from __future__ import annotations

import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.e2e.fake_openai_server import FakeOpenAIServer
from tests.e2e.qmdr_process import qmdr_env, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SAMPLE_VAULT = Path(__file__).resolve().parents[2] / "examples" / "notes"
ENCRYPTION_KEY = "browser-e2e-encryption-key-0123456789"
OPENAI_KEY = "sk-browser-OPENAI-plaintext-7731"
CUSTOM_KEY = "sk-browser-CUSTOM-plaintext-5150"
API_TOKEN = "browser-e2e-api-token-2468"
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
#: waits for the browser (page loads, redirects) and for the reindex of the five sample notes with the
#: embedded model on a cold, shared CI machine; generous bounds, not speed checks
UI_WAIT_MS = 15_000
REINDEX_WAIT_MS = 120_000


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLE_VAULT, tmp_path / "vault"))


def shoot(page, shots: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    shots.mkdir(parents=True, exist_ok=True)
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def on_disk(data_dir: Path) -> bytes:
    """The settings store as it is on disk, WAL included."""
    db = data_dir / "settings.sqlite"
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())


def test_configure_providers_models_and_search_in_the_browser(browser, tmp_path: Path, vault: Path) -> None:
    from playwright.sync_api import expect

    data_dir = tmp_path / "data"
    shots = tmp_path / "screenshots"
    team = tmp_path / "team"
    team.mkdir()
    (team / "otters.md").write_text("# Otters\n\nWe decided the team adopts an otter named Pebble.\n")
    env = qmdr_env(
        data_dir, SECRET_ENCRYPTION_KEY=ENCRYPTION_KEY, QMDR_VAULT=str(vault), QMDR_VAULT_ROOTS=f'["{tmp_path}"]'
    )
    with (
        FakeOpenAIServer(api_key=CUSTOM_KEY) as fake,
        running_server(env, cwd=tmp_path) as base,
        httpx.Client(base_url=base, timeout=30) as api,
    ):
        context = browser.new_context(viewport=LAPTOP)
        context.set_default_timeout(UI_WAIT_MS)
        page = context.new_page()
        seen_html: list[str] = []

        # Settings -> Providers: store a key, see only its tail
        page.goto(f"{base}/ui/settings/providers")
        card = page.locator("#p-openai")
        expect(card.locator(".badge")).to_have_text("missing")
        card.locator("input[name=api_key]").fill(OPENAI_KEY)
        card.get_by_role("button", name="Save").click()
        expect(page.locator(".flash-ok")).to_contain_text("Saved the openai key")
        card = page.locator("#p-openai")
        expect(card.locator(".badge")).to_have_text("stored")
        expect(card.locator("code.masked")).to_have_text("…7731")
        expect(card.locator("input[name=api_key]")).to_have_value("")
        seen_html.append(page.content())
        assert OPENAI_KEY.encode() not in on_disk(data_dir)
        assert next(p for p in api.get("/providers").json() if p["id"] == "openai")["source"] == "stored"

        # a custom provider: add it, see its model string, test it against a real server
        form = page.locator("#add-custom")
        form.locator("#slug").fill("myollama")
        form.locator("#base_url").fill(fake.base_url)
        form.locator("#custom_key").fill(CUSTOM_KEY)
        form.get_by_role("button", name="Add provider").click()
        expect(page.locator(".flash-ok")).to_contain_text("Added custom-myollama")
        custom = page.locator("#p-custom-myollama")
        expect(custom.locator(".model-string")).to_have_text("custom-myollama/<model>")
        assert any(m["model_string"] == "custom-myollama/<model>" for m in api.get("/models").json())
        custom.get_by_role("button", name="Test").click()
        expect(page.locator(".flash-ok")).to_contain_text("2 models available")
        assert fake.requests[-1].path == "/v1/models" and fake.requests[-1].authorized  # the stored key was sent
        seen_html.append(page.content())
        assert CUSTOM_KEY.encode() not in on_disk(data_dir)
        shoot(page, shots, "providers-laptop")

        # Settings -> Models: defaults, with the live thinking hint
        page.get_by_role("link", name="Models").click()
        page.locator("#working_model").fill("openai/gpt-4o-mini")
        expect(page.locator('[data-hint-for="working_model"]')).to_contain_text("No thinking support")
        page.locator("#thinking_model").fill("anthropic/claude-sonnet-4-5")
        expect(page.locator('[data-hint-for="thinking_model"]')).to_contain_text("Supports thinking.")
        page.locator("#thinking_level").select_option("medium")
        page.get_by_role("button", name="Save defaults").click()
        expect(page.locator(".flash-ok")).to_contain_text("Saved the default models")
        assert api.get("/settings/defaults").json() == {
            "working_model": "openai/gpt-4o-mini",
            "thinking_model": "anthropic/claude-sonnet-4-5",
            "thinking_level": "medium",
        }
        seen_html.append(page.content())
        shoot(page, shots, "models-laptop")

        # Memory: every vault with its counts; reindex the chosen vault with the button (live progress),
        # search the chosen vaults (each result names its vault), open a note
        assert api.post("/vaults", json={"name": "team", "folder": str(team), "index": False}).status_code == 201
        page.get_by_role("link", name="Memory").click()
        default_notes = page.locator('[data-vault="default"] [data-stat="notes"]')
        team_notes = page.locator('[data-vault="team"] [data-stat="notes"]')
        expect(default_notes).to_have_text("0")
        expect(team_notes).to_have_text("0")
        page.get_by_role("button", name="Reindex").click()
        expect(page.locator("#reindex-text")).to_contain_text("Done (default)", timeout=REINDEX_WAIT_MS)
        expect(default_notes).to_have_text("5")
        expect(page.locator("#reindex-button")).to_be_enabled()
        page.locator("#reindex-vault").select_option("team")
        page.get_by_role("button", name="Reindex").click()
        expect(page.locator("#reindex-text")).to_contain_text("Done (team)", timeout=REINDEX_WAIT_MS)
        expect(team_notes).to_have_text("1")
        expect(default_notes).to_have_text("5")
        page.locator("#q").fill("what did we decide")
        page.locator('#search-vaults input[value="default"]').uncheck()
        page.get_by_role("button", name="Search").click()
        results = page.locator("#results .result")
        expect(results.first).to_contain_text("otters.md")
        assert {results.nth(i).get_attribute("data-result-vault") for i in range(results.count())} == {"team"}
        expect(page.locator('#search-vaults input[value="default"]')).not_to_be_checked()
        page.locator('#search-vaults input[value="default"]').check()
        page.locator("#q").fill("what did we decide about retries")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#search-summary")).to_contain_text("from default, team")
        # across vaults the lists are fused by rank, so each vault's best hit comes first; default's is retries.md
        best_default = page.locator('#results .result[data-result-vault="default"]').first
        expect(best_default).to_contain_text("decisions/retries.md")
        expect(best_default.locator(".result-vault")).to_have_text("default")
        assert results.count() >= 3
        expect(page.locator("#search-summary")).to_contain_text("ms total")
        expect(best_default.locator(".stages")).to_contain_text("keyword #")
        shoot(page, shots, "memory-laptop")
        best_default.locator("a.result-title").click()
        expect(page.locator("h1")).to_have_text("Retry policy for provider calls")
        assert re.search(r"/ui/notes/decisions/retries\.md\?vault=default#L\d+$", page.url)
        shoot(page, shots, "note-laptop")

        # the same pages on a phone
        phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        phone.set_default_timeout(UI_WAIT_MS)
        small = phone.new_page()
        for name, path in (
            ("memory", "/ui/memory?q=retries"),
            ("providers", "/ui/settings/providers"),
            ("models", "/ui/settings/models"),
        ):
            small.goto(f"{base}{path}")
            # nothing wider than the screen: the layout reflows instead of scrolling sideways
            assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
            seen_html.append(small.content())
            shoot(small, shots, f"{name}-phone")
        phone.close()
        context.close()

    for html in seen_html:
        assert OPENAI_KEY not in html and CUSTOM_KEY not in html
    assert sorted(p.name for p in shots.iterdir()) == sorted(
        f"{n}.png"
        for n in (
            "providers-laptop",
            "models-laptop",
            "memory-laptop",
            "note-laptop",
            "memory-phone",
            "providers-phone",
            "models-phone",
        )
    )


def test_sign_in_with_the_api_token(browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    env = qmdr_env(tmp_path / "data", SECRET_ENCRYPTION_KEY=ENCRYPTION_KEY, QMDR_API_TOKEN=API_TOKEN)
    with running_server(env, cwd=tmp_path) as base:
        context = browser.new_context(viewport=LAPTOP)
        context.set_default_timeout(UI_WAIT_MS)
        page = context.new_page()
        page.goto(f"{base}/ui/settings/models")
        expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/settings/models$"))
        shoot(page, tmp_path / "screenshots", "login-laptop")

        page.locator("#token").fill("not-the-token")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".field-error")).to_contain_text("not QMDR_API_TOKEN")

        page.locator("#token").fill(API_TOKEN)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{base}/ui/settings/models")
        session = next(c for c in context.cookies() if c["name"] == "qmdr_session")
        assert session["httpOnly"] and session["sameSite"] == "Strict" and API_TOKEN not in session["value"]
        # the page's own scripts use the same session for the API
        assert page.evaluate("fetch('/reindex/status').then(r => r.status)") == 200

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/ui/login"))
        page.goto(f"{base}/ui/memory")
        expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/memory$"))
        context.close()


class _AttackPage(BaseHTTPRequestHandler):
    """Serves a page that auto-submits a form to the dashboard (what any site the user visits could do)."""

    target = ""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's handler name
        body = (
            f'<form id="f" method="post" action="{self.target}/ui/settings/providers/openai/key">'
            '<input name="api_key" value="sk-attacker-key-000000"><input name="csrf_token" value="guess">'
            '</form><script>document.getElementById("f").submit()</script>'
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def test_a_page_on_another_origin_cannot_change_settings(browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    env = qmdr_env(tmp_path / "data", SECRET_ENCRYPTION_KEY=ENCRYPTION_KEY)
    with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=30) as api:
        handler = type("Attack", (_AttackPage,), {"target": base})
        attacker = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=attacker.serve_forever, daemon=True)
        thread.start()
        try:
            context = browser.new_context(viewport=LAPTOP)
            context.set_default_timeout(UI_WAIT_MS)
            page = context.new_page()
            page.goto(f"{base}/ui/settings/providers")  # the victim has the dashboard open (nonce cookie set)
            page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
            expect(page.locator("h1")).to_have_text("Request refused")
            context.close()
        finally:
            attacker.shutdown()
        assert next(p for p in api.get("/providers").json() if p["id"] == "openai")["source"] == "none"
