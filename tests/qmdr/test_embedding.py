"""ProviderEmbedder batching, concurrency, order, normalisation and validation; the query cache."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest
import respx

from providers import Keys, ProviderClient
from providers.embedder import Embedder
from providers.errors import MalformedResponse, ProviderUnavailable
from providers.types import EmbedResult
from qmdr.embedding import ProviderEmbedder, QueryEmbeddingCache, embed_fn_for, l2_normalise


class FakeEmbedFn:
    """An embeddings API that encodes each text's number in its vector and records every request.

    ``t17`` becomes ``[17, 1, 0, ...]`` (dim long), so order and normalisation can be checked.
    """

    def __init__(self, dim: int = 4, *, fail_on: str | None = None, rows_short: bool = False):
        self.dim = dim
        self.fail_on = fail_on
        self.rows_short = rows_short
        self.requests: list[tuple[list[str], int | None]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, texts: list[str], *, dimensions: int | None) -> EmbedResult:
        self.requests.append((list(texts), dimensions))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.001)  # yield so other batches can start
            if self.fail_on is not None and self.fail_on in texts:
                raise ProviderUnavailable("openrouter is unavailable (502)", status=502)
            width = dimensions or self.dim
            vectors = [[float(t[1:]) if t[1:].isdigit() else 0.5, 1.0] + [0.0] * (width - 2) for t in texts]
            return EmbedResult(vectors=vectors[:-1] if self.rows_short else vectors, model="fake")
        finally:
            self.in_flight -= 1


def texts(n: int) -> list[str]:
    return [f"t{i}" for i in range(n)]


@pytest.mark.anyio
async def test_batches_keep_input_order_and_rows_come_back_unit_float32():
    fake = FakeEmbedFn(dim=4)
    embedder = ProviderEmbedder(fake, model="openai/text-embedding-3-small", dim=4, batch_size=64)
    out = await embedder.embed(texts(130))
    assert [len(batch) for batch, _ in fake.requests] == [64, 64, 2]
    assert out.shape == (130, 4) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    # row i encodes text i: the ratio of its first two components is i
    np.testing.assert_allclose(out[:, 0] / out[:, 1], np.arange(130), rtol=1e-5)


@pytest.mark.anyio
async def test_requests_in_flight_never_exceed_max_concurrency():
    fake = FakeEmbedFn()
    embedder = ProviderEmbedder(fake, model="m", dim=4, batch_size=2, max_concurrency=3)
    await embedder.embed(texts(40))
    assert len(fake.requests) == 20
    assert fake.max_in_flight == 3  # concurrent, and bounded


@pytest.mark.anyio
async def test_dimensions_are_sent_and_named_in_the_model_id():
    fake = FakeEmbedFn()
    embedder = ProviderEmbedder(fake, model="openai/text-embedding-3-small", dimensions=8)
    assert embedder.model_id == "openai/text-embedding-3-small@8" and embedder.dim == 8
    assert (await embedder.embed(["t1"])).shape == (1, 8)
    assert fake.requests == [(["t1"], 8)]
    assert ProviderEmbedder(fake, model="x", dim=8).model_id == "x"
    with pytest.raises(ValueError):
        ProviderEmbedder(fake, model="x", dim=4, dimensions=8)


@pytest.mark.anyio
async def test_the_dimension_is_learnt_from_the_first_response():
    fake = FakeEmbedFn(dim=6)
    embedder = ProviderEmbedder(fake, model="m")
    assert not embedder.dim_known
    with pytest.raises(RuntimeError, match="discover_dim"):
        _ = embedder.dim
    assert await embedder.discover_dim() == 6 and len(fake.requests) == 1
    assert await embedder.discover_dim() == 6 and len(fake.requests) == 1  # asked once
    assert isinstance(embedder, Embedder)


@pytest.mark.anyio
async def test_a_response_of_the_wrong_shape_is_refused():
    with pytest.raises(MalformedResponse, match="1 vectors for 2 texts"):
        await ProviderEmbedder(FakeEmbedFn(rows_short=True), model="m", dim=4).embed(["t1", "t2"])
    with pytest.raises(MalformedResponse, match="6-dimensional vectors, expected 4"):
        await ProviderEmbedder(FakeEmbedFn(dim=6), model="m", dim=4).embed(["t1"])


@pytest.mark.anyio
async def test_a_failed_batch_raises_the_provider_error_itself_and_stops_the_rest():
    fake = FakeEmbedFn(fail_on="t0")
    embedder = ProviderEmbedder(fake, model="m", dim=4, batch_size=1, max_concurrency=1)
    with pytest.raises(ProviderUnavailable):
        await embedder.embed(texts(10))
    assert len(fake.requests) < 10


@pytest.mark.anyio
async def test_no_texts_make_no_request():
    fake = FakeEmbedFn()
    out = await ProviderEmbedder(fake, model="m", dim=4).embed([])
    assert out.shape == (0, 4) and fake.requests == []


def test_l2_normalise_leaves_zero_rows_at_zero():
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert out.dtype == np.float32


@pytest.mark.anyio
async def test_query_cache_embeds_a_repeated_query_once_per_model():
    fake = FakeEmbedFn()
    cache = QueryEmbeddingCache(max_entries=10)
    small = ProviderEmbedder(fake, model="m", dim=4)
    first = await cache.embed(small, "t5")
    second = await cache.embed(small, "t5")
    assert len(fake.requests) == 1 and cache.hits == 1
    np.testing.assert_array_equal(first, second)
    assert first.shape == (4,) and not first.flags.writeable
    await cache.embed(ProviderEmbedder(fake, model="m", dimensions=8), "t5")  # other model id
    assert len(fake.requests) == 2


def test_query_cache_forgets_the_least_recently_used():
    cache = QueryEmbeddingCache(max_entries=2)
    for name in ("a", "b"):
        cache.put("m", name, np.ones(2))
    assert cache.get("m", "a") is not None  # a is now the most recent
    cache.put("m", "c", np.ones(2))
    assert cache.get("m", "b") is None and cache.get("m", "a") is not None and len(cache) == 2


# --- through the real ProviderClient to OpenRouter (faked at the HTTP boundary) ------------------------

OPENROUTER_EMBEDDINGS = "https://openrouter.ai/api/v1/embeddings"


@pytest.mark.anyio
@respx.mock
async def test_openrouter_embeddings_request_and_answer():
    def answer(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["input"]
        rows = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 0.0, 2.0]}
            for i, t in reversed(list(enumerate(inputs)))
        ]  # out of order on purpose
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": rows,
                "model": "openai/text-embedding-3-small",
                "usage": {"prompt_tokens": 7, "total_tokens": 7},
            },
        )

    route = respx.post(OPENROUTER_EMBEDDINGS).mock(side_effect=answer)
    async with httpx.AsyncClient() as http:
        client = ProviderClient(Keys(env={"OPENROUTER_API_KEY": "sk-or-v1-test"}), http=http)
        model = "openrouter/openai/text-embedding-3-small"
        embedder = ProviderEmbedder(embed_fn_for(client, model), model=model, batch_size=2)
        out = await embedder.embed(["a", "bbbb", "cc"])
    assert route.call_count == 2  # batches of 2: ["a", "bbbb"], ["cc"]
    first = route.calls[0].request
    assert first.headers["authorization"] == "Bearer sk-or-v1-test"
    body = json.loads(first.content)
    assert body["model"] == "openai/text-embedding-3-small" and body["input"] == ["a", "bbbb"]
    assert "dimensions" not in body
    assert embedder.dim == 3 and out.shape == (3, 3)
    np.testing.assert_allclose(out[:, 0] / out[:, 2], [0.5, 2.0, 1.0], rtol=1e-6)  # len(t) / 2, in order
