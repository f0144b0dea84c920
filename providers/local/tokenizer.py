"""The MiniLM wordpiece tokenizer, configured for qmdr's chunk budget.

The bundled ``tokenizer.json`` pads and truncates to a fixed 128. We truncate
at :data:`MAX_TOKENS` instead (the length sentence-transformers uses for this
model) and pad each batch only to its longest member, so short batches do no
wasted work.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by pad_batch: the embedder imports this module without embedding anything
    import numpy as np

# all-MiniLM-L6-v2 was trained with max_seq_length 256 (sentence_bert_config.json); the position
# table has 512 rows but vectors of longer inputs drift from what the model learned.
MAX_TOKENS = 256
PAD_ID = 0  # config.json pad_token_id


class WordpieceTokenizer:
    """Truncated encoding and exact counting from one ``tokenizer.json``.

    Encoding truncates at :data:`MAX_TOKENS` and does not pad: the embedder sorts
    texts by length first and :func:`pad_batch` pads each batch to its longest.
    Counting uses a second, untruncated instance, because the chunker needs the
    true length of over-long text in order to split it.
    """

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer  # here, not at import: a process that never tokenizes skips it

        self._encoder = Tokenizer.from_file(str(path))
        self._encoder.enable_truncation(max_length=MAX_TOKENS)
        self._encoder.no_padding()  # the file pads to a fixed 128; we pad per batch in pad_batch
        self._counter = Tokenizer.from_file(str(path))
        self._counter.no_truncation()
        self._counter.no_padding()

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text with [CLS]/[SEP], at most ``MAX_TOKENS`` long."""
        return [encoding.ids for encoding in self._encoder.encode_batch(list(texts))]

    def count(self, text: str) -> int:
        """Wordpieces in ``text`` without [CLS]/[SEP] and without truncation (the chunker's budget unit)."""
        return len(self._counter.encode(text, add_special_tokens=False).ids)


def pad_batch(sequences: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Pad token id lists to the batch's longest: ``(input_ids, attention_mask)``, both (batch, longest)."""
    import numpy as np

    longest = max((len(ids) for ids in sequences), default=0)
    input_ids = np.full((len(sequences), longest), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(sequences), longest), dtype=np.int64)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
    return input_ids, mask
