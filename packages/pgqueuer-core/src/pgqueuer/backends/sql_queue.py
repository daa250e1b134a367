"""The SQL repository's producer and worker statements."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from pgqueuer.backends.args import (
    STALE_MAX_ATTEMPTS,
    EntrypointExecutionParameter,
    Finished,
    RoundTrip,
    enqueue_batch,
    finish_all,
)
from pgqueuer.backends.publish import traced_publish
from pgqueuer.backends.sql_base import SqlBase
from pgqueuer.dberrors import is_seat_race, unique_violation
from pgqueuer.errors import DuplicateJobError
from pgqueuer.models import Job
from pgqueuer.ports.tracing import resolve_tracer
from pgqueuer.types import JOB_STATUS, JobId, OnConflict

KEY_DETAIL = re.compile(r"Key \(dedupe_key\)=\((.*)\) already exists", re.DOTALL)


def is_unique_violation(exc: BaseException) -> bool:
    """True for PostgreSQL's unique_violation (SQLSTATE 23505)."""
    return unique_violation(exc) is not None


def violation(exc: BaseException) -> tuple[str | None, str | None]:
    """(constraint name, detail) of a unique violation, from asyncpg's or psycopg's exception."""
    return unique_violation(exc) or (None, None)


def duplicate_key(exc: BaseException, fallback: str | list[str | None] | None) -> DuplicateJobError:
    """The DuplicateJobError for a unique violation, naming the key the server reported."""
    match = KEY_DETAIL.search(violation(exc)[1] or "")
    return DuplicateJobError(match.group(1) if match else fallback)


def null_unless_any(values: list[Any]) -> list[Any] | None:
    """``values``, or None (SQL NULL) when every one of them is None."""
    for value in values:
        if value is not None:
            return values
    return None


class SqlQueue(SqlBase):
    """enqueue, the worker's claim and write-back, heartbeats, rescue and wait probes."""

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
        b = enqueue_batch(
            entrypoint, payload, priority, execute_after, dedupe_key, headers, on_conflict
        )
        if not b.entrypoints:
            return []
        block = {
            "raise": "enqueue",
            "skip": "enqueue_skip",
            "update_priority": "enqueue_update_priority",
        }[on_conflict]
        tracer = resolve_tracer(self.tracer)
        try:
            if tracer is None:
                rows = await self._rows(
                    block, b.priorities, b.entrypoints, b.payloads, b.delays, b.keys, b.headers
                )
            else:
                with traced_publish(tracer, b):
                    rows = await self._rows(
                        block, b.priorities, b.entrypoints, b.payloads, b.delays, b.keys, b.headers
                    )
        except Exception as exc:
            dedupe_index = self.names.derived(self.names.queue_table, "_unique_dedupe_key")
            if not is_unique_violation(exc) or violation(exc)[0] != dedupe_index:
                raise
            raise duplicate_key(exc, b.keys) from None
        return self._map_ids(rows, b.keys, on_conflict)

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
        finishes jobs always waits, whatever the flag. A finished job whose row another
        transaction has locked is written once that lock is gone: the call waits for it
        (the worker uses :meth:`try_finish_and_claim`, which does not).
        """
        trip = await self.try_finish_and_claim(
            finished, queue_manager_id, entrypoints, limits, batch_size, async_claim=async_claim
        )
        await finish_all(self.try_finish_and_claim, trip.skipped, queue_manager_id)
        return trip.jobs

    async def try_finish_and_claim(
        self,
        finished: Sequence[Finished],
        queue_manager_id: uuid.UUID,
        entrypoints: Sequence[str],
        limits: Sequence[int],
        batch_size: int,
        *,
        async_claim: bool = False,
    ) -> RoundTrip:
        """As :meth:`finish_and_claim`, in one statement that never waits on a row lock: a
        finished job whose row another transaction holds is not written (nor logged) and comes
        back in ``skipped``, for the caller to send again in a later round trip."""
        rows = await self._rows(
            "finish_and_claim",
            [f.id for f in finished],
            [f.outcome for f in finished],
            # Mostly all None: sent as one NULL (unnest pads it), not an array to encode.
            null_unless_any([f.traceback for f in finished]),
            null_unless_any([f.delay for f in finished]),
            queue_manager_id,
            list(entrypoints),
            list(limits),
            batch_size,
            async_claim,
        )
        jobs = [Job.from_row(r) for r in rows if not r["skipped"]]
        if len(jobs) == len(rows):
            return RoundTrip(jobs, [])
        locked = {r["id"] for r in rows if r["skipped"]}
        return RoundTrip(jobs, [f for f in finished if f.id in locked])

    async def dequeue(
        self,
        batch_size: int,
        entrypoints: Mapping[str, EntrypointExecutionParameter],
        queue_manager_id: uuid.UUID,
        global_concurrency_limit: int | None = None,
        heartbeat_timeout: timedelta | None = None,
        *,
        max_attempts: int = STALE_MAX_ATTEMPTS,
    ) -> list[Job]:
        """Claim up to ``batch_size`` jobs (PgQueuer's signature).

        With ``heartbeat_timeout``, picked jobs of these entrypoints whose heartbeat is older
        are first given back to the queue (attempts + 1; held as failed after ``max_attempts``)
        and so compete for this claim, as PgQueuer's dequeue re-picks stale jobs.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if global_concurrency_limit is not None:
            batch_size = min(batch_size, global_concurrency_limit)
        names = list(entrypoints)
        limits = [entrypoints[n].concurrency_limit for n in names]
        if heartbeat_timeout is not None:
            await self.rescue_stale(names, heartbeat_timeout, max_attempts)
        try:
            return await self.finish_and_claim([], queue_manager_id, names, limits, batch_size)
        except Exception as exc:
            # unique_violation on the seat index, or deadlock_detected: lost a seat race;
            # the caller claims again
            if is_seat_race(exc):
                return []
            raise

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

    async def update_heartbeat(self, job_ids: Sequence[int]) -> None:
        """Refresh the heartbeat of these picked jobs, whoever holds them (PgQueuer's API)."""
        await self._rows("update_heartbeat", list(job_ids))

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
