"""Shared pytest fixtures for the whole test tree."""

import shutil

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio only: the service runs on asyncio."""
    return "asyncio"


# --- PostgreSQL (pgserver) fixtures: see tests/pg.py --------------------------------------------


def _throwaway_pg_server():
    """Start a PostgreSQL in a directory of its own; skip (or fail on CI) when it cannot start."""
    from tests.pg import PgServer, PgUnavailable, private_data_dir, unavailable_is_failure

    data_dir = private_data_dir()
    try:
        server = PgServer(data_dir / "data")
    except PgUnavailable as exc:
        shutil.rmtree(data_dir, ignore_errors=True)
        if unavailable_is_failure():
            pytest.fail(f"PostgreSQL is required when CI is set: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL + pgvector for the whole session (skipped, or failed on CI, if absent)."""
    yield from _throwaway_pg_server()


@pytest.fixture
def private_pg_server():
    """A PostgreSQL of this test's own, which the test may stop and start (outages)."""
    yield from _throwaway_pg_server()


@pytest.fixture
def pg_url(pg_server) -> str:
    """URL of a fresh, empty database on the session server; dropped after the test."""
    name, url = pg_server.create_database()
    yield url
    pg_server.drop_database(name)
