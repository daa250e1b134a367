"""What the dashboard returns: plain frozen dataclasses, easy to render or dump as JSON."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pgqueuer.models import Schedule, StaleJob

__all__ = [
    "EntrypointStats",
    "LogEntry",
    "Percentiles",
    "Snapshot",
    "Worker",
]


@dataclass(frozen=True, slots=True)
class Percentiles:
    """p50, p95 and p99 of a duration in seconds (None when nothing was measured)."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    @classmethod
    def from_list(cls, values: list[float] | None) -> Percentiles:
        if not values:
            return cls()
        p50, p95, p99 = values
        return cls(p50, p95, p99)


@dataclass(frozen=True, slots=True)
class EntrypointStats:
    """One entrypoint at a glance.

    ``queued``, ``running`` and ``failed`` (held) count the queue table now; counts stop at the
    snapshot's ``count_cap``. ``oldest_queued_age`` is how long the longest-due queued job has
    been due, in seconds (None when no queued job is due). The rates and percentiles cover the
    log rows of the last ``window_seconds``: time in queue runs from when a job became due to
    when it was claimed, run time from the claim to the log row.
    """

    entrypoint: str
    queued: int
    running: int
    failed: int
    oldest_queued_age: float | None
    next_due: datetime | None  # the earliest due time of its queued jobs (maybe in the future)
    completed: int  # successful log rows in the window
    errored: int  # exception and failed (held) log rows in the window
    retried: int  # attempts sent back for a retry in the window
    completed_per_second: float
    failed_per_second: float
    queue_time: Percentiles
    run_time: Percentiles
    window_seconds: float


@dataclass(frozen=True, slots=True)
class Worker:
    """A worker (queue manager): registered and alive, or holding running jobs.

    ``host``, ``pid``, ``started_at`` and ``last_seen`` come from the worker registry; they are
    None for a worker that holds jobs without a registry row (PgQueuer 1.6's, or any worker on
    a database without the registry table). ``entrypoints`` are the ones the worker serves
    (registered), or those of its running jobs when it has no row. The heartbeats are those of
    its running jobs (None when it runs none).
    """

    queue_manager_id: uuid.UUID | None
    running_jobs: int
    last_heartbeat: datetime | None
    oldest_heartbeat: datetime | None
    entrypoints: tuple[str, ...]
    host: str | None = None
    pid: int | None = None
    started_at: datetime | None = None
    last_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log row: a job that ended, was retried, cancelled or held."""

    id: int
    created: datetime
    job_id: int
    entrypoint: str
    priority: int
    status: str
    exception: str | None  # "Type: first line of the message", for rows with a traceback
    queue_seconds: float | None  # None for jobs that never ran
    run_seconds: float | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the dashboard shows, read in one consistent (repeatable read) snapshot."""

    taken_at: datetime  # the database's clock
    window_seconds: float  # the span the rates and percentiles cover
    sampled_log_rows: int  # log rows they were computed from
    count_cap: int  # queue counts stop here
    stale_after_seconds: float  # a running job without a heartbeat this long is stale
    entrypoints: tuple[EntrypointStats, ...]
    workers: tuple[Worker, ...]
    stale: tuple[StaleJob, ...]
    schedules: tuple[Schedule, ...]
    log: tuple[LogEntry, ...]

    @property
    def empty(self) -> bool:
        """True when there is nothing at all to show (a fresh install)."""
        return not (self.entrypoints or self.workers or self.stale or self.schedules or self.log)
