"""Settings -> Agent tokens on the dashboard: make (shown once), list, revoke; forms checked like the others."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qmdr.access.tokens import token_hash
from qmdr.api.deps import token_store_of
from tests.qmdr.ui.test_ui_pages import SAME_ORIGIN, MakeClient, csrf_token, make_client, post  # noqa: F401

PAGE = "/ui/settings/tokens"
ADMIN = "ui-tokens-admin-token-0123"


@pytest.fixture
def client(make_client: MakeClient, tmp_path: Path):  # noqa: F811
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nAlpha.\n")
    client = make_client(qmdr_api_token=ADMIN)
    client.headers["Authorization"] = f"Bearer {ADMIN}"  # the admin, as a script would open the dashboard
    client.app.state.service.memory.add("alice", folder)
    return client


def test_make_a_token_see_it_once_then_only_its_name(client) -> None:
    page = client.get(PAGE)
    assert page.status_code == 200 and 'name="right:alice"' in page.text and "No agent tokens yet" in page.text
    made = post(client, PAGE, {"name": "alice-agent", "right:alice": "rw", "right:default": "r"}, page=PAGE)
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    token = re.search(r'id="new-token-value">(qmdr_[A-Za-z0-9_-]{43})<', made.text).group(1)
    info = token_store_of(client).find(token_hash(token))
    assert info is not None and dict(info.vaults) == {"alice": "rw", "default": "r"}
    again = client.get(PAGE)
    assert "alice-agent" in again.text and "alice:rw" in again.text and token not in again.text
    api = client.get("/vaults/alice", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"name": "x"}, "at least one vault"),
        ({"name": "bad name", "right:alice": "r"}, "invalid token name"),
        ({"name": "x", "right:alice": "w"}, "invalid right"),
        ({"name": "x", "right:ghost": "r"}, "no vault named"),
    ],
)
def test_bad_forms_say_why_and_make_nothing(client, fields, says) -> None:
    answer = post(client, PAGE, fields, page=PAGE)
    assert answer.status_code == 422 and says in answer.text and "qmdr_" not in answer.text
    assert token_store_of(client).list() == []


def test_names_are_shown_literally(client) -> None:
    post(client, PAGE, {"name": "a.b_c-1", "right:alice": "r"}, page=PAGE)
    answer = post(client, PAGE, {"name": "<script>x", "right:alice": "r"}, page=PAGE)
    assert "<script>x" not in answer.text and "&lt;script&gt;x" in answer.text


def test_revoke_from_the_list(client) -> None:
    made = post(client, PAGE, {"name": "temp", "right:alice": "r"}, page=PAGE)
    token = re.search(r'id="new-token-value">([^<]+)<', made.text).group(1)
    revoked = post(client, f"{PAGE}/temp/revoke", {}, page=PAGE)
    assert revoked.status_code == 303 and revoked.headers["location"] == PAGE
    assert "Revoked the token temp" in client.get(PAGE).text
    assert client.get("/vaults/alice", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    missing = post(client, f"{PAGE}/temp/revoke", {}, page=PAGE)
    assert missing.status_code == 303 and "no token named" in client.get(PAGE).text


def test_the_forms_need_the_csrf_token(client) -> None:
    csrf_token(client, PAGE)
    for path in (PAGE, f"{PAGE}/temp/revoke"):
        assert client.post(path, data={"name": "x", "right:alice": "r"}, headers=SAME_ORIGIN).status_code == 403
    assert token_store_of(client).list() == []
