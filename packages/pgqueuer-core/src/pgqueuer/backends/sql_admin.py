"""The SQL repository's operations: cancel, requeue, clear, status, log, statistics, notify."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from pgqueuer.backends.args import entrypoint_set
from pgqueuer.backends.sql_base import SqlBase
from pgqueuer.backends.sql_queue import duplicate_key, is_unique_violation
from pgqueuer.models import Job, Log, LogStatistics, QueueStatistics
from pgqueuer.types import JOB_STATUS, JobId


def cancellation_payload(channel: str, ids: Sequence[int], schema: str | None = None) -> str:
    """The NOTIFY payload that tells workers to cancel running jobs (of the queue table in
    ``schema``, when given: workers of queues in other schemas ignore it)."""
    payload: dict[str, object] = {
        "channel": channel,
        "type": "cancellation_event",
        "sent_at": datetime.now(UTC).isoformat(),
        "ids": [int(i) for i in ids],
    }
    if schema is not None:
        payload["schema"] = schema
    return json.dumps(payload)


def health_check_payload(channel: str, event_id: uuid.UUID) -> str:
    """The NOTIFY payload of a listener health check (a worker waits for its own echo)."""
    return json.dumps(
        {
            "channel": channel,
            "type": "health_check_event",
            "sent_at": datetime.now(UTC).isoformat(),
            "id": str(event_id),
        }
    )


class SqlAdmin(SqlBase):
    """What operators and dashboards do to jobs, the log and the statistics."""

    async def queue_size(self) -> list[QueueStatistics]:
        rows = await self._rows("queue_size")
        return [
            QueueStatistics(r["count"], r["entrypoint"], r["priority"], r["status"]) for r in rows
        ]

    async def mark_job_as_cancelled(self, ids: Sequence[int]) -> list[JobId]:
        """Cancel queued or running jobs; return the ids that were cancelled."""
        rows = await self._rows("cancel_jobs", [int(i) for i in ids], self.names.channel)
        return [JobId(r["id"]) for r in rows]

    async def requeue_jobs(self, ids: Sequence[int]) -> list[JobId]:
        """Queue held (failed) jobs again; return the ids that really were re-queued."""
        try:
            rows = await self._rows("requeue_failed", [int(i) for i in ids])
        except Exception as exc:
            if not is_unique_violation(exc):
                raise
            raise duplicate_key(exc, None) from None
        return [JobId(r["id"]) for r in rows]

    async def list_failed_jobs(
        self, limit: int = 100, order: Literal["ASC", "DESC"] = "DESC"
    ) -> list[Job]:
        if order.upper() not in ("ASC", "DESC"):
            raise ValueError("order must be 'ASC' or 'DESC'")
        rows = await self._rows("list_failed", limit, order.upper() == "DESC")
        return [Job.from_row(r) for r in rows]

    async def clear_queue(self, entrypoint: str | Sequence[str] | None = None) -> None:
        """Delete queued and running jobs of these entrypoints (all jobs when None)."""
        eps = entrypoint_set(entrypoint)
        if eps is None:
            await self._rows("clear_all")
        else:
            await self._rows("clear_entrypoints", eps)

    async def job_status(self, ids: Sequence[int]) -> list[tuple[JobId, JOB_STATUS]]:
        """The latest logged status of each job (jobs with no log row are left out)."""
        rows = await self._rows("job_status", [int(i) for i in ids])
        return [(JobId(r["job_id"]), r["status"]) for r in rows]

    async def queue_log(self) -> list[Log]:
        return [Log.from_row(r) for r in await self._rows("queue_log")]

    async def aggregate_logs(self, limit: int = 50_000) -> int:
        """Fold unaggregated log rows into statistics; return how many were folded."""
        rows = await self._rows("aggregate_log", self.names.statistics_table, limit)
        return int(rows[0]["n"])

    async def log_statistics(
        self, limit: int | None = None, last: timedelta | None = None
    ) -> list[LogStatistics]:
        """Per-second statistics, newest first (``limit`` rows, only the ``last`` span).

        New log rows are folded in first, except on a session that cannot write (a hot
        standby, a read-only transaction): there the statistics are those the workers on the
        primary have folded (every ``log_aggregation_interval``).
        """
        if not (await self._rows("is_read_only"))[0]["ok"]:
            await self.aggregate_logs()
        rows = await self._rows("log_statistics", limit, last)
        return [
            LogStatistics(r["count"], r["created"], r["entrypoint"], r["priority"], r["status"])
            for r in rows
        ]

    async def prune(self, retention: timedelta, limit: int = 10_000) -> tuple[int, int]:
        """Delete log and statistics rows older than ``retention``; return both counts."""
        log = await self._execute("prune_log", retention, limit)
        stats = await self._execute("prune_statistics", retention, limit)
        return int(log.split()[-1]), int(stats.split()[-1])

    async def clear_statistics_log(self, entrypoint: str | Sequence[str] | None = None) -> None:
        await self._rows("clear_statistics", entrypoint_set(entrypoint))

    async def clear_queue_log(self, entrypoint: str | Sequence[str] | None = None) -> None:
        await self._rows("clear_log", entrypoint_set(entrypoint))

    async def vacuum_queue(self) -> None:
        """VACUUM the queue table on this driver's connection; skipped while another VACUUM
        or DDL holds it. The worker's vacuum chore runs it on a connection of its own."""
        await self._execute("vacuum_queue")

    async def analyze_queue(self) -> None:
        """ANALYZE the queue table on this driver's connection; skipped while a VACUUM or DDL
        holds it. The worker's vacuum chore runs it once, when the table has no statistics."""
        await self._execute("analyze_queue")

    async def notify(self, payload: str) -> None:
        await self._rows("notify", self.names.channel, payload)

    async def notify_job_cancellation(self, ids: Sequence[int]) -> None:
        """Tell every worker of this queue to cancel these running jobs (the rows are left as
        they are)."""
        rows = await self._rows("table_schema", self.names.qualify(self.names.queue_table))
        schema = rows[0]["schema"] if rows else None
        await self.notify(cancellation_payload(self.names.channel, ids, schema))

    async def notify_health_check(self, health_check_event_id: uuid.UUID) -> None:
        """Send a health-check event; the worker that sent it waits for its echo."""
        await self.notify(health_check_payload(self.names.channel, health_check_event_id))
