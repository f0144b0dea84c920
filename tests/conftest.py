"""Shared pytest fixtures for the whole test tree."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio only: the service runs on asyncio."""
    return "asyncio"


# --- PostgreSQL (pgserver) fixtures: see tests/pg.py --------------------------------------------


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory):
    """One throwaway PostgreSQL + pgvector for the whole session (skipped, or failed on CI, if absent)."""
    from tests.pg import PgServer, PgUnavailable, unavailable_is_failure

    try:
        server = PgServer(tmp_path_factory.mktemp("pg") / "data")
    except PgUnavailable as exc:
        if unavailable_is_failure():
            pytest.fail(f"PostgreSQL is required when CI is set: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """URL of a fresh, empty database on the session server; dropped after the test."""
    name, url = pg_server.create_database()
    yield url
    pg_server.drop_database(name)
