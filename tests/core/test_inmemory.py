"""PgQueuer.in_memory() end to end (no database involved).

InMemoryQueries' repository behaviour is tested with the SQL one's, in tests/contract.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pgqueuer import PgQueuer, QueueExecutionMode, RetryRequested
from pgqueuer.models import Job, Schedule


async def test_a_worker_drains_with_retries_and_failures() -> None:
    pgq = PgQueuer.in_memory()
    runs: list[tuple[int, int]] = []

    @pgq.entrypoint("work")
    async def work(job: Job) -> None:
        runs.append((job.id, job.attempts))
        if job.payload == b"retry" and job.attempts == 0:
            raise RetryRequested(delay=timedelta(0))
        if job.payload == b"fail":
            raise ValueError("fail")

    ids = await pgq.qm.queries.enqueue(["work"] * 3, [b"ok", b"retry", b"fail"])
    await pgq.run(mode=QueueExecutionMode.drain, dequeue_timeout=timedelta(seconds=0.05))
    assert sorted(runs) == [(ids[0], 0), (ids[1], 0), (ids[1], 1), (ids[2], 0)]
    statuses = [(log.job_id, log.status) for log in await pgq.qm.queries.queue_log()]
    assert (ids[2], "exception") in statuses and (ids[1], "successful") in statuses


async def test_in_memory_pgqueuer_runs_schedules() -> None:
    pgq = PgQueuer.in_memory()
    fired = asyncio.Event()

    @pgq.schedule("tick", "* * * * * *")
    async def tick(schedule: Schedule) -> None:
        fired.set()

    task = asyncio.create_task(pgq.run())
    try:
        await asyncio.wait_for(fired.wait(), 5)
    finally:
        pgq.shutdown.set()
        await asyncio.wait_for(task, 5)
    (row,) = await pgq.queries.peek_schedule()
    assert (row.entrypoint, row.expression, row.status) == ("tick", "* * * * * *", "queued")
    assert row.last_run is not None
