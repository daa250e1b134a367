"""Connections that die under the worker: pg_terminate_backend, a pool too small, a flush cut.

Scenarios 3 and 4 of docs/reliability.md, on the shared test server: only backends whose
application_name carries this test's schema name are terminated, so concurrent test runs of
other people are never touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from accounting import Fleet, Producer, account, count, figures, op, read_runs, terminate, wait_for
from conftest import Server

from pgqueuer.names import Names
from pgqueuer.queries import Queries

pytestmark = pytest.mark.slow


@pytest.fixture
async def fleet(server: Server, names: Names, tmp_path: Path) -> AsyncIterator[Fleet]:
    pool = Fleet(server.dsn, names, tmp_path / "runs", tmp_path / "logs")
    try:
        yield pool
    finally:
        pool.stop_all()


def ran_since(fleet: Fleet, pid: int, since: float) -> bool:
    """Whether worker ``pid`` completed a job that started after ``since`` (wall clock)."""
    return any(
        r.pid == pid and r.how == "E" and r.started > since for r in read_runs(fleet.runs_dir)
    )


async def backends(conn: asyncpg.Connection, app: str, where: str = "true") -> set[int]:
    rows = await conn.fetch(
        f"SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND {where}", app
    )
    return {r["pid"] for r in rows}


# -- 3. pg_terminate_backend on every worker connection, then on the listener only ---------


@pytest.mark.parametrize("single_driver", ["asyncpg", "psycopg"])
async def test_terminated_backends_reconnect_and_lose_nothing(
    fleet: Fleet,
    server: Server,
    names: Names,
    conn: asyncpg.Connection,
    queries: Queries,
    single_driver: str,
) -> None:
    common = ("--heartbeat-timeout", "2", "--batch-size", "5", "--dequeue-timeout", "30")
    single_app, pool_app = f"c3s-{names.schema}", f"c3p-{names.schema}"
    single = await fleet.start(*common, "--driver", single_driver, app=single_app)
    pooled = await fleet.start(
        *common, "--pool", "4", "--entrypoint", "work", "--entrypoint", "pool_only", app=pool_app
    )
    stop = asyncio.Event()
    producer = Producer(server.dsn, names, payload=op(sleep=0.01), batch=5, interval=0.05)
    producing = asyncio.create_task(producer.run(stop))
    recoveries: list[float] = []
    killed = 0
    try:
        for _ in range(3):
            await asyncio.sleep(1.0)
            since = time.time()
            killed += await terminate(conn, "application_name = ANY($1)", [single_app, pool_app])
            began = time.monotonic()
            for worker in (single, pooled):
                try:
                    await wait_for(
                        lambda w=worker, t=since: ran_since(fleet, w.pid, t),
                        15,
                        f"worker {worker.app} working again after its backends were terminated",
                    )
                except AssertionError as exc:
                    raise AssertionError(f"{exc}\n{worker.stderr()[-4000:]}") from None
            recoveries.append(time.monotonic() - began)
            assert single.alive() and pooled.alive()
    finally:
        stop.set()
        await producing

    async def drained() -> bool:
        return await count(conn, names) == 0

    await wait_for(drained, 30, "the queue drained after the terminations")

    # The listener only: the pool worker's LISTEN connection is terminated; it must LISTEN
    # again and be woken by NOTIFY (not by polling: dequeue_timeout is 30 s).
    listening = await backends(conn, pool_app, "query LIKE 'LISTEN%'")
    assert len(listening) == 1
    assert await terminate(conn, "pid = ANY($1)", list(listening)) == 1

    async def listening_again() -> bool:
        return bool(await backends(conn, pool_app, "query LIKE 'LISTEN%'") - listening)

    relisten = await wait_for(listening_again, 15, "the pool worker LISTENing again")
    await asyncio.sleep(1.5)  # the worker is idle again, waiting on its listener
    latencies = []
    pool_only = []
    for _ in range(3):
        sent = time.time()
        (job_id,) = await queries.enqueue("pool_only", op(sleep=0))
        pool_only.append(job_id)
        await wait_for(
            lambda j=job_id: any(r.job_id == j for r in read_runs(fleet.runs_dir)),
            5,
            "the pool worker picking up a job after its listener came back",
            interval=0.01,
        )
        (run,) = [r for r in read_runs(fleet.runs_dir) if r.job_id == job_id]
        latencies.append(run.started - sent)
        await asyncio.sleep(1.2)
    assert max(latencies) < 0.5, f"pickup latencies {latencies}: the worker is polling"
    assert "LISTEN connection restored" in pooled.stderr()

    await fleet.stop_gracefully()
    assert not fleet.tracebacks(), fleet.tracebacks()[0]
    acc = await account(conn, names, producer.ids | set(pool_only), fleet.runs_dir)
    assert acc.completed == producer.ids | set(pool_only)
    figures(
        "3-terminate-backend" if single_driver == "asyncpg" else "3-terminate-backend-psycopg",
        termination_rounds=3,
        backends_terminated=killed,
        seconds_until_both_workers_ran_a_job_again=[round(r, 2) for r in recoveries],
        listener_relisten_seconds=round(relisten, 2),
        pickup_latency_after_relisten_ms=[round(1000 * x) for x in latencies],
        producer_connection_errors=producer.errors,
        **acc.summary(),
    )


# -- 4. pool exhaustion; a connection lost while completions are being flushed -------------


async def test_a_pool_too_small_for_the_handlers_only_slows_the_worker(
    fleet: Fleet, names: Names, conn: asyncpg.Connection, queries: Queries
) -> None:
    # max_size 3: one connection stays with LISTEN, two are shared by the worker's own
    # statements and ten handlers that each hold one for 50 ms.
    await fleet.start("--pool", "3", "--batch-size", "10", "--max-concurrent", "10")
    ids = await queries.enqueue(["work"] * 200, [op(pool=0.05)] * 200)
    began = time.monotonic()

    async def drained() -> bool:
        return await count(conn, names) == 0

    took = await wait_for(drained, 40, "200 jobs through a pool of 2 free connections")
    await fleet.stop_gracefully()
    acc = await account(conn, names, ids, fleet.runs_dir, alive=True)
    assert acc.completed == set(ids)
    assert max(r.ended - r.started for r in read_runs(fleet.runs_dir) if r.ended) > 0.1, (
        "no handler ever waited for a connection: the pool was not exhausted"
    )
    figures(
        "4a-pool-exhaustion",
        pool_max_size=3,
        concurrent_handlers=10,
        jobs=len(ids),
        seconds=round(took, 1),
        since_enqueue=round(time.monotonic() - began, 1),
        **acc.summary(),
    )


async def test_a_connection_lost_mid_flush_loses_and_duplicates_nothing(
    fleet: Fleet, server: Server, names: Names, conn: asyncpg.Connection, queries: Queries
) -> None:
    """The log table is locked, so every worker's finish_and_claim (its flush of finished
    jobs) waits inside the statement; the waiting backends are terminated there, then the
    lock is released. Each time, the results in flight must be written once, after the
    reconnect, and none of the jobs may be lost or logged twice."""
    app = f"c4-{names.schema}"
    for _ in range(2):
        await fleet.start("--heartbeat-timeout", "2", "--batch-size", "20", app=app)
    ids = await queries.enqueue(["work"] * 3000, [op(sleep=0.05)] * 3000)
    log_table = names.qualify(names.queue_table_log)
    cut = 0
    recoveries = []
    locker = await asyncpg.connect(server.dsn)

    async def some_done() -> bool:
        return await count(conn, names) < 2900

    await wait_for(some_done, 15, "the workers completing jobs")
    try:
        for _ in range(5):
            async with locker.transaction():
                await locker.execute(f"LOCK TABLE {log_table} IN SHARE MODE")

                async def waiting() -> set[int]:
                    # Only the workers' finish_and_claim (and rescue_stale) write the log.
                    return await backends(conn, app, "wait_event_type = 'Lock'")

                await wait_for(waiting, 10, "a flush waiting on the log table")
                await asyncio.sleep(0.2)  # more results pile up in the workers meanwhile
                cut += await terminate(conn, "pid = ANY($1)", list(await waiting()))
            since = time.time()
            began = time.monotonic()
            await wait_for(
                lambda t=since: all(ran_since(fleet, w.pid, t) for w in fleet.workers),
                15,
                "both workers completing jobs again after the cut",
            )
            recoveries.append(time.monotonic() - began)
    finally:
        await locker.close()

    async def drained() -> bool:
        return await count(conn, names) == 0

    await wait_for(drained, 40, "the queue drained")
    assert all(w.alive() for w in fleet.workers)
    await fleet.stop_gracefully()
    assert not fleet.tracebacks(), fleet.tracebacks()[0]
    acc = await account(conn, names, ids, fleet.runs_dir)
    assert acc.completed == set(ids)
    assert cut >= 5
    figures(
        "4b-flush-cut",
        jobs=len(ids),
        flushes_cut=cut,
        seconds_until_both_workers_ran_a_job_again=[round(r, 2) for r in recoveries],
        **acc.summary(),
    )
