"""A queue with jobs in every state, for the dashboard's data and CLI tests.

Built through the real queries (enqueue, the worker's finish_and_claim, the scheduler's
insert), with a few timestamps moved back so that ages and durations are known:

* ``email``: 3 queued (one due for 120 s, one due in an hour, one just queued), 2 running on
  worker A, 3 successful and 1 exception log rows (each due 3 s before its claim and run for
  1 s);
* ``report``: 1 held failed job (its log row says ``RuntimeError: disk full``) and 1 running on
  worker B, whose heartbeat is 10 minutes old (stale);
* a schedule ``nightly`` (``0 3 * * *``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import TracebackRecord
from pgqueuer.names import Names
from pgqueuer.queries import Finished, Queries
from pgqueuer.sm import ScheduleQueries


@dataclass(frozen=True)
class States:
    worker_a: uuid.UUID
    worker_b: uuid.UUID
    running: list[int]  # email, on worker A
    stale: int  # report, on worker B
    held: int  # report
    queued: list[int]  # email
    finished: list[int]  # email: successful x3, then exception


def _tb(exc: BaseException, job_id: int) -> str:
    return TracebackRecord.from_exception(exc, job_id).to_json()


async def populate(conn: asyncpg.Connection, names: Names) -> States:
    queries = Queries(AsyncpgDriver(conn), names)
    a, b = uuid.uuid4(), uuid.uuid4()

    async def sql(text: str, *args: object) -> None:
        await conn.execute(names.substitute(text), *args)

    async def ran_for_a_second(ids: list[int]) -> None:
        # As if claimed 1 s ago after being due for 3 s.
        await sql(
            "UPDATE /*@queue_table*/pgqueuer SET updated = now() - interval '1 second', "
            "execute_after = now() - interval '4 seconds' WHERE id = ANY($1)",
            ids,
        )

    finished = await queries.enqueue(["email"] * 4, [None] * 4)
    await queries.finish_and_claim([], a, ["email"], [0], 4)
    await ran_for_a_second(finished)
    await queries.finish_and_claim(
        [Finished(i, "successful") for i in finished[:3]]
        + [Finished(finished[3], "exception", _tb(ValueError("boom\nsecond line"), finished[3]))],
        a,
        [],
        [],
        0,
    )

    (held,) = await queries.enqueue("report", None)
    await queries.finish_and_claim([], b, ["report"], [0], 1)
    await ran_for_a_second([held])
    await queries.finish_and_claim(
        [Finished(held, "failed", _tb(RuntimeError("disk full"), held))], b, [], [], 0
    )

    running = await queries.enqueue(["email"] * 2, [None] * 2)
    await queries.finish_and_claim([], a, ["email"], [0], 2)
    (stale,) = await queries.enqueue("report", None)
    await queries.finish_and_claim([], b, ["report"], [0], 1)
    await sql(
        "UPDATE /*@queue_table*/pgqueuer SET heartbeat = now() - interval '10 minutes' "
        "WHERE id = $1",
        stale,
    )

    queued = await queries.enqueue(
        ["email"] * 3, [None] * 3, execute_after=[None, timedelta(hours=1), None]
    )
    await sql(
        "UPDATE /*@queue_table*/pgqueuer SET execute_after = now() - interval '120 seconds' "
        "WHERE id = $1",
        queued[0],
    )

    schedules = ScheduleQueries(AsyncpgDriver(conn), names)
    tomorrow = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    await schedules.rows(
        "insert_schedules", ["0 3 * * *"], ["nightly"], [tomorrow + timedelta(days=1)]
    )
    return States(a, b, running, stale, held, queued, finished)
