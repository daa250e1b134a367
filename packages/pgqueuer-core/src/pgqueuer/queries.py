"""``Queries``: every statement pgqueuer runs, one typed method each.

The SQL lives in ``sql/queries.sql``; this module only validates arguments, substitutes the
configured object names once per instance and turns rows into models. Schema management
methods (``install``, ``upgrade``, ...) delegate to the separate ``pgqueuer-schema`` package,
imported only when called, so a worker never needs it.
"""

from __future__ import annotations

import importlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import asyncpg

from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver, Driver
from pgqueuer.errors import DuplicateJobError, PgQueuerError, SchemaNotInstalledError
from pgqueuer.models import (
    ActiveWorker,
    Backlog,
    Job,
    Log,
    LogStatistics,
    QueueStatistics,
    StaleJob,
    as_interval,
)
from pgqueuer.names import Names
from pgqueuer.sql import load_blocks
from pgqueuer.types import JOB_STATUS, JobId, OnConflict

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "EntrypointExecutionParameter",
    "Finished",
    "Queries",
    "SyncQueries",
    "is_unique_violation",
]

INT32 = 2**31 - 1
OUTCOMES = frozenset({"successful", "exception", "canceled", "failed", "queued", "release"})
_KEY_DETAIL = re.compile(r"Key \(dedupe_key\)=\((.*)\) already exists", re.DOTALL)


@dataclass(frozen=True, slots=True)
class EntrypointExecutionParameter:
    """What a worker's claim needs per entrypoint (PgQueuer's name)."""

    concurrency_limit: int = 0


@dataclass(frozen=True, slots=True)
class Finished:
    """A job the worker is done with, waiting to be written back."""

    id: int
    outcome: str  # one of OUTCOMES
    traceback: str | None = None  # TracebackRecord JSON
    delay: timedelta | None = None  # for outcome "queued"


def is_unique_violation(exc: BaseException) -> bool:
    """True for PostgreSQL's unique_violation (SQLSTATE 23505)."""
    return getattr(exc, "sqlstate", None) == "23505"


class SchemaPackageMissingError(PgQueuerError):
    """Schema management needs the pgqueuer-schema package: pip install pgqueuer-schema."""


def _schema_ops() -> Any:
    # Imported by name, on use: core must run without pgqueuer-schema installed.
    try:
        operations = importlib.import_module("pgqueuer_schema.operations")
    except ImportError:
        raise SchemaPackageMissingError() from None
    return operations


def _as_list(value: Any, n: int, what: str) -> list[Any]:
    if isinstance(value, list | tuple):
        if len(value) != n:
            raise ValueError(
                f"enqueue: {what} has {len(value)} items but entrypoint has {n}; "
                "batch lists must all have the same length"
            )
        return list(value)
    return [value] * n


def _check_payload(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        raise TypeError("enqueue: payload must be bytes or None, not str: pass payload.encode()")
    raise TypeError(f"enqueue: payload must be bytes or None, not {type(value).__name__}")


def _check_priority(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"enqueue: priority must be an int, not {type(value).__name__}")
    if not -INT32 - 1 <= value <= INT32:
        raise ValueError(f"enqueue: priority {value} is outside -2147483648..2147483647")
    return value


def _check_entrypoint(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"enqueue: entrypoint must be a non-empty str, got {value!r}")
    return value


def _check_key(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"enqueue: dedupe_key must be a str or None, got {value!r}")
    return value


def _check_headers(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"enqueue: headers must be a dict or None, got {type(value).__name__}")
    try:
        return json.dumps(dict(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"enqueue: headers must be JSON-serialisable: {exc}") from None


def _check_delay(value: Any) -> timedelta:
    try:
        return as_interval(value)
    except TypeError:
        raise TypeError(
            f"enqueue: execute_after must be a timedelta (a delay from now), got {value!r}"
        ) from None


class Queries:
    """Producer, worker and inspection queries over one driver, for one set of names."""

    def __init__(self, driver: Driver, names: Names | None = None, **_builders: Any) -> None:
        unknown = set(_builders) - {"qbe", "qbq", "qbs"}
        if unknown:
            raise TypeError(f"Queries() got unexpected argument(s): {', '.join(sorted(unknown))}")
        self.driver = driver
        self.names = names or Names.from_env()
        blocks = load_blocks("pgqueuer.sql", "queries.sql")
        self._sql = {key: self.names.substitute(sql) for key, sql in blocks.items()}
        self._fetch = getattr(driver, "fetch_records", driver.fetch)
        self._dedupe_index = self.names.derived(self.names.queue_table, "_unique_dedupe_key")

    @classmethod
    def from_asyncpg_connection(
        cls, connection: asyncpg.Connection, names: Names | None = None
    ) -> Queries:
        return cls(AsyncpgDriver(connection), names)

    @classmethod
    def from_asyncpg_pool(cls, pool: asyncpg.Pool, names: Names | None = None) -> Queries:
        return cls(AsyncpgPoolDriver(pool), names)

    @classmethod
    def from_psycopg_connection(
        cls, connection: psycopg.AsyncConnection[Any], names: Names | None = None
    ) -> Queries:
        from pgqueuer.psycopg_driver import PsycopgDriver

        return cls(PsycopgDriver(connection), names)

    @property
    def sql(self) -> Mapping[str, str]:
        """The substituted SQL of every block (for tests and printing)."""
        return self._sql

    async def _rows(self, block: str, *args: Any) -> list[Any]:
        try:
            rows: list[Any] = await self._fetch(self._sql[block], *args)
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedObjectError) as exc:
            raise self._missing(exc) from exc
        return rows

    def _missing(self, exc: BaseException) -> SchemaNotInstalledError:
        where = f" in schema {self.names.schema!r}" if self.names.schema else ""
        flag = f" --schema {self.names.schema}" if self.names.schema else ""
        prefix = f" --prefix {self.names.prefix}" if self.names.prefix else ""
        return SchemaNotInstalledError(
            f"the pgqueuer tables are not installed{where} ({exc}); "
            f"run 'pgq{flag}{prefix} install' first"
        )

    # -- producer ---------------------------------------------------------------------------

    async def enqueue(
        self,
        entrypoint: str | Sequence[str],
        payload: bytes | Sequence[bytes | None] | None = None,
        priority: int | Sequence[int] = 0,
        execute_after: timedelta | Sequence[timedelta | None] | None = None,
        dedupe_key: str | Sequence[str | None] | None = None,
        headers: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None = None,
        *,
        on_conflict: OnConflict = "raise",
    ) -> list[Any]:
        """Queue one job or a batch (parallel lists) in one statement; return their ids.

        ``on_conflict`` decides what an active job with the same ``dedupe_key`` does:
        ``raise`` (DuplicateJobError, nothing written), ``skip`` (None in its place) or
        ``update_priority`` (the existing job's id, with the higher priority).
        """
        if on_conflict not in ("raise", "skip", "update_priority"):
            raise ValueError(
                f"enqueue: on_conflict must be 'raise', 'skip' or 'update_priority', "
                f"not {on_conflict!r}"
            )
        if isinstance(entrypoint, str):
            if isinstance(payload, list | tuple):
                raise TypeError("enqueue: a list of payloads needs a list of entrypoints")
            eps = [_check_entrypoint(entrypoint)]
        else:
            eps = [_check_entrypoint(e) for e in entrypoint]
        n = len(eps)
        if n == 0:
            return []
        payloads = [_check_payload(p) for p in _as_list(payload, n, "payload")]
        priorities = [_check_priority(p) for p in _as_list(priority, n, "priority")]
        delays = [_check_delay(d) for d in _as_list(execute_after, n, "execute_after")]
        keys = [_check_key(k) for k in _as_list(dedupe_key, n, "dedupe_key")]
        if isinstance(headers, Mapping) or headers is None:
            header_list = [_check_headers(headers)] * n
        else:
            header_list = [_check_headers(h) for h in _as_list(headers, n, "headers")]
        if on_conflict == "update_priority":
            seen = [k for k in keys if k is not None]
            if len(seen) != len(set(seen)):
                raise ValueError(
                    "enqueue: on_conflict='update_priority' needs distinct dedupe keys "
                    "within one batch"
                )
        block = {
            "raise": "enqueue",
            "skip": "enqueue_skip",
            "update_priority": "enqueue_update_priority",
        }[on_conflict]
        try:
            rows = await self._rows(block, priorities, eps, payloads, delays, keys, header_list)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != self._dedupe_index:
                raise
            match = _KEY_DETAIL.search(exc.detail or "")
            raise DuplicateJobError(match.group(1) if match else keys) from None
        return self._map_ids(rows, keys, on_conflict)

    @staticmethod
    def _map_ids(rows: list[Any], keys: list[str | None], on_conflict: str) -> list[Any]:
        # Inserted rows got their ids in input order; rows that hit an active key come back
        # (update_priority) or not at all (skip), and are matched by key.
        inserted = sorted(r["id"] for r in rows if r["inserted"])
        existing = {r["dedupe_key"]: r["id"] for r in rows if not r["inserted"]}
        new_keys = {r["dedupe_key"] for r in rows if r["inserted"] and r["dedupe_key"]}
        out: list[Any] = []
        it = iter(inserted)
        taken: set[str] = set()
        for key in keys:
            if key is None or (key in new_keys and key not in taken):
                if key is not None:
                    taken.add(key)
                out.append(JobId(next(it)))
            elif on_conflict == "update_priority":
                out.append(JobId(existing[key]))
            else:
                out.append(None)
        return out

    # -- worker -----------------------------------------------------------------------------

    async def finish_and_claim(
        self,
        finished: Sequence[Finished],
        queue_manager_id: uuid.UUID,
        entrypoints: Sequence[str],
        limits: Sequence[int],
        batch_size: int,
        *,
        async_claim: bool = False,
    ) -> list[Job]:
        """Write back finished jobs and claim up to ``batch_size`` more, in one round trip.

        With ``async_claim``, a call that finishes nothing commits without waiting for the
        WAL flush (a claim lost in a server crash only leaves its jobs queued); a call that
        finishes jobs always waits, whatever the flag.
        """
        rows = await self._rows(
            "finish_and_claim",
            [f.id for f in finished],
            [f.outcome for f in finished],
            [f.traceback for f in finished],
            [f.delay for f in finished],
            queue_manager_id,
            list(entrypoints),
            list(limits),
            batch_size,
            async_claim,
        )
        return [Job.from_row(r) for r in rows]

    async def dequeue(
        self,
        batch_size: int,
        entrypoints: Mapping[str, EntrypointExecutionParameter],
        queue_manager_id: uuid.UUID,
        global_concurrency_limit: int | None = None,
    ) -> list[Job]:
        """Claim up to ``batch_size`` jobs (PgQueuer's signature)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if global_concurrency_limit is not None:
            batch_size = min(batch_size, global_concurrency_limit)
        names = list(entrypoints)
        limits = [entrypoints[n].concurrency_limit for n in names]
        try:
            return await self.finish_and_claim([], queue_manager_id, names, limits, batch_size)
        except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):
            return []  # lost a seat race; the caller claims again

    async def log_jobs(
        self, job_status: Sequence[tuple[Job, JOB_STATUS, Any]], *, release: bool = False
    ) -> None:
        """Record final statuses (PgQueuer's API): delete, hold or log each job."""
        by_worker: dict[uuid.UUID | None, list[Finished]] = {}
        for job, status, tb in job_status:
            text = tb if isinstance(tb, str) or tb is None else tb.to_json()
            by_worker.setdefault(job.queue_manager_id, []).append(Finished(job.id, status, text))
        for qm_id, items in by_worker.items():
            if qm_id is not None:
                await self.finish_and_claim(items, qm_id, [], [], 0)

    async def retry_job(self, job: Job, delay: timedelta, traceback_record: Any = None) -> None:
        """Send a picked job back to the queue after ``delay``, counting an attempt."""
        if job.queue_manager_id is None:
            return
        text = traceback_record.to_json() if traceback_record is not None else None
        await self.finish_and_claim(
            [Finished(job.id, "queued", text, delay)], job.queue_manager_id, [], [], 0
        )

    async def heartbeat(self, ids: Sequence[int], queue_manager_id: uuid.UUID) -> list[int]:
        """Refresh the heartbeat of these jobs; return the ids this worker still holds."""
        rows = await self._rows("heartbeat", list(ids), queue_manager_id)
        return [r["id"] for r in rows]

    async def update_heartbeat(self, ids: Sequence[int]) -> None:
        await self._rows("update_heartbeat", list(ids))

    async def rescue_stale(
        self,
        entrypoints: Sequence[str],
        heartbeat_timeout: timedelta,
        max_attempts: int,
        limit: int = 1000,
    ) -> list[tuple[int, str]]:
        """Give stale jobs back to the queue (or hold them); return ``(id, new status)``."""
        rows = await self._rows(
            "rescue_stale", list(entrypoints), heartbeat_timeout, limit, max_attempts
        )
        return [(r["id"], r["status"]) for r in rows]

    async def next_due(self, entrypoints: Sequence[str]) -> timedelta | None:
        """Time until the next queued job of these entrypoints is due (None: none queued)."""
        rows = await self._rows("next_due", list(entrypoints))
        wait: timedelta | None = rows[0]["wait"] if rows else None
        return wait

    async def next_deferred_eta(self, entrypoints: Sequence[str]) -> timedelta | None:
        wait = await self.next_due(entrypoints)
        return wait if wait is not None and wait > timedelta(0) else None

    async def queued_work(self, entrypoints: Sequence[str]) -> int:
        rows = await self._rows("queued_work", list(entrypoints))
        return int(rows[0]["n"])

    async def eligible_queued_work(self, entrypoints: Sequence[str]) -> int:
        rows = await self._rows("eligible_queued_work", list(entrypoints))
        return int(rows[0]["n"])

    async def table_schema(self) -> str | None:
        """The schema the queue table is in, or None when it is not installed."""
        rows = await self._rows("table_schema", self.names.qualify(self.names.queue_table))
        return rows[0]["schema"] if rows else None

    # -- operations -------------------------------------------------------------------------

    async def queue_size(self) -> list[QueueStatistics]:
        rows = await self._rows("queue_size")
        return [
            QueueStatistics(r["count"], r["entrypoint"], r["priority"], r["status"]) for r in rows
        ]

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

    async def mark_job_as_cancelled(self, ids: Sequence[int]) -> list[JobId]:
        """Cancel queued or running jobs; return the ids that were cancelled."""
        rows = await self._rows("cancel_jobs", [int(i) for i in ids], self.names.channel)
        return [JobId(r["id"]) for r in rows]

    async def requeue_jobs(self, ids: Sequence[int]) -> list[JobId]:
        """Queue held (failed) jobs again; return the ids that really were re-queued."""
        try:
            rows = await self._rows("requeue_failed", [int(i) for i in ids])
        except asyncpg.UniqueViolationError as exc:
            match = _KEY_DETAIL.search(exc.detail or "")
            raise DuplicateJobError(match.group(1) if match else None) from None
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
        if entrypoint is None:
            await self._rows("clear_all")
            return
        eps = [entrypoint] if isinstance(entrypoint, str) else list(entrypoint)
        await self._rows("clear_entrypoints", eps)

    async def job_status(self, ids: Sequence[int]) -> list[tuple[JobId, JOB_STATUS]]:
        rows = await self._rows("job_status", [int(i) for i in ids])
        return [(JobId(r["job_id"]), r["status"]) for r in rows]

    async def queue_log(self) -> list[Log]:
        return [Log.from_row(r) for r in await self._rows("queue_log")]

    async def aggregate_logs(self, limit: int = 50_000) -> int:
        """Fold unaggregated log rows into statistics; return how many were folded."""
        rows = await self._rows("aggregate_log", self.names.statistics_table, limit)
        return int(rows[0]["n"])

    async def log_statistics(
        self, tail: int | None = None, last: timedelta | None = None
    ) -> list[LogStatistics]:
        await self.aggregate_logs()
        rows = await self._rows("log_statistics", tail, last)
        return [
            LogStatistics(r["count"], r["created"], r["entrypoint"], r["priority"], r["status"])
            for r in rows
        ]

    async def prune(self, retention: timedelta, limit: int = 10_000) -> tuple[int, int]:
        """Delete log and statistics rows older than ``retention``; return both counts."""
        log = await self.driver.execute(self._sql["prune_log"], retention, limit)
        stats = await self.driver.execute(self._sql["prune_statistics"], retention, limit)
        return int(log.split()[-1]), int(stats.split()[-1])

    async def clear_statistics_log(self, entrypoint: str | Sequence[str] | None = None) -> None:
        eps = [entrypoint] if isinstance(entrypoint, str) else entrypoint
        await self._rows("clear_statistics", None if eps is None else list(eps))

    async def clear_queue_log(self, entrypoint: str | Sequence[str] | None = None) -> None:
        eps = [entrypoint] if isinstance(entrypoint, str) else entrypoint
        await self._rows("clear_log", None if eps is None else list(eps))

    async def notify(self, payload: str) -> None:
        await self._rows("notify", self.names.channel, payload)

    # -- schema management (pgqueuer-schema, imported on use) -------------------------------

    def _connection(self) -> asyncpg.Connection:
        conn: asyncpg.Connection | None = getattr(self.driver, "connection", None)
        if conn is None:
            raise PgQueuerError(
                "schema management needs Queries built on one asyncpg connection "
                "(Queries.from_asyncpg_connection)"
            )
        return conn

    async def install(self, create_schema: bool = True) -> None:
        await _schema_ops().install(self._connection(), self.names, create_schema=create_schema)

    async def uninstall(self) -> None:
        await _schema_ops().uninstall(self._connection(), self.names)

    async def upgrade(self) -> None:
        await _schema_ops().upgrade(self._connection(), self.names)

    async def apply_upgrade(self) -> Any:
        return await _schema_ops().upgrade(self._connection(), self.names)

    async def plan_upgrade(self) -> Any:
        return await _schema_ops().plan(self._connection(), self.names)

    async def schema_is_installed(self) -> bool:
        return await self.table_schema() is not None

    async def has_table(self, table: str) -> bool:
        rows = await self.driver.fetch("SELECT to_regclass($1) IS NOT NULL AS ok", table)
        return bool(rows[0]["ok"])

    async def table_has_column(self, table: str, column: str) -> bool:
        rows = await self.driver.fetch(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) "
            "AND attname = $2 AND NOT attisdropped) AS ok",
            table,
            column,
        )
        return bool(rows[0]["ok"])

    async def table_has_index(self, table: str, index: str) -> bool:
        rows = await self.driver.fetch(
            "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = to_regclass($1) AND c.relname = $2) AS ok",
            table,
            index,
        )
        return bool(rows[0]["ok"])

    async def has_user_defined_enum(self, key: str, enum: str) -> bool:
        rows = await self.driver.fetch(
            "SELECT EXISTS (SELECT 1 FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
            "WHERE t.oid = to_regtype($2) AND e.enumlabel = $1) AS ok",
            key,
            enum,
        )
        return bool(rows[0]["ok"])


# SyncQueries (blocking producers) reuses this module's argument checks: imported last.
from pgqueuer.sync_queries import SyncQueries  # noqa: E402
