"""psycopg 3: the drivers, SyncQueries, and the SQL blocks' type adaptation on both drivers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import psycopg
import pytest
from conftest import WorkerDriver

from pgqueuer import PgQueuer
from pgqueuer.db import (
    AsyncpgDriver,
    GenericPlanning,
    PsycopgDriver,
    Reconnecting,
    SeparateConnections,
    SyncPsycopgDriver,
    is_connection_error,
    unique_violation,
)
from pgqueuer.errors import DuplicateJobError
from pgqueuer.models import TracebackRecord
from pgqueuer.names import Names
from pgqueuer.queries import Finished, Queries, SyncQueries


async def count(conn: asyncpg.Connection, names: Names, where: str = "true") -> int:
    sql = f"SELECT count(*) FROM /*@queue_table*/pgqueuer WHERE {where}"
    return int(await conn.fetchval(names.substitute(sql)))


async def test_the_worker_and_producer_statements_run_on_both_drivers(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names
) -> None:
    """Every block the worker and producers use, with each parameter and result type."""
    q = Queries(worker_driver.driver, names)
    me = uuid.uuid4()
    ids = await q.enqueue(
        ["a", "b", "a"],
        [b"\x00\xff", None, b"x"],
        [1, 2**31 - 1, -5],
        [timedelta(0), timedelta(seconds=-1), timedelta(hours=1)],
        ["k1", None, None],
        [{"trace": {"id": 1}}, None, {"n": "é"}],
    )
    assert len(ids) == 3 and ids == sorted(ids) and all(isinstance(i, int) for i in ids)
    assert await q.enqueue("a", None, dedupe_key="k1", on_conflict="skip") == [None]
    assert await q.enqueue(
        "a", None, priority=7, dedupe_key="k1", on_conflict="update_priority"
    ) == [ids[0]]
    assert await q.queued_work(["a", "b"]) == 3
    assert await q.eligible_queued_work(["a", "b"]) == 2
    wait = await q.next_due(["a"])
    assert isinstance(wait, timedelta) and wait <= timedelta(0)
    assert await q.table_schema() == names.schema

    jobs = await q.finish_and_claim([], me, ["a", "b"], [0, 1], 10, async_claim=True)
    by_id = {j.id: j for j in jobs}
    assert sorted(by_id) == [ids[0], ids[1]]
    first = by_id[ids[0]]
    assert first.payload == b"\x00\xff" and first.priority == 7
    assert first.headers == {"trace": {"id": 1}} and first.attempts == 0
    assert first.queue_manager_id == me and first.status == "picked"
    assert isinstance(first.created, datetime) and first.created.tzinfo is not None
    assert by_id[ids[1]].payload is None and by_id[ids[1]].slot == 0

    assert sorted(await q.heartbeat(ids, me)) == [ids[0], ids[1]]
    await q.update_heartbeat(ids)
    assert await q.rescue_stale(["a", "b"], timedelta(seconds=30), 5) == []
    assert [w.queue_manager_id for w in await q.active_workers()] == [me]
    assert await q.stale_jobs(timedelta(hours=1)) == []
    assert {b.entrypoint for b in await q.backlog()} == {"a"}

    tb = TracebackRecord.from_exception(ValueError("boom"), ids[1]).to_json()
    await q.finish_and_claim(
        [Finished(ids[0], "successful"), Finished(ids[1], "queued", tb, timedelta(minutes=5))],
        me,
        [],
        [],
        0,
    )
    assert dict(await q.job_status(ids[:2])) == {ids[0]: "successful", ids[1]: "queued"}
    log = await q.queue_log()
    assert [(entry.job_id, entry.status) for entry in log][-1] == (ids[1], "queued")
    assert log[-1].traceback is not None and log[-1].traceback.exception_type == "ValueError"

    await q.enqueue("c", None)
    (held,) = await q.finish_and_claim([], me, ["c"], [0], 1, async_claim=False)
    await q.finish_and_claim([Finished(held.id, "failed", tb)], me, [], [], 0)
    assert [j.id for j in await q.list_failed_jobs()] == [held.id]
    assert await q.requeue_jobs([held.id]) == [held.id]
    assert await q.mark_job_as_cancelled([held.id]) == [held.id]
    sizes = await q.queue_size()
    assert {(s.entrypoint, s.status, s.count) for s in sizes} == {
        ("a", "queued", 1),
        ("b", "queued", 1),
    }
    assert await q.aggregate_logs() >= 5
    stats = await q.log_statistics(100, timedelta(hours=1))
    assert {s.status for s in stats} >= {"successful", "queued", "canceled"}
    assert await q.prune(timedelta(days=1)) == (0, 0)
    await q.notify('{"type": "table_changed_event"}')
    await q.clear_statistics_log(["a"])
    await q.clear_queue_log()
    await q.clear_queue(["a", "b"])
    assert await count(conn, names) == 0


async def test_values_come_back_with_the_same_python_types_on_both_drivers(
    worker_driver: WorkerDriver,
) -> None:
    row = (
        await worker_driver.driver.fetch(
            "SELECT $1::bigint[] AS ids, $2::text[] AS t, $3::interval AS i, $4::uuid AS u, "
            "$5::bytea AS b, '{\"a\": 1}'::jsonb AS j, 1.5::numeric AS n, 'x' AS s",
            [1, 2],
            ["a", None],
            timedelta(seconds=1.5),
            uuid.UUID(int=7),
            b"\x00",
        )
    )[0]
    assert row["ids"] == [1, 2] and row["t"] == ["a", None]
    assert row["i"] == timedelta(seconds=1.5) and row["u"] == uuid.UUID(int=7)
    assert bytes(row["b"]) == b"\x00" and row["n"] == Decimal("1.5") and row["s"] == "x"
    assert row["j"] in ({"a": 1}, '{"a": 1}')  # asyncpg: JSON text; psycopg: parsed
    status = await worker_driver.driver.execute("SELECT 1 UNION ALL SELECT 2")
    assert status == "SELECT 2"


# -- SyncQueries on SyncPsycopgDriver -----------------------------------------------------


@pytest.fixture
def sync_queries(dsn: str | None, names: Names) -> Iterator[SyncQueries]:
    with psycopg.connect(dsn or "", autocommit=True) as connection:
        yield SyncQueries(SyncPsycopgDriver(connection), names=names)


async def test_sync_enqueue_one_and_a_batch_in_input_order(
    conn: asyncpg.Connection, names: Names, sync_queries: SyncQueries
) -> None:
    one = sync_queries.enqueue("fetch", b"a", headers={"k": 1})
    batch = sync_queries.enqueue(["x", "y", "z"], [b"1", None, b"3"], [1, 2, 3])
    later = sync_queries.enqueue("d", None, execute_after=timedelta(hours=1))
    got = await conn.fetch(
        names.substitute(
            "SELECT id, entrypoint, payload, priority, headers->>'k' AS k, "
            "execute_after > now() + interval '30 minutes' AS later "
            "FROM /*@queue_table*/pgqueuer ORDER BY id"
        )
    )
    assert [r["id"] for r in got] == one + batch + later
    assert [(r["entrypoint"], r["payload"], r["priority"], r["k"], r["later"]) for r in got] == [
        ("fetch", b"a", 0, "1", False),
        ("x", b"1", 1, None, False),
        ("y", None, 2, None, False),
        ("z", b"3", 3, None, False),
        ("d", None, 0, None, True),
    ]
    sizes = sync_queries.queue_size()
    assert sizes == await Queries(AsyncpgDriver(conn), names).queue_size()
    assert sync_queries.enqueue([], []) == []


async def test_sync_dedupe_raise_skip_and_update_priority(
    conn: asyncpg.Connection, names: Names, sync_queries: SyncQueries
) -> None:
    (first,) = sync_queries.enqueue("a", None, priority=1, dedupe_key="k1")
    with pytest.raises(DuplicateJobError) as info:
        sync_queries.enqueue(["a", "a"], [None, None], dedupe_key=["k2", "k1"])
    assert info.value.dedupe_key == "k1"
    assert await count(conn, names) == 1  # the whole batch was rejected
    got = sync_queries.enqueue(
        ["a", "a", "a"], [None] * 3, dedupe_key=["k1", None, "k2"], on_conflict="skip"
    )
    assert got[0] is None and None not in got[1:]
    again = sync_queries.enqueue(
        "a", None, priority=9, dedupe_key="k1", on_conflict="update_priority"
    )
    assert again == [first]
    assert await count(conn, names, "dedupe_key = 'k1' AND priority = 9") == 1


BAD_INPUT: list[dict[str, Any]] = [
    {"entrypoint": "a", "payload": "text"},
    {"entrypoint": ["a", "b"], "payload": [b"1"]},
    {"entrypoint": "a", "payload": None, "priority": 2**31},
    {"entrypoint": "a", "payload": None, "priority": "high"},
    {"entrypoint": "", "payload": None},
    {"entrypoint": "a", "payload": None, "execute_after": "soon"},
    {"entrypoint": "a", "payload": None, "headers": {"x": object()}},
    {"entrypoint": "a", "payload": None, "on_conflict": "ignore"},
    {
        "entrypoint": ["a", "a"],
        "payload": None,
        "dedupe_key": "d",
        "on_conflict": "update_priority",
    },
]


@pytest.mark.parametrize("kwargs", BAD_INPUT)
async def test_sync_enqueue_refuses_what_the_async_one_refuses_with_the_same_error(
    conn: asyncpg.Connection, names: Names, sync_queries: SyncQueries, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(Exception) as expected:
        await Queries(AsyncpgDriver(conn), names).enqueue(**kwargs)
    with pytest.raises(type(expected.value)) as got:
        sync_queries.enqueue(**kwargs)
    assert str(got.value) == str(expected.value)
    assert await count(conn, names) == 0


def test_sync_queries_take_pgqueuers_positions_and_names_in_the_builders_place(
    dsn: str | None, names: Names
) -> None:
    with psycopg.connect(dsn or "", autocommit=True) as connection:
        driver = SyncPsycopgDriver(connection)
        assert SyncQueries(driver, None, None).names == Names.from_env()
        assert SyncQueries(driver, names).names == names
        assert SyncQueries(driver, names=names, tracer="t").tracer == "t"
        with pytest.raises(TypeError, match="query builders do not exist"):
            SyncQueries(driver, object())
        with pytest.raises(TypeError, match="names twice"):
            SyncQueries(driver, names, names=names)


# -- the drivers ----------------------------------------------------------------------------


async def test_both_psycopg_drivers_need_autocommit(dsn: str | None) -> None:
    with psycopg.connect(dsn or "") as sync_conn, pytest.raises(RuntimeError, match="autocommit"):
        SyncPsycopgDriver(sync_conn)
    async with await psycopg.AsyncConnection.connect(dsn or "") as aconn:
        with pytest.raises(RuntimeError, match="autocommit"):
            PsycopgDriver(aconn)
        with pytest.raises(RuntimeError, match="autocommit"):
            PgQueuer.from_psycopg_connection(aconn)


async def test_from_psycopg_connection_builds_on_a_psycopg_driver(dsn: str | None) -> None:
    async with await psycopg.AsyncConnection.connect(dsn or "", autocommit=True) as aconn:
        queries = Queries.from_psycopg_connection(aconn)
        pgq = PgQueuer.from_psycopg_connection(aconn, channel="elsewhere", resources={"r": 1})
        assert isinstance(queries.driver, PsycopgDriver)
        assert queries.driver.connection is aconn
        assert isinstance(pgq.connection, PsycopgDriver) and pgq.channel == "elsewhere"
        assert pgq.resources == {"r": 1}


async def test_the_worker_capabilities_are_declared_by_both_drivers(
    worker_driver: WorkerDriver,
) -> None:
    driver = worker_driver.driver
    assert isinstance(driver, Reconnecting)
    assert isinstance(driver, GenericPlanning)
    assert isinstance(driver, SeparateConnections)


async def test_a_separate_connection_runs_the_heartbeat_statement(
    worker_driver: WorkerDriver, names: Names
) -> None:
    driver = worker_driver.driver
    assert isinstance(driver, SeparateConnections)
    connect = await driver.connect_factory()
    beat = await connect()
    try:
        sql = Queries(driver, names).sql["heartbeat"]
        await beat.execute(sql, [1, 2], uuid.uuid4())
        assert not beat.is_closed()
    finally:
        await beat.close()
    assert beat.is_closed()


async def test_notifications_arrive_while_queries_run_without_waiting_for_them(
    dsn: str | None,
) -> None:
    """LISTEN has its own connection: a query never waits for the notification watcher."""
    async with await psycopg.AsyncConnection.connect(dsn or "", autocommit=True) as aconn:
        async with PsycopgDriver(aconn) as driver:
            heard: list[str] = []
            await driver.add_listener("pgq_test_channel", heard.append)
            loop_started = asyncio.get_running_loop().time()
            for i in range(50):
                await driver.fetch("SELECT $1::int AS i", i)
            assert asyncio.get_running_loop().time() - loop_started < 2  # PgQueuer: ~50 s
            await driver.notify("pgq_test_channel", "hello")
            for _ in range(250):
                if heard:
                    break
                await asyncio.sleep(0.02)
            assert heard == ["hello"]
            await driver.remove_listener("pgq_test_channel", heard.append)
            assert driver.listener_alive()


def test_is_connection_error_knows_psycopgs_lost_connections() -> None:
    assert is_connection_error(psycopg.OperationalError("server closed the connection"))
    assert is_connection_error(psycopg.errors.AdminShutdown("terminating connection"))
    assert not is_connection_error(psycopg.errors.LockNotAvailable("lock timeout"))
    assert not is_connection_error(psycopg.errors.UniqueViolation("duplicate"))


def test_core_imports_without_psycopg_and_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import pgqueuer, pgqueuer.db, pgqueuer.queries\n"
        "from pgqueuer.errors import ConfigurationError\n"
        "for driver in (pgqueuer.PsycopgDriver, pgqueuer.db.SyncPsycopgDriver):\n"
        "    try:\n"
        "        driver(None)\n"
        "    except ConfigurationError as exc:\n"
        "        print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("pip install 'pgqueuer-core[psycopg]'") == 2


async def test_a_lost_listen_connection_is_reported_and_reconnect_listens_again(
    conn: asyncpg.Connection, worker_driver: WorkerDriver
) -> None:
    driver = worker_driver.driver
    assert isinstance(driver, Reconnecting)
    async with driver:
        heard: list[str] = []
        lost = asyncio.Event()
        driver.on_connection_lost(lost.set)
        await driver.add_listener("pgq_test_a", heard.append)
        await driver.add_listener("pgq_test_b", heard.append)
        pids = await worker_driver.backend_pids(conn, listening=True)
        assert len(pids) == 1
        await conn.execute("SELECT pg_terminate_backend($1)", pids[0])
        await asyncio.wait_for(lost.wait(), 5)
        assert not driver.listener_alive()
        await driver.reconnect()
        assert driver.listener_alive() and driver.is_alive()
        await conn.execute("SELECT pg_notify('pgq_test_a', '1'), pg_notify('pgq_test_b', '2')")
        for _ in range(250):
            if len(heard) == 2:
                break
            await asyncio.sleep(0.02)
        assert sorted(heard) == ["1", "2"]
        assert await driver.fetch("SELECT 1 AS one") == [{"one": 1}]


async def test_a_session_takes_several_statements_and_survives_a_failed_one(
    psycopg_driver: PsycopgDriver,
) -> None:
    async with psycopg_driver.session() as session:
        assert session is psycopg_driver  # one connection: the driver's own
        await session.execute("CREATE TEMP TABLE pgq_session_t (k int UNIQUE); SELECT 1")
        with pytest.raises(psycopg.errors.UndefinedTable):
            await session.execute("SELECT * FROM pgq_no_such_table")
        assert await session.execute("INSERT INTO pgq_session_t VALUES ($1)", 1) == "INSERT 0 1"
        assert await session.fetch("SELECT k FROM pgq_session_t") == [{"k": 1}]


async def test_unique_violations_are_read_alike_from_both_drivers(
    worker_driver: WorkerDriver,
) -> None:
    driver = worker_driver.driver
    await driver.execute("CREATE TEMP TABLE pgq_uv (k text CONSTRAINT pgq_uv_k UNIQUE)")
    await driver.execute("INSERT INTO pgq_uv VALUES ($1)", "a")
    with pytest.raises(Exception) as info:
        await driver.execute("INSERT INTO pgq_uv VALUES ($1)", "a")
    assert unique_violation(info.value) == ("pgq_uv_k", "Key (k)=(a) already exists.")
    assert unique_violation(ValueError("x")) is None
