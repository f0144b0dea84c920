"""A deterministic stand-in for an LLM grader, answering qmdr's listwise rerank prompt.

It grades each passage by how many distinct query words it contains, so tests
can predict the rerank order without a real model.
"""

from __future__ import annotations

import json
import re
from typing import Any

PASSAGE = re.compile(r'<passage id="(\d+)">\n(.*?)\n</passage>', re.S)
WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = {"the", "a", "an", "of", "to", "and", "or", "we", "did", "do", "what", "about", "how", "is", "on", "in"}


def content_words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 2}


def overlap_grade(query: str, passage: str) -> int:
    """0..3: one point per shared content word (prefix-5 match), capped at 3."""
    q = {w[:5] for w in content_words(query)}
    p = {w[:5] for w in content_words(passage)}
    return min(3, len(q & p))


def grading_chat(messages: list[dict[str, Any]], model: str) -> str:
    """Answer the rerank prompt with strict JSON; anything else gets a short echo."""
    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    if not user.startswith("Query: "):
        return json.dumps({"queries": [user[:50]], "answer": user[:80]})
    query = user.splitlines()[0].removeprefix("Query: ")
    grades = [{"id": int(i), "grade": overlap_grade(query, text)} for i, text in PASSAGE.findall(user)]
    return json.dumps({"grades": grades})
