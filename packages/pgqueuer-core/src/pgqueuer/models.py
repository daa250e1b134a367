"""Jobs, log entries, contexts and events: plain slots dataclasses, cheap to build per job.

Every model answers pydantic v2's calls (``model_dump``, ``model_validate``, ...) through
:class:`pgqueuer.modelbase.ModelMixin`: new models add it as their base, one line.
"""

from __future__ import annotations

import json
import traceback as tb_module
import uuid
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from pgqueuer.cancellation import CancelScope
from pgqueuer.events import (
    AnyEvent,
    CancellationEvent,
    Event,
    EventKind,
    HealthCheckEvent,
    TableChangedEvent,
    parse_event,
)
from pgqueuer.modelbase import FieldInfo, ModelMixin, ModelValidationError
from pgqueuer.stats_models import (
    ActiveWorker,
    Backlog,
    JobDurationStats,
    LogStatistics,
    QueueAgeStats,
    QueueStatistics,
    StaleJob,
    TableChurn,
    TableInfo,
    ThroughputBucket,
    ThroughputStats,
)
from pgqueuer.types import (
    EVENT_TYPES,
    JOB_STATUS,
    OPERATIONS,
    Channel,
    CronEntrypoint,
    CronExpression,
    HealthCheckId,
    JobId,
    QueueEntrypoint,
    QueueExecutionMode,
    QueueManagerId,
    ScheduleId,
    Slot,
)

__all__ = [
    "EVENT_TYPES",
    "JOB_STATUS",
    "OPERATIONS",
    "ActiveWorker",
    "AnyEvent",
    "Backlog",
    "CancellationEvent",
    "Channel",
    "Context",
    "CronEntrypoint",
    "CronExpression",
    "CronExpressionEntrypoint",
    "Event",
    "EventKind",
    "FieldInfo",
    "HealthCheckEvent",
    "HealthCheckId",
    "Job",
    "JobDurationStats",
    "JobId",
    "Log",
    "LogStatistics",
    "ModelMixin",
    "ModelValidationError",
    "QueueAgeStats",
    "QueueEntrypoint",
    "QueueExecutionMode",
    "QueueManagerId",
    "QueueStatistics",
    "Schedule",
    "ScheduleContext",
    "ScheduleId",
    "Slot",
    "StaleJob",
    "TableChangedEvent",
    "TableChurn",
    "TableInfo",
    "ThroughputBucket",
    "ThroughputStats",
    "TracebackRecord",
    "parse_event",
]


def _headers(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        parsed = json.loads(value)
        return parsed if isinstance(parsed, dict) else None
    if isinstance(value, Mapping):
        return dict(value)
    return None


@dataclass(slots=True)
class Job(ModelMixin):
    """One row of the queue table, as a worker received it."""

    id: JobId
    priority: int
    created: datetime
    updated: datetime
    heartbeat: datetime
    execute_after: datetime
    status: JOB_STATUS
    entrypoint: str
    payload: bytes | None
    attempts: int = 0
    queue_manager_id: uuid.UUID | None = None
    slot: int | None = None
    headers: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        return cls(
            id=row["id"],
            priority=row["priority"],
            created=row["created"],
            updated=row["updated"],
            heartbeat=row["heartbeat"],
            execute_after=row["execute_after"],
            status=row["status"],
            entrypoint=row["entrypoint"],
            payload=row["payload"],
            attempts=row["attempts"],
            queue_manager_id=row["queue_manager_id"],
            slot=row["slot"],
            headers=_headers(row["headers"]),
        )

    def header_section(self, key: str) -> dict[str, Any] | None:
        """``headers[key]`` when it is a mapping (tracing carriers), else None."""
        section = (self.headers or {}).get(key)
        return dict(section) if isinstance(section, Mapping) else None

    def logfire_headers(self) -> dict[str, Any] | None:
        return self.header_section("logfire")

    def sentry_headers(self) -> dict[str, Any] | None:
        return self.header_section("sentry")

    def otel_headers(self) -> dict[str, Any] | None:
        return self.header_section("otel")


@dataclass(slots=True)
class TracebackRecord(ModelMixin):
    """What the log keeps about an exception (or a retry request) of one job."""

    job_id: int
    timestamp: datetime
    exception_type: str
    exception_message: str
    traceback: str
    additional_context: dict[str, Any] | None = None

    @classmethod
    def from_exception(
        cls,
        exc: BaseException,
        job_id: int,
        additional_context: dict[str, Any] | None = None,
    ) -> TracebackRecord:
        return cls(
            job_id=job_id,
            timestamp=datetime.now(UTC),
            exception_type=type(exc).__name__,
            exception_message=str(exc),
            traceback="".join(tb_module.format_exception(type(exc), exc, exc.__traceback__)),
            additional_context=additional_context,
        )

    def to_json(self) -> str:
        data = asdict(self)
        data["timestamp"] = self.timestamp.isoformat()
        return json.dumps(data, default=str)

    @classmethod
    def from_json(
        cls, value: str | Mapping[str, Any], *, job_id: int = 0, when: datetime | None = None
    ) -> TracebackRecord:
        """Read a stored record; never fails on what another tool or release stored.

        Missing keys get plain defaults (``job_id``/``when`` from the log row when the caller
        has them), an unreadable timestamp becomes ``when``, and a value that is not a JSON
        object is kept as the traceback text: reading the log must not break on one odd row.
        """
        try:
            parsed = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            parsed = {"traceback": str(value)}
        data = dict(parsed) if isinstance(parsed, Mapping) else {"traceback": str(parsed)}
        ts = data.get("timestamp")
        try:
            stamp = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
        except ValueError:
            stamp = None
        context = data.get("additional_context")
        stored_id = data.get("job_id")
        return cls(
            job_id=stored_id if isinstance(stored_id, int) else job_id,
            timestamp=stamp if isinstance(stamp, datetime) else (when or datetime.now(UTC)),
            exception_type=str(data.get("exception_type") or ""),
            exception_message=str(data.get("exception_message") or ""),
            traceback=str(data.get("traceback") or ""),
            additional_context=context if isinstance(context, dict) else None,
        )


@dataclass(slots=True)
class Log(ModelMixin):
    """One row of the log table: a job's terminal status (or a retry).

    ``picked_at`` is when the logged attempt was claimed and ``execute_after`` when the job had
    become due; both are None for jobs that never ran (and for rows older releases wrote).
    """

    created: datetime
    job_id: JobId
    status: JOB_STATUS
    priority: int
    entrypoint: str
    traceback: TracebackRecord | None
    aggregated: bool
    picked_at: datetime | None = None
    execute_after: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Log:
        tb = row["traceback"]
        return cls(
            created=row["created"],
            job_id=row["job_id"],
            status=row["status"],
            priority=row["priority"],
            entrypoint=row["entrypoint"],
            traceback=(
                TracebackRecord.from_json(tb, job_id=row["job_id"], when=row["created"])
                if tb
                else None
            ),
            aggregated=row["aggregated"],
            picked_at=row.get("picked_at"),
            execute_after=row.get("execute_after"),
        )


@dataclass(slots=True)
class Context:
    """Given to handlers that ask for it: a cancel scope and the shared resources."""

    cancellation: CancelScope = field(default_factory=CancelScope)
    resources: MutableMapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ScheduleContext:
    """Given to scheduled functions that ask for it."""

    resources: MutableMapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Schedule(ModelMixin):
    """One row of the schedules table."""

    id: ScheduleId
    expression: str
    heartbeat: datetime
    created: datetime
    updated: datetime
    next_run: datetime
    last_run: datetime | None = None
    status: JOB_STATUS = "queued"
    entrypoint: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Schedule:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


class CronExpressionEntrypoint(NamedTuple):
    """A schedule's key: the entrypoint and its (normalised) cron expression."""

    entrypoint: CronEntrypoint
    expression: CronExpression


# -- events (NOTIFY payloads): in pgqueuer.events, importable from here as in PgQueuer ------


def as_interval(value: timedelta | float | int | None) -> timedelta:
    """A relative delay as a timedelta (seconds accepted), negative allowed (already due)."""
    if value is None:
        return timedelta(0)
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"execute_after must be a timedelta or seconds, got {value!r}")
    return timedelta(seconds=value)
