"""Repeated wrong tokens from one client lock it out for growing times; the right token resets it."""

from __future__ import annotations

import pytest

from qmdr.api.auth_throttle import AuthThrottle

TOKEN = "test-api-token-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lockouts_start_after_the_free_failures_and_double_up_to_the_cap():
    clock = Clock()
    throttle = AuthThrottle(3, window_s=600, max_lockout_s=5, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0  # three free failures
    waits = []
    for _ in range(5):
        throttle.failed("10.0.0.1")
        waits.append(throttle.retry_after("10.0.0.1"))
    assert waits == [1, 2, 4, 5, 5]
    assert throttle.retry_after("10.0.0.2") == 0  # other clients are not affected
    clock.now += 5
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.succeeded("10.0.0.1")
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0  # a success forgot the failures


def test_failures_older_than_the_window_are_forgotten_and_memory_is_bounded():
    clock = Clock()
    throttle = AuthThrottle(1, window_s=60, clock=clock, max_clients=2)
    throttle.failed("a")
    clock.now += 61
    throttle.failed("a")
    assert throttle.retry_after("a") == 0  # the first failure had expired: this is again the free one
    throttle.failed("b")
    throttle.failed("c")
    assert len(throttle._records) == 2 and "a" not in throttle._records


def test_a_free_failure_count_below_one_is_refused():
    with pytest.raises(ValueError):
        AuthThrottle(0)


def test_the_api_answers_429_with_retry_after_and_checks_no_token_meanwhile(make_client):
    client = make_client(qmdr_api_token=TOKEN, qmdr_auth_free_failures=2)
    wrong = {"Authorization": "Bearer not-it"}
    assert [client.get("/reindex/status", headers=wrong).status_code for _ in range(2)] == [401, 401]
    locked = client.get("/reindex/status", headers=wrong)
    assert locked.status_code == 401  # the third wrong token is refused and starts the lockout
    refused = client.get("/reindex/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert TOKEN not in refused.text
    assert client.get("/reindex/status").status_code == 401  # no credential: a plain 401, never counted


def test_the_right_token_within_the_free_failures_resets_the_count(make_client):
    client = make_client(qmdr_api_token=TOKEN, qmdr_auth_free_failures=2)
    wrong, right = {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/reindex/status", headers=wrong).status_code == 401
    assert client.get("/reindex/status", headers=right).status_code == 200  # forgets the failure
    assert [client.get("/reindex/status", headers=wrong).status_code for _ in range(2)] == [401, 401]
    # two failures since the success: still free (without the reset this would be the third: locked out)
    assert client.get("/reindex/status", headers=right).status_code == 200


def test_the_login_form_is_throttled_too(make_client):
    client = make_client(qmdr_api_token=TOKEN, qmdr_auth_free_failures=1)
    page = client.get("/ui/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0] if 'name="csrf_token"' in page.text else ""
    origin = {"Origin": str(client.base_url)}

    def sign_in(token: str):
        return client.post(
            "/ui/login",
            data={"token": token, "next": "/ui/memory", "csrf_token": csrf},
            headers=origin,
            follow_redirects=False,
        )

    assert sign_in("wrong-1").status_code == 401
    assert sign_in("wrong-2").status_code == 401
    locked = sign_in(TOKEN)
    assert locked.status_code == 429 and "Try again in" in locked.text and TOKEN not in locked.text
    client.app.state.auth_throttle.succeeded("testclient")
    assert sign_in(TOKEN).status_code in (302, 303)
