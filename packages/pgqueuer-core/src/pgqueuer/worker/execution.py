"""Running a claimed job's handler and turning how it ended into an outcome to write back.

``JobRunner.start`` makes one asyncio task per job (``run_handler``); when the task ends,
``task_outcome`` maps it to a ``Finished`` record and ``WorkerState.finish`` queues that for the
claim loop's next round trip. The mapping:

* returned normally: ``successful`` (``canceled`` when the job was cancelled meanwhile);
* ``RetryRequested`` (alone or only those in an exception group): ``queued`` again after its
  delay (the longest of a group), with a traceback record counting the attempt;
* any other exception: ``exception`` (row deleted), or ``failed`` (row kept) for an entrypoint
  with ``on_failure="hold"``; the error is logged with its traceback;
* cancelled (shutdown grace over, abort, ``run()`` cancelled): ``release``, back to the queue
  untouched (``canceled`` when a cancellation NOTIFY asked for it).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import MutableMapping
from typing import Any

from pgqueuer.backends.args import Finished
from pgqueuer.errors import RetryRequested
from pgqueuer.executors import AbstractEntrypointExecutor
from pgqueuer.models import Context, Job, TracebackRecord
from pgqueuer.ports.metrics import WorkerObserver
from pgqueuer.ports.tracing import TracingProtocol
from pgqueuer.types import JobId
from pgqueuer.worker.state import Running, WorkerState

logger = logging.getLogger("pgqueuer")


class JobRunner:
    """Starts a task per claimed job and records each one's outcome in the shared state."""

    __slots__ = ("_job_context", "_obs", "_qm_id", "_registry", "_resources", "_state", "_tracer")

    def __init__(
        self,
        state: WorkerState,
        registry: MutableMapping[str, AbstractEntrypointExecutor],
        resources: MutableMapping[str, Any],
        job_context: dict[JobId, Context],
        queue_manager_id: uuid.UUID,
        tracer: TracingProtocol | None,
        obs: WorkerObserver | None,
    ) -> None:
        self._state = state
        self._registry = registry
        self._resources = resources
        self._job_context = job_context
        self._qm_id = queue_manager_id
        self._tracer = tracer
        self._obs = obs

    def start(self, job: Job) -> None:
        executor = self._registry.get(job.entrypoint)
        state = self._state
        state.held.add(job.id)
        if executor is None:  # cannot happen: only registered entrypoints are claimed
            state.finish(Finished(job.id, "release"), None)
            return
        context = Context(resources=self._resources)
        self._job_context[job.id] = context
        task = asyncio.create_task(run_handler(job, context, executor, self._tracer, self._qm_id))
        state.running[job.id] = Running(job, context, task)
        task.add_done_callback(functools.partial(self._task_done, job.id))
        if self._obs is not None:
            self._obs.started(job)

    def _task_done(self, job_id: int, task: asyncio.Task[Finished]) -> None:
        running = self._state.running.pop(job_id, None)
        self._job_context.pop(JobId(job_id), None)
        finished = task_outcome(job_id, task)
        if self._obs is not None and running is not None:
            self._obs.finished(running.job, finished.outcome)
        self._state.finish(finished, running.job if running else None)

    def cancel_all(self) -> list[asyncio.Task[Finished]]:
        """Cancel every running handler; returns their tasks, to be awaited."""
        tasks = [r.task for r in self._state.running.values()]
        for task in tasks:
            task.cancel()
        return tasks


async def run_handler(
    job: Job,
    context: Context,
    executor: AbstractEntrypointExecutor,
    tracer: TracingProtocol | None,
    queue_manager_id: uuid.UUID,
) -> Finished:
    """Run ``job``'s handler; return its outcome (see the module docstring)."""
    try:
        if context.cancellation.cancel_called:
            pass
        elif tracer is None:
            await executor.execute(job, context)
        else:
            async with tracer.trace_process(job):
                await executor.execute(job, context)
    except asyncio.CancelledError:
        # Cancelled by shutdown (grace over, second signal) or by run() being cancelled:
        # the job did not finish, so it goes back to the queue untouched.
        return Finished(job.id, "canceled" if context.cancellation.cancel_called else "release")
    except RetryRequested as retry:
        return retry_outcome(job, retry, _extra(job, queue_manager_id))
    except BaseExceptionGroup as group:
        matched, rest = group.split(RetryRequested)
        extra = _extra(job, queue_manager_id)
        if matched is not None and rest is None:
            retries = [e for e in leaves(matched) if isinstance(e, RetryRequested)]
            return retry_outcome(job, max(retries, key=lambda r: r.delay), extra)
        return failure_outcome(job, executor, group, extra)
    except Exception as exc:
        return failure_outcome(job, executor, exc, _extra(job, queue_manager_id))
    return Finished(job.id, "canceled" if context.cancellation.cancel_called else "successful")


def _extra(job: Job, queue_manager_id: uuid.UUID) -> dict[str, Any]:
    """The context a retry or failure record carries (built only when one is written)."""
    return {"entrypoint": job.entrypoint, "queue_manager_id": str(queue_manager_id)}


def retry_outcome(job: Job, retry: RetryRequested, extra: dict[str, Any]) -> Finished:
    """Queue ``job`` again after ``retry.delay``, recording the attempt."""
    context = {
        **extra,
        "attempt": job.attempts + 1,
        "retry_delay": retry.delay.total_seconds(),
        "reason": retry.reason,
    }
    record = TracebackRecord.from_exception(retry, job.id, context)
    return Finished(job.id, "queued", record.to_json(), retry.delay)


def failure_outcome(
    job: Job, executor: AbstractEntrypointExecutor, exc: BaseException, extra: dict[str, Any]
) -> Finished:
    """Log the failure; ``failed`` (row kept) for ``on_failure="hold"``, else ``exception``."""
    logger.error(
        "job %s (%s) failed: %s: %s",
        job.id,
        job.entrypoint,
        type(exc).__name__,
        exc,
        exc_info=exc,
    )
    record = TracebackRecord.from_exception(exc, job.id, extra)
    hold = executor.parameters.on_failure == "hold"
    return Finished(job.id, "failed" if hold else "exception", record.to_json())


def task_outcome(job_id: int, task: asyncio.Task[Finished]) -> Finished:
    """The outcome of a job's ended task (``run_handler`` catches nearly everything)."""
    if task.cancelled():
        return Finished(job_id, "release")
    exc = task.exception()
    if exc is not None:
        record = TracebackRecord.from_exception(exc, job_id, None)
        return Finished(job_id, "exception", record.to_json())
    return task.result()


def leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    """The exceptions of a (nested) exception group, flattened."""
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out
