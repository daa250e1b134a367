"""A row lock held by another transaction on a running job never stalls its worker.

The worker's round trip locks the finished rows with SKIP LOCKED: a row another transaction
holds is reported back as skipped (nothing written, nothing logged), the worker keeps its
outcome and writes it once the lock is gone. Heartbeats skip locked rows the same way.
Real PostgreSQL, two connections: one of them holds ``SELECT ... FOR UPDATE`` on a picked row.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from conftest import WorkerDriver

from pgqueuer import PgQueuer, Queries
from pgqueuer.db import AsyncpgDriver
from pgqueuer.inmemory import InMemoryQueries
from pgqueuer.models import Job
from pgqueuer.names import Names
from pgqueuer.queries import Finished, RoundTrip

ME = uuid.UUID(int=7)


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def row_lock(dsn: str | None, names: Names, job_id: int) -> AsyncIterator[None]:
    """Another transaction holding FOR UPDATE on one queue row for the block."""
    holder = await asyncpg.connect(dsn)
    try:
        await holder.execute("BEGIN")
        got = await holder.fetchval(
            names.substitute("SELECT id FROM /*@queue_table*/pgqueuer WHERE id = $1 FOR UPDATE"),
            job_id,
        )
        assert got == job_id
        yield
        await holder.execute("ROLLBACK")
    finally:
        await holder.close()


async def log_of(conn: asyncpg.Connection, names: Names, job_id: int) -> list[str]:
    rows = await conn.fetch(
        names.substitute(
            "SELECT status::text FROM /*@queue_table_log*/pgqueuer_log WHERE job_id = $1 "
            "ORDER BY id"
        ),
        job_id,
    )
    return [r[0] for r in rows]


async def row_of(conn: asyncpg.Connection, names: Names, job_id: int) -> Any:
    return await conn.fetchrow(
        names.substitute(
            "SELECT status::text AS status, heartbeat, queue_manager_id "
            "FROM /*@queue_table*/pgqueuer WHERE id = $1"
        ),
        job_id,
    )


# -- the statement ------------------------------------------------------------------------


async def test_a_locked_finished_row_is_skipped_not_waited_for_and_written_later(
    conn: asyncpg.Connection, queries: Queries, names: Names, dsn: str | None
) -> None:
    ids = await queries.enqueue(["a"] * 4, [None] * 4)
    claimed = await queries.finish_and_claim([], ME, ["a"], [0], 3)
    a, b, c = (j.id for j in claimed)
    done = [
        Finished(a, "successful"),
        Finished(b, "queued", None, timedelta(0)),
        Finished(c, "failed"),
    ]
    async with row_lock(dsn, names, a):
        trip = await asyncio.wait_for(queries.try_finish_and_claim(done, ME, ["a"], [0], 5), 5)
        # the other two were written and the fourth job claimed, without waiting
        assert trip.skipped == [done[0]]
        assert [j.id for j in trip.jobs] == [ids[3]]
        assert (await row_of(conn, names, a))["status"] == "picked"
        assert await log_of(conn, names, a) == []
        assert await log_of(conn, names, b) == ["queued"]
        assert await log_of(conn, names, c) == ["failed"]
        # still locked: skipped again, still nothing written
        again = await asyncio.wait_for(queries.try_finish_and_claim(trip.skipped, ME, [], [], 0), 5)
        assert again == RoundTrip([], trip.skipped)
    after = await queries.try_finish_and_claim(trip.skipped, ME, [], [], 0)
    assert after == RoundTrip([], [])
    assert await row_of(conn, names, a) is None
    assert await log_of(conn, names, a) == ["successful"]
    # sent once more (a lost answer, say): gone, so neither skipped nor logged again
    assert await queries.try_finish_and_claim(trip.skipped, ME, [], [], 0) == RoundTrip([], [])
    assert await log_of(conn, names, a) == ["successful"]


async def test_a_skipped_job_cancelled_meanwhile_stays_cancelled(
    conn: asyncpg.Connection, queries: Queries, names: Names, dsn: str | None
) -> None:
    await queries.enqueue("a", None)
    (job,) = await queries.finish_and_claim([], ME, ["a"], [0], 1)
    done = [Finished(job.id, "successful")]
    async with row_lock(dsn, names, job.id):
        trip = await asyncio.wait_for(queries.try_finish_and_claim(done, ME, [], [], 0), 5)
        assert trip.skipped == done
    await queries.mark_job_as_cancelled([job.id])
    assert await queries.try_finish_and_claim(done, ME, [], [], 0) == RoundTrip([], [])
    assert await log_of(conn, names, job.id) == ["canceled"]


async def test_finish_and_claim_waits_for_a_locked_row_and_writes_it_once(
    conn: asyncpg.Connection, queries: Queries, names: Names, dsn: str | None
) -> None:
    """The waiting form (log_jobs, retry_job, shutdown) writes the outcome after the lock."""
    await queries.enqueue("a", None)
    (job,) = await queries.finish_and_claim([], ME, ["a"], [0], 1)
    async with row_lock(dsn, names, job.id):
        writing = asyncio.create_task(
            queries.finish_and_claim([Finished(job.id, "successful")], ME, [], [], 0)
        )
        await asyncio.sleep(0.3)  # it keeps polling, with growing pauses
        assert not writing.done()
        assert await log_of(conn, names, job.id) == []
    await asyncio.wait_for(writing, 5)
    assert await log_of(conn, names, job.id) == ["successful"]


async def test_heartbeat_skips_a_locked_row_and_still_reports_it_held(
    conn: asyncpg.Connection, queries: Queries, names: Names, dsn: str | None
) -> None:
    await queries.enqueue(["a", "a"], [None, None])
    a, b = (j.id for j in await queries.finish_and_claim([], ME, ["a"], [0], 2))
    before = {i: (await row_of(conn, names, i))["heartbeat"] for i in (a, b)}
    await asyncio.sleep(0.01)  # so that now() moves past the claim's
    async with row_lock(dsn, names, a):
        held = await asyncio.wait_for(queries.heartbeat([a, b], ME), 5)
        assert sorted(held) == [a, b]
        assert (await row_of(conn, names, a))["heartbeat"] == before[a]
        assert (await row_of(conn, names, b))["heartbeat"] > before[b]
    await queries.heartbeat([a, b], ME)
    assert (await row_of(conn, names, a))["heartbeat"] > before[a]


async def test_in_memory_never_skips() -> None:
    queries = InMemoryQueries()
    await queries.enqueue("a", None)
    (job,) = await queries.finish_and_claim([], ME, ["a"], [0], 1)
    trip = await queries.try_finish_and_claim([Finished(job.id, "successful")], ME, ["a"], [0], 1)
    assert trip == RoundTrip([], [])
    assert await queries.job_status([job.id]) == [(job.id, "successful")]


# -- the worker ---------------------------------------------------------------------------


class _CountingQueries(Queries):
    """Real queries that count the worker's round trips."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trips = 0

    async def try_finish_and_claim(self, *args: Any, **kwargs: Any) -> RoundTrip:
        self.trips += 1
        return await super().try_finish_and_claim(*args, **kwargs)


async def test_a_worker_keeps_working_while_a_finished_jobs_row_is_locked(
    conn: asyncpg.Connection,
    worker_driver: WorkerDriver,
    names: Names,
    queries: Queries,
    dsn: str | None,
) -> None:
    pgq = PgQueuer(worker_driver.driver, names=names)
    counting = _CountingQueries(worker_driver.driver, names)
    pgq.qm.queries = counting
    runs: list[int] = []
    started = {"locked": asyncio.Event(), "long": asyncio.Event()}
    finish_locked, finish_long = asyncio.Event(), asyncio.Event()

    @pgq.entrypoint("locked")
    async def locked(job: Job) -> None:
        runs.append(job.id)
        started["locked"].set()
        await finish_locked.wait()

    @pgq.entrypoint("long")
    async def long(job: Job) -> None:
        runs.append(job.id)
        started["long"].set()
        await finish_long.wait()

    @pgq.entrypoint("quick")
    async def quick(job: Job) -> None:
        runs.append(job.id)

    async def logged(ids: list[int]) -> bool:
        return all([await log_of(conn, names, i) == ["successful"] for i in ids])

    # heartbeat_timeout 4 s: beats every 1 s; the lock below is held for well under 3 s, so
    # the skipped beats of the locked job can never make it look stale.
    task = asyncio.create_task(
        pgq.run(dequeue_timeout=timedelta(seconds=30), heartbeat_timeout=timedelta(seconds=4))
    )
    try:
        (job,) = await queries.enqueue("locked", None)
        (other,) = await queries.enqueue("long", None)
        await asyncio.wait_for(started["locked"].wait(), 10)
        await asyncio.wait_for(started["long"].wait(), 10)
        async with row_lock(dsn, names, job):
            beat: datetime = (await row_of(conn, names, other))["heartbeat"]
            finish_locked.set()  # its outcome cannot be written while the lock is held
            quick_ids = await queries.enqueue(["quick"] * 20, [None] * 20)
            await wait_until(lambda: logged(quick_ids), 10)  # finished and claimed meanwhile
            row = await row_of(conn, names, job)
            assert row["status"] == "picked" and await log_of(conn, names, job) == []
            quiet_from, trips_before = time.monotonic(), counting.trips

            # The other running job's heartbeat goes on (the beat skips only the locked row).
            async def beaten() -> bool:
                return bool((await row_of(conn, names, other))["heartbeat"] > beat)

            await wait_until(beaten, 3)
            # a measuring window of at least 0.5 s (not a wait for an event)
            await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - quiet_from)))
            # With the other work done, retrying the locked job's write-back does not spin:
            # its pauses grow to 0.5 s (a busy loop would make hundreds of round trips here).
            quiet_for = time.monotonic() - quiet_from
            trips = counting.trips - trips_before
            assert trips <= 5 + 10 * quiet_for, f"{trips} round trips in {quiet_for:.2f} s"
        await wait_until(lambda: logged([job]), 5)
        finish_long.set()
        await wait_until(lambda: logged([other]), 5)
    finally:
        finish_locked.set()
        finish_long.set()
        pgq.shutdown.set()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 30)
    assert task.exception() is None
    assert await log_of(conn, names, job) == ["successful"]  # once
    assert sorted(runs) == sorted([job, other, *quick_ids])  # each job ran once
    assert pgq.qm.jobs_logged == 22


async def test_shutdown_writes_a_locked_release_after_the_lock(
    conn: asyncpg.Connection, queries: Queries, names: Names, dsn: str | None
) -> None:
    """A job released at shutdown whose row is locked goes back once the lock is released."""
    worker_conn = await asyncpg.connect(dsn)
    pgq = PgQueuer(AsyncpgDriver(worker_conn), names=names)
    inside = asyncio.Event()

    @pgq.entrypoint("a")
    async def a(job: Job) -> None:
        inside.set()
        await asyncio.sleep(30)

    task = asyncio.create_task(pgq.run(heartbeat_timeout=timedelta(seconds=4)))
    (job,) = await queries.enqueue("a", None)
    await asyncio.wait_for(inside.wait(), 10)
    async with row_lock(dsn, names, job):
        pgq.qm.abort()
        await asyncio.sleep(0.3)
        assert not task.done()  # the release waits for the lock (up to 10 s)
    try:
        await asyncio.wait_for(task, 10)
    finally:
        await worker_conn.close()
    row = await row_of(conn, names, job)
    assert row["status"] == "queued" and row["queue_manager_id"] is None
    assert await log_of(conn, names, job) == []
