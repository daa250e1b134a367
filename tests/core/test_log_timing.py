"""Log rows record when the attempt was claimed and when the job had become due.

These two columns (picked_at, execute_after) give the dashboard time in queue
(picked_at - execute_after) and run time (created - picked_at) from the one log row per job.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from pgqueuer.inmemory import InMemoryQueries
from pgqueuer.models import TracebackRecord
from pgqueuer.names import Names
from pgqueuer.queries import Finished, Queries


async def backdate(conn: asyncpg.Connection, names: Names, ids: list[int]) -> None:
    """As if the jobs had been claimed 10 s ago after becoming due 30 s ago."""
    await conn.execute(
        names.substitute(
            "UPDATE /*@queue_table*/pgqueuer SET updated = now() - interval '10 seconds', "
            "execute_after = now() - interval '30 seconds' WHERE id = ANY($1)"
        ),
        ids,
    )


async def timings(conn: asyncpg.Connection, names: Names) -> dict[int, tuple[str, float, float]]:
    """job id -> (status, seconds in queue, seconds running), from the log."""
    rows = await conn.fetch(
        names.substitute(
            "SELECT job_id, status::text AS status, "
            "extract(epoch FROM picked_at - execute_after)::float8 AS waited, "
            "extract(epoch FROM created - picked_at)::float8 AS ran "
            "FROM /*@queue_table_log*/pgqueuer_log"
        )
    )
    return {r["job_id"]: (r["status"], r["waited"], r["ran"]) for r in rows}


async def test_a_finished_job_logs_its_claim_time_and_due_time(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    me = uuid.uuid4()
    (job_id,) = await queries.enqueue("a", None)
    (job,) = await queries.finish_and_claim([], me, ["a"], [0], 1)
    await queries.finish_and_claim([Finished(job_id, "successful")], me, [], [], 0)
    (log,) = await queries.queue_log()
    assert log.picked_at == job.updated and log.execute_after == job.execute_after
    assert log.execute_after <= log.picked_at <= log.created


@pytest.mark.parametrize("outcome", ["successful", "exception", "failed", "queued", "canceled"])
async def test_every_outcome_logs_the_attempt_not_the_write_back(
    conn: asyncpg.Connection, names: Names, queries: Queries, outcome: str
) -> None:
    me = uuid.uuid4()
    (job_id,) = await queries.enqueue("a", None)
    await queries.finish_and_claim([], me, ["a"], [0], 1)
    await backdate(conn, names, [job_id])
    tb = TracebackRecord.from_exception(ValueError("x"), job_id).to_json()
    await queries.finish_and_claim([Finished(job_id, outcome, tb)], me, [], [], 0)
    status, waited, ran = (await timings(conn, names))[job_id]
    assert status == outcome
    # held and retried rows are updated, not deleted: the log still gets the old times
    assert waited == pytest.approx(20, abs=0.5) and ran == pytest.approx(10, abs=0.5)


async def test_a_retried_job_logs_each_attempt_from_its_own_due_time(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    me = uuid.uuid4()
    (job_id,) = await queries.enqueue("a", None)
    await queries.finish_and_claim([], me, ["a"], [0], 1)
    await queries.finish_and_claim([Finished(job_id, "queued", None, timedelta(0))], me, [], [], 0)
    (retry,) = await queries.finish_and_claim([], me, ["a"], [0], 1)
    await queries.finish_and_claim([Finished(job_id, "successful")], me, [], [], 0)
    first, second = await queries.queue_log()
    assert first.status == "queued" and second.status == "successful"
    assert second.picked_at == retry.updated and second.execute_after == retry.execute_after
    assert first.picked_at is not None and second.execute_after is not None
    assert second.execute_after >= first.created  # due again when the retry was written


async def test_rescue_and_cancel_record_the_pick_time_and_queued_jobs_none(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    me = uuid.uuid4()
    stale, running, waiting = await queries.enqueue(["a", "b", "c"], [None] * 3)
    await queries.finish_and_claim([], me, ["a", "b"], [0, 0], 2)
    await backdate(conn, names, [stale, running])
    await conn.execute(
        names.substitute(
            "UPDATE /*@queue_table*/pgqueuer SET heartbeat = now() - interval '1 hour' "
            "WHERE id = $1"
        ),
        stale,
    )
    assert await queries.rescue_stale(["a"], timedelta(seconds=30), 5) == [(stale, "queued")]
    assert await queries.mark_job_as_cancelled([running, waiting]) == [running, waiting]
    got = await timings(conn, names)
    assert got[stale][0] == "queued" and got[stale][2] == pytest.approx(10, abs=0.5)
    assert got[running][0] == "canceled" and got[running][1] == pytest.approx(20, abs=0.5)
    assert got[waiting] == ("canceled", None, None)


async def test_raising_a_running_jobs_priority_keeps_its_pick_time(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    me = uuid.uuid4()
    (job_id,) = await queries.enqueue("a", None, dedupe_key="k")
    (job,) = await queries.finish_and_claim([], me, ["a"], [0], 1)
    assert await queries.enqueue("a", None, 9, dedupe_key="k", on_conflict="update_priority") == [
        job_id
    ]
    row = await conn.fetchrow(
        names.substitute("SELECT priority, updated FROM /*@queue_table*/pgqueuer")
    )
    assert row["priority"] == 9 and row["updated"] == job.updated


async def test_upgraded_log_rows_without_the_columns_read_as_none(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    await conn.execute(
        names.substitute(
            "INSERT INTO /*@queue_table_log*/pgqueuer_log (job_id, status, priority, entrypoint) "
            "VALUES (1, 'successful', 0, 'a')"
        )
    )
    (log,) = await queries.queue_log()
    assert log.picked_at is None and log.execute_after is None


async def test_in_memory_log_rows_carry_the_same_times() -> None:
    queries = InMemoryQueries()
    me = uuid.uuid4()
    a, b, c = await queries.enqueue(["a"] * 3, [None] * 3)
    claimed = {j.id: j for j in await queries.finish_and_claim([], me, ["a"], [0], 2)}
    await queries.finish_and_claim(
        [Finished(a, "successful"), Finished(b, "failed")], me, [], [], 0
    )
    await queries.mark_job_as_cancelled([c])
    logs = {log.job_id: log for log in await queries.queue_log()}
    for job_id in (a, b):
        assert logs[job_id].picked_at == claimed[job_id].updated
        assert logs[job_id].execute_after == claimed[job_id].execute_after
    assert logs[c].picked_at is None and logs[c].execute_after is None
