"""``qmdr serve`` believes X-Forwarded-For only from QMDR_TRUSTED_PROXIES, and locks out the address it trusts.

uvicorn on its own trusts proxy headers from 127.0.0.1, so a guesser on the
same host could rotate X-Forwarded-For and never be locked out. Real
processes on real sockets, because the fix lives in how ``qmdr serve`` starts
uvicorn as much as in the app.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.qmdr_process import qmdr_env, running_server

pytestmark = [pytest.mark.e2e]
TOKEN = "trusted-proxies-token-0123"
FREE_FAILURES = 3
#: guesses sent past the free ones: the first lockout lasts 1 s, the next ones 2 s and 4 s, so even on a
#: machine slow enough to let one lockout run out between two requests, one of these meets a lockout
EXTRA_GUESSES = 4


def wrong_token(client: httpx.Client, forwarded_for: str) -> int:
    return client.get(
        "/reindex/status", headers={"Authorization": "Bearer wrong", "X-Forwarded-For": forwarded_for}
    ).status_code


def test_rotating_x_forwarded_for_does_not_escape_the_lockout_by_default(tmp_path: Path) -> None:
    env = qmdr_env(tmp_path / "data", QMDR_API_TOKEN=TOKEN, QMDR_AUTH_FREE_FAILURES=str(FREE_FAILURES))
    with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        answers = [wrong_token(client, f"203.0.113.{i}") for i in range(FREE_FAILURES + 1 + EXTRA_GUESSES)]
    assert answers[: FREE_FAILURES + 1] == [401] * (FREE_FAILURES + 1)
    assert 429 in answers[FREE_FAILURES + 1 :]  # every guess came from 127.0.0.1, whatever the header said


def test_a_named_proxy_is_believed_and_the_forwarded_client_is_locked_out(tmp_path: Path) -> None:
    env = qmdr_env(
        tmp_path / "data",
        QMDR_API_TOKEN=TOKEN,
        QMDR_AUTH_FREE_FAILURES=str(FREE_FAILURES),
        QMDR_TRUSTED_PROXIES="127.0.0.1",
    )
    with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        guesser = [wrong_token(client, "203.0.113.7") for _ in range(FREE_FAILURES + 1 + EXTRA_GUESSES)]
        bystander = [wrong_token(client, f"198.51.100.{i}") for i in range(FREE_FAILURES + 1 + EXTRA_GUESSES)]
    assert guesser[: FREE_FAILURES + 1] == [401] * (FREE_FAILURES + 1) and 429 in guesser[FREE_FAILURES + 1 :]
    # other clients behind the same proxy are neither locked out with the guesser nor with each other
    assert bystander == [401] * len(bystander)
