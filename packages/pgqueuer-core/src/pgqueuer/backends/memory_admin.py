"""The in-memory repository's operations: cancel, requeue, clear, status, log, statistics."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Literal

from pgqueuer.backends.args import entrypoint_set
from pgqueuer.backends.memory_base import MemoryBase, now
from pgqueuer.backends.sql_admin import cancellation_payload, health_check_payload
from pgqueuer.errors import DuplicateJobError
from pgqueuer.models import Job, Log, LogStatistics, QueueStatistics
from pgqueuer.types import JOB_STATUS, JobId


class MemoryAdmin(MemoryBase):
    """What operators and dashboards do to jobs, the log and the statistics."""

    async def queue_size(self) -> list[QueueStatistics]:
        counts: dict[tuple[str, int, str], int] = {}
        for r in self._state.rows.values():
            key = (r.job.entrypoint, r.job.priority, r.job.status)
            counts[key] = counts.get(key, 0) + 1
        return [
            QueueStatistics(c, ep, prio, status)  # type: ignore[arg-type]
            for (ep, prio, status), c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    async def mark_job_as_cancelled(self, ids: Sequence[int]) -> list[JobId]:
        gone: list[JobId] = []
        running: list[int] = []
        for i in sorted({int(x) for x in ids}):
            row = self._state.rows.get(i)
            if row is None or row.job.status not in ("queued", "picked"):
                continue
            del self._state.rows[i]
            picked = row.job.status == "picked"
            ran = (row.job.updated, row.job.execute_after) if picked else None
            self._log(row.job, "canceled", None, ran)
            gone.append(JobId(i))
            if picked:
                running.append(i)
        if running:
            self.driver.deliver(
                self.names.channel, cancellation_payload(self.names.channel, running)
            )
        return gone

    async def requeue_jobs(self, ids: Sequence[int]) -> list[JobId]:
        active = self._active_keys()
        out: list[JobId] = []
        for i in sorted({int(x) for x in ids}):
            row = self._state.rows.get(i)
            if row is None or row.job.status != "failed":
                continue
            if row.dedupe_key is not None and row.dedupe_key in active:
                raise DuplicateJobError(row.dedupe_key)
            job = row.job
            job.status, job.attempts, job.execute_after = "queued", 0, now()
            job.queue_manager_id = None
            job.slot = None
            self._log(job, "queued")
            out.append(JobId(i))
        if out:
            self._notify("update", {self._state.rows[i].job.entrypoint: 1 for i in out})
        return out

    async def list_failed_jobs(
        self, limit: int = 100, order: Literal["ASC", "DESC"] = "DESC"
    ) -> list[Job]:
        if order.upper() not in ("ASC", "DESC"):
            raise ValueError("order must be 'ASC' or 'DESC'")
        failed = sorted(
            (replace(r.job) for r in self._state.rows.values() if r.job.status == "failed"),
            key=lambda j: j.id,
            reverse=order.upper() == "DESC",
        )
        return failed[:limit]

    async def clear_queue(self, entrypoint: str | Sequence[str] | None = None) -> None:
        eps = entrypoint_set(entrypoint)
        if eps is None:
            self._state.rows.clear()  # as TRUNCATE: no log rows
            return
        for i, row in list(self._state.rows.items()):
            if row.job.entrypoint in eps:
                del self._state.rows[i]
                self._log(row.job, "deleted")

    async def job_status(self, ids: Sequence[int]) -> list[tuple[JobId, JOB_STATUS]]:
        latest: dict[int, JOB_STATUS] = {}
        wanted = {int(i) for i in ids}
        for log in self._state.log:
            if log.job_id in wanted:
                latest[log.job_id] = log.status
        return [(JobId(i), s) for i, s in sorted(latest.items())]

    async def queue_log(self) -> list[Log]:
        return list(self._state.log)

    async def vacuum_queue(self) -> None:
        """Nothing to do: rows held in memory leave no dead tuples."""

    async def analyze_queue(self) -> None:
        """Nothing to do: rows held in memory have no planner to inform."""

    async def aggregate_logs(self, limit: int = 50_000) -> int:
        """Fold unaggregated log rows into per-second statistics; return how many."""
        n = 0
        for log in self._state.log:
            if log.aggregated or n >= limit:
                continue
            key = (log.created.replace(microsecond=0), log.entrypoint, log.priority, log.status)
            self._state.stats[key] = self._state.stats.get(key, 0) + 1
            log.aggregated = True
            n += 1
        return n

    def aggregate_log_to_statistics(self) -> None:
        """Fold every unaggregated log row into statistics now (PgQueuer's sync helper)."""
        for log in self._state.log:
            if not log.aggregated:
                key = (log.created.replace(microsecond=0), log.entrypoint, log.priority, log.status)
                self._state.stats[key] = self._state.stats.get(key, 0) + 1
                log.aggregated = True

    async def log_statistics(
        self, limit: int | None = None, last: timedelta | None = None
    ) -> list[LogStatistics]:
        await self.aggregate_logs()
        since = now() - last if last is not None else None
        out = [
            LogStatistics(c, created, ep, prio, status)  # type: ignore[arg-type]
            for (created, ep, prio, status), c in self._state.stats.items()
            if since is None or created > since
        ]
        out.sort(key=lambda s: s.created, reverse=True)
        return out[:limit] if limit is not None else out

    async def prune(self, retention: timedelta, limit: int = 10_000) -> tuple[int, int]:
        cutoff = now() - retention
        before = len(self._state.log)
        old_logs = [g for g in self._state.log if g.aggregated and g.created < cutoff][:limit]
        dropped = {id(g) for g in old_logs}
        self._state.log = [g for g in self._state.log if id(g) not in dropped]
        old = [k for k in self._state.stats if k[0] < cutoff][:limit]
        for k in old:
            del self._state.stats[k]
        return before - len(self._state.log), len(old)

    async def clear_statistics_log(self, entrypoint: str | Sequence[str] | None = None) -> None:
        eps = entrypoint_set(entrypoint)
        for k in [k for k in self._state.stats if eps is None or k[1] in eps]:
            del self._state.stats[k]

    async def clear_queue_log(self, entrypoint: str | Sequence[str] | None = None) -> None:
        eps = entrypoint_set(entrypoint)
        self._state.log = [
            g for g in self._state.log if eps is not None and g.entrypoint not in eps
        ]

    async def notify(self, payload: str) -> None:
        self.driver.deliver(self.names.channel, payload)

    async def notify_job_cancellation(self, ids: Sequence[int]) -> None:
        await self.notify(cancellation_payload(self.names.channel, ids))

    async def notify_health_check(self, health_check_event_id: uuid.UUID) -> None:
        await self.notify(health_check_payload(self.names.channel, health_check_event_id))

    async def emit_table_changed(self, operation: str) -> None:
        """Tell this process's listeners the queue changed (any entrypoint)."""
        payload = {
            "channel": self.names.channel,
            "operation": operation,
            "sent_at": now().isoformat(),
            "table": self.names.bare(self.names.queue_table),
            "type": "table_changed_event",
        }
        self.driver.deliver(self.names.channel, json.dumps(payload))
