"""Optional score boosts applied after fusion: recency and a usefulness prior from feedback.

Both are off by default (weight 0) and multiply the fused score::

    final = score * (1 + w_recency * recency) * (1 + w_feedback * (2u - 1))

    recency = 0.5 ** (age_days / half_life_days)          in (0, 1], 1 for a note dated today
    u       = (useful + 1) / (useful + not_useful + 2)    in (0, 1), 0.5 without feedback

``age_days`` is measured from the note's frontmatter date (``updated``, else
``date``, else ``created``) or, without one, from the file's mtime. ``u`` is
the Laplace-smoothed share of "useful" votes for the note, so one vote moves
it a little and many votes move it a lot; a note without feedback is neutral
(factor 1). ``w_feedback`` is at most 1, so the factor never turns negative.
"""

from __future__ import annotations

from typing import Any

from vault.frontmatter import note_timestamp as timestamp_of

#: seconds in a day, for ages in days
SECONDS_PER_DAY = 86_400.0


def note_timestamp(note: dict[str, Any]) -> float | None:
    """POSIX time of a stored note's date (``vault.frontmatter.note_timestamp``: the rule the
    ``after``/``before`` filters use too)."""
    return timestamp_of(note.get("dates") or {}, note.get("mtime"))


def recency(timestamp: float | None, now: float, half_life_days: float) -> float:
    """``0.5 ** (age_days / half_life_days)``; 0 when the note has no date; dates in the future count as today."""
    if timestamp is None:
        return 0.0
    age_days = max(0.0, (now - timestamp) / SECONDS_PER_DAY)
    return 0.5 ** (age_days / half_life_days)


def usefulness(useful: int, not_useful: int) -> float:
    """Laplace-smoothed share of useful votes: 0.5 with no votes."""
    return (useful + 1) / (useful + not_useful + 2)


def boost_factors(
    *,
    note: dict[str, Any] | None,
    votes: tuple[int, int],
    now: float,
    recency_weight: float,
    half_life_days: float,
    feedback_weight: float,
) -> dict[str, float]:
    """The multiplicative factors for one result (``recency``, ``feedback``); 1.0 when a boost is off."""
    factors = {"recency": 1.0, "feedback": 1.0}
    if recency_weight > 0 and note is not None:
        factors["recency"] = 1.0 + recency_weight * recency(note_timestamp(note), now, half_life_days)
    if feedback_weight > 0:
        factors["feedback"] = 1.0 + feedback_weight * (2.0 * usefulness(*votes) - 1.0)
    return factors
