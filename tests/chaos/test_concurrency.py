"""Many at once: dedupe races, a concurrency limit across processes, NOTIFY bursts, odd payloads.

Scenarios 8, 9 and 10 of docs/reliability.md, on the shared test server.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from accounting import Fleet, account, count, figures, op, read_runs, wait_for
from conftest import Server

from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import DuplicateJobError
from pgqueuer.names import Names
from pgqueuer.queries import EntrypointExecutionParameter, Queries

pytestmark = pytest.mark.slow


@pytest.fixture
async def fleet(server: Server, names: Names, tmp_path: Path) -> AsyncIterator[Fleet]:
    pool = Fleet(server.dsn, names, tmp_path / "runs", tmp_path / "logs")
    try:
        yield pool
    finally:
        pool.stop_all()


# -- 8. dedupe under concurrency -----------------------------------------------------------


async def test_one_dedupe_key_from_many_producers_makes_exactly_one_job(
    server: Server, names: Names, conn: asyncpg.Connection, queries: Queries
) -> None:
    producers = 16
    keys = 30
    conns = [await asyncpg.connect(server.dsn) for _ in range(producers)]
    try:
        qs = [Queries(AsyncpgDriver(c), names) for c in conns]
        outcomes: dict[str, list[object]] = {}
        for k in range(keys):
            key = f"key-{k}"
            go = asyncio.Event()

            async def one(i: int, key: str = key, go: asyncio.Event = go) -> object:
                await go.wait()
                mode = "skip" if i % 2 else "raise"
                try:
                    if i % 4 == 3:  # a batch: the keyed job and an unkeyed one
                        ids = await qs[i].enqueue(
                            ["work", "work"], [None, None], dedupe_key=[key, None], on_conflict=mode
                        )
                        return ("batch", ids)
                    (job_id,) = await qs[i].enqueue("work", None, dedupe_key=key, on_conflict=mode)
                    return job_id
                except DuplicateJobError as exc:
                    return exc

            tasks = [asyncio.create_task(one(i)) for i in range(producers)]
            await asyncio.sleep(0.01)
            go.set()
            outcomes[key] = await asyncio.gather(*tasks)
    finally:
        for c in conns:
            await c.close()

    won = refused = skipped = 0
    for key, results in outcomes.items():
        ids = []
        for r in results:
            if isinstance(r, tuple):
                r = r[1][0]
            if isinstance(r, int):
                ids.append(r)
            elif isinstance(r, DuplicateJobError):
                refused += 1
                assert key in str(r.dedupe_key)
            else:
                assert r is None, f"unexpected outcome {r!r}"
                skipped += 1
        assert len(ids) == 1, f"{key}: {len(ids)} producers got a job id"
        won += 1
        rows = await count(conn, names, "dedupe_key = $1", key)
        assert rows == 1, f"{key}: {rows} rows"

    # While the job runs its key is still taken; once it completed, the key is free again.
    key = "running-key"
    await queries.enqueue("solo", None, dedupe_key=key)
    (job,) = await queries.dequeue(1, {"solo": EntrypointExecutionParameter()}, uuid.uuid4())
    assert await queries.enqueue("work", None, dedupe_key=key, on_conflict="skip") == [None]
    with pytest.raises(DuplicateJobError):
        await queries.enqueue("work", None, dedupe_key=key)
    await queries.log_jobs([(job, "successful", None)])
    (again,) = await queries.enqueue("work", None, dedupe_key=key)
    assert again is not None

    # A transaction that holds the key and rolls back: the producer waiting on it gets the job.
    holder = await asyncpg.connect(server.dsn)
    waiter = await asyncpg.connect(server.dsn)
    try:
        tx = holder.transaction()
        await tx.start()
        await Queries(AsyncpgDriver(holder), names).enqueue("work", None, dedupe_key="held")
        waiting = asyncio.create_task(
            Queries(AsyncpgDriver(waiter), names).enqueue("work", None, dedupe_key="held")
        )
        await asyncio.sleep(0.3)
        assert not waiting.done(), "the second producer must wait for the first's transaction"
        await tx.rollback()
        (held_id,) = await asyncio.wait_for(waiting, 5)
    finally:
        await holder.close()
        await waiter.close()
    assert await count(conn, names, "dedupe_key = 'held'") == 1
    assert held_id is not None
    figures(
        "8-dedupe",
        producers=producers,
        keys=keys,
        jobs_created=won,
        refused_with_duplicate_error=refused,
        skipped=skipped,
    )


# -- 9. a concurrency limit across several processes ---------------------------------------


async def test_a_concurrency_limit_holds_across_processes(
    fleet: Fleet, names: Names, conn: asyncpg.Connection, queries: Queries, tmp_path: Path
) -> None:
    gauge = tmp_path / "gauge"
    for _ in range(3):
        await fleet.start(
            "--entrypoint", "limited=2", "--gauge", str(gauge), "--batch-size", "5"
        )  # fmt: skip
    ids = await queries.enqueue(["limited"] * 90, [op(sleep=0.05)] * 90)
    peak_picked = 0
    began = time.monotonic()
    while await count(conn, names):
        peak_picked = max(peak_picked, await count(conn, names, "status = 'picked'"))
        assert time.monotonic() - began < 30, "the limited jobs did not finish"
        await asyncio.sleep(0.005)
    took = time.monotonic() - began
    await fleet.stop_gracefully()
    acc = await account(conn, names, ids, fleet.runs_dir, alive=True)
    runs = read_runs(fleet.runs_dir)
    peak = max(r.gauge for r in runs)
    assert peak == 2, f"{peak} handlers ran at once with a limit of 2"
    assert peak_picked <= 2
    assert len({r.pid for r in runs}) == 3, "every process took part"
    figures(
        "9-concurrency-limit",
        processes=3,
        limit=2,
        jobs=len(ids),
        peak_running_handlers=peak,
        peak_picked_rows_sampled=peak_picked,
        seconds=round(took, 1),
        **acc.summary(),
    )


# -- 10. NOTIFY bursts and odd payloads ----------------------------------------------------


async def test_notify_bursts_and_odd_payloads(
    fleet: Fleet, server: Server, names: Names, conn: asyncpg.Connection, queries: Queries
) -> None:
    long_entrypoint = "e" * 9000  # its NOTIFY payload would be over 8000 bytes
    for _ in range(2):
        await fleet.start(
            "--batch-size", "50", "--max-concurrent", "100", "--dequeue-timeout", "30",
            "--entrypoint", "work", "--entrypoint", long_entrypoint,
        )  # fmt: skip

    # Two bursts from 10 connections: 10,000 jobs in 200 statements (one NOTIFY each), then
    # 2,000 jobs one statement each (2,000 NOTIFYs), while the workers drain them.
    conns = [await asyncpg.connect(server.dsn) for _ in range(10)]
    ids: list[int] = []
    bursts = []
    try:

        async def burst(c: asyncpg.Connection, statements: int, size: int) -> list[int]:
            q = Queries(AsyncpgDriver(c), names)
            out: list[int] = []
            for _ in range(statements):
                out += await q.enqueue(["work"] * size, [None] * size)
            return out

        for statements, size in ((20, 50), (200, 1)):
            began = time.monotonic()
            parts = await asyncio.gather(*(burst(c, statements, size) for c in conns))
            took = time.monotonic() - began
            jobs = sum(len(p) for p in parts)
            ids += [i for p in parts for i in p]
            bursts.append(
                {
                    "jobs": jobs,
                    "statements": 10 * statements,
                    "seconds": round(took, 2),
                    "jobs_per_second": round(jobs / took),
                }
            )
    finally:
        for c in conns:
            await c.close()

    async def drained() -> bool:
        return await count(conn, names) == 0

    drain_seconds = await wait_for(drained, 60, "the burst drained")
    usage = await conn.fetchval("SELECT pg_notification_queue_usage()")

    # Payloads: none, 0 bytes, 1 MB, bytes that are not UTF-8; and the long entrypoint.
    payloads: list[bytes | None] = [
        None,
        b"",
        os.urandom(1 << 20),
        b"\xff\xfe\x00\x80\xc3\x28 not utf-8 \xed\xa0\x80",
    ]
    latencies = []
    odd: dict[int, bytes] = {}
    for entrypoint, payload in [("work", p) for p in payloads] + [(long_entrypoint, b"x")]:
        await asyncio.sleep(0.3)
        sent = time.time()
        (job_id,) = await queries.enqueue(entrypoint, payload)
        odd[job_id] = payload or b""
        await wait_for(
            lambda j=job_id: any(r.job_id == j for r in read_runs(fleet.runs_dir)),
            5,
            f"job with a {len(payload or b'')}-byte payload picked up",
            interval=0.01,
        )
        (run,) = [r for r in read_runs(fleet.runs_dir) if r.job_id == job_id]
        latencies.append(round(1000 * (run.started - sent)))
        assert (run.size, run.sha) == (len(odd[job_id]), hashlib.sha256(odd[job_id]).hexdigest())
    assert max(latencies) < 500, f"pickup latencies {latencies} ms: a worker missed a NOTIFY"

    await wait_for(drained, 10, "the odd jobs finished")
    await fleet.stop_gracefully()
    assert not fleet.tracebacks(), fleet.tracebacks()[0]
    acc = await account(conn, names, [*ids, *odd], fleet.runs_dir, alive=True)
    assert acc.completed == {*ids, *odd}
    figures(
        "10-notify",
        bursts=bursts,
        drain_seconds=round(drain_seconds, 2),
        notification_queue_usage_after=usage,
        odd_payload_pickup_ms=latencies,
        **acc.summary(),
    )
