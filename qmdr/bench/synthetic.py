"""A reproducible synthetic vault and a cheap deterministic embedder for speed runs.

The vault is realistic enough to exercise the real scan/parse/chunk path: notes
with a title, sections under ``##`` headings and paragraphs of words drawn from a
fixed word list with a Zipf-like skew (so BM25 sees common and rare terms). The
same seed always gives the same bytes.

``HashingEmbedder`` exists because embedding 100k chunks with MiniLM takes ~40
minutes on two cores: for large sizes the speed benchmark measures the store,
index and search paths with vectors made by feature hashing (words hashed into
``dim`` buckets, L2-normalised). It is fast, deterministic, and keeps topical
similarity, so nearest-neighbour search does real work; the report says which
embedder produced each row.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# A fixed vocabulary of plain words in a loose "engineering notebook" register.
_WORD_TEXT = """
    system service request response cache index query search vector keyword memory agent note
    vault chunk embed model token budget latency throughput error retry timeout backoff queue
    worker thread process socket server client database table column schema migration backup
    restore deploy release version branch commit review test build pipeline artifact container
    image volume network route proxy gateway certificate secret token session cookie header
    payload batch stream event topic partition offset consumer producer metric counter gauge
    histogram alert incident postmortem runbook oncall escalation owner team project roadmap
    milestone goal design decision tradeoff constraint requirement interface contract protocol
    format parser encoder decoder compression checksum hash signature key lock transaction
    isolation snapshot replica leader follower election quorum consensus shard cluster node
    region zone failover recovery durability consistency availability scale load balance
    sample trace span log level debug warning config setting default override flag feature
    experiment rollout canary rollback user account permission role policy audit compliance
    privacy storage disk file folder path link reference heading paragraph summary detail
    example note idea question answer plan draft meeting agenda action item follow deadline
    garden kitchen recipe travel book reading music film weather coffee morning evening
"""
WORDS: tuple[str, ...] = tuple(dict.fromkeys(_WORD_TEXT.split()))  # de-duplicated, order kept
STOP = ("the", "a", "of", "to", "and", "in", "for", "on", "with", "is", "that", "when", "we", "it")

# Zipf exponent of word frequencies: ~1 is what natural text shows.
ZIPF_EXPONENT = 1.0
# Words per paragraph: a section of 40-80 words is ~100-220 tokens, so it fills one
# 256-token chunk and is never merged with a neighbour (merging stops at 128):
# one section is one chunk, and the chunk count is predictable from the seed.
PARAGRAPH_WORDS = (40, 80)
SECTIONS_PER_NOTE = (3, 12)
HASHING_DIM = 384  # same width as MiniLM, so vector storage and scans cost the same
_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class SyntheticVault:
    root: Path
    notes: list[str]  # relative paths, sorted
    sections: int  # total ## sections written (~ chunks)


class _Writer:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        weights = [1.0 / (rank + 1) ** ZIPF_EXPONENT for rank in range(len(WORDS))]
        shuffled = list(WORDS)
        self.rng.shuffle(shuffled)
        self.words = shuffled
        self.weights = weights

    def words_(self, n: int) -> list[str]:
        return self.rng.choices(self.words, weights=self.weights, k=n)

    def sentence(self, n: int) -> str:
        out: list[str] = []
        for word in self.words_(n):
            if self.rng.random() < 0.3:
                out.append(self.rng.choice(STOP))
            out.append(word)
        return " ".join(out).capitalize() + "."

    def paragraph(self) -> str:
        target = self.rng.randint(*PARAGRAPH_WORDS)
        sentences: list[str] = []
        written = 0
        while written < target:
            n = self.rng.randint(6, 14)
            sentences.append(self.sentence(n))
            written += n
        return " ".join(sentences)

    def note(self, sections: int) -> str:
        title = " ".join(self.words_(3)).title()
        parts = [f"# {title}", ""]
        for _ in range(sections):
            parts += [f"## {' '.join(self.words_(2)).capitalize()}", "", self.paragraph(), ""]
        return "\n".join(parts)


def generate_vault(root: Path, target_chunks: int, *, seed: int) -> SyntheticVault:
    """Write notes under ``root`` until about ``target_chunks`` sections exist.

    Notes are spread over folders of at most 500 files, like a large real vault.
    """
    writer = _Writer(seed)
    root.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    sections = 0
    while sections < target_chunks:
        n = min(writer.rng.randint(*SECTIONS_PER_NOTE), target_chunks - sections)
        rel = f"folder-{len(notes) // 500:04d}/note-{len(notes):06d}.md"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(writer.note(n), encoding="utf-8")
        notes.append(rel)
        sections += n
    return SyntheticVault(root, sorted(notes), sections)


def change_notes(vault: SyntheticVault, fraction: float, *, seed: int) -> list[str]:
    """Rewrite one paragraph in ``fraction`` of the notes; return the changed paths."""
    rng = random.Random(seed)
    count = max(1, round(len(vault.notes) * fraction))
    changed = sorted(rng.sample(vault.notes, count))
    writer = _Writer(seed + 1)
    for rel in changed:
        path = vault.root / rel
        text = path.read_text(encoding="utf-8")
        path.write_text(text.rstrip("\n") + "\n\n" + writer.paragraph() + "\n", encoding="utf-8")
    return changed


def sample_queries(count: int, *, seed: int) -> list[str]:
    """Short keyword-style queries (2-4 words) from the same vocabulary."""
    writer = _Writer(seed)
    return [" ".join(writer.words_(writer.rng.randint(2, 4))) for _ in range(count)]


def _bucket(token: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, (1.0 if (value >> 63) else -1.0)


class HashingEmbedder:
    """Feature-hashing embedder: each word adds +-1 to one of ``dim`` buckets.

    Deterministic, dependency-free and ~1000x cheaper than a transformer; used
    for speed runs at sizes where the real model would take too long.
    """

    def __init__(self, dim: int = HASHING_DIM) -> None:
        self.dim = dim
        self.model_id = f"bench-hashing-{dim}"
        self._buckets: dict[str, tuple[int, float]] = {}

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                bucket = self._buckets.get(token)
                if bucket is None:
                    bucket = self._buckets[token] = _bucket(token, self.dim)
                out[row, bucket[0]] += bucket[1]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        out /= norms
        # An empty text would be all zeros: give it a fixed unit vector instead.
        out[np.all(out == 0, axis=1), 0] = 1.0
        return out

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return await asyncio.to_thread(self.embed_sync, list(texts))
