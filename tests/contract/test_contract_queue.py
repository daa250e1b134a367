"""Producer and worker behaviour, the same on every backend (see conftest.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from contract_backend import Backend

from pgqueuer.errors import DuplicateJobError
from pgqueuer.models import TracebackRecord
from pgqueuer.queries import EntrypointExecutionParameter, Finished

ME = uuid.uuid4()


def eps(**limits: int) -> dict[str, EntrypointExecutionParameter]:
    return {name: EntrypointExecutionParameter(limit) for name, limit in limits.items()}


async def test_enqueue_returns_ids_in_input_order_and_keeps_what_was_given(
    backend: Backend,
) -> None:
    q = backend.queries
    (one,) = await q.enqueue("fetch", b"a", headers={"trace": "x"})
    batch = await q.enqueue(["x", "y", "z"], [b"1", None, b"3"], [1, 2, 3])
    assert one < batch[0] < batch[1] < batch[2]
    jobs = await q.browse_queue()
    assert [(j.id, j.entrypoint, j.payload, j.priority) for j in jobs] == [
        (one, "fetch", b"a", 0),
        (batch[0], "x", b"1", 1),
        (batch[1], "y", None, 2),
        (batch[2], "z", b"3", 3),
    ]
    assert jobs[0].headers == {"trace": "x"} and jobs[1].headers is None
    assert all(j.status == "queued" and j.attempts == 0 for j in jobs)
    sizes = {(s.entrypoint, s.priority, s.status): s.count for s in await q.queue_size()}
    assert sizes == {
        ("fetch", 0, "queued"): 1,
        ("x", 1, "queued"): 1,
        **{("y", 2, "queued"): 1, ("z", 3, "queued"): 1},
    }


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"entrypoint": "a", "payload": "text"}, TypeError, "payload.encode()"),
        ({"entrypoint": ["a", "b"], "payload": [b"1"]}, ValueError, "same length"),
        ({"entrypoint": "a", "priority": 2**31}, ValueError, "priority"),
        ({"entrypoint": "a", "priority": "high"}, TypeError, "priority"),
        ({"entrypoint": "", "payload": None}, TypeError, "entrypoint"),
        ({"entrypoint": "a", "execute_after": "soon"}, TypeError, "execute_after"),
        ({"entrypoint": "a", "headers": {"x": object()}}, TypeError, "JSON"),
        ({"entrypoint": "a", "on_conflict": "ignore"}, ValueError, "on_conflict"),
    ],
)
async def test_bad_enqueue_input_is_refused_and_nothing_is_written(
    backend: Backend, kwargs: dict[str, object], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        await backend.queries.enqueue(**kwargs)
    assert await backend.queries.queue_size() == []


async def test_dedupe_raise_skip_and_update_priority(backend: Backend) -> None:
    q = backend.queries
    (first,) = await q.enqueue("a", None, priority=5, dedupe_key="k")
    with pytest.raises(DuplicateJobError) as info:
        await q.enqueue(["a", "a"], [None, None], dedupe_key=["k2", "k"])
    assert info.value.dedupe_key == "k"
    assert await q.queued_work(["a"]) == 1  # nothing of the refused batch was written
    got = await q.enqueue(
        ["a", "a", "a"], [None] * 3, dedupe_key=["k", None, "k3"], on_conflict="skip"
    )
    assert got[0] is None and got[1] is not None and got[2] is not None
    again = await q.enqueue(
        ["a", "a"], [None, None], [9, 1], dedupe_key=["k", "other"], on_conflict="update_priority"
    )
    assert again[0] == first and again[1] not in (first, None)
    job = await q.queue_job_by_id(first)
    assert job is not None and job.priority == 9
    with pytest.raises(ValueError, match="distinct"):
        await q.enqueue(
            ["a", "a"], [None, None], dedupe_key=["d", "d"], on_conflict="update_priority"
        )


async def test_a_held_jobs_key_can_be_used_again(backend: Backend) -> None:
    q = backend.queries
    await q.enqueue("a", None, dedupe_key="k")
    (job,) = await q.dequeue(1, eps(a=0), ME)
    await q.log_jobs([(job, "failed", None)])
    assert await q.enqueue("a", None, dedupe_key="k")


async def test_dequeue_order_due_times_and_wait_probes(backend: Backend) -> None:
    q = backend.queries
    ids = await q.enqueue(
        ["a"] * 4 + ["b"], [None] * 5, [0, 5, 5, 9, 0], [None, None, None, timedelta(hours=1), None]
    )
    claimed = await q.dequeue(10, eps(a=0), ME)
    assert [j.id for j in claimed] == [ids[1], ids[2], ids[0]]
    assert all(j.status == "picked" and j.queue_manager_id == ME for j in claimed)
    eta = await q.next_deferred_eta(["a"])
    assert eta is not None and timedelta(minutes=59) < eta <= timedelta(hours=1)
    assert await q.queued_work(["a"]) == 1 and await q.eligible_queued_work(["a"]) == 0
    assert await q.eligible_queued_work(["b"]) == 1


async def test_dequeue_respects_batch_size_and_the_global_limit(backend: Backend) -> None:
    q = backend.queries
    await q.enqueue(["a"] * 5 + ["b"] * 5, [None] * 10)
    assert len(await q.dequeue(3, eps(a=0), ME)) == 3
    assert len(await q.dequeue(10, eps(b=0), ME, global_concurrency_limit=2)) == 2
    with pytest.raises(ValueError, match="batch_size"):
        await q.dequeue(0, eps(a=0), ME)


async def test_concurrency_limit_seats_are_held_and_freed(backend: Backend) -> None:
    q = backend.queries
    await q.enqueue(["lim"] * 5 + ["free"] * 5, [None] * 10)
    claimed = await q.dequeue(10, eps(lim=2, free=0), ME)
    limited = [j for j in claimed if j.entrypoint == "lim"]
    assert len(claimed) == 7 and sorted(j.slot for j in limited) == [0, 1]
    assert await q.dequeue(10, eps(lim=2), uuid.uuid4()) == []  # another worker: no seat left
    await q.log_jobs([(limited[0], "successful", None)])
    (again,) = await q.dequeue(10, eps(lim=2), ME)
    assert again.slot == limited[0].slot


async def test_outcomes_delete_hold_retry_and_log(backend: Backend) -> None:
    q = backend.queries
    ids = await q.enqueue(["a"] * 4, [None] * 4)
    jobs = {j.id: j for j in await q.dequeue(4, eps(a=0), ME)}
    tb = TracebackRecord.from_exception(ValueError("boom"), ids[1])
    await q.log_jobs(
        [
            (jobs[ids[0]], "successful", None),
            (jobs[ids[1]], "exception", tb),
            (jobs[ids[2]], "failed", tb),
        ]
    )
    await q.retry_job(jobs[ids[3]], timedelta(minutes=5), tb)
    assert await q.queue_job_by_id(ids[0]) is None
    held = await q.queue_job_by_id(ids[2])
    assert held is not None and held.status == "failed" and held.queue_manager_id is None
    retried = await q.queue_job_by_id(ids[3])
    assert retried is not None and retried.status == "queued" and retried.attempts == 1
    assert await q.next_deferred_eta(["a"]) is not None  # the retry waits its delay
    assert dict(await q.job_status(ids)) == {
        ids[0]: "successful",
        ids[1]: "exception",
        ids[2]: "failed",
        ids[3]: "queued",
    }
    log = {g.job_id: g for g in await q.queue_log()}
    assert log[ids[1]].traceback is not None
    assert log[ids[1]].traceback.exception_type == "ValueError"
    assert log[ids[0]].picked_at is not None and log[ids[0]].traceback is None


async def test_a_worker_cannot_finish_a_job_it_no_longer_holds(backend: Backend) -> None:
    q = backend.queries
    (job_id,) = await q.enqueue("a", None)
    other = uuid.uuid4()
    await q.dequeue(1, eps(a=0), other)
    await q.finish_and_claim([Finished(job_id, "successful")], ME, [], [], 0)
    assert await q.queue_job_by_id(job_id) is not None and await q.queue_log() == []


async def test_dequeue_with_heartbeat_timeout_repicks_stale_jobs_counting_attempts(
    backend: Backend,
) -> None:
    q = backend.queries
    (job_id,) = await q.enqueue("a", None)
    await q.dequeue(1, eps(a=0), uuid.uuid4())
    timeout = timedelta(seconds=30)
    assert await q.dequeue(1, eps(a=0), ME, None, timeout) == []  # still beating
    await backend.age_heartbeats(timedelta(minutes=1))
    (again,) = await q.dequeue(1, eps(a=0), ME, None, timeout)
    assert again.id == job_id and again.attempts == 1 and again.queue_manager_id == ME
    assert [s.id for s in await q.stale_jobs(timedelta(seconds=30))] == []
    await backend.age_heartbeats(timedelta(minutes=1))
    (stale,) = await q.stale_jobs(timedelta(seconds=30))
    assert stale.id == job_id and stale.seconds_since_heartbeat >= 60
    await q.update_heartbeat([job_id])
    assert await q.stale_jobs(timedelta(seconds=30)) == []


async def test_skip_within_one_batch_keeps_the_first_occurrence_of_a_key(backend: Backend) -> None:
    got = await backend.queries.enqueue(
        ["a"] * 3, [None] * 3, dedupe_key=["k", "k", None], on_conflict="skip"
    )
    assert got[0] is not None and got[1] is None and got[2] is not None and got[0] < got[2]


async def test_release_puts_a_job_back_unchanged_and_logs_nothing(backend: Backend) -> None:
    q = backend.queries
    (job_id,) = await q.enqueue("a", None)
    await q.dequeue(1, eps(a=0), ME)
    await q.finish_and_claim([Finished(job_id, "release")], ME, [], [], 0)
    job = await q.queue_job_by_id(job_id)
    assert job is not None and (job.status, job.attempts, job.queue_manager_id) == (
        "queued",
        0,
        None,
    )
    assert await q.queue_log() == [] and await q.eligible_queued_work(["a"]) == 1


async def test_rescue_counts_attempts_and_holds_after_the_maximum(backend: Backend) -> None:
    q = backend.queries
    (job_id,) = await q.enqueue("a", None)
    for expected in ("queued", "queued", "failed"):
        await q.dequeue(1, eps(a=0), ME)
        assert await q.rescue_stale(["a"], timedelta(seconds=30), 3) == []  # still beating
        await backend.age_heartbeats(timedelta(minutes=1))
        assert await q.rescue_stale(["a"], timedelta(seconds=30), 3) == [(job_id, expected)]
    (held,) = await q.list_failed_jobs()
    assert held.attempts == 3 and await q.job_status([job_id]) == [(job_id, "failed")]
    (log,) = [g for g in await q.queue_log() if g.status == "failed"]
    assert log.traceback is not None and log.traceback.exception_type == "WorkerLost"
