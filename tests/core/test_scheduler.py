"""The scheduler: registration rules, once per tick across processes, cleanup, failures."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from conftest import Server, WorkerDriver

from pgqueuer import PgQueuer, QueueExecutionMode
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job, Schedule, ScheduleContext
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer.sm import ScheduleQueries, SchedulerManager

REPO = Path(__file__).resolve().parents[2]


def test_registration_rules() -> None:
    sm = SchedulerManager(PgQueuer.in_memory().connection)

    @sm.schedule("ok", "*/5  * * * *")
    async def ok(schedule: Schedule) -> None:
        pass

    assert [(k.entrypoint, k.expression) for k in sm.registry] == [("ok", "*/5 * * * *")]
    with pytest.raises(RuntimeError, match="already registered"):
        sm.schedule("ok", "*/5 * * * *")
    with pytest.raises(ValueError, match="invalid cron expression"):
        sm.schedule("bad", "every minute")
    with pytest.raises(ValueError, match="invalid cron expression"):
        sm.schedule("bad", "* * *")

    def sync(schedule: Schedule) -> None:
        pass

    with pytest.raises(TypeError, match="async def"):
        sm.schedule("sync", "* * * * *")(sync)  # type: ignore[type-var]


async def test_every_block_prepares(conn: asyncpg.Connection, names: Names) -> None:
    for name, sql in ScheduleQueries(AsyncpgDriver(conn), names).sql.items():
        try:
            await conn.prepare(sql)
        except asyncpg.PostgresError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"block {name} does not prepare: {exc}")


async def test_two_managers_fire_each_tick_once_and_keep_next_and_last_run(
    dsn: str | None, conn: asyncpg.Connection, names: Names
) -> None:
    fired: list[tuple[int, Schedule]] = []
    managers = []
    conns = [await asyncpg.connect(dsn) for _ in range(2)]
    for i, c in enumerate(conns):
        sm = SchedulerManager(AsyncpgDriver(c), names=names)

        @sm.schedule("tick", "* * * * * *")
        async def tick(schedule: Schedule, ctx: ScheduleContext, i: int = i) -> None:
            fired.append((i, schedule))

        managers.append(sm)
    tasks = [asyncio.create_task(sm.run()) for sm in managers]
    await asyncio.sleep(3.5)
    for sm in managers:
        sm.shutdown.set()
    await asyncio.gather(*tasks)
    for c in conns:
        await c.close()
    ticks = [s.next_run.replace(microsecond=0) for _, s in fired]
    assert 3 <= len(ticks) <= 5 and len(ticks) == len(set(ticks))
    row = await conn.fetchrow(
        names.substitute(
            "SELECT status::text, next_run, last_run FROM /*@schedules_table*/pgqueuer_schedules"
        )
    )
    assert row["status"] == "queued" and row["last_run"] is not None
    assert row["next_run"] > row["last_run"]


async def test_two_processes_fire_each_tick_once(
    server: Server, conn: asyncpg.Connection, names: Names
) -> None:
    await conn.execute(f'CREATE TABLE "{names.schema}".fired (pid int, tick timestamptz)')
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tests/core/scheduler_process.py"),
                names.schema or "",
                "4",
            ],
            env={**os.environ, **server.env()},
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            if proc.stdout is not None:
                proc.stdout.close()
    rows = await conn.fetch(f'SELECT tick, count(*) AS n FROM "{names.schema}".fired GROUP BY tick')
    assert len(rows) >= 3
    assert all(r["n"] == 1 for r in rows)  # never twice for one tick


async def test_a_failing_function_still_queues_the_next_run(
    conn: asyncpg.Connection, names: Names, worker_driver: WorkerDriver
) -> None:
    sm = SchedulerManager(worker_driver.driver, names=names)  # asyncpg and psycopg
    calls = 0

    @sm.schedule("boom", "* * * * * *")
    async def boom(schedule: Schedule) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    task = asyncio.create_task(sm.run())
    await asyncio.sleep(2.2)
    sm.shutdown.set()
    await task
    assert calls >= 2
    status = await conn.fetchval(
        names.substitute("SELECT status::text FROM /*@schedules_table*/pgqueuer_schedules")
    )
    assert status == "queued"


async def test_clean_old_replaces_old_expressions(conn: asyncpg.Connection, names: Names) -> None:
    queries = ScheduleQueries(AsyncpgDriver(conn), names)
    await queries.rows("insert_schedules", ["0 0 * * *"], ["report"], [await queries.db_now()])
    sm = SchedulerManager(AsyncpgDriver(conn), names=names)

    @sm.schedule("report", "0 12 * * *", clean_old=True)
    async def report(schedule: Schedule) -> None:
        pass

    sm.shutdown.set()
    await sm.run()
    assert [(s.entrypoint, s.expression) for s in await queries.list_all()] == [
        ("report", "0 12 * * *")
    ]


async def test_no_schedules_costs_nothing_and_drain_stops_the_scheduler(
    dsn: str | None, conn: asyncpg.Connection, names: Names
) -> None:
    c = await asyncpg.connect(dsn)
    pgq = PgQueuer(AsyncpgDriver(c), names=names)
    await pgq.sm.run()  # nothing registered: returns at once
    ran: list[int] = []

    @pgq.entrypoint("job")
    async def job(j: Job) -> None:
        ran.append(j.id)

    @pgq.schedule("nightly", "0 3 * * *")
    async def nightly(schedule: Schedule) -> None:
        pass

    await Queries(AsyncpgDriver(conn), names).enqueue(["job"] * 3, [None] * 3)
    await asyncio.wait_for(
        pgq.run(mode=QueueExecutionMode.drain, dequeue_timeout=timedelta(seconds=1)), 15
    )
    await c.close()
    assert len(ran) == 3
