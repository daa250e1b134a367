"""The in-memory repository's producer and worker methods (the SQL's rules, over dicts)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pgqueuer.backends.args import (
    STALE_MAX_ATTEMPTS,
    EnqueueBatch,
    Finished,
    RoundTrip,
    enqueue_batch,
)
from pgqueuer.backends.memory_base import MemoryBase, Row, now, parse_headers
from pgqueuer.backends.publish import traced_publish
from pgqueuer.errors import DuplicateJobError
from pgqueuer.models import Job, TracebackRecord
from pgqueuer.ports.tracing import resolve_tracer
from pgqueuer.types import JOB_STATUS, JobId, OnConflict


class MemoryQueue(MemoryBase):
    """enqueue, claim and write-back, heartbeats, rescue and wait probes."""

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
        b = enqueue_batch(
            entrypoint, payload, priority, execute_after, dedupe_key, headers, on_conflict
        )
        tracer = resolve_tracer(self.tracer)
        if tracer is None:
            return self._insert(b, on_conflict)
        with traced_publish(tracer, b):
            return self._insert(b, on_conflict)

    def _insert(self, b: EnqueueBatch, on_conflict: OnConflict) -> list[Any]:
        active = self._active_keys()
        if on_conflict == "raise":
            seen: set[str] = set()
            for key in b.keys:
                if key is not None and (key in active or key in seen):
                    raise DuplicateJobError(key)
                if key is not None:
                    seen.add(key)
        out: list[Any] = []
        counts: dict[str, int] = {}
        at = now()
        for i, ep in enumerate(b.entrypoints):
            key = b.keys[i]
            if key is not None and key in active:
                if on_conflict == "update_priority":
                    row = self._state.rows[active[key]]
                    row.job.priority = max(row.job.priority, b.priorities[i])
                    out.append(JobId(row.job.id))
                else:
                    out.append(None)
                continue
            job_id = self._state.next_id
            self._state.next_id += 1
            job = Job(
                id=JobId(job_id),
                priority=b.priorities[i],
                created=at,
                updated=at,
                heartbeat=at,
                execute_after=at + b.delays[i],
                status="queued",
                entrypoint=ep,
                payload=b.payloads[i],
                headers=parse_headers(b.headers[i]),
            )
            self._state.rows[job_id] = Row(job, key)
            if key is not None:
                active[key] = job_id
            counts[ep] = counts.get(ep, 0) + 1
            out.append(JobId(job_id))
        if counts:
            self._notify("insert", counts)
        return out

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
        at = now()
        woken: dict[str, int] = {}
        for item in finished:
            row = self._state.rows.get(item.id)
            if row is None or row.job.queue_manager_id != queue_manager_id:
                continue
            job = row.job
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
                    job.execute_after = at + (item.delay or timedelta(0))
                    job.attempts += 1
                else:
                    job.execute_after = min(job.execute_after, at)
            job.queue_manager_id = None
            job.slot = None
            job.updated = at
            if item.outcome != "release":
                self._log(job, item.outcome, item.traceback, ran)
        claimed = self._claim(queue_manager_id, entrypoints, limits, batch_size, at)
        if woken:
            self._notify("update", woken)
        return claimed

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
        """As finish_and_claim; nothing is ever skipped (no other transaction locks a row)."""
        jobs = await self.finish_and_claim(
            finished, queue_manager_id, entrypoints, limits, batch_size, async_claim=async_claim
        )
        return RoundTrip(jobs, [])

    def _free_seats(self, ep: str, limit: int) -> list[int]:
        held = {
            r.job.slot
            for r in self._state.rows.values()
            if r.job.entrypoint == ep and r.job.status == "picked"
        }
        return [s for s in range(limit) if s not in held]

    def _claim(
        self,
        me: uuid.UUID,
        entrypoints: Sequence[str],
        limits: Sequence[int],
        batch_size: int,
        at: datetime,
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
                    and r.job.execute_after <= at
                ),
                key=lambda j: (-j.priority, j.id),
            )
            if limit > 0:
                ready = ready[: len(self._free_seats(ep, limit))]
            candidates.extend(ready[:batch_size])
        candidates.sort(key=lambda j: (-j.priority, j.id))
        chosen = candidates[:batch_size]
        # Seats: the lowest free ones, in (priority, id) order per entrypoint.
        for ep, limit in limit_of.items():
            if limit > 0:
                mine = [j for j in chosen if j.entrypoint == ep]
                for job, seat in zip(mine, self._free_seats(ep, limit), strict=False):
                    job.slot = seat
        out = []
        for job in chosen:
            job.status = "picked"
            job.queue_manager_id = me
            job.updated = job.heartbeat = at
            out.append(replace(job))
        return out

    async def dequeue(
        self,
        batch_size: int,
        entrypoints: Mapping[str, Any],
        queue_manager_id: uuid.UUID,
        global_concurrency_limit: int | None = None,
        heartbeat_timeout: timedelta | None = None,
        *,
        max_attempts: int = STALE_MAX_ATTEMPTS,
    ) -> list[Job]:
        """Claim up to ``batch_size`` jobs; see Queries.dequeue (stale jobs first rescued)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if global_concurrency_limit is not None:
            batch_size = min(batch_size, global_concurrency_limit)
        names = list(entrypoints)
        limits = [entrypoints[n].concurrency_limit for n in names]
        if heartbeat_timeout is not None:
            await self.rescue_stale(names, heartbeat_timeout, max_attempts)
        return await self.finish_and_claim([], queue_manager_id, names, limits, batch_size)

    async def log_jobs(
        self, job_status: Sequence[tuple[Job, JOB_STATUS, Any]], *, release: bool = False
    ) -> None:
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
        at = now()
        held: list[int] = []
        for i in ids:
            row = self._state.rows.get(i)
            if row and row.job.queue_manager_id == queue_manager_id:
                row.job.heartbeat = at
                held.append(i)
        return held

    async def update_heartbeat(self, job_ids: Sequence[int]) -> None:
        at = now()
        for i in job_ids:
            row = self._state.rows.get(i)
            if row and row.job.status == "picked":
                row.job.heartbeat = at

    async def rescue_stale(
        self,
        entrypoints: Sequence[str],
        heartbeat_timeout: timedelta,
        max_attempts: int,
        limit: int = 1000,
    ) -> list[tuple[int, str]]:
        at = now()
        stale = sorted(
            (
                r.job
                for r in self._state.rows.values()
                if r.job.status == "picked"
                and r.job.entrypoint in entrypoints
                and r.job.heartbeat < at - heartbeat_timeout
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
            job.updated = at
            record = TracebackRecord(
                job.id,
                at,
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
        return min(dues) - now() if dues else None

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
        at = now()
        return sum(
            1
            for r in self._state.rows.values()
            if r.job.status == "queued"
            and r.job.entrypoint in entrypoints
            and r.job.execute_after <= at
        )
