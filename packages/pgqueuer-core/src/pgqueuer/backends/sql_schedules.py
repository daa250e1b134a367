"""The SQL repository's schedule statements (``sql/schedules.sql``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from pgqueuer.backends.sql_base import SqlBase
from pgqueuer.models import Schedule

STALE_SCHEDULE = timedelta(seconds=30)  # PgQueuer's (fixed) takeover threshold


class SchedulePair(Protocol):
    """A schedule's key (``models.CronExpressionEntrypoint``)."""

    @property
    def entrypoint(self) -> str: ...

    @property
    def expression(self) -> str: ...


def columns(pairs: Mapping[Any, Any]) -> tuple[list[str], list[str], list[Any]]:
    """(expressions, entrypoints, values) of a ``{pair: value}`` mapping, in one order."""
    keys = list(pairs)
    return (
        [str(k.expression) for k in keys],
        [str(k.entrypoint) for k in keys],
        [pairs[k] for k in keys],
    )


class SqlSchedules(SqlBase):
    """Register, claim, beat, release, list and delete cron schedules."""

    async def db_now(self) -> datetime:
        """The database's clock (cron ticks are computed from it, not from this host's)."""
        rows = await self._schedule_rows("db_now")
        now: datetime = rows[0]["now"]
        return now

    async def insert_schedule(self, schedules: Mapping[SchedulePair, timedelta]) -> None:
        """Register each pair, first due after its delay; pairs already registered are kept."""
        expressions, entrypoints, delays = columns(schedules)
        await self._schedule_rows("insert_schedule", expressions, entrypoints, delays)

    async def fetch_schedule(
        self,
        entrypoints: Mapping[SchedulePair, timedelta],
        *,
        stale_after: timedelta = STALE_SCHEDULE,
    ) -> list[Schedule]:
        """Claim the due pairs (or those whose scheduler stopped beating for ``stale_after``).

        Claimed rows turn ``picked`` and their ``next_run`` moves to now + the pair's delay.
        Across any number of schedulers each due row is claimed by exactly one.
        """
        expressions, eps, delays = columns(entrypoints)
        rows = await self._schedule_rows("fetch_schedule", expressions, eps, delays, stale_after)
        return [Schedule.from_row(r) for r in rows]

    async def set_schedule_queued(
        self,
        ids: Collection[int],
        *,
        next_runs: Mapping[int, datetime] | None = None,
    ) -> None:
        """Runs ended: back to ``queued`` with ``last_run`` now (and ``next_runs`` when given)."""
        order = sorted(int(i) for i in ids)
        given = next_runs or {}
        await self._schedule_rows("set_schedule_queued", order, [given.get(i) for i in order])

    async def update_schedule_heartbeat(self, ids: Collection[int]) -> None:
        """The scheduler is still running these schedules."""
        await self._schedule_rows("heartbeat", sorted(int(i) for i in ids))

    async def peek_schedule(self) -> list[Schedule]:
        """Every registered schedule, by id."""
        return [Schedule.from_row(r) for r in await self._schedule_rows("list_schedules")]

    async def delete_schedule(self, ids: Collection[int], entrypoints: Collection[str]) -> None:
        """Remove schedules by id and every schedule of these entrypoints."""
        if ids:
            await self._schedule_rows("delete_ids", sorted(int(i) for i in ids))
        if entrypoints:
            await self._schedule_rows("delete_entrypoints", sorted(str(e) for e in entrypoints))

    async def clear_schedule(self) -> None:
        """Remove every schedule."""
        await self._schedule_rows("clear_schedules")

    async def schedule_wake(
        self, pairs: Collection[SchedulePair], stale_after: timedelta = STALE_SCHEDULE
    ) -> float | None:
        """Seconds until one of ``pairs`` is due or goes stale (None: none registered)."""
        keys = list(pairs)
        rows = await self._schedule_rows(
            "next_wake",
            [str(k.expression) for k in keys],
            [str(k.entrypoint) for k in keys],
            stale_after,
        )
        wait: float | None = rows[0]["wait"] if rows else None
        return wait
