"""The SQL repository's insight reads: read-only, through indexes, bounded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pgqueuer.backends.sql_base import SqlBase
from pgqueuer.models import (
    ActiveWorker,
    Backlog,
    Job,
    JobDurationStats,
    Log,
    QueueAgeStats,
    StaleJob,
    TableChurn,
    TableInfo,
    ThroughputBucket,
    ThroughputStats,
)

# How much one insight read looks at by default (each method takes its own keyword): enough
# for a dashboard, a few milliseconds to a few tens on any queue (measured on 1M queued jobs
# and 1M log rows). Counts stop at their cap; log figures come from the newest rows.
COUNT_CAP = 10_000  # rows counted per count
ENTRYPOINT_CAP = 1_000  # entrypoints listed
DURATION_SAMPLE = 20_000  # newest log rows behind percentiles (stable p99: 200 rows above it)
LOG_SAMPLE = 50_000  # newest log rows behind throughput figures and the exception search
UNAGGREGATED_CAP = 1_000_000  # unaggregated log rows counted
TABLE_FIELDS = ("queue_table", "queue_table_log", "statistics_table", "schedules_table")


def bucket_seconds(last: timedelta, buckets: int) -> float:
    """Width of one throughput bucket: ``last / buckets``, at least one second."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    return max(last.total_seconds() / buckets, 1.0)


def window(last: timedelta | None, what: str) -> timedelta | None:
    if last is not None and last <= timedelta(0):
        raise ValueError(f"{what}: last must be a positive timedelta")
    return last


class SqlInsights(SqlBase):
    """Queue age, durations, throughput, workers, stale jobs, logs, one job, the tables."""

    async def stale_jobs(
        self, threshold: timedelta = timedelta(minutes=5), limit: int = 100
    ) -> list[StaleJob]:
        """Picked jobs whose worker has not beaten for ``threshold`` (stalest first)."""
        rows = await self._rows("stale_jobs", threshold, limit)
        return [
            StaleJob(
                r["id"],
                r["entrypoint"],
                r["queue_manager_id"],
                r["heartbeat"],
                r["attempts"],
                r["seconds"],
            )
            for r in rows
        ]

    async def active_workers(self) -> list[ActiveWorker]:
        """Workers that hold picked jobs."""
        rows = await self._rows("active_workers")
        return [
            ActiveWorker(
                r["queue_manager_id"],
                r["jobs"],
                r["oldest_heartbeat"],
                r["newest_heartbeat"],
                sorted(r["entrypoints"]),
            )
            for r in rows
        ]

    async def backlog(self) -> list[Backlog]:
        """Queued jobs per entrypoint."""
        rows = await self._rows("backlog")
        return [
            Backlog(
                r["entrypoint"],
                r["queued"],
                r["due"],
                r["oldest_created"],
                r["oldest_age"],
                r["average_age"],
            )
            for r in rows
        ]

    async def queue_age(self, *, count_cap: int = COUNT_CAP) -> list[QueueAgeStats]:
        """Per entrypoint with queued jobs: how many (up to ``count_cap``), how many due, the
        longest wait."""
        rows = await self._rows("queue_age", count_cap, ENTRYPOINT_CAP)
        out = []
        for r in rows:
            oldest = r["oldest_due"]
            wait = (r["db_now"] - oldest).total_seconds() if oldest is not None else 0.0
            out.append(QueueAgeStats(r["entrypoint"], r["queued"], r["due"], oldest, max(wait, 0)))
        return out

    async def job_duration_percentiles(
        self, last: timedelta, *, sample: int = DURATION_SAMPLE
    ) -> list[JobDurationStats]:
        """Run-time and wait percentiles per entrypoint of the attempts that ended in ``last``
        (among the newest ``sample`` log rows)."""
        rows = await self._rows("job_durations", window(last, "job_duration_percentiles"), sample)
        return [
            JobDurationStats(
                r["entrypoint"],
                r["count"],
                r["run"][0],
                r["run"][1],
                r["run"][2],
                r["run_max"],
                r["wait"][0],
                r["wait"][1],
            )
            for r in rows
        ]

    async def throughput_summary(
        self, last: timedelta | None = None, *, sample: int = LOG_SAMPLE
    ) -> list[ThroughputStats]:
        """Ended jobs per entrypoint and status in ``last`` (None: all the log keeps), among
        the newest ``sample`` log rows (``window_seconds`` then says the span they cover)."""
        rows = await self._rows("throughput_summary", window(last, "throughput_summary"), sample)
        return [
            ThroughputStats(
                r["entrypoint"],
                r["status"],
                r["count"],
                r["window_seconds"],
                r["count"] / r["window_seconds"],
            )
            for r in rows
        ]

    async def throughput_timeseries(
        self, last: timedelta, *, buckets: int = 60, sample: int = LOG_SAMPLE
    ) -> list[ThroughputBucket]:
        """Ended jobs per bucket (``last / buckets`` wide, at least 1 s), entrypoint, status,
        from the newest ``sample`` log rows (older buckets stay empty past it)."""
        width = bucket_seconds(last, buckets)
        rows = await self._rows(
            "throughput_timeseries", window(last, "throughput_timeseries"), sample, width
        )
        return [
            ThroughputBucket(r["start"], r["entrypoint"], r["status"], r["count"]) for r in rows
        ]

    async def exception_logs(self, limit: int = 100, *, sample: int = LOG_SAMPLE) -> list[Log]:
        """The newest log rows of jobs that raised, among the newest ``sample``, newest first."""
        rows = await self._rows("exception_logs", limit, sample)
        return [Log.from_row(r) for r in rows]

    async def job_log_history(self, id: int, limit: int = 100) -> list[Log]:
        """The log rows of one job, oldest first (the newest ``limit`` of them)."""
        return [Log.from_row(r) for r in await self._rows("job_log_history", int(id), limit)]

    async def browse_queue(
        self,
        limit: int = 50,
        offset: int = 0,
        statuses: Sequence[str] | None = None,
        entrypoints: Sequence[str] | None = None,
    ) -> list[Job]:
        """A page of the queue table by id, optionally filtered by status and entrypoint."""
        if limit < 0 or offset < 0:
            raise ValueError("browse_queue: limit and offset must not be negative")
        rows = await self._rows(
            "browse_queue",
            limit,
            offset,
            None if statuses is None else list(statuses),
            None if entrypoints is None else list(entrypoints),
        )
        return [Job.from_row(r) for r in rows]

    async def queue_job_by_id(self, id: int) -> Job | None:
        """The job's row in the queue table, or None when it is gone (ended) or never was."""
        rows = await self._rows("queue_job_by_id", int(id))
        return Job.from_row(rows[0]) if rows else None

    async def unaggregated_log_count(self) -> int:
        """Log rows not folded into statistics yet (counted up to a cap)."""
        rows = await self._rows("unaggregated_log_count", UNAGGREGATED_CAP)
        return int(rows[0]["n"])

    async def schema_info(self) -> list[TableInfo]:
        """The installation's tables that exist: persistence, estimated rows, size."""
        tables = [self.names.qualify(getattr(self.names, f)) for f in TABLE_FIELDS]
        rows: list[Any] = await self._rows("schema_info", tables)
        return [
            TableInfo(
                r["name"], r["schema"], r["logged"], max(r["estimated_rows"], 0), r["total_bytes"]
            )
            for r in rows
        ]

    async def queue_churn(self) -> TableChurn | None:
        """The queue table's live and dead rows and its last vacuum (None: no table)."""
        rows = await self._rows("queue_churn", self.names.qualify(self.names.queue_table))
        if not rows:
            return None
        r = rows[0]
        return TableChurn(
            int(r["live"]),
            int(r["dead"]),
            r["since_vacuum"],
            bool(r["may_vacuum"]),
            bool(r["vacuuming"]),
            bool(r["analyzed"]),
        )
