"""The in-memory queue follows the SQL's rules (no database involved)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from pgqueuer import InMemoryQueries, PgQueuer, QueueExecutionMode, RetryRequested
from pgqueuer.errors import DuplicateJobError
from pgqueuer.models import Job
from pgqueuer.queries import Finished


async def test_enqueue_modes_and_errors() -> None:
    q = InMemoryQueries()
    (first,) = await q.enqueue("a", None, dedupe_key="k")
    with pytest.raises(DuplicateJobError):
        await q.enqueue(["a", "a"], [None, None], dedupe_key=["x", "k"])
    assert await q.queued_work(["a"]) == 1  # nothing of the refused batch was written
    skipped = await q.enqueue(["a", "a"], [None, None], dedupe_key=["k", None], on_conflict="skip")
    assert skipped[0] is None and skipped[1] is not None and skipped[1] > first
    assert await q.enqueue("a", None, 7, dedupe_key="k", on_conflict="update_priority") == [first]
    with pytest.raises(TypeError, match="encode"):
        await q.enqueue("a", "text")  # type: ignore[arg-type]


async def test_claim_order_seats_and_outcomes() -> None:
    q = InMemoryQueries()
    me = uuid.uuid4()
    ids = await q.enqueue(["lim"] * 3 + ["free"] * 2, [None] * 5, [0, 0, 0, 5, 1])
    claimed = await q.finish_and_claim([], me, ["lim", "free"], [2, 0], 10)
    assert [j.id for j in claimed] == [ids[3], ids[4], ids[0], ids[1]]
    assert sorted(j.slot for j in claimed if j.entrypoint == "lim") == [0, 1]
    done = [
        Finished(ids[0], "successful"),
        Finished(ids[1], "queued", None, timedelta(0)),
        Finished(ids[3], "failed"),
        Finished(ids[4], "release"),
    ]
    again = await q.finish_and_claim(done, me, ["lim"], [2], 10)
    assert sorted(j.id for j in again) == [ids[1], ids[2]]
    assert [j.id for j in await q.list_failed_jobs()] == [ids[3]]
    assert dict(await q.job_status(ids)) == {
        ids[0]: "successful",
        ids[1]: "queued",
        ids[3]: "failed",
    }


async def test_rescue_counts_attempts_and_holds_after_the_maximum() -> None:
    q = InMemoryQueries()
    me = uuid.uuid4()
    (job,) = await q.enqueue("a", None)
    for expected in ("queued", "failed"):
        await q.finish_and_claim([], me, ["a"], [0], 1)
        assert await q.rescue_stale(["a"], timedelta(seconds=-1), 2) == [(job, expected)]


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
