"""The statistics and insight models: what the queue's reads return (``Queries`` and
``InMemoryQueries``: queue_size, log_statistics, stale jobs, workers, backlog, queue age,
durations, throughput, table info). Importable from ``pgqueuer.models`` as in PgQueuer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pgqueuer.modelbase import ModelMixin
from pgqueuer.types import JOB_STATUS


@dataclass(slots=True)
class QueueStatistics(ModelMixin):
    """How many jobs of one entrypoint, priority and status are in the queue table."""

    count: int
    entrypoint: str
    priority: int
    status: JOB_STATUS


@dataclass(slots=True)
class LogStatistics(ModelMixin):
    """Terminal jobs per second, entrypoint, priority and status (the statistics table)."""

    count: int
    created: datetime
    entrypoint: str
    priority: int
    status: JOB_STATUS


@dataclass(slots=True)
class StaleJob(ModelMixin):
    """A picked job whose worker has not sent a heartbeat for a while."""

    id: int
    entrypoint: str
    queue_manager_id: uuid.UUID | None
    heartbeat: datetime
    attempts: int
    seconds_since_heartbeat: float


@dataclass(slots=True)
class ActiveWorker(ModelMixin):
    """A worker (queue manager) holding picked jobs."""

    queue_manager_id: uuid.UUID | None
    jobs: int
    oldest_heartbeat: datetime
    newest_heartbeat: datetime
    entrypoints: list[str]


@dataclass(slots=True)
class Backlog(ModelMixin):
    """Queued jobs of one entrypoint."""

    entrypoint: str
    queued: int
    due: int
    oldest_created: datetime
    oldest_age_seconds: float
    average_age_seconds: float


# -- insight models (what Queries' and InMemoryQueries' insight reads return) -------------------
# Durations are float seconds. Each read is bounded (a time window and/or a row cap), so on a
# large log a figure may come from the newest rows only; ``sampled`` says how many were read.


@dataclass(slots=True)
class QueueAgeStats(ModelMixin):
    """Queued jobs of one entrypoint and how long the longest-waiting one has been due."""

    entrypoint: str
    queued: int  # counted up to the read's cap
    due: int  # of those, due now (execute_after passed)
    oldest_due: datetime | None  # the earliest execute_after of a queued job
    oldest_wait_seconds: float  # now - oldest_due when that is past, else 0


@dataclass(slots=True)
class JobDurationStats(ModelMixin):
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
class ThroughputStats(ModelMixin):
    """How many jobs of one entrypoint ended with one status in a window, and the rate."""

    entrypoint: str
    status: JOB_STATUS
    count: int
    window_seconds: float
    per_second: float


@dataclass(slots=True)
class ThroughputBucket(ModelMixin):
    """Jobs of one entrypoint and status that ended in one time bucket."""

    start: datetime
    entrypoint: str
    status: JOB_STATUS
    count: int


@dataclass(slots=True)
class TableInfo(ModelMixin):
    """One of the installation's tables: persistence, estimated rows and size on disk."""

    name: str
    schema: str
    logged: bool
    estimated_rows: int
    total_bytes: int


@dataclass(slots=True)
class TableChurn(ModelMixin):
    """The queue table's rows as the server's statistics count them (about a second behind).

    ``since_vacuum``: seconds since its last VACUUM of any kind (None: never). ``may_vacuum``:
    this role owns the table (or is a member of the owner), so its VACUUM does something.
    ``vacuuming``: a VACUUM of it runs now (as far as this role may see other sessions).
    ``analyzed``: the planner has column statistics for it (an ANALYZE ran since it was made).
    """

    live: int
    dead: int
    since_vacuum: float | None
    may_vacuum: bool
    vacuuming: bool = False
    analyzed: bool = True
