"""The in-memory repository's schedules (the rules of ``sql/schedules.sql``, over a dict)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from pgqueuer.backends.memory_base import MemoryBase, now
from pgqueuer.backends.sql_schedules import STALE_SCHEDULE, SchedulePair
from pgqueuer.models import Schedule
from pgqueuer.types import ScheduleId


def _second(at: datetime) -> datetime:
    return at.replace(microsecond=0)  # date_trunc('seconds', ...)


class MemorySchedules(MemoryBase):
    """Register, claim, beat, release, list and delete cron schedules."""

    def _find(self, pair: SchedulePair) -> Schedule | None:
        for s in self._state.schedules.values():
            if s.expression == str(pair.expression) and s.entrypoint == str(pair.entrypoint):
                return s
        return None

    async def db_now(self) -> datetime:
        return now()

    async def insert_schedule(self, schedules: Mapping[SchedulePair, timedelta]) -> None:
        at = now()
        for pair, delay in schedules.items():
            if self._find(pair) is not None:
                continue
            sid = self._state.next_schedule_id
            self._state.next_schedule_id += 1
            self._state.schedules[sid] = Schedule(
                id=ScheduleId(sid),
                expression=str(pair.expression),
                heartbeat=at,
                created=at,
                updated=at,
                next_run=_second(at + delay),
                last_run=None,
                status="queued",
                entrypoint=str(pair.entrypoint),
            )

    async def fetch_schedule(
        self,
        entrypoints: Mapping[SchedulePair, timedelta],
        *,
        stale_after: timedelta = STALE_SCHEDULE,
    ) -> list[Schedule]:
        at = now()
        out = []
        for pair, delay in entrypoints.items():
            s = self._find(pair)
            if s is None:
                continue
            due = s.status == "queued" and s.next_run <= at
            stale = s.status == "picked" and s.heartbeat < at - stale_after
            if due or stale:
                s.status = "picked"
                s.heartbeat = s.updated = at
                s.next_run = _second(at + delay)
                out.append(replace(s))
        return out

    async def set_schedule_queued(
        self,
        ids: Collection[int],
        *,
        next_runs: Mapping[int, datetime] | None = None,
    ) -> None:
        at = now()
        given = next_runs or {}
        for i in ids:
            s = self._state.schedules.get(int(i))
            if s is not None:
                s.status = "queued"
                s.last_run = s.updated = at
                s.next_run = given.get(int(i)) or s.next_run

    async def update_schedule_heartbeat(self, ids: Collection[int]) -> None:
        at = now()
        for i in ids:
            s = self._state.schedules.get(int(i))
            if s is not None:
                s.heartbeat = at

    async def peek_schedule(self) -> list[Schedule]:
        return [replace(self._state.schedules[i]) for i in sorted(self._state.schedules)]

    async def delete_schedule(self, ids: Collection[int], entrypoints: Collection[str]) -> None:
        wanted_ids = {int(i) for i in ids}
        wanted_eps = {str(e) for e in entrypoints}
        for i, s in list(self._state.schedules.items()):
            if i in wanted_ids or s.entrypoint in wanted_eps:
                del self._state.schedules[i]

    async def clear_schedule(self) -> None:
        self._state.schedules.clear()

    async def schedule_wake(
        self, pairs: Collection[SchedulePair], stale_after: timedelta = STALE_SCHEDULE
    ) -> float | None:
        at = now()
        times = []
        for pair in pairs:
            s = self._find(pair)
            if s is not None:
                times.append(s.next_run if s.status == "queued" else s.heartbeat + stale_after)
        return (min(times) - at).total_seconds() if times else None
