"""The insight reads (dashboards, CLI), the same figures on every backend."""

from __future__ import annotations

import uuid
from datetime import timedelta

from contract_backend import Backend

from pgqueuer.models import TracebackRecord
from pgqueuer.queries import EntrypointExecutionParameter

ME = uuid.uuid4()


def eps(*names: str) -> dict[str, EntrypointExecutionParameter]:
    return {n: EntrypointExecutionParameter(0) for n in names}


async def test_queue_age_counts_queued_and_due_jobs(backend: Backend) -> None:
    q = backend.queries
    await q.enqueue(
        ["a", "a", "b"], [None] * 3, 0, [timedelta(seconds=-30), timedelta(hours=1), None]
    )
    ages = {s.entrypoint: s for s in await q.queue_age()}
    assert set(ages) == {"a", "b"}
    assert (ages["a"].queued, ages["a"].due) == (2, 1) and ages["a"].oldest_due is not None
    assert 29 <= ages["a"].oldest_wait_seconds < 60
    assert (ages["b"].queued, ages["b"].due) == (1, 1)
    backlog = {b.entrypoint: b for b in await q.backlog()}
    assert [b.entrypoint for b in await q.backlog()] == ["a", "b"]  # most queued first
    assert (backlog["a"].queued, backlog["a"].due) == (2, 1)


async def test_durations_and_throughput_of_ended_jobs(backend: Backend) -> None:
    q = backend.queries
    await q.enqueue(["a"] * 3 + ["b"], [None] * 4)
    jobs = await q.dequeue(4, eps("a", "b"), ME)
    tb = TracebackRecord.from_exception(RuntimeError("no"), jobs[3].id)
    await q.log_jobs([(j, "successful", None) for j in jobs[:3]] + [(jobs[3], "exception", tb)])
    (a, b) = await q.job_duration_percentiles(timedelta(hours=1))
    assert (a.entrypoint, a.count, b.entrypoint, b.count) == ("a", 3, "b", 1)
    assert 0 <= a.p50 <= a.p95 <= a.p99 <= a.max < 60 and 0 <= a.wait_p50 <= a.wait_p95
    summary = {(s.entrypoint, s.status): s for s in await q.throughput_summary(timedelta(hours=1))}
    assert {k: s.count for k, s in summary.items()} == {
        ("a", "successful"): 3,
        ("b", "exception"): 1,
    }
    assert summary[("a", "successful")].per_second == 3 / 3600
    assert sum(s.count for s in await q.throughput_summary()) == 4  # no window: all kept
    series = await q.throughput_timeseries(timedelta(hours=1))
    assert sum(b.count for b in series) == 4 and len({b.start for b in series}) <= 2
    (raised,) = await q.exception_logs()
    assert raised.job_id == jobs[3].id and raised.traceback is not None
    assert raised.traceback.exception_message == "no"


async def test_job_log_history_is_chronological(backend: Backend) -> None:
    q = backend.queries
    (job_id,) = await q.enqueue("a", None)
    (job,) = await q.dequeue(1, eps("a"), ME)
    await q.retry_job(job, timedelta(0), None)
    (job,) = await q.dequeue(1, eps("a"), ME)
    await q.log_jobs([(job, "successful", None)])
    assert [g.status for g in await q.job_log_history(job_id)] == ["queued", "successful"]
    assert [g.status for g in await q.job_log_history(job_id, limit=1)] == ["successful"]


async def test_browse_queue_filters_and_pages(backend: Backend) -> None:
    q = backend.queries
    ids = await q.enqueue(["a", "a", "b", "b"], [None] * 4)
    await q.dequeue(1, eps("b"), ME)
    assert [j.id for j in await q.browse_queue(limit=2, offset=1)] == ids[1:3]
    assert [j.id for j in await q.browse_queue(statuses=["picked"])] == [ids[2]]
    assert [j.id for j in await q.browse_queue(entrypoints=["a"], statuses=["queued"])] == ids[:2]
    assert await q.queue_job_by_id(123_456_789) is None


async def test_active_workers_list_who_holds_jobs(backend: Backend) -> None:
    q = backend.queries
    other = uuid.uuid4()
    await q.enqueue(["a", "a", "b"], [None] * 3)
    await q.dequeue(2, eps("a"), ME)
    await q.dequeue(1, eps("b"), other)
    workers = {w.queue_manager_id: w for w in await q.active_workers()}
    assert (workers[ME].jobs, workers[ME].entrypoints) == (2, ["a"])
    assert (workers[other].jobs, workers[other].entrypoints) == (1, ["b"])
    assert (await q.active_workers())[0].queue_manager_id == ME  # busiest first


async def test_schema_info_lists_the_four_tables(backend: Backend) -> None:
    info = await backend.queries.schema_info()
    n = backend.queries.names
    bare = [
        n.bare(t) for t in (n.queue_table, n.queue_table_log, n.statistics_table, n.schedules_table)
    ]
    assert [t.name for t in info] == bare
    # In memory nothing survives a restart: its tables report as not logged.
    assert all(t.logged is not backend.memory for t in info)
