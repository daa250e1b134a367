"""The server itself misbehaves: it restarts under load, or a transaction holds its xmin.

Scenarios 2 and 11 of docs/reliability.md. Both run on a private, throwaway PostgreSQL
cluster (accounting.Cluster) started for this module on a free port: restarting or stalling
the shared server would break everybody else's tests.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from accounting import (
    Cluster,
    Fleet,
    Producer,
    Worker,
    account,
    count,
    figures,
    op,
    read_runs,
    wait_for,
)
from conftest import unique_schema
from localbouncer import LocalBouncer

from pgqueuer.db import AsyncpgDriver
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer_schema import install_sql

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    server = Cluster()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
async def cnames(cluster: Cluster) -> AsyncIterator[Names]:
    names = Names.create(schema=unique_schema("c"))
    conn = await asyncpg.connect(cluster.dsn)
    try:
        await conn.execute(install_sql(names))
    finally:
        await conn.close()
    yield names


@pytest.fixture
async def cconn(cluster: Cluster, cnames: Names) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(cluster.dsn)
    yield conn
    if not conn.is_closed():
        await conn.close()


@pytest.fixture
async def fleet(cluster: Cluster, cnames: Names, tmp_path: Path) -> AsyncIterator[Fleet]:
    pool = Fleet(cluster.dsn, cnames, tmp_path / "runs", tmp_path / "logs")
    try:
        yield pool
    finally:
        pool.stop_all()


async def working_again(fleet: Fleet, workers: list[Worker], since: float, how: str) -> None:
    """Wait (30 s at most) until every worker completed a job that started after ``since``."""
    for worker in workers:
        await wait_for(
            lambda w=worker: any(
                r.pid == w.pid and r.how == "E" and r.started > since
                for r in read_runs(fleet.runs_dir)
            ),
            30,
            f"worker {worker.pid} working again {how}",
        )


# -- 2. PostgreSQL restarted under load -----------------------------------------------------


async def test_workers_and_listeners_carry_on_after_server_restarts(
    cluster: Cluster, fleet: Fleet, cnames: Names
) -> None:
    common = ("--heartbeat-timeout", "2", "--batch-size", "10", "--dequeue-timeout", "30")
    workers = [
        await fleet.start(*common),
        await fleet.start(*common),
        await fleet.start(*common, "--pool", "4"),
    ]
    stop = asyncio.Event()
    producers = [
        Producer(cluster.dsn, cnames, payload=op(sleep=0.02), batch=10, interval=0.05)
        for _ in range(2)
    ]
    producing = [asyncio.create_task(p.run(stop)) for p in producers]
    restarts = []
    try:
        for mode in ("fast", "immediate", "fast"):
            await asyncio.sleep(1.5)
            down = time.monotonic()
            await asyncio.to_thread(cluster.stop, mode)
            await asyncio.sleep(0.5)  # the workers notice and keep retrying meanwhile
            await asyncio.to_thread(cluster.start)
            up = time.monotonic()
            await working_again(fleet, workers, time.time(), f"after a {mode} restart")
            restarts.append(
                {
                    "mode": mode,
                    "server_down_seconds": round(up - down, 2),
                    "all_workers_working_again_after_seconds": round(time.monotonic() - up, 2),
                }
            )
            assert all(w.alive() for w in workers), fleet.stderr()[-3000:]
    finally:
        stop.set()
        await asyncio.gather(*producing)

    conn = await asyncpg.connect(cluster.dsn)
    try:

        async def drained() -> bool:
            return await count(conn, cnames, "status <> 'failed'") == 0

        await wait_for(drained, 30, "the queue drained after the restarts")
        # Each worker's listener is back: a job enqueued now is picked up at once (NOTIFY),
        # although dequeue_timeout is 30 s.
        await asyncio.sleep(1.5)
        sent = time.time()
        (probe,) = await Queries(AsyncpgDriver(conn), cnames).enqueue("work", op(sleep=0))
        await wait_for(
            lambda: any(r.job_id == probe for r in read_runs(fleet.runs_dir)),
            5,
            "a job enqueued after the restarts picked up",
            interval=0.01,
        )
        (run,) = [r for r in read_runs(fleet.runs_dir) if r.job_id == probe]
        pickup = run.started - sent
        assert pickup < 0.5, f"picked up after {pickup:.2f} s: the listeners did not come back"
        await fleet.stop_gracefully()
        assert not fleet.tracebacks(), fleet.tracebacks()[0]
        ids = set().union(*(p.ids for p in producers)) | {probe}
        acc = await account(conn, cnames, ids, fleet.runs_dir, server_crash=True)
    finally:
        await conn.close()
    # Every acknowledged job ran to its end. A batch whose commit reached the server while
    # the restart cut the connection is in the database without its ids reaching the
    # producer: such jobs must have run too, and there can be at most one batch per error.
    done = acc.completed | acc.failed
    assert ids <= done, f"acknowledged jobs that did not end: {sorted(ids - done)[:10]}"
    errors = sum(p.errors for p in producers)
    assert acc.unacknowledged <= 10 * errors, (acc.unacknowledged, errors)
    assert len(done) == len(ids) + acc.unacknowledged  # the unacknowledged ones ran as well
    figures(
        "2-server-restart",
        workers=3,
        restarts=restarts,
        producer_connection_errors=sum(p.errors for p in producers),
        pickup_after_restarts_ms=round(1000 * pickup),
        claims_lost_in_the_crash_run_again=acc.lost_claim_reruns,
        **acc.summary(),
    )


# -- 2b. the same restart, with the workers and the producer behind a PgBouncer ------------


async def test_workers_behind_a_bouncer_carry_on_after_the_server_restarts(
    cluster: Cluster, cnames: Names, tmp_path: Path
) -> None:
    """Issue 18: the bouncer keeps the clients' connections while PostgreSQL restarts behind
    it; a polling worker and one that LISTENs on a direct connection both work again and
    nothing acknowledged is lost."""
    bouncer = LocalBouncer(tmp_path / "bouncer", cluster.dsn).start()
    fleet = Fleet(bouncer.dsn("postgres"), cnames, tmp_path / "runs", tmp_path / "logs")
    try:
        common = ("--pgbouncer", "--heartbeat-timeout", "2", "--batch-size", "10")
        workers = [
            await fleet.start(*common, "--poll-interval", "0.3"),
            await fleet.start(*common, "--listen-dsn", cluster.dsn, "--dequeue-timeout", "30"),
        ]
        stop = asyncio.Event()
        producer = Producer(
            bouncer.dsn("postgres"), cnames, payload=op(sleep=0.02), batch=10, interval=0.05,
            statement_cache_size=0,
        )  # fmt: skip
        producing = asyncio.create_task(producer.run(stop))
        try:
            await asyncio.sleep(1.5)
            await asyncio.to_thread(cluster.stop, "fast")
            await asyncio.sleep(0.5)
            await asyncio.to_thread(cluster.start)
            await working_again(fleet, workers, time.time(), "through the bouncer")
            assert all(w.alive() for w in workers), fleet.stderr()[-3000:]
        finally:
            stop.set()
            await producing
        conn = await asyncpg.connect(cluster.dsn)
        try:

            async def drained() -> bool:
                return await count(conn, cnames, "status <> 'failed'") == 0

            await wait_for(drained, 30, "the queue drained after the restart")
            await fleet.stop_gracefully()
            assert not fleet.tracebacks(), fleet.tracebacks()[0]
            acc = await account(conn, cnames, producer.ids, fleet.runs_dir, server_crash=True)
        finally:
            await conn.close()
        done = acc.completed | acc.failed
        missing = sorted(producer.ids - done)[:10]
        assert producer.ids <= done, f"acknowledged jobs that did not end: {missing}"
    finally:
        fleet.stop_all()
        bouncer.destroy()


# -- 11. a transaction left open on the server during load ---------------------------------


async def test_an_idle_transaction_slows_the_queue_which_recovers_when_it_ends(
    cluster: Cluster, fleet: Fleet, cnames: Names, cconn: asyncpg.Connection
) -> None:
    queries = Queries(AsyncpgDriver(cconn), cnames)
    ids: list[int] = []
    for _ in range(15):
        ids += await queries.enqueue(["work"] * 5000, [op(sleep=0)] * 5000)
    await fleet.start("--batch-size", "20", "--max-concurrent", "40")
    window = 1.0
    began = time.time()
    await asyncio.sleep(2 * window)
    # The backlog must outlast the hold and the second after it, whatever this machine's
    # speed (a fast one runs 28,000 of these jobs a second): top it up to six seconds' worth
    # at the rate seen so far.
    left = await count(cconn, cnames, "status = 'queued'")
    per_second = (len(ids) - left) / (time.time() - began)
    if (short := int(6 * per_second) - left) > 0:
        ids += await queries.enqueue(["work"] * short, [op(sleep=0)] * short)

    # A REPEATABLE READ transaction holds its snapshot (so its xmin: no row deleted after it
    # started can be vacuumed or pruned, and the queue's indexes fill with dead entries) and a
    # row lock on one queued job ahead of the workers, then sits idle.
    holder = await asyncpg.connect(cluster.dsn)
    table = cnames.qualify(cnames.queue_table)
    try:
        ahead = await cconn.fetchval(  # a job the workers reach during the hold
            f"SELECT id FROM {table} WHERE status = 'queued' ORDER BY id LIMIT 1 OFFSET 3000"
        )
        await holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        # Only that row is locked: a FOR UPDATE scan over more rows would also keep the locks
        # of rows it skipped, picked ones included (see test_a_lock_on_a_running_job...).
        locked = await holder.fetchval(
            f"SELECT id FROM {table} WHERE id = $1 AND status = 'queued' FOR UPDATE", ahead
        )
        assert locked == ahead, "the backlog ran out before the hold"
        row = await cconn.fetchrow(
            "SELECT state, backend_xmin IS NOT NULL AS holds_xmin FROM pg_stat_activity "
            "WHERE pid = $1",
            holder.get_server_pid(),
        )
        assert (row["state"], row["holds_xmin"]) == ("idle in transaction", True)
        held_from = time.time()
        await asyncio.sleep(4 * window)
        held_until = time.time()
        await holder.execute("ROLLBACK")
        released = time.time()
    finally:
        await holder.close()
    await asyncio.sleep(2 * window)
    ended = time.time()

    runs = [r for r in read_runs(fleet.runs_dir) if r.how == "E" and r.ended]
    ends = sorted(r.ended for r in runs)
    # On a fast machine the fleet can finish every other job before the hold ends: a second
    # with nothing left to run is not a stall, so only the seconds before that are judged.
    others = {r.job_id: r.ended for r in runs if r.job_id != locked}
    exhausted = max(others.values()) if len(others) == len(ids) - 1 else float("inf")

    def rate(since: float, until: float) -> float:
        return (bisect.bisect_left(ends, until) - bisect.bisect_left(ends, since)) / (until - since)

    baseline = rate(began + 0.5, held_from)
    seconds = [(held_from + i * window, held_from + (i + 1) * window) for i in range(4)]
    during = [rate(since, until) for since, until in seconds if until <= exhausted]
    assert during, "the backlog ran out within the first second of the hold: make it larger"
    after = rate(held_until + window, ended)
    assert min(during) > 0, f"the queue stalled behind the idle transaction: {during}"

    async def drained() -> bool:
        return await count(cconn, cnames) == 0

    remaining = await count(cconn, cnames)
    await wait_for(drained, 60, "the backlog drained")
    await fleet.stop_gracefully()
    acc = await account(cconn, cnames, ids, fleet.runs_dir, alive=True)
    assert acc.completed == set(ids)
    locked_run = [r for r in read_runs(fleet.runs_dir) if r.job_id == locked]
    assert len(locked_run) == 1 and locked_run[0].started > released, (
        "a job locked by another transaction was run"
    )
    if remaining:  # the backlog lasted past the hold: throughput must have come back
        assert after >= 0.5 * baseline, f"no recovery: {baseline:.0f}/s before, {after:.0f}/s after"
    figures(
        "11-idle-in-transaction",
        backlog=len(ids),
        hold_seconds=round(held_until - held_from, 1),
        jobs_per_second_before=round(baseline),
        jobs_per_second_during_each_second=[round(x) for x in during],
        jobs_per_second_after=round(after),
        left_after_the_phases=remaining,
        locked_job_started_after_release_seconds=round(locked_run[0].started - released, 3),
        **acc.summary(),
    )


# -- a row lock on a running job ----------------------------------------------------------


async def test_a_lock_on_a_running_job_does_not_stall_its_worker(
    cluster: Cluster, fleet: Fleet, cnames: Names, cconn: asyncpg.Connection
) -> None:
    queries = Queries(AsyncpgDriver(cconn), cnames)
    await fleet.start("--batch-size", "5")
    (running,) = await queries.enqueue("work", op(sleep=0.5))
    await wait_for(
        lambda: any(r.job_id == running for r in read_runs(fleet.runs_dir)), 10, "job running"
    )
    holder = await asyncpg.connect(cluster.dsn)
    try:
        await holder.execute("BEGIN")
        table = cnames.qualify(cnames.queue_table)
        await holder.fetchval(f"SELECT id FROM {table} WHERE id = $1 FOR UPDATE", running)
        held_from = time.time()
        await asyncio.sleep(1.0)  # the job ended; its write-back is held back while locked
        enqueued = time.time()
        others = await queries.enqueue(["work"] * 10, [op(sleep=0)] * 10)
        try:
            await wait_for(
                lambda: (
                    {r.job_id for r in read_runs(fleet.runs_dir) if r.how == "E"} >= set(others)
                ),
                3,
                "other jobs running while one job's row is locked",
            )
            others_done = time.time()
        finally:
            await holder.execute("ROLLBACK")
            released = time.time()
    finally:
        await holder.close()

    async def drained() -> bool:
        return await count(cconn, cnames) == 0

    # Once the lock is gone, the held-back outcome is written (once), and nothing ran twice.
    await wait_for(drained, 10, "the locked job's outcome written after the release")
    written = time.time()
    await fleet.stop_gracefully()
    acc = await account(cconn, cnames, [running, *others], fleet.runs_dir, alive=True)
    assert acc.completed == {running, *others}
    figures(
        "12-row-lock-on-a-running-job",
        hold_seconds=round(released - held_from, 2),
        other_jobs_done_during_the_hold_seconds=round(others_done - enqueued, 3),
        locked_job_written_after_release_seconds=round(written - released, 3),
        **acc.summary(),
    )
