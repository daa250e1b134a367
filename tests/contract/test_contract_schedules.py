"""The schedule methods and the scheduler on top of them, the same on every backend."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from contract_backend import Backend

from pgqueuer.models import CronExpressionEntrypoint, Schedule
from pgqueuer.sm import SchedulerManager

EVERY_MINUTE = CronExpressionEntrypoint("report", "* * * * *")
NIGHTLY = CronExpressionEntrypoint("nightly", "0 3 * * *")


async def test_insert_fetch_release_and_delete_schedules(backend: Backend) -> None:
    q = backend.queries
    await q.insert_schedule({EVERY_MINUTE: timedelta(0), NIGHTLY: timedelta(hours=5)})
    await q.insert_schedule({EVERY_MINUTE: timedelta(hours=9)})  # registered: kept as it was
    listed = {s.entrypoint: s for s in await q.peek_schedule()}
    assert set(listed) == {"report", "nightly"}
    assert all(s.status == "queued" and s.last_run is None for s in listed.values())
    assert listed["report"].next_run.microsecond == 0  # whole seconds
    assert listed["nightly"].next_run - listed["report"].next_run > timedelta(hours=4)

    delays = {EVERY_MINUTE: timedelta(minutes=1), NIGHTLY: timedelta(hours=5)}
    (claimed,) = await q.fetch_schedule(delays)
    assert (claimed.entrypoint, claimed.status) == ("report", "picked")
    assert claimed.next_run - listed["report"].next_run >= timedelta(seconds=59)
    assert await q.fetch_schedule(delays) == []  # picked: nobody else fires it

    await q.update_schedule_heartbeat({claimed.id})
    await q.set_schedule_queued({claimed.id})
    (after,) = [s for s in await q.peek_schedule() if s.id == claimed.id]
    assert after.status == "queued" and after.last_run is not None
    assert after.next_run == claimed.next_run  # no next run given: kept

    await q.delete_schedule(set(), {"nightly"})
    assert [s.entrypoint for s in await q.peek_schedule()] == ["report"]
    await q.delete_schedule({claimed.id}, set())
    assert await q.peek_schedule() == []
    await q.insert_schedule({NIGHTLY: timedelta(0)})
    await q.clear_schedule()
    assert await q.peek_schedule() == []


async def test_a_schedule_whose_scheduler_stopped_beating_is_taken_over(backend: Backend) -> None:
    q = backend.queries
    await q.insert_schedule({EVERY_MINUTE: timedelta(0)})
    delays = {EVERY_MINUTE: timedelta(minutes=1)}
    (first,) = await q.fetch_schedule(delays)
    assert await q.fetch_schedule(delays, stale_after=timedelta(minutes=1)) == []
    await asyncio.sleep(0.01)  # the heartbeat is now in the past
    (again,) = await q.fetch_schedule(delays, stale_after=timedelta(0))
    assert again.id == first.id


async def test_the_scheduler_fires_through_the_repository(backend: Backend) -> None:
    sm = SchedulerManager(backend.queries)
    fired: list[Schedule] = []
    done = asyncio.Event()

    @sm.schedule("tick", "* * * * * *")
    async def tick(schedule: Schedule) -> None:
        fired.append(schedule)
        if len(fired) == 2:
            done.set()

    task = asyncio.create_task(sm.run())
    try:
        await asyncio.wait_for(done.wait(), 5)
    finally:
        sm.shutdown.set()
        await asyncio.wait_for(task, 5)
    assert fired[0].next_run < fired[1].next_run  # two ticks, each fired once
    (row,) = await backend.queries.peek_schedule()
    assert row.status == "queued" and row.last_run is not None and row.next_run > row.last_run
