"""Feedback and recency: votes are counted per note; each boost is off by default and follows its formula."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from qmdr.api.app import create_app
from qmdr.memory.feedback import FeedbackStore
from qmdr.search.boosts import boost_factors, note_timestamp, recency, usefulness
from tests.qmdr.memory_service import make_service, write_notes

DAY = 86_400.0
NOTES = {"a.md": "# A\n\nshared words about kites\n", "b.md": "# B\n\nshared words about kites\n"}


def test_usefulness_is_laplace_smoothed() -> None:
    assert usefulness(0, 0) == 0.5
    assert usefulness(1, 0) == pytest.approx(2 / 3)
    assert usefulness(0, 3) == pytest.approx(1 / 5)


def test_recency_halves_every_half_life() -> None:
    now = 1_000 * DAY
    assert recency(now, now, 30) == 1.0
    assert recency(now - 30 * DAY, now, 30) == pytest.approx(0.5)
    assert recency(now - 60 * DAY, now, 30) == pytest.approx(0.25)
    assert recency(now + DAY, now, 30) == 1.0  # a future date counts as today
    assert recency(None, now, 30) == 0.0


def test_frontmatter_date_wins_over_mtime() -> None:
    note = {"dates": {"created": "2020-01-01", "updated": "2024-05-01"}, "mtime": 5.0}
    assert note_timestamp(note) == pytest.approx(1714521600.0)
    assert note_timestamp({"dates": {}, "mtime": 5.0}) == 5.0


def test_boosts_are_neutral_when_off() -> None:
    factors = boost_factors(
        note={"mtime": time.time()},
        votes=(9, 0),
        now=time.time(),
        recency_weight=0,
        half_life_days=30,
        feedback_weight=0,
    )
    assert factors == {"recency": 1.0, "feedback": 1.0}
    on = boost_factors(
        note={"mtime": time.time()},
        votes=(1, 0),
        now=time.time(),
        recency_weight=0.5,
        half_life_days=30,
        feedback_weight=0.6,
    )
    assert on["recency"] == pytest.approx(1.5, abs=1e-3)
    assert on["feedback"] == pytest.approx(1 + 0.6 * (2 * 2 / 3 - 1))


def test_feedback_store_counts_votes(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    assert store.record("default", "a.md", True) == (1, 0)
    assert store.record("default", "a.md", False) == (1, 1)
    assert store.record("default", "a.md", True) == (2, 1)
    assert FeedbackStore(tmp_path / "fb.sqlite").votes("default", ["a.md", "b.md"]) == {"a.md": (2, 1)}


async def _order(service) -> list[str]:
    found = await service.memory.search("shared words kites", mode="keyword", k=2)
    return [h.result.path for h in found.results]


@pytest.mark.anyio
async def test_feedback_prior_reorders_only_when_enabled(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "v", NOTES)
    off = make_service(tmp_path / "off", folder)
    on = make_service(tmp_path / "on", folder, qmdr_feedback_weight=0.5)
    try:
        for service in (off, on):
            await service.memory.reindex("default")
            baseline = await _order(service)
            for _ in range(3):
                service.memory.feedback.record("default", baseline[1], True)
                service.memory.feedback.record("default", baseline[0], False)
        assert await _order(off) == baseline
        assert await _order(on) == baseline[::-1]
    finally:
        await off.aclose()
        await on.aclose()


@pytest.mark.anyio
async def test_recency_boost_prefers_fresh_notes_when_enabled(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "v", NOTES)
    plain = make_service(tmp_path / "plain", folder)
    try:
        await plain.memory.reindex("default")
        winner, runner_up = await _order(plain)
    finally:
        await plain.aclose()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    write_notes(
        folder,
        {
            winner: f"---\nupdated: 2001-01-01\n---\n{NOTES[winner]}",
            runner_up: f"---\nupdated: {today}\n---\n{NOTES[runner_up]}",
        },
    )
    service = make_service(tmp_path, folder, qmdr_recency_weight=1.0, qmdr_recency_half_life_days=30)
    try:
        await service.memory.reindex("default")
        found = await service.memory.search("shared words kites", mode="keyword", k=2, explain=True)
        assert [h.result.path for h in found.results] == [runner_up, winner]
        assert found.results[0].explain["boosts"]["recency"] == pytest.approx(2.0, abs=0.05)
        assert found.results[1].explain["boosts"]["recency"] == pytest.approx(1.0, abs=1e-3)
    finally:
        await service.aclose()


@pytest.mark.anyio
async def test_feedback_endpoint(tmp_path: Path) -> None:
    service = make_service(tmp_path, write_notes(tmp_path / "v", NOTES))
    app = create_app(service.settings, service=service)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            first = await client.post("/feedback", json={"vault": "default", "path": "a.md", "useful": True})
            assert first.status_code == 200
            assert first.json() == {
                "vault": "default",
                "path": "a.md",
                "useful": 1,
                "not_useful": 0,
                "prior": pytest.approx(2 / 3),
            }
            second = await client.post("/feedback", json={"path": "a.md", "useful": False, "query": "kites"})
            assert (second.json()["useful"], second.json()["not_useful"]) == (1, 1)
            assert (
                await client.post("/feedback", json={"vault": "ghost", "path": "a.md", "useful": True})
            ).status_code == 404
    finally:
        await service.aclose()
