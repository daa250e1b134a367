"""The in-memory repository's insight reads (the same figures as the SQL computes)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pgqueuer.backends.memory_base import MemoryBase, now
from pgqueuer.backends.sql_insights import (
    COUNT_CAP,
    DURATION_SAMPLE,
    LOG_SAMPLE,
    bucket_seconds,
    window,
)
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


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (PostgreSQL's percentile_cont)."""
    ordered = sorted(values)
    pos = fraction * (len(ordered) - 1)
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


class MemoryInsights(MemoryBase):
    """Queue age, durations, throughput, workers, stale jobs, logs, one job, the tables."""

    def _recent(self, last: timedelta | None, sample: int) -> list[Log]:
        """Log rows of the last ``last`` (None: all), at most the newest ``sample``."""
        since = now() - last if last is not None else None
        rows = [g for g in self._state.log if since is None or g.created > since]
        return rows[-sample:] if sample > 0 else []

    async def stale_jobs(
        self, threshold: timedelta = timedelta(minutes=5), limit: int = 100
    ) -> list[StaleJob]:
        at = now()
        stale = sorted(
            (
                r.job
                for r in self._state.rows.values()
                if r.job.status == "picked" and r.job.heartbeat < at - threshold
            ),
            key=lambda j: j.heartbeat,
        )[:limit]
        return [
            StaleJob(
                j.id,
                j.entrypoint,
                j.queue_manager_id,
                j.heartbeat,
                j.attempts,
                (at - j.heartbeat).total_seconds(),
            )
            for j in stale
        ]

    async def active_workers(self) -> list[ActiveWorker]:
        by_worker: dict[object, list[Job]] = {}
        for r in self._state.rows.values():
            if r.job.status == "picked":
                by_worker.setdefault(r.job.queue_manager_id, []).append(r.job)
        out = [
            ActiveWorker(
                jobs[0].queue_manager_id,
                len(jobs),
                min(j.heartbeat for j in jobs),
                max(j.heartbeat for j in jobs),
                sorted({j.entrypoint for j in jobs}),
            )
            for jobs in by_worker.values()
        ]
        out.sort(key=lambda w: (-w.jobs, str(w.queue_manager_id)))
        return out

    async def backlog(self) -> list[Backlog]:
        at = now()
        by_ep: dict[str, list[Job]] = {}
        for r in self._state.rows.values():
            if r.job.status == "queued":
                by_ep.setdefault(r.job.entrypoint, []).append(r.job)
        out = [
            Backlog(
                ep,
                len(jobs),
                sum(1 for j in jobs if j.execute_after <= at),
                min(j.created for j in jobs),
                (at - min(j.created for j in jobs)).total_seconds(),
                sum((at - j.created).total_seconds() for j in jobs) / len(jobs),
            )
            for ep, jobs in by_ep.items()
        ]
        out.sort(key=lambda b: (-b.queued, b.entrypoint))
        return out

    async def queue_age(self, *, count_cap: int = COUNT_CAP) -> list[QueueAgeStats]:
        at = now()
        out = []
        for b in await self.backlog():
            oldest = min(
                r.job.execute_after
                for r in self._state.rows.values()
                if r.job.status == "queued" and r.job.entrypoint == b.entrypoint
            )
            wait = max((at - oldest).total_seconds(), 0.0)
            queued, due = min(b.queued, count_cap), min(b.due, count_cap)
            out.append(QueueAgeStats(b.entrypoint, queued, due, oldest, wait))
        out.sort(key=lambda s: s.entrypoint)
        return out

    async def job_duration_percentiles(
        self, last: timedelta, *, sample: int = DURATION_SAMPLE
    ) -> list[JobDurationStats]:
        runs: dict[str, list[tuple[float, float]]] = {}
        for g in self._recent(window(last, "job_duration_percentiles"), sample):
            if g.picked_at is not None and g.execute_after is not None:
                runs.setdefault(g.entrypoint, []).append(
                    (
                        (g.created - g.picked_at).total_seconds(),
                        (g.picked_at - g.execute_after).total_seconds(),
                    )
                )
        out = []
        for ep in sorted(runs):
            run = [r for r, _ in runs[ep]]
            wait = [w for _, w in runs[ep]]
            out.append(
                JobDurationStats(
                    ep,
                    len(run),
                    percentile(run, 0.5),
                    percentile(run, 0.95),
                    percentile(run, 0.99),
                    max(run),
                    percentile(wait, 0.5),
                    percentile(wait, 0.95),
                )
            )
        return out

    async def throughput_summary(
        self, last: timedelta | None = None, *, sample: int = LOG_SAMPLE
    ) -> list[ThroughputStats]:
        logs = self._recent(window(last, "throughput_summary"), sample)
        if not logs:
            return []
        if last is None or len(logs) >= sample:
            seconds = max((now() - min(g.created for g in logs)).total_seconds(), 1.0)
        else:
            seconds = last.total_seconds()
        counts: dict[tuple[str, str], int] = {}
        for g in logs:
            counts[(g.entrypoint, g.status)] = counts.get((g.entrypoint, g.status), 0) + 1
        return [
            ThroughputStats(ep, status, n, seconds, n / seconds)  # type: ignore[arg-type]
            for (ep, status), n in sorted(counts.items())
        ]

    async def throughput_timeseries(
        self, last: timedelta, *, buckets: int = 60, sample: int = LOG_SAMPLE
    ) -> list[ThroughputBucket]:
        width = bucket_seconds(last, buckets)
        counts: dict[tuple[datetime, str, str], int] = {}
        for g in self._recent(window(last, "throughput_timeseries"), sample):
            start = datetime.fromtimestamp(
                math.floor(g.created.timestamp() / width) * width, tz=UTC
            )
            key = (start, g.entrypoint, g.status)
            counts[key] = counts.get(key, 0) + 1
        return [
            ThroughputBucket(start, ep, status, n)  # type: ignore[arg-type]
            for (start, ep, status), n in sorted(counts.items())
        ]

    async def exception_logs(self, limit: int = 100, *, sample: int = LOG_SAMPLE) -> list[Log]:
        raised = [g for g in self._state.log[-sample:] if g.status == "exception"]
        return list(reversed(raised))[:limit]

    async def job_log_history(self, id: int, limit: int = 100) -> list[Log]:
        mine = [g for g in self._state.log if g.job_id == int(id)]
        return mine[-limit:] if limit > 0 else []

    async def browse_queue(
        self,
        limit: int = 50,
        offset: int = 0,
        statuses: Sequence[str] | None = None,
        entrypoints: Sequence[str] | None = None,
    ) -> list[Job]:
        if limit < 0 or offset < 0:
            raise ValueError("browse_queue: limit and offset must not be negative")
        jobs = [
            replace(self._state.rows[i].job)
            for i in sorted(self._state.rows)
            if (statuses is None or self._state.rows[i].job.status in statuses)
            and (entrypoints is None or self._state.rows[i].job.entrypoint in entrypoints)
        ]
        return jobs[offset : offset + limit]

    async def queue_job_by_id(self, id: int) -> Job | None:
        row = self._state.rows.get(int(id))
        return replace(row.job) if row is not None else None

    async def unaggregated_log_count(self) -> int:
        return sum(1 for g in self._state.log if not g.aggregated)

    async def schema_info(self) -> list[TableInfo]:
        """The four tables as this process holds them (never logged: nothing survives a crash)."""
        sizes = {
            "queue_table": len(self._state.rows),
            "queue_table_log": len(self._state.log),
            "statistics_table": len(self._state.stats),
            "schedules_table": len(self._state.schedules),
        }
        return [
            TableInfo(self.names.bare(getattr(self.names, f)), "memory", False, n, 0)
            for f, n in sizes.items()
        ]

    async def queue_churn(self) -> TableChurn | None:
        """Always None: rows held in memory leave nothing to vacuum."""
        return None
