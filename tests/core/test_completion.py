"""CompletionWatcher against a real queue: every terminal status resolves, held jobs too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from conftest import WorkerDriver

from pgqueuer import CompletionWatcher, PgQueuer, Queries
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Context, Job
from pgqueuer.names import Names


@pytest.fixture
async def worker(dsn: str | None, names: Names) -> AsyncIterator[PgQueuer]:
    conn = await asyncpg.connect(dsn)
    pgq = PgQueuer(AsyncpgDriver(conn), names=names)

    @pgq.entrypoint("ok")
    async def ok(job: Job) -> None:
        pass

    @pgq.entrypoint("boom")
    async def boom(job: Job) -> None:
        raise ValueError("boom")

    @pgq.entrypoint("hold", on_failure="hold")
    async def hold(job: Job) -> None:
        raise ValueError("held")

    @pgq.entrypoint("long")
    async def long(job: Job, ctx: Context) -> None:
        with ctx.cancellation:
            await asyncio.sleep(30)

    task = asyncio.create_task(pgq.run(dequeue_timeout=timedelta(seconds=30)))
    yield pgq
    pgq.shutdown.set()
    await asyncio.wait_for(task, 10)
    await conn.close()


async def test_each_terminal_status_resolves(
    conn: asyncpg.Connection, names: Names, worker: PgQueuer, worker_driver: WorkerDriver
) -> None:
    queries = Queries(AsyncpgDriver(conn), names)
    watch_queries = Queries(worker_driver.driver, names)  # the watcher on asyncpg and psycopg
    async with CompletionWatcher(watch_queries.driver, queries=watch_queries) as watcher:
        ok, boom, hold, long = await queries.enqueue(["ok", "boom", "hold", "long"], [None] * 4)
        futures = {job: watcher.wait_for(job) for job in (ok, boom, hold, long)}
        await asyncio.sleep(0.3)  # "long" is running now
        assert await queries.mark_job_as_cancelled([long]) == [long]
        results = await asyncio.wait_for(asyncio.gather(*futures.values()), 10)
    assert dict(zip(futures, results, strict=True)) == {
        ok: "successful",
        boom: "exception",
        hold: "failed",
        long: "canceled",
    }


async def test_a_job_finished_before_waiting_resolves_at_once(
    conn: asyncpg.Connection, names: Names, worker: PgQueuer
) -> None:
    queries = Queries(AsyncpgDriver(conn), names)
    (job,) = await queries.enqueue("ok", None)
    for _ in range(250):
        if await queries.job_status([job]):
            break
        await asyncio.sleep(0.02)
    async with CompletionWatcher(queries.driver, queries=queries) as watcher:
        assert await asyncio.wait_for(watcher.wait_for(job), 5) == "successful"
