"""Unit tests of the dashboard's pure helpers: field validation, CSRF signing, flash and session cookies."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from qmdr.api.deps import SESSION_MAX_AGE_S, session_cookie_valid, session_cookie_value
from qmdr.ui import csrf
from qmdr.ui.flash import FLASH_COOKIE, MAX_FLASH_CHARS, set_flash, take_flash
from qmdr.ui.forms import (
    MAX_KEY_CHARS,
    FormError,
    clean_api_key,
    clean_base_url,
    clean_model_string,
    clean_slug,
    clean_thinking_level,
)

SECRET = b"s" * 32


def make_request(
    headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None, host: str = "127.0.0.1:8181"
) -> Request:
    raw = [(b"host", host.encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if cookies:
        raw.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()))
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/ui/x",
            "headers": raw,
            "scheme": "http",
            "query_string": b"",
            "server": ("127.0.0.1", 8181),
        }
    )


# --- field validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["", "My-Ollama", "-ollama", "my_ollama", "my ollama", "ollama!", "x" * 41, "é"])
def test_clean_slug_rejects_anything_but_lowercase_digits_dashes(slug: str) -> None:
    with pytest.raises(FormError) as caught:
        clean_slug(slug)
    assert caught.value.field == "slug"


@pytest.mark.parametrize("slug", ["myollama", "lm-studio", "vllm2", "0x"])
def test_clean_slug_accepts_valid_slugs(slug: str) -> None:
    assert clean_slug(f"  {slug} ") == slug


@pytest.mark.parametrize(
    "url",
    [
        "",
        "localhost:11434/v1",
        "ftp://example.com",
        "http://",
        "http:///v1",
        "http://user:pw@example.com/v1",
        "http://example.com:port/v1",
        "http://exa mple.com",
        "https://example.com/v1?x=1",
        "javascript:alert(1)",
    ],
)
def test_clean_base_url_rejects_bad_urls(url: str) -> None:
    with pytest.raises(FormError) as caught:
        clean_base_url(url)
    assert caught.value.field == "base_url"


def test_clean_base_url_keeps_the_url_without_trailing_slash() -> None:
    assert clean_base_url(" http://localhost:11434/v1/ ") == "http://localhost:11434/v1"
    assert clean_base_url("https://api.example.com") == "https://api.example.com"


@pytest.mark.parametrize("key", ["", "   ", "\n", "sk-abc def", "sk-abc\nsk-def", "k" * (MAX_KEY_CHARS + 1)])
def test_clean_api_key_rejects_empty_or_pasted_junk(key: str) -> None:
    with pytest.raises(FormError):
        clean_api_key(key)


def test_clean_api_key_strips_the_paste() -> None:
    assert clean_api_key("  sk-live-123\n") == "sk-live-123"


def test_model_strings_need_provider_slash_model() -> None:
    assert clean_model_string("", "working_model") is None
    assert clean_model_string(" anthropic/claude-sonnet-4 ", "working_model") == "anthropic/claude-sonnet-4"
    for bad in ("claude-sonnet-4", "nosuchprovider/model", "anthropic/"):
        with pytest.raises(FormError) as caught:
            clean_model_string(bad, "thinking_model")
        assert caught.value.field == "thinking_model"


def test_thinking_level_is_one_of_four_or_unset() -> None:
    assert clean_thinking_level("") is None
    assert clean_thinking_level("high") == "high"
    with pytest.raises(FormError):
        clean_thinking_level("extreme")


# --- CSRF -----------------------------------------------------------------------------------------------


def test_csrf_accepts_the_signature_of_the_cookie_nonce() -> None:
    nonce = "a1" * 16
    request = make_request({"origin": "http://127.0.0.1:8181"}, {csrf.CSRF_COOKIE: nonce})
    csrf.check_origin(request)
    csrf.check_token(request, FormData({csrf.CSRF_FIELD: csrf.sign(SECRET, nonce)}), SECRET)


@pytest.mark.parametrize("given", ["", "0" * 64, "a1" * 16])
def test_csrf_refuses_a_missing_or_forged_token(given: str) -> None:
    nonce = "a1" * 16
    request = make_request(cookies={csrf.CSRF_COOKIE: nonce})
    with pytest.raises(csrf.CsrfError):
        csrf.check_token(request, FormData({csrf.CSRF_FIELD: given}), SECRET)


def test_csrf_token_signed_with_another_secret_is_refused() -> None:
    nonce = "b2" * 16
    request = make_request(cookies={csrf.CSRF_COOKIE: nonce})
    with pytest.raises(csrf.CsrfError):
        csrf.check_token(request, FormData({csrf.CSRF_FIELD: csrf.sign(b"other" * 8, nonce)}), SECRET)


def test_csrf_token_without_its_cookie_is_refused() -> None:
    nonce = "c3" * 16
    with pytest.raises(csrf.CsrfError):
        csrf.check_token(make_request(), FormData({csrf.CSRF_FIELD: csrf.sign(SECRET, nonce)}), SECRET)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"origin": "http://evil.example"},
        {"origin": "http://127.0.0.1:9999"},
        {"origin": "null"},
        {"referer": "http://evil.example/ui/settings"},
        {"origin": "https://127.0.0.1:8181"},
    ],
)
def test_origin_check_refuses_other_or_unknown_origins(headers: dict[str, str]) -> None:
    with pytest.raises(csrf.CsrfError):
        csrf.check_origin(make_request(headers))


def test_origin_check_falls_back_to_a_same_origin_referer() -> None:
    csrf.check_origin(make_request({"referer": "http://127.0.0.1:8181/ui/settings/providers"}))


def test_ensure_nonce_reuses_a_valid_cookie_and_replaces_a_bad_one() -> None:
    assert csrf.ensure_nonce(make_request(cookies={csrf.CSRF_COOKIE: "ab" * 16})) == ("ab" * 16, False)
    fresh, is_new = csrf.ensure_nonce(make_request(cookies={csrf.CSRF_COOKIE: "<script>"}))
    assert is_new and fresh.isalnum() and len(fresh) == 2 * csrf.NONCE_BYTES


# --- flash messages and session cookies -------------------------------------------------------------------


def cookie_from(response: Response, name: str) -> str:
    for header, value in response.raw_headers:
        if header == b"set-cookie" and value.decode().startswith(f"{name}="):
            return value.decode().split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie set")


def test_flash_round_trips_and_is_truncated() -> None:
    response = Response()
    set_flash(response, make_request(), SECRET, "error", "x" * (MAX_FLASH_CHARS * 2))
    value = cookie_from(response, FLASH_COOKIE)
    flash = take_flash(make_request(cookies={FLASH_COOKIE: value}), SECRET)
    assert flash is not None and flash.kind == "error" and len(flash.message) == MAX_FLASH_CHARS


def test_flash_with_a_bad_signature_is_ignored() -> None:
    response = Response()
    set_flash(response, make_request(), SECRET, "ok", "Saved")
    payload = cookie_from(response, FLASH_COOKIE).split(".")[0]
    assert take_flash(make_request(cookies={FLASH_COOKIE: f"{payload}.{'0' * 64}"}), SECRET) is None
    assert take_flash(make_request(cookies={FLASH_COOKIE: cookie_from(response, FLASH_COOKIE)}), b"x" * 32) is None


def test_session_cookie_proves_the_token_without_holding_it() -> None:
    token = "my-api-token-123456"
    value = session_cookie_value(token, now=1_000_000)
    assert token not in value
    assert session_cookie_valid(value, token, now=1_000_000 + 60)
    assert not session_cookie_valid(value, "another-token-000000", now=1_000_060)
    assert not session_cookie_valid(value, token, now=1_000_000 + SESSION_MAX_AGE_S + 1)


@pytest.mark.parametrize("value", [None, "", "garbage", "123.", ".abc", "99999999999.00"])
def test_malformed_session_cookies_are_refused(value: str | None) -> None:
    assert not session_cookie_valid(value, "my-api-token-123456", now=0)


def test_session_expiry_cannot_be_extended_by_editing_the_cookie() -> None:
    token = "my-api-token-123456"
    expires, mac = session_cookie_value(token, now=0).split(".")
    assert not session_cookie_valid(f"{int(expires) + 10_000}.{mac}", token, now=0)
