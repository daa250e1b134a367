"""The driver seam: capabilities as Protocols, reopening connections only through ``connect=``,
and database errors classified in one place (``pgqueuer.dberrors``)."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable
from datetime import timedelta

import asyncpg
import pytest

from pgqueuer import PgQueuer, capabilities
from pgqueuer.backends.memory_base import InMemoryDriver
from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver, PsycopgDriver
from pgqueuer.dberrors import classify, is_connection_error, is_seat_race, not_installed
from pgqueuer.errors import ConfigurationError, ConnectionLostError, SchemaNotInstalledError
from pgqueuer.models import Job
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer.sm import ScheduleQueries
from pgqueuer.types import QueueExecutionMode

CAPABILITIES = [
    value
    for _, value in inspect.getmembers(capabilities, inspect.isclass)
    if value.__module__ == capabilities.__name__ and getattr(value, "_is_protocol", False)
]


def test_capabilities_lists_the_protocols_the_callers_use() -> None:
    names = {c.__name__ for c in CAPABILITIES}
    assert {"Reconnecting", "GenericPlanning", "SeparateConnections"} <= names
    assert {"ListenerRemoval", "RecordFetching"} <= names


async def test_the_connection_drivers_offer_every_capability_the_pool_all_but_plans(
    dsn: str | None,
) -> None:
    import psycopg

    conn = await asyncpg.connect(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    pconn = await psycopg.AsyncConnection.connect(dsn or "", autocommit=True)
    try:
        for driver in (AsyncpgDriver(conn), PsycopgDriver(pconn)):
            for capability in CAPABILITIES:
                assert isinstance(driver, capability), (type(driver).__name__, capability)
        # A pool cannot keep session settings on the connections it lends: no generic plans.
        pooled = {c.__name__ for c in CAPABILITIES if isinstance(AsyncpgPoolDriver(pool), c)}
        assert pooled == {c.__name__ for c in CAPABILITIES} - {"GenericPlanning"}
    finally:
        await conn.close()
        await pool.close()
        await pconn.close()


def test_the_in_memory_driver_claims_only_what_it_has() -> None:
    driver = InMemoryDriver()
    offered = {c.__name__ for c in CAPABILITIES if isinstance(driver, c)}
    assert offered == {"ListenerRemoval"}


async def _backend_gone(conn: asyncpg.Connection, app: str) -> None:
    await conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app
    )


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition did not hold in time")


async def test_without_connect_a_lost_connection_raises_connection_lost_at_once(
    dsn: str | None, conn: asyncpg.Connection
) -> None:
    app = f"pgq-seam-{uuid.uuid4().hex[:8]}"
    own = await asyncpg.connect(dsn, server_settings={"application_name": app})
    driver = AsyncpgDriver(own)  # PgQueuer 1.6's form: no way to reopen it
    await driver.add_listener("pgq_seam", lambda _p: None)
    with pytest.raises(ConfigurationError, match="connect="):
        await driver.connect_factory()
    await _backend_gone(conn, app)
    await _until(lambda: not driver.is_alive())
    with pytest.raises(ConnectionLostError) as info:
        await asyncio.wait_for(driver.reconnect(), 5)  # an answer, not a hang
    message = str(info.value)
    assert "\n" not in message
    assert "connection to PostgreSQL was lost" in message and "pass connect=" in message


async def test_with_connect_the_driver_reopens_through_it_and_listens_again(
    dsn: str | None, conn: asyncpg.Connection
) -> None:
    app = f"pgq-seam-{uuid.uuid4().hex[:8]}"
    opened: list[asyncpg.Connection] = []

    async def connect() -> asyncpg.Connection:
        new = await asyncpg.connect(dsn, server_settings={"application_name": app})
        opened.append(new)
        return new

    driver = AsyncpgDriver(await connect(), connect=connect)
    heard: list[str] = []
    async with driver:
        await driver.add_listener("pgq_seam", heard.append)
        assert await driver.connect_factory() is connect
        await _backend_gone(conn, app)
        await _until(lambda: not driver.is_alive())
        await driver.reconnect()
        assert len(opened) == 2 and driver.connection is opened[1]
        await conn.execute("SELECT pg_notify('pgq_seam', 'back')")
        await _until(lambda: heard == ["back"])
    assert opened[1].is_closed()  # the driver closes what it opened


async def test_connect_classmethods_keep_their_arguments_for_new_connections(
    dsn: str | None,
) -> None:
    app = f"pgq-seam-{uuid.uuid4().hex[:8]}"
    settings = {"application_name": app}
    async with await AsyncpgDriver.connect(dsn, server_settings=settings) as driver:
        opened = await (await driver.connect_factory())()
        try:
            assert await opened.fetchval("SHOW application_name") == app
        finally:
            await opened.close()
        first = driver.connection
    assert first.is_closed()  # the driver opened it: its exit closes it

    pool_driver = await AsyncpgPoolDriver.create(
        dsn, min_size=1, max_size=2, server_settings=settings
    )
    async with pool_driver:
        opened = await (await pool_driver.connect_factory())()
        try:
            assert await opened.fetchval("SHOW application_name") == app
        finally:
            await opened.close()
    assert pool_driver.pool.is_closing()


async def test_a_pool_given_without_connect_still_replaces_its_listen_connection(
    dsn: str | None, conn: asyncpg.Connection
) -> None:
    app = f"pgq-seam-{uuid.uuid4().hex[:8]}"
    pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=2, server_settings={"application_name": app}
    )
    heard: list[str] = []
    try:
        async with AsyncpgPoolDriver(pool) as driver:
            with pytest.raises(ConfigurationError, match="connect="):
                await driver.connect_factory()
            await driver.add_listener("pgq_seam_pool", heard.append)
            await _backend_gone(conn, app)
            await _until(lambda: not driver.listener_alive())
            await driver.reconnect()
            assert driver.listener_alive()
            await conn.execute("SELECT pg_notify('pgq_seam_pool', 'back')")
            await _until(lambda: heard == ["back"])
    finally:
        await pool.close()


async def test_a_worker_without_connect_beats_on_its_loop_and_runs_the_job_once(
    dsn: str | None, conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    own = await asyncpg.connect(dsn)
    pgq = PgQueuer(AsyncpgDriver(own), names=names)
    runs: list[int] = []

    @pgq.entrypoint("slow")
    async def slow(job: Job) -> None:
        runs.append(job.id)
        await asyncio.sleep(2.0)  # > 3 heartbeat timeouts: stale without heartbeats

    (job,) = await queries.enqueue("slow", None)
    task = asyncio.create_task(
        pgq.run(heartbeat_timeout=timedelta(seconds=0.6), mode=QueueExecutionMode.drain)
    )
    try:
        await asyncio.wait_for(asyncio.shield(task), 15)
    finally:
        pgq.shutdown.set()
        await task
        await own.close()
    sql = names.substitute(
        "SELECT count(*) FROM /*@queue_table_log*/pgqueuer_log WHERE job_id = $1 AND status = 'successful'"
    )
    assert runs == [job]
    assert await conn.fetchval(sql, job) == 1


async def test_a_worker_without_connect_ends_its_run_with_connection_lost(
    dsn: str | None, conn: asyncpg.Connection, names: Names
) -> None:
    """No way to reopen the connection: run() ends with ConnectionLostError (a supervisor such
    as pgq run then calls the factory again) instead of retrying a reconnect forever."""
    app = f"pgq-seam-{uuid.uuid4().hex[:8]}"
    own = await asyncpg.connect(dsn, server_settings={"application_name": app})
    pgq = PgQueuer(AsyncpgDriver(own), names=names)

    @pgq.entrypoint("idle")
    async def idle(job: Job) -> None:
        pass

    task = asyncio.create_task(pgq.run(dequeue_timeout=timedelta(seconds=30)))
    try:
        await _until(lambda: bool(pgq.qm._listener.active))
        await _backend_gone(conn, app)
        with pytest.raises(ConnectionLostError, match="connect="):
            await asyncio.wait_for(asyncio.shield(task), 10)
    finally:
        pgq.shutdown.set()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await own.close()


async def test_prune_and_the_schedule_queries_say_not_installed_like_every_other_method(
    conn: asyncpg.Connection,
) -> None:
    nowhere = Names.create(schema=f"pgq_nowhere_{uuid.uuid4().hex[:8]}")
    with pytest.raises(SchemaNotInstalledError, match="pgq --schema pgq_nowhere_"):
        await Queries(AsyncpgDriver(conn), nowhere).prune(timedelta(days=1))
    with pytest.raises(SchemaNotInstalledError, match="not installed"):
        await ScheduleQueries(AsyncpgDriver(conn), nowhere).list_all()


# -- classification: plain functions, no database ---------------------------------------------

NAMES = Names.create(schema="s1")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (asyncpg.InvalidPasswordError("no"), "authentication"),
        (asyncpg.InvalidAuthorizationSpecificationError("no"), "authentication"),
        (asyncpg.InvalidCatalogNameError("no db"), "no_database"),
        (asyncpg.UndefinedTableError("no table"), "schema_missing"),
        (asyncpg.UndefinedObjectError("no type"), "schema_missing"),
        (asyncpg.UniqueViolationError("dup"), "server"),
        (asyncpg.AdminShutdownError("bye"), "server"),
        (TimeoutError(), "timeout"),
        (ConnectionRefusedError("refused"), "unreachable"),
        (asyncpg.InterfaceError("bad dsn"), "client"),
        (ValueError("invalid port"), "client"),
        (RuntimeError("a bug"), None),
    ],
)
def test_classify(exc: BaseException, kind: str | None) -> None:
    assert classify(exc) == kind


def test_only_a_missing_table_or_type_means_not_installed() -> None:
    missing = not_installed(asyncpg.UndefinedTableError('relation "x" does not exist'), NAMES)
    assert isinstance(missing, SchemaNotInstalledError)
    assert "pgq --schema s1 install" in str(missing)
    assert not_installed(asyncpg.UndefinedColumnError("no column"), NAMES) is None
    assert not_installed(asyncpg.UniqueViolationError("dup"), NAMES) is None


def test_lost_connections_and_seat_races_are_told_apart() -> None:
    assert is_connection_error(asyncpg.ConnectionDoesNotExistError("gone"))
    assert is_connection_error(asyncpg.AdminShutdownError("bye"))
    assert is_connection_error(OSError("reset"))
    assert not is_connection_error(asyncpg.InterfaceError("another operation is in progress"))
    assert not is_connection_error(asyncpg.UndefinedTableError("x"))
    assert is_seat_race(asyncpg.UniqueViolationError("dup"))
    assert is_seat_race(asyncpg.DeadlockDetectedError("deadlock"))
    assert not is_seat_race(asyncpg.UndefinedTableError("x"))
