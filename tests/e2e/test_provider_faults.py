"""Provider faults over real sockets: indexing finishes or stops resumably, searches degrade but answer.

The fake OpenAI-compatible server (``tests/e2e/fake_openai_server.py``) injects
each fault of ``FAULT_KINDS`` into the embeddings requests of a real reindex
(real ``ProviderClient``, ``ProviderEmbedder``, indexer and SQLite store) and of
hybrid searches. A fault is *survived* when:

* indexing either finishes, or stops with a ``ProviderError`` after which a
  second run finishes, embeds only what the first did not (the embedding cache
  kept every completed batch) and leaves an index equal to a fault-free one;
* a search answers within ``SEARCH_BUDGET_S``, with vector results when the
  retry absorbed the fault and with keyword results and a warning when not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from providers import Keys, ProviderClient, SecretStore
from providers.errors import ProviderError
from providers.reliability import Cooldowns
from qmdr.embedding import ProviderEmbedder, embed_fn_for
from qmdr.memory.indexer import reindex
from qmdr.search.searcher import Searcher
from qmdr.store.sqlite import SqliteStore
from tests.e2e.fake_openai_server import FakeOpenAIServer, Fault
from tests.e2e.reliability_report import record

pytestmark = pytest.mark.e2e

ENC_KEY = "faults-encryption-key-0123456789abcdef"
MODEL = "custom-fake/fake-embed"
DIM = 8
#: texts per embeddings request: 40 one-chunk notes make 5 requests, so a fault can hit the middle
BATCH = 8
NOTES = 40
#: a read that takes longer than this is a hung provider; the fault latency is set above it
READ_TIMEOUT_S = 1.0
#: how long an injected hang lasts: longer than the read timeout, so only the timeout ends it
HANG_S = 3.0
#: no search may take longer than this, whatever the provider does (a bound, not a speed claim)
SEARCH_BUDGET_S = 10.0
#: every fault the tests inject, by name
FAULTS: dict[str, Fault] = {
    "latency": Fault("latency", seconds=HANG_S),
    "rate_limited": Fault("status", status=429, retry_after=0.2),
    "server_error": Fault("status", status=500),
    "unavailable": Fault("status", status=503),
    "disconnect": Fault("disconnect"),
    "truncated_json": Fault("truncated"),
    "invalid_json": Fault("invalid_json"),
    "slow_drip": Fault("drip", seconds=0.05, pieces=6),
}


class RecordingSleep:
    """The client's backoff sleep: remembers each requested delay, waits at most a few ms of it."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await anyio.sleep(min(seconds, 0.01))


def vault_notes() -> dict[str, str]:
    return {
        f"topic-{i:02d}.md": f"# Topic {i}\n\nNote {i} is about subject{i} and shared words.\n" for i in range(NOTES)
    }


def write_vault(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in vault_notes().items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(dim=DIM) as srv:
        yield srv


@pytest.fixture
def make_client(tmp_path: Path, server: FakeOpenAIServer):
    """A fresh ProviderClient (as after a restart) for the fake server, with short read timeouts."""
    store = SecretStore(tmp_path / "settings.sqlite", encryption_key=ENC_KEY)
    store.add_custom_provider("fake", server.base_url)
    sleeps = RecordingSleep()
    clients: list[ProviderClient] = []

    def make() -> ProviderClient:
        http = httpx.AsyncClient(timeout=httpx.Timeout(READ_TIMEOUT_S, connect=READ_TIMEOUT_S))
        client = ProviderClient(Keys(store, env={}), http=http, sleep=sleeps, cooldowns=Cooldowns(threshold=1000))
        clients.append(client)
        return client

    make.sleeps = sleeps  # type: ignore[attr-defined]
    yield make
    store.close()


def embedder_for(client: ProviderClient) -> ProviderEmbedder:
    return ProviderEmbedder(embed_fn_for(client, MODEL), model=MODEL, dim=DIM, batch_size=BATCH)


def snapshot(store: SqliteStore) -> tuple[dict[str, str], set[str], int]:
    """What a search can see: notes and their content hashes, chunk hashes, vector count."""
    return store.note_hashes(), store.known_hashes(), store.stats().vectors


def embed_requests(server: FakeOpenAIServer) -> list[int]:
    return [len(r.body["input"]) for r in server.requests if r.path == "/v1/embeddings"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, server: FakeOpenAIServer) -> tuple[dict[str, str], set[str], int]:
    """The index a fault-free run produces."""
    root = write_vault(tmp_path_factory.mktemp("ref") / "vault")
    secrets = SecretStore(memory=True, encryption_key=ENC_KEY)
    secrets.add_custom_provider("fake", server.base_url)

    async def run() -> tuple[dict[str, str], set[str], int]:
        async with ProviderClient(Keys(secrets, env={})) as client:
            with SqliteStore(memory=True) as store:
                await reindex(store, root, embedder_for(client), embed_batch_size=BATCH)
                return snapshot(store)

    return anyio.run(run)


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(FAULTS))
async def test_reindex_survives_a_fault_in_the_middle(name, tmp_path, server, make_client, reference):
    root = write_vault(tmp_path / "vault")
    server.clear_faults()
    server.requests.clear()
    served_before = dict(server.faults_served)
    # the first two batches pass, the third meets the fault
    server.inject(Fault("ok"), times=2)
    server.inject(FAULTS[name])
    outcome = "finished"
    with SqliteStore(tmp_path / "index.sqlite") as store:
        async with make_client() as client:
            try:
                first = await reindex(store, root, embedder_for(client), embed_batch_size=BATCH)
            except ProviderError as exc:
                outcome = "resumed"
                assert exc.message and "Traceback" not in exc.message
                assert store.note_hashes() == {}  # nothing half-applied
                cached = store.cached_hashes(MODEL, DIM, reference[1])
                assert len(cached) == 2 * BATCH  # the completed batches were kept
                sent_before_resume = sum(embed_requests(server))
                async with make_client() as again:
                    second = await reindex(store, root, embedder_for(again), embed_batch_size=BATCH)
                assert second.embedded == NOTES - 2 * BATCH
                assert second.reused == 2 * BATCH
                assert sum(embed_requests(server)) - sent_before_resume == NOTES - 2 * BATCH
            else:
                assert first.embedded == NOTES
        assert snapshot(store) == reference
        assert store.integrity_check() == ["ok"]
    served = server.faults_served.get(FAULTS[name].kind, 0) - served_before.get(FAULTS[name].kind, 0)
    assert served == 1
    if name == "rate_limited":
        assert 0.2 in make_client.sleeps.delays  # Retry-After honoured, not a guessed backoff
    record("provider_faults", stage="reindex", fault=name, injected=1, survived=1, outcome=outcome)


@pytest.fixture
async def indexed(tmp_path, server, make_client):
    root = write_vault(tmp_path / "vault")
    server.clear_faults()
    store = SqliteStore(tmp_path / "index.sqlite")
    async with make_client() as client:
        await reindex(store, root, embedder_for(client), embed_batch_size=BATCH)
    yield store
    store.close()


@pytest.mark.anyio
@pytest.mark.parametrize("persistent", [False, True], ids=["once", "outage"])
@pytest.mark.parametrize("name", list(FAULTS))
async def test_search_answers_within_budget_under_a_fault(name, persistent, server, make_client, indexed):
    """Once: the retry absorbs it (vector results). Outage: every attempt fails (keyword results + warning)."""
    server.clear_faults()
    kind = FAULTS[name].kind
    served_before = server.faults_served.get(kind, 0)
    server.inject(FAULTS[name], times=100 if persistent else 1)
    async with make_client() as client:
        searcher = Searcher(indexed, embedder_for(client))
        with anyio.fail_after(SEARCH_BUDGET_S):
            response = await searcher.search(f"subject7 {name} {persistent}", k=3)
    server.clear_faults()
    served = server.faults_served.get(kind, 0) - served_before
    assert served >= 1
    assert response.results and response.results[0].path == "topic-07.md"
    vector_used = "vector" in response.results[0].ranks and response.results[0].ranks["vector"] is not None
    degraded = any("vector search skipped" in w for w in response.warnings)
    if persistent and FAULTS[name].kind not in ("drip",):
        assert degraded and not vector_used
    elif not persistent and FAULTS[name].kind in ("latency", "status", "disconnect", "drip"):
        assert vector_used and not degraded  # retried (or simply slow) and answered in full
    else:
        assert degraded != vector_used  # either full or keyword-only, never a failure
    record(
        "provider_faults",
        stage="search",
        fault=name,
        persistent=persistent,
        injected=served,
        survived=served,
        degraded=degraded,
    )
