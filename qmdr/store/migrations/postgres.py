"""PostgreSQL schema, as ordered idempotent steps run when a store opens.

Why idempotent *and* versioned: several qmdr servers may start against one
database at the same moment. Every step uses ``IF NOT EXISTS`` so re-running is
harmless, the whole run happens under a transaction-scoped advisory lock so two
starters never race on ``CREATE EXTENSION``, and ``meta.schema_version`` lets
later steps (ALTERs that are not naturally idempotent) run exactly once.

Tables mirror the sqlite store:

* ``meta``            key/value: schema_version, embedding model id and dim, last_reindex
* ``notes``           one row per markdown note, keyed by vault-relative path
* ``chunks``          searchable pieces; ``tsv`` is a generated tsvector (title A,
                      heading trail B, text C) with a GIN index
* ``vectors``         one embedding per chunk *hash* (identical text shares a row);
                      the column is typed ``vector(dim)`` and HNSW-indexed once the
                      model's dim is known (see ``PostgresStore.set_embedding_model``)
* ``embedding_cache`` every vector ever computed, per (model_id, dim, hash), so that
                      switching models back and forth never re-embeds
"""

from __future__ import annotations

import psycopg

# Text search configuration for the generated tsvector and for queries: 'english'
# stems ("retries" finds "retry") and drops stop words, like FTS5's porter tokenizer.
TEXT_SEARCH_CONFIG = "english"

# Arbitrary fixed key for pg_advisory_xact_lock around migrations ("qmdr" in ASCII, then 1).
MIGRATION_LOCK_KEY = 0x716D_6472_0001

SCHEMA_VERSION_KEY = "schema_version"

STEPS: list[tuple[int, str]] = [
    (
        1,
        f"""
        CREATE EXTENSION IF NOT EXISTS vector;

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
]

LATEST_VERSION = STEPS[-1][0]


def migrate(conn: psycopg.Connection) -> int:
    """Bring the database to ``LATEST_VERSION``; returns the version found before.

    Runs in one transaction under an advisory lock, so concurrent starters
    serialise and the loser sees the finished schema.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        has_meta = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]
        found = 0
        if has_meta:
            row = conn.execute("SELECT value FROM meta WHERE key = %s", (SCHEMA_VERSION_KEY,)).fetchone()
            found = int(row[0]) if row else 0
        for version, statements in STEPS:
            if version > found:
                conn.execute(statements)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (SCHEMA_VERSION_KEY, str(max(found, LATEST_VERSION))),
        )
    return found
