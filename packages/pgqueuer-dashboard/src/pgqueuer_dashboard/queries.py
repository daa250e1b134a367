"""``Dashboard``: the statistics of one queue as typed data, read with bounded, indexed queries.

The SQL lives in ``sql/dashboard.sql``; stale jobs come from core's ``Queries.stale_jobs``.
Nothing here writes: a snapshot runs in one read-only, repeatable-read transaction, so every
section sees the same moment and the same ``now()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from pgqueuer.db import AsyncpgDriver
from pgqueuer.dberrors import is_column_missing, not_installed
from pgqueuer.errors import PgQueuerError
from pgqueuer.models import Schedule, StaleJob
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer.sql import load_blocks
from pgqueuer_dashboard.models import EntrypointStats, LogEntry, Percentiles, Snapshot, Worker

__all__ = [
    "DEFAULT_COUNT_CAP",
    "DEFAULT_SAMPLE",
    "Dashboard",
    "SchemaOutdatedError",
    "snapshot",
]

DEFAULT_COUNT_CAP = 1_000_000  # each queue count stops here (reads at most this many entries)
# Rates and percentiles use at most this many of the newest log rows: enough for a stable p99
# (200 rows above it), and the two percentile sorts stay around 40 ms. Up to ~330 jobs/s they
# cover the whole window; above that, the most recent stretch (the snapshot says how long).
DEFAULT_SAMPLE = 20_000


class SchemaOutdatedError(PgQueuerError):
    """The pgqueuer tables predate the dashboard's log columns; run 'pgq upgrade'."""


class Dashboard:
    """Dashboard queries over one asyncpg connection, for one set of names."""

    def __init__(self, connection: asyncpg.Connection, names: Names | None = None) -> None:
        self.connection = connection
        self.names = names or Names.from_env()
        blocks = load_blocks("pgqueuer_dashboard.sql", "dashboard.sql")
        self.sql = {key: self.names.substitute(sql) for key, sql in blocks.items()}
        self._core = Queries(AsyncpgDriver(connection), self.names)
        self._depth = 0

    async def _rows(self, block: str, *args: Any) -> list[Any]:
        try:
            rows: list[Any] = await self.connection.fetch(self.sql[block], *args)
            return rows
        except Exception as exc:
            if (missing := not_installed(exc, self.names)) is not None:
                raise missing from exc
            if is_column_missing(exc):
                raise SchemaOutdatedError(
                    f"the pgqueuer tables predate the dashboard ({exc}); "
                    f"run 'pgq{self._flags()} upgrade'"
                ) from exc
            raise

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[None]:
        """Run in a read-only, repeatable-read transaction without JIT compilation.

        The counts' LIMITs make the planner's cost estimates large enough to trigger JIT
        compilation, which costs hundreds of milliseconds and speeds up no index scan. Inside a
        transaction the caller opened, only JIT is turned off (until that transaction ends).
        """
        if self._depth:
            yield
            return
        async with contextlib.AsyncExitStack() as stack:
            if not self.connection.is_in_transaction():
                await stack.enter_async_context(
                    self.connection.transaction(isolation="repeatable_read", readonly=True)
                )
            await self._rows("jit_off")
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1

    def _flags(self) -> str:
        schema = f" --schema {self.names.schema}" if self.names.schema else ""
        return schema + (f" --prefix {self.names.prefix}" if self.names.prefix else "")

    async def now(self) -> datetime:
        """The database's clock."""
        rows = await self._rows("db_now")
        now: datetime = rows[0]["now"]
        return now

    async def entrypoints(
        self,
        window: timedelta = timedelta(minutes=1),
        *,
        limit: int = 100,
        count_cap: int = DEFAULT_COUNT_CAP,
        sample: int = DEFAULT_SAMPLE,
    ) -> list[EntrypointStats]:
        """Per entrypoint: counts now, rates and percentiles over the last ``window``."""
        async with self._reading():
            now = await self.now()
            stats, _, _ = await self._entrypoints(now, window, limit, count_cap, sample)
        return stats

    async def _entrypoints(
        self, now: datetime, window: timedelta, limit: int, count_cap: int, sample: int
    ) -> tuple[list[EntrypointStats], float, int]:
        counts = await self.queue_counts(limit, count_cap=count_cap)
        rates = {r["entrypoint"]: r for r in await self._rows("log_window", window, sample, limit)}
        seconds = window.total_seconds()
        sampled = 0
        if rates:
            first = next(iter(rates.values()))
            seconds, sampled = first["window_seconds"], first["sampled"]
        per_second = max(seconds, 1e-9)
        out = []
        for name in sorted(set(counts) | set(rates))[:limit]:
            c = counts.get(name, {})
            r = rates.get(name)
            first_due = c.get("first_due")
            age = (now - first_due).total_seconds() if first_due and now >= first_due else None
            completed = r["completed"] if r else 0
            errored = r["failed"] if r else 0
            out.append(
                EntrypointStats(
                    entrypoint=name,
                    queued=c.get("queued", 0),
                    running=c.get("picked", 0),
                    failed=c.get("failed", 0),
                    oldest_queued_age=age,
                    next_due=first_due,
                    completed=completed,
                    errored=errored,
                    retried=r["retried"] if r else 0,
                    completed_per_second=completed / per_second,
                    failed_per_second=errored / per_second,
                    queue_time=Percentiles.from_list(r["queue_seconds"] if r else None),
                    run_time=Percentiles.from_list(r["run_seconds"] if r else None),
                    window_seconds=seconds,
                )
            )
        return out, seconds, sampled

    async def queue_counts(
        self, limit: int = 100, *, count_cap: int = DEFAULT_COUNT_CAP
    ) -> dict[str, dict[str, Any]]:
        """Per entrypoint: ``{"queued": n, "picked": n, "failed": n, "first_due": datetime}``
        (keys present only when non-zero); each count stops at ``count_cap``."""
        counts: dict[str, dict[str, Any]] = {}
        async with self._reading():
            rows = await self._rows("queue_counts", count_cap, limit)
        for r in rows:
            entry = counts.setdefault(r["entrypoint"], {})
            entry[r["status"]] = r["n"]
            if r["first_due"] is not None:
                entry["first_due"] = r["first_due"]
        return counts

    def read_only(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Run the reads inside in one read-only, repeatable-read transaction (nested: none)."""
        return self._reading()

    async def workers(self, limit: int = 50, *, count_cap: int = DEFAULT_COUNT_CAP) -> list[Worker]:
        """Registered workers that are alive, and workers holding running jobs, busiest first.

        On a database without the registry table (PgQueuer 1.6's, before ``pgq upgrade``)
        only workers holding running jobs are listed, without host and pid.
        """
        async with self._reading():
            registry = self.names.qualify(self.names.workers_table)
            has_registry = (await self._rows("has_registry", registry))[0]["ok"]
            block = "workers" if has_registry else "picked_workers"
            rows = await self._rows(block, count_cap, limit)
        return [
            Worker(
                r["queue_manager_id"],
                r["jobs"],
                r["last_heartbeat"],
                r["oldest_heartbeat"],
                tuple(sorted(r["entrypoints"] or ())),
                r["host"],
                r["pid"],
                r["started_at"],
                r["last_seen"],
            )
            for r in rows
        ]

    async def stale_jobs(
        self, stale_after: timedelta = timedelta(minutes=5), limit: int = 50
    ) -> list[StaleJob]:
        """Running jobs without a heartbeat for ``stale_after``, the stalest first."""
        async with self._reading():
            return await self._core.stale_jobs(stale_after, limit)

    async def schedules(self, limit: int = 50) -> list[Schedule]:
        """Cron schedules, the next to run first."""
        async with self._reading():
            rows = await self._rows("schedules", limit)
        return [Schedule.from_row(r) for r in rows]

    async def recent_log(self, tail: int = 25) -> list[LogEntry]:
        """The newest ``tail`` log entries, newest first."""
        async with self._reading():
            rows = await self._rows("recent_log", tail)
        return [
            LogEntry(
                r["id"],
                r["created"],
                r["job_id"],
                r["entrypoint"],
                r["priority"],
                r["status"],
                r["exception"],
                r["queue_seconds"],
                r["run_seconds"],
            )
            for r in rows
        ]

    async def snapshot(
        self,
        *,
        tail: int = 25,
        window: timedelta = timedelta(minutes=1),
        stale_after: timedelta = timedelta(minutes=5),
        limit: int = 50,
        count_cap: int = DEFAULT_COUNT_CAP,
        sample: int = DEFAULT_SAMPLE,
    ) -> Snapshot:
        """Every section, read in one read-only, repeatable-read transaction.

        ``limit`` bounds the entrypoints, workers, stale jobs and schedules listed; ``tail`` the
        log entries. Run inside a transaction the caller opened, it uses that one instead.
        """
        async with self._reading():
            return await self._snapshot(tail, window, stale_after, limit, count_cap, sample)

    async def _snapshot(
        self,
        tail: int,
        window: timedelta,
        stale_after: timedelta,
        limit: int,
        count_cap: int,
        sample: int,
    ) -> Snapshot:
        taken_at = await self.now()
        stats, seconds, sampled = await self._entrypoints(
            taken_at, window, limit, count_cap, sample
        )
        return Snapshot(
            taken_at=taken_at,
            window_seconds=seconds,
            sampled_log_rows=sampled,
            count_cap=count_cap,
            stale_after_seconds=stale_after.total_seconds(),
            entrypoints=tuple(stats),
            workers=tuple(await self.workers(limit, count_cap=count_cap)),
            stale=tuple(await self.stale_jobs(stale_after, limit)),
            schedules=tuple(await self.schedules(limit)),
            log=tuple(await self.recent_log(tail)),
        )


async def snapshot(
    connection: asyncpg.Connection, names: Names | None = None, **options: Any
) -> Snapshot:
    """``Dashboard(connection, names).snapshot(**options)``."""
    return await Dashboard(connection, names).snapshot(**options)
