"""A queue that lives in this process: ``PgQueuer.in_memory()`` for unit tests and batches.

``InMemoryQueries`` offers the methods of ``Queries`` that producers and the worker use, with the
same semantics as the SQL (priority then id order, due times, dedupe keys, concurrency seats,
outcomes, retries, rescue of stale jobs, cancellation, per-second statistics); ``InMemoryDriver``
runs no SQL and delivers notifications in-process.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

from pgqueuer.db import Listener
from pgqueuer.errors import DuplicateJobError, SchemaNotInstalledError
from pgqueuer.models import Job, Log, LogStatistics, QueueStatistics, TracebackRecord
from pgqueuer.names import Names
from pgqueuer.queries import (
    Finished,
    _as_list,
    _check_delay,
    _check_entrypoint,
    _check_headers,
    _check_key,
    _check_payload,
    _check_priority,
)
from pgqueuer.tasks import DriverLifecycle
from pgqueuer.types import JOB_STATUS, JobId, OnConflict


def _parse_headers(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


def _now() -> datetime:
    return datetime.now(UTC)


class InMemoryDriver(DriverLifecycle):
    """Runs no SQL; NOTIFY goes straight to this process's listeners."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        raise NotImplementedError("the in-memory driver runs no SQL")

    async def execute(self, query: str, *args: Any) -> str:
        raise NotImplementedError("the in-memory driver runs no SQL")

    async def add_listener(self, channel: str, callback: Listener) -> None:
        self._listeners.setdefault(channel, []).append(callback)

    async def remove_listener(self, channel: str, callback: Listener) -> None:
        callbacks = self._listeners.get(channel, [])
        if callback in callbacks:
            callbacks.remove(callback)

    async def notify(self, channel: str, payload: str) -> None:
        self.deliver(channel, payload)

    def deliver(self, channel: str, payload: str) -> None:
        for callback in list(self._listeners.get(channel, ())):
            callback(payload)

    async def __aenter__(self) -> InMemoryDriver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


@dataclass
class _Row:
    job: Job
    dedupe_key: str | None = None


@dataclass
class _State:
    rows: dict[int, _Row] = field(default_factory=dict)
    log: list[Log] = field(default_factory=list)
    stats: dict[tuple[datetime, str, int, str], int] = field(default_factory=dict)
    next_id: int = 1


class InMemoryQueries:
    """The ``Queries`` API over dicts, for one process."""

    def __init__(self, driver: InMemoryDriver | None = None, names: Names | None = None) -> None:
        self.driver = driver or InMemoryDriver()
        self.names = names or Names.create()
        self.sql: Mapping[str, str] = {}
        self._state = _State()

    # -- helpers ----------------------------------------------------------------------------

    def _missing(self, exc: BaseException) -> SchemaNotInstalledError:
        return SchemaNotInstalledError(f"in-memory queue: {exc}")

    def _notify(self, operation: str, entrypoints: dict[str, int]) -> None:
        payload = {
            "channel": self.names.channel,
            "operation": operation,
            "sent_at": _now().isoformat(),
            "table": self.names.bare(self.names.queue_table),
            "schema": None,
            "type": "table_changed_event",
            "entrypoints": entrypoints,
        }
        self.driver.deliver(self.names.channel, json.dumps(payload))

    def _log(
        self,
        job: Job,
        status: str,
        traceback: str | None = None,
        ran: tuple[datetime, datetime] | None = None,
    ) -> None:
        """Append a log row; ``ran`` is (picked_at, execute_after) of an attempt that ran."""
        tb = TracebackRecord.from_json(traceback) if traceback else None
        picked_at, execute_after = ran or (None, None)
        self._state.log.append(
            Log(
                _now(),
                job.id,
                status,  # type: ignore[arg-type]
                job.priority,
                job.entrypoint,
                tb,
                False,
                picked_at,
                execute_after,
            )
        )

    def _active_keys(self) -> dict[str, int]:
        return {
            r.dedupe_key: i
            for i, r in self._state.rows.items()
            if r.dedupe_key is not None and r.job.status in ("queued", "picked")
        }

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
        """Queue one job or a batch; the same rules and return values as Queries.enqueue."""
        if on_conflict not in ("raise", "skip", "update_priority"):
            raise ValueError("enqueue: on_conflict must be 'raise', 'skip' or 'update_priority'")
        eps = (
            [_check_entrypoint(entrypoint)]
            if isinstance(entrypoint, str)
            else [_check_entrypoint(e) for e in entrypoint]
        )
        n = len(eps)
        payloads = [_check_payload(p) for p in _as_list(payload, n, "payload")]
        priorities = [_check_priority(p) for p in _as_list(priority, n, "priority")]
        delays = [_check_delay(d) for d in _as_list(execute_after, n, "execute_after")]
        keys = [_check_key(k) for k in _as_list(dedupe_key, n, "dedupe_key")]
        if isinstance(headers, Mapping) or headers is None:
            header_list = [_check_headers(headers)] * n
        else:
            header_list = [_check_headers(h) for h in _as_list(headers, n, "headers")]
        if on_conflict == "update_priority":
            given = [k for k in keys if k is not None]
            if len(given) != len(set(given)):
                raise ValueError("enqueue: on_conflict='update_priority' needs distinct keys")
        active = self._active_keys()
        if on_conflict == "raise":
            seen: set[str] = set()
            for key in keys:
                if key is not None and (key in active or key in seen):
                    raise DuplicateJobError(key)
                if key is not None:
                    seen.add(key)
        out: list[Any] = []
        counts: dict[str, int] = {}
        now = _now()
        for i in range(n):
            key = keys[i]
            if key is not None and key in active:
                if on_conflict == "update_priority":
                    row = self._state.rows[active[key]]
                    row.job.priority = max(row.job.priority, priorities[i])
                    out.append(JobId(row.job.id))
                else:
                    out.append(None)
                continue
            job_id = self._state.next_id
            self._state.next_id += 1
            job = Job(
                id=JobId(job_id),
                priority=priorities[i],
                created=now,
                updated=now,
                heartbeat=now,
                execute_after=now + delays[i],
                status="queued",
                entrypoint=eps[i],
                payload=payloads[i],
                headers=_parse_headers(header_list[i]),
            )
            self._state.rows[job_id] = _Row(job, key)
            if key is not None:
                active[key] = job_id
            counts[eps[i]] = counts.get(eps[i], 0) + 1
            out.append(JobId(job_id))
        if counts:
            self._notify("insert", counts)
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
        async_claim: bool = False,  # nothing to flush in memory
    ) -> list[Job]:
        """Write back finished jobs, then claim up to ``batch_size`` (as the SQL does)."""
        now = _now()
        woken: dict[str, int] = {}
        for item in finished:
            row = self._state.rows.get(item.id)
            if row is None or row.job.status != "picked":
                continue
            job = row.job
            if job.queue_manager_id != queue_manager_id:
                continue
            ran = (job.updated, job.execute_after)  # the claim set updated; nothing else did
            if item.outcome in ("successful", "exception", "canceled"):
                del self._state.rows[item.id]
                self._log(job, item.outcome, item.traceback, ran)
                if job.slot is not None:
                    woken[job.entrypoint] = 1
                continue
            if item.outcome == "failed":
                job.status = "failed"
            else:
                job.status = "queued"
                woken[job.entrypoint] = 1
                if item.outcome == "queued":
                    job.execute_after = now + (item.delay or timedelta(0))
                    job.attempts += 1
                else:
                    job.execute_after = min(job.execute_after, now)
            job.queue_manager_id = None
            job.slot = None
            job.updated = now
            if item.outcome != "release":
                self._log(job, item.outcome, item.traceback, ran)
        claimed = self._claim(queue_manager_id, entrypoints, limits, batch_size, now)
        if woken:
            self._notify("update", woken)
        return claimed

    def _claim(
        self,
        me: uuid.UUID,
        entrypoints: Sequence[str],
        limits: Sequence[int],
        batch_size: int,
        now: datetime,
    ) -> list[Job]:
        if batch_size <= 0:
            return []
        limit_of = dict(zip(entrypoints, limits, strict=True))
        candidates: list[Job] = []
        for ep, limit in limit_of.items():
            ready = sorted(
                (
                    r.job
                    for r in self._state.rows.values()
                    if r.job.entrypoint == ep
                    and r.job.status == "queued"
                    and r.job.execute_after <= now
                ),
                key=lambda j: (-j.priority, j.id),
            )
            if limit > 0:
                held = {
                    r.job.slot
                    for r in self._state.rows.values()
                    if r.job.entrypoint == ep and r.job.status == "picked"
                }
                seats = [s for s in range(limit) if s not in held]
                ready = ready[: len(seats)]
                for job, seat in zip(ready, seats, strict=False):
                    job.slot = seat  # provisional; cleared below when not chosen
            candidates.extend(ready[:batch_size])
        candidates.sort(key=lambda j: (-j.priority, j.id))
        chosen = candidates[:batch_size]
        for job in candidates[batch_size:]:
            job.slot = None
        if chosen:
            # Seats must be the lowest free ones in (priority, id) order per entrypoint.
            for ep, limit in limit_of.items():
                if limit > 0:
                    mine = [j for j in chosen if j.entrypoint == ep]
                    held = {
                        r.job.slot
                        for r in self._state.rows.values()
                        if r.job.entrypoint == ep and r.job.status == "picked"
                    }
                    seats = [s for s in range(limit) if s not in held]
                    for job, seat in zip(mine, seats, strict=False):
                        job.slot = seat
        out = []
        for job in chosen:
            job.status = "picked"
            job.queue_manager_id = me
            job.updated = job.heartbeat = now
            out.append(replace(job))
        return out

    async def dequeue(
        self,
        batch_size: int,
        entrypoints: Mapping[str, Any],
        queue_manager_id: uuid.UUID,
        global_concurrency_limit: int | None = None,
    ) -> list[Job]:
        if global_concurrency_limit is not None:
            batch_size = min(batch_size, global_concurrency_limit)
        names = list(entrypoints)
        limits = [entrypoints[n].concurrency_limit for n in names]
        return await self.finish_and_claim([], queue_manager_id, names, limits, batch_size)

    async def log_jobs(self, job_status: Sequence[tuple[Job, JOB_STATUS, Any]]) -> None:
        for job, status, tb in job_status:
            text = tb if isinstance(tb, str) or tb is None else tb.to_json()
            if job.queue_manager_id is not None:
                await self.finish_and_claim(
                    [Finished(job.id, status, text)], job.queue_manager_id, [], [], 0
                )

    async def retry_job(self, job: Job, delay: timedelta, traceback_record: Any = None) -> None:
        if job.queue_manager_id is not None:
            text = traceback_record.to_json() if traceback_record is not None else None
            await self.finish_and_claim(
                [Finished(job.id, "queued", text, delay)], job.queue_manager_id, [], [], 0
            )

    async def heartbeat(self, ids: Sequence[int], queue_manager_id: uuid.UUID) -> list[int]:
        now = _now()
        held: list[int] = []
        for i in ids:
            row = self._state.rows.get(i)
            if row and row.job.status == "picked" and row.job.queue_manager_id == queue_manager_id:
                row.job.heartbeat = now
                held.append(i)
        return held

    async def update_heartbeat(self, ids: Sequence[int]) -> None:
        now = _now()
        for i in ids:
            row = self._state.rows.get(i)
            if row and row.job.status == "picked":
                row.job.heartbeat = now

    async def rescue_stale(
        self,
        entrypoints: Sequence[str],
        heartbeat_timeout: timedelta,
        max_attempts: int,
        limit: int = 1000,
    ) -> list[tuple[int, str]]:
        now = _now()
        stale = sorted(
            (
                r.job
                for r in self._state.rows.values()
                if r.job.status == "picked"
                and r.job.entrypoint in entrypoints
                and r.job.heartbeat < now - heartbeat_timeout
            ),
            key=lambda j: j.heartbeat,
        )[:limit]
        out: list[tuple[int, str]] = []
        woken: dict[str, int] = {}
        for job in stale:
            ran = (job.updated, job.execute_after)
            job.attempts += 1
            job.status = "failed" if job.attempts >= max_attempts else "queued"
            job.queue_manager_id = None
            job.slot = None
            job.updated = now
            record = TracebackRecord(
                job.id,
                now,
                "WorkerLost",
                f"no heartbeat since {job.heartbeat}",
                "",
                {"attempt": job.attempts, "entrypoint": job.entrypoint},
            )
            self._log(job, job.status, record.to_json(), ran)
            if job.status == "queued":
                woken[job.entrypoint] = 1
            out.append((job.id, job.status))
        if woken:
            self._notify("update", woken)
        return out

    async def next_due(self, entrypoints: Sequence[str]) -> timedelta | None:
        dues = [
            r.job.execute_after
            for r in self._state.rows.values()
            if r.job.status == "queued" and r.job.entrypoint in entrypoints
        ]
        return min(dues) - _now() if dues else None

    async def next_deferred_eta(self, entrypoints: Sequence[str]) -> timedelta | None:
        wait = await self.next_due(entrypoints)
        return wait if wait is not None and wait > timedelta(0) else None

    async def queued_work(self, entrypoints: Sequence[str]) -> int:
        return sum(
            1
            for r in self._state.rows.values()
            if r.job.status == "queued" and r.job.entrypoint in entrypoints
        )

    async def eligible_queued_work(self, entrypoints: Sequence[str]) -> int:
        now = _now()
        return sum(
            1
            for r in self._state.rows.values()
            if r.job.status == "queued"
            and r.job.entrypoint in entrypoints
            and r.job.execute_after <= now
        )

    async def table_schema(self) -> str | None:
        return "memory"

    # -- operations -------------------------------------------------------------------------

    async def queue_size(self) -> list[QueueStatistics]:
        counts: dict[tuple[str, int, str], int] = {}
        for r in self._state.rows.values():
            key = (r.job.entrypoint, r.job.priority, r.job.status)
            counts[key] = counts.get(key, 0) + 1
        return [
            QueueStatistics(c, ep, prio, status)  # type: ignore[arg-type]
            for (ep, prio, status), c in sorted(counts.items(), key=lambda kv: -kv[1])
        ]

    async def mark_job_as_cancelled(self, ids: Sequence[int]) -> list[JobId]:
        gone: list[JobId] = []
        running: list[int] = []
        for i in sorted(set(int(x) for x in ids)):
            row = self._state.rows.get(i)
            if row is None or row.job.status not in ("queued", "picked"):
                continue
            del self._state.rows[i]
            picked = row.job.status == "picked"
            ran = (row.job.updated, row.job.execute_after) if picked else None
            self._log(row.job, "canceled", None, ran)
            gone.append(JobId(i))
            if row.job.status == "picked":
                running.append(i)
        if running:
            payload = {
                "channel": self.names.channel,
                "type": "cancellation_event",
                "sent_at": _now().isoformat(),
                "ids": running,
            }
            self.driver.deliver(self.names.channel, json.dumps(payload))
        return gone

    async def requeue_jobs(self, ids: Sequence[int]) -> list[JobId]:
        active = self._active_keys()
        out: list[JobId] = []
        for i in sorted(set(int(x) for x in ids)):
            row = self._state.rows.get(i)
            if row is None or row.job.status != "failed":
                continue
            if row.dedupe_key is not None and row.dedupe_key in active:
                raise DuplicateJobError(row.dedupe_key)
            job = row.job
            job.status, job.attempts, job.execute_after = "queued", 0, _now()
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
        failed = sorted(
            (replace(r.job) for r in self._state.rows.values() if r.job.status == "failed"),
            key=lambda j: j.id,
            reverse=order.upper() == "DESC",
        )
        return failed[:limit]

    async def clear_queue(self, entrypoint: str | Sequence[str] | None = None) -> None:
        if entrypoint is None:
            self._state.rows.clear()
            return
        eps = {entrypoint} if isinstance(entrypoint, str) else set(entrypoint)
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

    async def aggregate_logs(self, limit: int = 50_000) -> int:
        n = 0
        for log in self._state.log:
            if log.aggregated or n >= limit:
                continue
            key = (log.created.replace(microsecond=0), log.entrypoint, log.priority, log.status)
            self._state.stats[key] = self._state.stats.get(key, 0) + 1
            log.aggregated = True
            n += 1
        return n

    async def log_statistics(
        self, tail: int | None = None, last: timedelta | None = None
    ) -> list[LogStatistics]:
        await self.aggregate_logs()
        since = _now() - last if last is not None else None
        out = [
            LogStatistics(c, created, ep, prio, status)  # type: ignore[arg-type]
            for (created, ep, prio, status), c in self._state.stats.items()
            if since is None or created > since
        ]
        out.sort(key=lambda s: s.created, reverse=True)
        return out[:tail] if tail is not None else out

    async def prune(self, retention: timedelta, limit: int = 10_000) -> tuple[int, int]:
        cutoff = _now() - retention
        before = len(self._state.log)
        self._state.log = [g for g in self._state.log if not (g.aggregated and g.created < cutoff)]
        old = [k for k in self._state.stats if k[0] < cutoff]
        for k in old:
            del self._state.stats[k]
        return before - len(self._state.log), len(old)

    async def clear_statistics_log(self, entrypoint: str | Sequence[str] | None = None) -> None:
        eps = (
            None
            if entrypoint is None
            else ({entrypoint} if isinstance(entrypoint, str) else set(entrypoint))
        )
        for k in [k for k in self._state.stats if eps is None or k[1] in eps]:
            del self._state.stats[k]

    async def clear_queue_log(self, entrypoint: str | Sequence[str] | None = None) -> None:
        eps = (
            None
            if entrypoint is None
            else ({entrypoint} if isinstance(entrypoint, str) else set(entrypoint))
        )
        self._state.log = [
            g for g in self._state.log if eps is not None and g.entrypoint not in eps
        ]

    async def notify(self, payload: str) -> None:
        self.driver.deliver(self.names.channel, payload)

    # -- schema management: nothing to manage -----------------------------------------------

    async def install(self, create_schema: bool = True) -> None:
        return None

    async def uninstall(self) -> None:
        self._state = _State()

    async def upgrade(self) -> None:
        return None

    async def schema_is_installed(self) -> bool:
        return True

    async def has_table(self, table: str) -> bool:
        return True
