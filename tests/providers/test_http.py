"""The boundary helpers of ``providers.http``: Retry-After in both of its forms."""

from __future__ import annotations

import time
from email.utils import formatdate

import httpx
import pytest
import respx

from providers import Keys, ProviderClient, RateLimited
from providers.http import parse_retry_after, raise_for_status

NOW = 1_800_000_000.0  # a whole second, so the HTTP-date (1 s resolution) is exact


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("0", 0.0),
        (formatdate(NOW + 20, usegmt=True), 20.0),  # IMF-fixdate
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),  # in the past: retry now, never a negative wait
        ("Sunday, 06-Nov-94 08:49:37 GMT", 0.0),  # obsolete RFC 850 form, still to be accepted
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after_reads_delta_seconds_and_http_dates(header, seconds):
    assert parse_retry_after(header, now=lambda: NOW) == seconds


def test_a_429_with_an_http_date_carries_the_wait():
    response = httpx.Response(
        429,
        headers={"retry-after": formatdate(time.time() + 40, usegmt=True)},
        json={"error": {"message": "slow down"}},
    )
    with pytest.raises(RateLimited) as info:
        raise_for_status(response, provider="openai")
    assert info.value.retry_after is not None and 30 <= info.value.retry_after <= 41


class FakeSleep:
    def __init__(self):
        self.delays = []

    async def __call__(self, seconds):
        self.delays.append(seconds)


@pytest.mark.anyio
@respx.mock
async def test_the_client_waits_as_long_as_an_http_date_retry_after_says():
    """A broken HTTP-date parse would fall back to the 0.5 s backoff; the wait must be the server's."""
    when = formatdate(time.time() + 25, usegmt=True)
    respx.post("https://api.openai.com/v1/chat/completions").mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after": when}, json={"error": {"message": "rate limited"}}),
            httpx.Response(
                200,
                json={
                    "id": "c",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "gpt-4o-mini",
                    "choices": [
                        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}
                    ],
                },
            ),
        ]
    )
    sleep = FakeSleep()
    async with ProviderClient(
        Keys(None, {"OPENAI_API_KEY": "sk-test-000000000"}), http=httpx.AsyncClient(), sleep=sleep
    ) as client:
        result = await client.chat("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}])
    assert result.text == "ok"
    assert len(sleep.delays) == 1 and 15 <= sleep.delays[0] <= 26
