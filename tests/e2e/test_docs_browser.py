"""/docs and /redoc in Debian's headless Chromium with the outside network cut off: they render from local files.

Every request the page makes that is not to the qmdr server under test is
aborted and recorded, so a page that still reached for a CDN would both fail
to render and name the host it wanted. With QMDR_API_TOKEN set the docs send
the browser to the login page first, then back, and Swagger UI's "Try it out"
works with the session cookie.

Skips when /usr/bin/chromium is missing, except with CI set, where that fails (the ``browser``
fixture of tests/e2e/conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.qmdr_process import qmdr_env, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

API_TOKEN = "docs-browser-api-token-1357"
#: page loads and rendering of a 1.5 MB bundle on a cold, shared CI machine: a generous bound, not a speed check
UI_WAIT_MS = 30_000
#: operations the API documents; the rendered list must show at least this many
MIN_OPERATIONS = 20


def offline_context(browser, base: str) -> tuple[object, list[str]]:  # noqa: ANN001
    """A browser context that can reach only ``base``; the list collects every other URL it tried."""
    context = browser.new_context()
    context.set_default_timeout(UI_WAIT_MS)
    elsewhere: list[str] = []

    def gate(route) -> None:  # noqa: ANN001
        url = route.request.url
        if url.startswith(base) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", gate)
    return context, elsewhere


def test_swagger_ui_and_redoc_render_offline_after_signing_in(browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    env = qmdr_env(tmp_path / "data", QMDR_API_TOKEN=API_TOKEN)
    with running_server(env, cwd=tmp_path) as base:
        context, elsewhere = offline_context(browser, base)
        page = context.new_page()
        page.goto(f"{base}/docs")
        expect(page).to_have_url(re.compile(r"/ui/login\?next=/docs$"))
        page.locator("#token").fill(API_TOKEN)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{base}/docs")

        operations = page.locator(".opblock")
        expect(operations.first).to_be_visible(timeout=UI_WAIT_MS)
        assert operations.count() >= MIN_OPERATIONS
        expect(page.locator(".opblock-summary-path", has_text=re.compile(r"^/search$")).first).to_be_visible()
        page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)

        # "Try it out" from the docs page: a GET with the session cookie answers 200
        status_op = page.locator(
            ".opblock-get", has=page.locator(".opblock-summary-path", has_text=re.compile(r"^/reindex/status$"))
        )
        status_op.locator(".opblock-summary").click()
        status_op.get_by_role("button", name="Try it out").click()
        status_op.get_by_role("button", name="Execute").click()
        answered = status_op.locator(".live-responses-table tbody .response-col_status").first
        expect(answered).to_have_text("200", timeout=UI_WAIT_MS)

        page.goto(f"{base}/redoc")
        expect(page.locator("h2", has_text="Search").first).to_be_visible(timeout=UI_WAIT_MS)
        expect(page.get_by_text("/vaults/{vault}/notes").first).to_be_attached()
        context.close()
    assert elsewhere == [], f"the docs reached beyond the server: {elsewhere[:5]}"


def test_the_docs_need_the_token_when_one_is_set(browser, tmp_path: Path) -> None:
    import httpx

    env = qmdr_env(tmp_path / "data", QMDR_API_TOKEN=API_TOKEN)
    with running_server(env, cwd=tmp_path) as base:
        assert httpx.get(f"{base}/openapi.json").status_code == 401
        for page in ("/docs", "/redoc"):
            answer = httpx.get(f"{base}{page}")
            assert answer.status_code == 303 and answer.headers["location"] == f"/ui/login?next={page}"
        spec = httpx.get(f"{base}/openapi.json", headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert spec.status_code == 200 and "/search" in spec.json()["paths"]
        assert httpx.get(f"{base}/docs/static/swagger-ui-bundle.js").status_code == 200  # public files, no data
