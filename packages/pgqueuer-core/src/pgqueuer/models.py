"""Jobs, log entries, contexts and events: plain dataclasses, cheap to build per job."""

from __future__ import annotations

import json
import traceback as tb_module
import uuid
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pgqueuer.cancellation import CancelScope
from pgqueuer.types import (
    JOB_STATUS,
    Channel,
    CronEntrypoint,
    CronExpression,
    JobId,
    QueueEntrypoint,
    QueueExecutionMode,
    QueueManagerId,
    ScheduleId,
    Slot,
)

__all__ = [
    "ActiveWorker",
    "Backlog",
    "CancellationEvent",
    "Channel",
    "Context",
    "CronEntrypoint",
    "CronExpression",
    "Event",
    "HealthCheckEvent",
    "Job",
    "JobId",
    "Log",
    "LogStatistics",
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
class Job:
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

    def model_dump(self) -> dict[str, Any]:
        """The fields as a dict (PgQueuer's models were pydantic; this keeps the call working)."""
        return asdict(self)


@dataclass(slots=True)
class TracebackRecord:
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

    def model_dump_json(self) -> str:
        return self.to_json()

    @classmethod
    def from_json(cls, value: str | Mapping[str, Any]) -> TracebackRecord:
        data = dict(json.loads(value) if isinstance(value, str) else value)
        ts = data.get("timestamp")
        data["timestamp"] = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(slots=True)
class Log:
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
            traceback=TracebackRecord.from_json(tb) if tb else None,
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
class Schedule:
    """One row of the schedules table."""

    id: ScheduleId
    expression: str
    heartbeat: datetime
    created: datetime
    updated: datetime
    next_run: datetime
    last_run: datetime | None
    status: JOB_STATUS
    entrypoint: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Schedule:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


@dataclass(slots=True)
class QueueStatistics:
    """How many jobs of one entrypoint, priority and status are in the queue table."""

    count: int
    entrypoint: str
    priority: int
    status: JOB_STATUS


@dataclass(slots=True)
class LogStatistics:
    """Terminal jobs per second, entrypoint, priority and status (the statistics table)."""

    count: int
    created: datetime
    entrypoint: str
    priority: int
    status: JOB_STATUS


@dataclass(slots=True)
class StaleJob:
    """A picked job whose worker has not sent a heartbeat for a while."""

    id: int
    entrypoint: str
    queue_manager_id: uuid.UUID | None
    heartbeat: datetime
    attempts: int
    seconds_since_heartbeat: float


@dataclass(slots=True)
class ActiveWorker:
    """A worker (queue manager) holding picked jobs."""

    queue_manager_id: uuid.UUID | None
    jobs: int
    oldest_heartbeat: datetime
    newest_heartbeat: datetime
    entrypoints: list[str]


@dataclass(slots=True)
class Backlog:
    """Queued jobs of one entrypoint."""

    entrypoint: str
    queued: int
    due: int
    oldest_created: datetime
    oldest_age_seconds: float
    average_age_seconds: float


# -- events (NOTIFY payloads) ----------------------------------------------------------------


@dataclass(slots=True)
class Event:
    channel: str
    sent_at: datetime
    type: str
    received_at: datetime


@dataclass(slots=True)
class TableChangedEvent(Event):
    """Jobs became claimable (insert, retry, release) or a concurrency seat was freed."""

    operation: str = ""
    table: str = ""
    schema: str | None = None
    # entrypoint -> number of jobs (a lower bound); None means "any entrypoint"
    entrypoints: dict[str, int] | None = None


@dataclass(slots=True)
class CancellationEvent(Event):
    ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class HealthCheckEvent(Event):
    id: uuid.UUID | None = None


def _timestamp(value: object, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return default
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return default


EventKind = Literal["table_changed_event", "cancellation_event", "health_check_event"]


def parse_event(payload: str) -> Event | None:
    """The event a NOTIFY payload describes, or None when it is not one of ours."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "channel": str(data.get("channel", "")),
        "sent_at": _timestamp(data.get("sent_at"), now),
        "type": str(data.get("type", "")),
        "received_at": now,
    }
    kind = data.get("type")
    if kind == "table_changed_event":
        eps = data.get("entrypoints")
        return TableChangedEvent(
            **base,
            operation=str(data.get("operation", "")),
            table=str(data.get("table", "")),
            schema=data.get("schema"),
            entrypoints={str(k): int(v) for k, v in eps.items()} if isinstance(eps, dict) else None,
        )
    if kind == "cancellation_event":
        ids = data.get("ids") or []
        return CancellationEvent(**base, ids=[int(i) for i in ids if isinstance(i, int)])
    if kind == "health_check_event":
        raw = data.get("id")
        try:
            hid = uuid.UUID(str(raw)) if raw else None
        except ValueError:
            hid = None
        return HealthCheckEvent(**base, id=hid)
    return None


def as_interval(value: timedelta | float | int | None) -> timedelta:
    """A relative delay as a timedelta (seconds accepted), negative allowed (already due)."""
    if value is None:
        return timedelta(0)
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"execute_after must be a timedelta or seconds, got {value!r}")
    return timedelta(seconds=value)


# -- insight models (what Queries' and InMemoryQueries' insight reads return) -------------------
# Durations are float seconds. Each read is bounded (a time window and/or a row cap), so on a
# large log a figure may come from the newest rows only; ``sampled`` says how many were read.


@dataclass(frozen=True, slots=True)
class CronExpressionEntrypoint:
    """A registered schedule's key: which entrypoint, on which cron expression."""

    entrypoint: CronEntrypoint | str
    expression: CronExpression | str


@dataclass(slots=True)
class QueueAgeStats:
    """Queued jobs of one entrypoint and how long the longest-waiting one has been due."""

    entrypoint: str
    queued: int  # counted up to the read's cap
    due: int  # of those, due now (execute_after passed)
    oldest_due: datetime | None  # the earliest execute_after of a queued job
    oldest_wait_seconds: float  # now - oldest_due when that is past, else 0


@dataclass(slots=True)
class JobDurationStats:
    """Run time (claim to end) percentiles of one entrypoint's jobs that ended in a window."""

    entrypoint: str
    count: int
    p50: float
    p95: float
    p99: float
    max: float
    wait_p50: float  # time in queue (due to claimed), median
    wait_p95: float


@dataclass(slots=True)
class ThroughputStats:
    """How many jobs of one entrypoint ended with one status in a window, and the rate."""

    entrypoint: str
    status: JOB_STATUS
    count: int
    window_seconds: float
    per_second: float


@dataclass(slots=True)
class ThroughputBucket:
    """Jobs of one entrypoint and status that ended in one time bucket."""

    start: datetime
    entrypoint: str
    status: JOB_STATUS
    count: int


@dataclass(slots=True)
class TableInfo:
    """One of the installation's tables: persistence, estimated rows and size on disk."""

    name: str
    schema: str
    logged: bool
    estimated_rows: int
    total_bytes: int
