"""PostgreSQL schema: one schema per vault, as ordered idempotent steps run when a store opens.

Layout: every vault is a PostgreSQL *schema* (``vault_<name>``, ``vault_schema``) holding
the same tables, in one database; extensions live once per database. Chosen over one
set of tables with a ``vault`` column by measurement (``benchmarks/pg_vault_layout.py``,
``benchmarks/results/pg_vault_layout.md``): each vault keeps its own HNSW graph, so a
vault's vector search costs what it would alone whatever the other vaults hold (a shared
graph must be filtered by vault), removing a vault is one ``DROP SCHEMA``, and every
query, lock and model guard of the single-vault store stays as it is.

Why idempotent *and* versioned: several qmdr servers may start against one
database at the same moment. Every step uses ``IF NOT EXISTS`` so re-running is
harmless, each run happens under a transaction-scoped advisory lock so two
starters never race on ``CREATE EXTENSION``, and each schema's ``meta.schema_version``
lets later steps (ALTERs that are not naturally idempotent) run exactly once.

Tables of a vault schema mirror the sqlite store:

* ``meta``            key/value: schema_version, embedding model id and dim, last_reindex
* ``notes``           one row per markdown note, keyed by vault-relative path
* ``chunks``          searchable pieces; ``tsv`` is a generated tsvector (title A,
                      heading trail B, text C) with a GIN index; ``text`` also has a
                      pg_trgm GIN index (scripts written without spaces)
* ``vectors``         one embedding per chunk *hash* (identical text shares a row);
                      the column is typed ``vector(dim)`` and HNSW-indexed once the
                      model's dim is known (see ``PostgresStore.set_embedding_model``)
* ``embedding_cache`` every vector ever computed, per (model_id, dim, hash), so that
                      switching models back and forth never re-embeds

Versions: pgvector 0.8 or later (iterative index scans keep filtered searches whole)
and pg_trgm. An older pgvector is refused at start with the version found and needed.
An index written by qmdr before vaults had schemas (its tables in ``public``) is
moved into ``vault_default`` the first time the default vault opens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import psycopg
from psycopg import sql

from qmdr.errors import StoreError
from qmdr.search.keyword_query import UNSPACED_RANGES
from qmdr.store.filtering import field_terms
from vault.frontmatter import note_timestamp

# Text search configuration for the generated tsvector and for queries: 'english'
# stems ("retries" finds "retry") and drops stop words, like FTS5's porter tokenizer.
TEXT_SEARCH_CONFIG = "english"

# Arbitrary fixed key for pg_advisory_xact_lock around migrations ("qmdr" in ASCII, then 1).
MIGRATION_LOCK_KEY = 0x716D_6472_0001

SCHEMA_VERSION_KEY = "schema_version"

#: a PostgreSQL regular expression matching text that holds a character of a script written
#: without spaces (the ranges keyword search splits into trigrams). The pg_trgm index covers only
#: chunks matching it, as the sqlite store's trigram table holds only such chunks. A first index of
#: 20,000 English chunks (one run, loaded 2-core machine): no trigram index 29.4 s / 156 MB, this
#: partial one 33.0 s / 156 MB, a full one 33.8 s / 167 MB: the partial index costs no space there.
UNSPACED_TEXT_REGEX = "[" + "".join(f"{low}-{high}" for low, high in UNSPACED_RANGES) + "]"

#: every vault schema's name starts with this (and nothing else qmdr makes does)
VAULT_SCHEMA_PREFIX = "vault_"
#: PostgreSQL truncates identifiers past 63 bytes (NAMEDATALEN - 1): longer vault names are
#: shortened with a digest of the whole name so two long names never share a schema
MAX_IDENTIFIER_BYTES = 63
_DIGEST_CHARS = 16

#: pgvector 0.8.0 added iterative index scans (``hnsw.iterative_scan``), which filtered
#: vector searches rely on to return k results when k exist
MIN_PGVECTOR = (0, 8, 0)
REQUIRED_EXTENSIONS = ("vector", "pg_trgm")

#: the tables of a vault schema, moved together from ``public`` by the legacy-layout step
VAULT_TABLES = ("meta", "notes", "chunks", "vectors", "embedding_cache")
LEGACY_VAULT = "default"  # the only vault an index in ``public`` can have been


def vault_schema(vault: str) -> str:
    """The schema holding vault ``vault`` (a valid vault name: lower-case letters, digits, '-', '_')."""
    name = VAULT_SCHEMA_PREFIX + vault
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha256(vault.encode()).hexdigest()[:_DIGEST_CHARS]
    keep = MAX_IDENTIFIER_BYTES - len(VAULT_SCHEMA_PREFIX) - 1 - _DIGEST_CHARS
    return f"{VAULT_SCHEMA_PREFIX}{vault[:keep]}_{digest}"


def vault_lock_id(vault: str) -> int:
    """A signed 32-bit number naming the vault in two-key advisory locks (stable across servers)."""
    return int.from_bytes(hashlib.sha256(vault.encode()).digest()[:4], "big", signed=True)


STEPS: list[tuple[int, str]] = [
    (
        1,
        f"""
        CREATE TABLE IF NOT EXISTS meta (
            key   text PRIMARY KEY,
            value text NOT NULL
        );

        CREATE TABLE IF NOT EXISTS notes (
            path         text PRIMARY KEY,
            title        text NOT NULL,
            tags         text[] NOT NULL DEFAULT '{{}}',
            tag_keys     text[] NOT NULL DEFAULT '{{}}',  -- qmdr.store.filtering.tag_key of each tag
            frontmatter  jsonb NOT NULL DEFAULT '{{}}',
            body         text NOT NULL,
            body_line    integer NOT NULL DEFAULT 1,
            content_hash text NOT NULL,
            mtime        double precision NOT NULL,
            size         bigint NOT NULL,
            links        text[] NOT NULL DEFAULT '{{}}',
            dates        jsonb NOT NULL DEFAULT '{{}}',
            warnings     text[] NOT NULL DEFAULT '{{}}',
            indexed_at   timestamptz NOT NULL DEFAULT now()
        );
        -- tag filters use tag_keys @> (contains all); path-prefix filters use LIKE 'prefix%'.
        CREATE INDEX IF NOT EXISTS notes_tag_keys_gin ON notes USING gin (tag_keys);

        CREATE TABLE IF NOT EXISTS chunks (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            note_path     text NOT NULL REFERENCES notes (path) ON DELETE CASCADE,
            ordinal       integer NOT NULL,
            title         text NOT NULL,     -- the note's title, copied: a generated column
                                             -- cannot read another table
            heading_trail text[] NOT NULL,
            headings      text NOT NULL,     -- heading_trail joined by ' / ' for the tsvector
            start_line    integer NOT NULL,
            end_line      integer NOT NULL,
            text          text NOT NULL,
            hash          text NOT NULL,
            tsv tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', title), 'A')
                || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', headings), 'B')
                || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', text), 'C')
            ) STORED,
            UNIQUE (note_path, ordinal)
        );
        CREATE INDEX IF NOT EXISTS chunks_tsv_gin ON chunks USING gin (tsv);
        CREATE INDEX IF NOT EXISTS chunks_hash ON chunks (hash);
        CREATE INDEX IF NOT EXISTS chunks_note_path_prefix ON chunks (note_path text_pattern_ops);

        -- Untyped until the model is known; PostgresStore.set_embedding_model types it
        -- vector(dim) and builds the HNSW index.
        CREATE TABLE IF NOT EXISTS vectors (
            hash      text PRIMARY KEY,
            embedding vector NOT NULL
        );

        CREATE TABLE IF NOT EXISTS embedding_cache (
            model_id  text NOT NULL,
            dim       integer NOT NULL,
            hash      text NOT NULL,
            embedding vector NOT NULL,
            PRIMARY KEY (model_id, dim, hash)
        );
        """,
    ),
    (
        2,
        # pg_trgm over chunk text: keyword search in scripts written without spaces (東京 inside
        # 東京タワーに行った is no tsvector word), the counterpart of the sqlite store's trigram table.
        # Partial: only chunks holding such characters (queries repeat the predicate to use it).
        f"""
        CREATE INDEX IF NOT EXISTS chunks_text_trgm ON chunks USING gin (text gin_trgm_ops)
            WHERE text ~ '{UNSPACED_TEXT_REGEX}';
        """,
    ),
    (
        3,
        # Metadata and date filters (qmdr.store.filtering): the note's frontmatter terms, matched by
        # overlap (&&) through a GIN index, and its date as POSIX seconds. Existing rows are filled by
        # ``backfill_note_filters`` in the same transaction.
        """
        ALTER TABLE notes ADD COLUMN IF NOT EXISTS field_terms text[] NOT NULL DEFAULT '{}';
        ALTER TABLE notes ADD COLUMN IF NOT EXISTS note_date double precision;
        CREATE INDEX IF NOT EXISTS notes_field_terms_gin ON notes USING gin (field_terms);
        CREATE INDEX IF NOT EXISTS notes_note_date ON notes (note_date);
        """,
    ),
]

LATEST_VERSION = STEPS[-1][0]


def backfill_note_filters(conn: psycopg.Connection) -> None:
    """Step 3's data: every stored note's frontmatter terms and date, computed as indexing computes them."""
    rows = conn.execute("SELECT path, frontmatter, dates, mtime FROM notes").fetchall()
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE notes SET field_terms = %s, note_date = %s WHERE path = %s",
            [
                (field_terms(frontmatter), note_timestamp(dates, mtime), path)
                for path, frontmatter, dates, mtime in rows
            ],
        )


#: Python run right after a step's SQL, in the same transaction (data a SQL statement cannot compute)
STEP_BACKFILLS: dict[int, Callable[[psycopg.Connection], None]] = {3: backfill_note_filters}


def ensure_extensions(conn: psycopg.Connection) -> list[str]:
    """Create the extensions qmdr needs (once per database) and check pgvector's version.

    Returns the schemas the extensions live in, for the ``search_path`` of vault
    connections. Run inside the caller's transaction (under the migration lock).
    """
    for name in REQUIRED_EXTENSIONS:
        conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))
    rows = conn.execute(
        "SELECT e.extname, e.extversion, n.nspname, a.default_version FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace "
        "LEFT JOIN pg_available_extensions a ON a.name = e.extname "
        "WHERE e.extname = ANY(%s)",
        (list(REQUIRED_EXTENSIONS),),
    ).fetchall()
    found = {name: (version, schema, available) for name, version, schema, available in rows}
    version, _, available = found["vector"]
    if parse_version(version) < MIN_PGVECTOR:
        needed = ".".join(map(str, MIN_PGVECTOR))
        remedy = (
            f"run `ALTER EXTENSION vector UPDATE` in this database (the server has {available})"
            if available and parse_version(available) >= MIN_PGVECTOR
            else "upgrade pgvector on the server (e.g. the pgvector/pgvector:0.8.2-pg18 image)"
        )
        raise StoreError(
            f"pgvector {version} is installed but qmdr needs pgvector >= {needed} "
            f"(iterative index scans for filtered vector search): {remedy}"
        )
    return list(dict.fromkeys(schema for _, schema, _ in found.values()))


def parse_version(text: str) -> tuple[int, ...]:
    """``"0.8.2"`` -> ``(0, 8, 2)``; non-numeric parts count as 0 (``"0.8.0-dev"`` -> ``(0, 8, 0)``)."""
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def search_path(schema: str, extension_schemas: list[str]) -> str:
    """The ``search_path`` value for a vault's connections: its schema, then the extensions' schemas."""
    names = dict.fromkeys([schema, *extension_schemas])
    return ", ".join(sql.Identifier(name).as_string(None) for name in names)


def migrate(conn: psycopg.Connection, vault: str = LEGACY_VAULT) -> tuple[int, str]:
    """Bring vault ``vault``'s schema to ``LATEST_VERSION``; returns (version found before, search_path).

    Runs in one transaction under an advisory lock, so concurrent starters
    serialise and the loser sees the finished schema.
    """
    schema = vault_schema(vault)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        extension_schemas = ensure_extensions(conn)
        if vault == LEGACY_VAULT:
            _adopt_legacy_tables(conn, schema)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        path = search_path(schema, extension_schemas)
        conn.execute("SELECT set_config('search_path', %s, true)", (path,))
        has_meta = conn.execute("SELECT to_regclass(format('%%I.meta', %s::text)) IS NOT NULL", (schema,)).fetchone()[0]
        found = 0
        if has_meta:
            row = conn.execute("SELECT value FROM meta WHERE key = %s", (SCHEMA_VERSION_KEY,)).fetchone()
            found = int(row[0]) if row else 0
        if found > LATEST_VERSION:
            raise StoreError(
                f"vault {vault!r} in PostgreSQL was written by a newer qmdr (schema {found}); upgrade qmdr to open it"
            )
        for version, statements in STEPS:
            if version > found:
                conn.execute(statements)
                if has_meta and version in STEP_BACKFILLS:  # a new schema has no rows to fill
                    STEP_BACKFILLS[version](conn)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (SCHEMA_VERSION_KEY, str(max(found, LATEST_VERSION))),
        )
    return found, path


def _adopt_legacy_tables(conn: psycopg.Connection, schema: str) -> None:
    """Move an index of the single-vault layout (tables in ``public``) into the default vault's schema.

    Only when ``public.meta`` is a qmdr meta table (it has ``schema_version``) and the
    default vault has no schema yet: ``ALTER TABLE ... SET SCHEMA`` moves the rows,
    indexes and sequences in place, inside the migration's transaction.
    """
    legacy = conn.execute(
        "SELECT to_regclass('public.meta') IS NOT NULL AND to_regclass('public.chunks') IS NOT NULL "
        "AND to_regnamespace(%s) IS NULL",
        (schema,),
    ).fetchone()[0]
    if not legacy:
        return
    versioned = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM public.meta WHERE key = %s)", (SCHEMA_VERSION_KEY,)
    ).fetchone()[0]
    if not versioned:
        return
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    for table in VAULT_TABLES:
        conn.execute(
            sql.SQL("ALTER TABLE IF EXISTS {} SET SCHEMA {}").format(
                sql.Identifier("public", table), sql.Identifier(schema)
            )
        )


def drop_vault(conn: psycopg.Connection, vault: str) -> None:
    """Delete vault ``vault``'s schema and everything in it (one transaction)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(vault_schema(vault))))


#: the schema of the database-wide tables: the vault registry and agents' feedback
SHARED_SCHEMA = "qmdr_shared"

SHARED_TABLES = f"""
CREATE SCHEMA IF NOT EXISTS {SHARED_SCHEMA};
CREATE TABLE IF NOT EXISTS {SHARED_SCHEMA}.vaults (
    name       text PRIMARY KEY,
    folder     text NOT NULL,
    settings   jsonb NOT NULL DEFAULT '{{}}',
    created_at double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS {SHARED_SCHEMA}.feedback (
    vault      text NOT NULL,
    path       text NOT NULL,
    useful     bigint NOT NULL DEFAULT 0,
    not_useful bigint NOT NULL DEFAULT 0,
    updated_at double precision NOT NULL,
    PRIMARY KEY (vault, path)
);
CREATE TABLE IF NOT EXISTS {SHARED_SCHEMA}.tokens (
    name       text PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    vaults     jsonb NOT NULL,
    created_at double precision NOT NULL
);
"""


def migrate_shared(conn: psycopg.Connection) -> None:
    """Create the database-wide tables (and the extensions, which every pooled connection expects)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        ensure_extensions(conn)
        conn.execute(SHARED_TABLES)
