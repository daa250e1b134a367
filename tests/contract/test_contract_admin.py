"""Cancel, requeue, clear, log, statistics and notifications, the same on every backend."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from contract_backend import Backend

from pgqueuer.errors import DuplicateJobError
from pgqueuer.queries import EntrypointExecutionParameter

ME = uuid.uuid4()
A = {"a": EntrypointExecutionParameter(0)}


@asynccontextmanager
async def heard(backend: Backend) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """What arrives on the queue's channel, through the backend's own driver."""
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    driver = backend.queries.driver

    def on(payload: str) -> None:
        got.put_nowait(json.loads(payload))

    await driver.add_listener(backend.queries.names.channel, on)
    try:
        yield got
    finally:
        await driver.remove_listener(backend.queries.names.channel, on)


async def next_of(got: asyncio.Queue[dict[str, Any]], kind: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            event = await got.get()
            if event.get("type") == kind:
                return event


async def test_cancel_deletes_logs_and_tells_the_workers_running_them(backend: Backend) -> None:
    q = backend.queries
    ids = await q.enqueue(["a"] * 3, [None] * 3)
    (running,) = await q.dequeue(1, A, ME)
    async with heard(backend) as got:
        assert await q.mark_job_as_cancelled([ids[0], ids[1], 999_999]) == [ids[0], ids[1]]
        event = await next_of(got, "cancellation_event")
    assert event["ids"] == [running.id]
    assert dict(await q.job_status(ids)) == {ids[0]: "canceled", ids[1]: "canceled"}
    assert [j.id for j in await q.browse_queue()] == [ids[2]]


async def test_notify_job_cancellation_and_health_check_reach_listeners(backend: Backend) -> None:
    q = backend.queries
    hid = uuid.uuid4()
    async with heard(backend) as got:
        await q.notify_job_cancellation([7, 8])
        assert (await next_of(got, "cancellation_event"))["ids"] == [7, 8]
        await q.notify_health_check(hid)
        assert (await next_of(got, "health_check_event"))["id"] == str(hid)


async def test_requeue_touches_only_held_jobs_and_refuses_a_taken_key(backend: Backend) -> None:
    q = backend.queries
    ids = await q.enqueue(["a"] * 3, [None, None, None], dedupe_key=[None, None, "k"])
    jobs = {j.id: j for j in await q.dequeue(3, A, ME)}
    await q.log_jobs([(jobs[i], "failed", None) for i in ids])
    assert [j.id for j in await q.list_failed_jobs()] == [ids[2], ids[1], ids[0]]
    assert [j.id for j in await q.list_failed_jobs(limit=2, order="ASC")] == ids[:2]
    assert await q.requeue_jobs([ids[0], 424_242]) == [ids[0]]
    requeued = await q.queue_job_by_id(ids[0])
    assert requeued is not None and requeued.status == "queued" and requeued.attempts == 0
    await q.enqueue("a", None, dedupe_key="k")
    with pytest.raises(DuplicateJobError):
        await q.requeue_jobs([ids[2]])


async def test_clear_queue_by_entrypoint_logs_deleted_and_without_one_empties(
    backend: Backend,
) -> None:
    q = backend.queries
    ids = await q.enqueue(["a", "a", "b"], [None] * 3, [1, 1, 0])
    await q.clear_queue("a")
    assert [(s.entrypoint, s.count) for s in await q.queue_size()] == [("b", 1)]
    assert dict(await q.job_status(ids)) == {ids[0]: "deleted", ids[1]: "deleted"}
    await q.clear_queue()
    assert await q.queue_size() == []
    assert dict(await q.job_status(ids)) == {ids[0]: "deleted", ids[1]: "deleted"}  # no log


async def test_statistics_aggregate_each_log_row_once_and_clear(backend: Backend) -> None:
    q = backend.queries
    ids = await q.enqueue(["a"] * 3 + ["b"], [None] * 4)
    jobs = await q.dequeue(4, {**A, "b": EntrypointExecutionParameter(0)}, ME)
    await q.log_jobs([(j, "successful", None) for j in jobs])
    assert await q.unaggregated_log_count() == 4
    stats = await q.log_statistics(None, timedelta(hours=1))
    assert await q.unaggregated_log_count() == 0
    assert {(s.entrypoint, s.status): s.count for s in stats} == {
        ("a", "successful"): 3,
        ("b", "successful"): 1,
    }
    assert len(await q.log_statistics(1)) == 1
    await q.clear_statistics_log("a")
    assert {s.entrypoint for s in await q.log_statistics(None)} == {"b"}
    await q.clear_statistics_log()
    assert await q.log_statistics(None) == []
    await q.clear_queue_log(["b"])
    assert {g.entrypoint for g in await q.queue_log()} == {"a"}
    await q.clear_queue_log()
    assert await q.queue_log() == [] and len(ids) == 4


async def test_prune_deletes_old_aggregated_log_and_statistics_rows(backend: Backend) -> None:
    q = backend.queries
    await q.enqueue(["a"] * 3, [None] * 3)
    await q.log_jobs([(j, "successful", None) for j in await q.dequeue(3, A, ME)])
    await q.aggregate_logs()
    await backend.age_log(timedelta(days=10))
    (job_id,) = await q.enqueue("a", None)
    await q.log_jobs([(j, "successful", None) for j in await q.dequeue(1, A, ME)])
    # The new row is not aggregated yet: kept whatever its age; old ones go, statistics too.
    assert await q.prune(timedelta(days=7)) == (3, 1)
    assert [g.job_id for g in await q.queue_log()] == [job_id]
    assert await q.prune(timedelta(days=7)) == (0, 0)


async def test_queue_churn_vacuum_and_analyze(backend: Backend) -> None:
    """The vacuum chore's calls: the table's statistics (none in memory), VACUUM and ANALYZE."""
    q = backend.queries
    await q.enqueue(["a"] * 5, [None] * 5)
    await q.log_jobs([(j, "successful", None) for j in await q.dequeue(3, A, ME)])
    before = await q.queue_churn()
    await q.vacuum_queue()  # in memory a no-op; in SQL a real VACUUM, outside a transaction
    await q.analyze_queue()  # the same
    churn = await q.queue_churn()
    if backend.memory:
        assert before is None and churn is None
        return
    assert before is not None and not before.analyzed  # a new table: no column statistics
    assert churn is not None and churn.may_vacuum  # the tests' role owns its tables
    assert churn.analyzed  # the two queued rows were sampled
    assert churn.since_vacuum is not None and 0 <= churn.since_vacuum < 60
    assert churn.live >= 0 and churn.dead >= 0
    assert not churn.vacuuming  # the VACUUM above has ended
