"""A float32 numpy forward pass of the 6-layer MiniLM BERT encoder, plus mean pooling.

Written for speed on a small CPU without torch:

* Q, K and V are one fused matmul; the 1/sqrt(head_dim) attention scale is
  folded into the query weights at load time (it is 1/8, so this is exact).
* The feed-forward block and attention run over slices of rows sized to stay
  in cache, so numpy's elementwise passes (GELU, softmax, layer norm) read
  cache rather than main memory.
* Every elementwise step works in place on float32 buffers.

The caller decides threading: this module is pure and holds no state besides
the read-only weights it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

HIDDEN = 384
HEADS = 12
HEAD_DIM = HIDDEN // HEADS
LAYERS = 6
LAYER_NORM_EPS = 1e-12  # config.json layer_norm_eps
# A masked key gets this added before softmax; exp() of it underflows to exactly 0 in float32.
MASKED_SCORE = np.float32(-1e9)
# Rows of the (tokens, 1536) feed-forward activation handled at once: 512 rows x 1536 x 4 B = 3 MiB,
# small enough to stay in cache across the GELU passes, large enough to keep the matmuls efficient.
FFN_ROW_BLOCK = 512
# Sequences whose attention is computed at once: 12 heads x 256 x 256 x 4 B = 3 MiB per sequence at most.
ATTENTION_SEQ_BLOCK = 1

# Abramowitz & Stegun 7.1.26 rational approximation of erf: |error| < 1.5e-7, below float32 resolution
# of the GELU output, so the exact-erf GELU of the reference model is reproduced without scipy.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))
_INV_SQRT2 = np.float32(1.0 / np.sqrt(2.0))


@dataclass(frozen=True)
class LayerWeights:
    """One encoder layer, with matrices transposed to (in, out) so ``x @ w`` needs no copy."""

    qkv_w: np.ndarray  # (384, 1152): query (pre-scaled), key, value side by side
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    ffn_in_w: np.ndarray
    ffn_in_b: np.ndarray
    ffn_out_w: np.ndarray
    ffn_out_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


@dataclass(frozen=True)
class BertWeights:
    """All weights the forward pass needs, float32 and C-contiguous."""

    word: np.ndarray
    position: np.ndarray
    token_type0: np.ndarray
    emb_ln_g: np.ndarray
    emb_ln_b: np.ndarray
    layers: tuple[LayerWeights, ...]


def _f32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


def load_weights(path: Path) -> BertWeights:
    """Read ``model.safetensors`` and lay the tensors out for :func:`encode`."""
    from safetensors.numpy import load_file  # here, not at import: a process that never embeds skips it

    raw = load_file(str(path))
    scale = np.float32(1.0 / np.sqrt(HEAD_DIM))
    layers = []
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        q_w = raw[p + "attention.self.query.weight"] * scale
        q_b = raw[p + "attention.self.query.bias"] * scale
        layers.append(
            LayerWeights(
                qkv_w=_f32(
                    np.concatenate(
                        [q_w, raw[p + "attention.self.key.weight"], raw[p + "attention.self.value.weight"]]
                    ).T
                ),
                qkv_b=_f32(
                    np.concatenate([q_b, raw[p + "attention.self.key.bias"], raw[p + "attention.self.value.bias"]])
                ),
                out_w=_f32(raw[p + "attention.output.dense.weight"].T),
                out_b=_f32(raw[p + "attention.output.dense.bias"]),
                ln1_g=_f32(raw[p + "attention.output.LayerNorm.weight"]),
                ln1_b=_f32(raw[p + "attention.output.LayerNorm.bias"]),
                ffn_in_w=_f32(raw[p + "intermediate.dense.weight"].T),
                ffn_in_b=_f32(raw[p + "intermediate.dense.bias"]),
                ffn_out_w=_f32(raw[p + "output.dense.weight"].T),
                ffn_out_b=_f32(raw[p + "output.dense.bias"]),
                ln2_g=_f32(raw[p + "output.LayerNorm.weight"]),
                ln2_b=_f32(raw[p + "output.LayerNorm.bias"]),
            )
        )
    return BertWeights(
        word=_f32(raw["embeddings.word_embeddings.weight"]),
        position=_f32(raw["embeddings.position_embeddings.weight"]),
        token_type0=_f32(raw["embeddings.token_type_embeddings.weight"][0]),
        emb_ln_g=_f32(raw["embeddings.LayerNorm.weight"]),
        emb_ln_b=_f32(raw["embeddings.LayerNorm.bias"]),
        layers=tuple(layers),
    )


def layer_norm_(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Normalise each row of ``x`` in place over its last axis."""
    mean = x.mean(axis=-1, keepdims=True)
    x -= mean
    var = np.einsum("ij,ij->i", x, x)[:, None]
    var *= np.float32(1.0 / x.shape[-1])
    var += np.float32(LAYER_NORM_EPS)
    np.sqrt(var, out=var)
    np.reciprocal(var, out=var)
    x *= var
    x *= gamma
    x += beta
    return x


def gelu_(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU in place: 0.5 * x * (1 + erf(x / sqrt 2)), erf by A&S 7.1.26."""
    z = x * _INV_SQRT2  # z = x / sqrt2
    az = np.abs(z)
    t = az * _ERF_P
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = t * _ERF_A[0]
    for coef in _ERF_A[1:]:
        poly += coef
        poly *= t
    np.square(az, out=az)
    np.negative(az, out=az)
    np.exp(az, out=az)  # exp(-z^2)
    poly *= az  # 1 - erf(|z|)
    # erf(z) = sign(z) * (1 - poly), so 1 + erf(z) = 1 + copysign(1 - poly, z)
    np.subtract(np.float32(1.0), poly, out=poly)
    np.copysign(poly, z, out=poly)
    poly += np.float32(1.0)
    x *= poly
    x *= np.float32(0.5)
    return x


def _softmax_(scores: np.ndarray) -> None:
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)


def _attention(qkv: np.ndarray, mask_bias: np.ndarray, batch: int, seq: int) -> np.ndarray:
    """Multi-head self-attention from the fused projection ``qkv`` of shape (batch*seq, 3*384)."""
    qkv = qkv.reshape(batch, seq, 3, HEADS, HEAD_DIM)
    context = np.empty((batch, seq, HEADS, HEAD_DIM), dtype=np.float32)
    for start in range(0, batch, ATTENTION_SEQ_BLOCK):
        stop = min(start + ATTENTION_SEQ_BLOCK, batch)
        q = qkv[start:stop, :, 0].transpose(0, 2, 1, 3)  # (b, H, L, D)
        k = qkv[start:stop, :, 1].transpose(0, 2, 3, 1)  # (b, H, D, L)
        v = qkv[start:stop, :, 2].transpose(0, 2, 1, 3)  # (b, H, L, D)
        scores = np.matmul(q, k)  # (b, H, L, L)
        scores += mask_bias[start:stop, None, None, :]
        _softmax_(scores)
        context[start:stop] = np.matmul(scores, v).transpose(0, 2, 1, 3)
    return context.reshape(batch * seq, HIDDEN)


def _feed_forward_(x: np.ndarray, layer: LayerWeights) -> None:
    """x = LayerNorm(x + W2 gelu(W1 x)), a block of rows at a time, in place."""
    for start in range(0, x.shape[0], FFN_ROW_BLOCK):
        rows = x[start : start + FFN_ROW_BLOCK]
        hidden = rows @ layer.ffn_in_w
        hidden += layer.ffn_in_b
        gelu_(hidden)
        out = hidden @ layer.ffn_out_w
        out += layer.ffn_out_b
        out += rows
        rows[...] = layer_norm_(out, layer.ln2_g, layer.ln2_b)


def encode(weights: BertWeights, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Mean-pooled, L2-normalised sentence vectors for a padded batch.

    ``input_ids`` and ``attention_mask`` are (batch, seq) integer arrays; padded
    positions (mask 0) never influence the real tokens nor the pooled vector.
    """
    batch, seq = input_ids.shape
    x = weights.word[input_ids.reshape(-1)]
    x.reshape(batch, seq, HIDDEN)[...] += weights.position[:seq]
    x += weights.token_type0
    layer_norm_(x, weights.emb_ln_g, weights.emb_ln_b)
    mask = attention_mask.astype(np.float32)
    mask_bias = (np.float32(1.0) - mask) * MASKED_SCORE
    for layer in weights.layers:
        qkv = x @ layer.qkv_w
        qkv += layer.qkv_b
        context = _attention(qkv, mask_bias, batch, seq)
        attn = context @ layer.out_w
        attn += layer.out_b
        attn += x
        x = layer_norm_(attn, layer.ln1_g, layer.ln1_b)
        _feed_forward_(x, layer)
    hidden = x.reshape(batch, seq, HIDDEN)
    summed = np.einsum("bsh,bs->bh", hidden, mask)
    summed /= np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1.0))
    norms = np.linalg.norm(summed, axis=1, keepdims=True)
    summed /= np.maximum(norms, np.float32(1e-12))
    return summed
