"""QueueManager methods PgQueuer 1.6 has and our worker loop does not need.

Our worker claims and writes back in one round trip (``finish_and_claim``) instead of PgQueuer's
fetch-a-batch, run, log-through-a-buffer steps, so these are not on its hot path. They keep the
meaning a caller of PgQueuer's expects, each documented below; ``QueueManager`` inherits them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import AsyncGenerator, MutableMapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pgqueuer.errors import RetryRequested
from pgqueuer.executors import AbstractEntrypointExecutor
from pgqueuer.models import Context, Job, TracebackRecord
from pgqueuer.types import JOB_STATUS, JobId, QueueEntrypoint

if TYPE_CHECKING:
    from pgqueuer.inmemory import InMemoryQueries
    from pgqueuer.queries import Queries
    from pgqueuer.worker.state import WorkerState

logger = logging.getLogger("pgqueuer")

__all__ = ["QueueManagerCompat", "StatusBuffer"]


@runtime_checkable
class StatusBuffer(Protocol):
    """Something that takes ``(job, status, traceback)`` to write later (PgQueuer's buffer)."""

    def add(self, item: tuple[Job, str, TracebackRecord | None]) -> Any: ...


class QueueManagerCompat:
    """PgQueuer's ``fetch_jobs``, ``log_failure``, ``forget_job`` and capacity check."""

    queries: Queries | InMemoryQueries
    queue_manager_id: uuid.UUID
    shutdown: asyncio.Event
    entrypoint_registry: dict[str, AbstractEntrypointExecutor]
    job_context: dict[JobId, Context]
    resources: MutableMapping[str, Any]
    _state: WorkerState

    def _running_per_entrypoint(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self._state.running.values():
            counts[item.job.entrypoint] = counts.get(item.job.entrypoint, 0) + 1
        return counts

    def entrypoints_below_capacity_limits(self) -> set[QueueEntrypoint]:
        """Registered entrypoints this worker may start another job of right now.

        An entrypoint qualifies when it has no ``concurrency_limit`` (0) or this process runs
        fewer of its jobs than the limit. (The limit is also enforced across all workers in
        SQL; this is the local view PgQueuer's method gives.)
        """
        running = self._running_per_entrypoint()
        return {
            QueueEntrypoint(name)
            for name, executor in self.entrypoint_registry.items()
            if executor.parameters.concurrency_limit <= 0
            or running.get(name, 0) < executor.parameters.concurrency_limit
        }

    async def fetch_jobs(
        self,
        batch_size: int,
        global_concurrency_limit: int | None,
        heartbeat_timeout: timedelta,
    ) -> AsyncGenerator[Job, None]:
        """Claim jobs for this manager's entrypoints and yield them, until none is left.

        Each round claims up to ``batch_size`` (at most ``global_concurrency_limit``) jobs of
        the entrypoints below their limits; the generator ends when a round claims nothing or
        ``shutdown`` is set. The jobs are the caller's to run and to finish
        (``queries.log_jobs``). ``run()`` does not use this: it claims in the same statement
        that writes results back. Jobs whose worker stops beating for ``heartbeat_timeout`` are
        recovered by ``run()``'s rescue, not here, so the value is only checked.
        """
        if heartbeat_timeout < timedelta(0):
            raise ValueError("heartbeat_timeout must not be negative")
        if global_concurrency_limit is not None:
            batch_size = min(batch_size, global_concurrency_limit)
        while not self.shutdown.is_set() and batch_size > 0:
            names = sorted(self.entrypoints_below_capacity_limits())
            if not names:
                return
            limits = [self.entrypoint_registry[n].parameters.concurrency_limit for n in names]
            jobs = await self.queries.finish_and_claim(
                [], self.queue_manager_id, names, limits, batch_size
            )
            if not jobs:
                return
            for job in jobs:
                yield job

    def forget_job(self, job_id: JobId, context: Context, task: asyncio.Task[None]) -> None:
        """Drop the bookkeeping of a finished job: its entry in ``job_context``.

        ``run()`` forgets its jobs by itself when their tasks end; this is for jobs a caller ran
        itself (after :meth:`fetch_jobs`). The entry is removed only while it still holds
        ``context``; an unfinished ``task`` is left alone.
        """
        if not task.done():
            return
        if self.job_context.get(job_id) is context:
            del self.job_context[job_id]

    async def log_failure(
        self,
        job: Job,
        executor: AbstractEntrypointExecutor,
        exc: Exception,
        jbuff: Any = None,
    ) -> None:
        """Record that ``job`` failed with ``exc``, as ``run()`` would.

        ``RetryRequested`` sends the job back to the queue after its delay (counting an
        attempt); any other exception makes it ``exception`` (row deleted), or ``failed`` (row
        kept) when the entrypoint has ``on_failure="hold"``. The record carries the traceback.
        With a ``jbuff`` that has ``add`` (PgQueuer's status buffer), the terminal
        ``(job, status, traceback)`` is handed to it; otherwise it is written at once.
        """
        context: dict[str, Any] = {
            "entrypoint": job.entrypoint,
            "queue_manager_id": str(self.queue_manager_id),
        }
        if isinstance(exc, RetryRequested):
            context.update(
                attempt=job.attempts + 1,
                retry_delay=exc.delay.total_seconds(),
                reason=exc.reason,
            )
            record = TracebackRecord.from_exception(exc, job.id, context)
            await self.queries.retry_job(job, exc.delay, record)
            return
        logger.error("job %s (%s) failed: %s", job.id, job.entrypoint, exc, exc_info=exc)
        record = TracebackRecord.from_exception(exc, job.id, context)
        status: JOB_STATUS = "failed" if executor.parameters.on_failure == "hold" else "exception"
        if isinstance(jbuff, StatusBuffer):
            result = jbuff.add((job, status, record))
            if inspect.isawaitable(result):
                await result
            return
        await self.queries.log_jobs([(job, status, record)])
