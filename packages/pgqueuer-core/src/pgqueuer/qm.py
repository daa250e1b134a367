"""``QueueManager``: the worker. It claims jobs, runs their handlers and writes results back.

One loop owns the connection's hot path: each round trip writes back the jobs that finished
since the last one and claims as many new ones as there is room for (``finish_and_claim``).
It never waits on a row lock: a finished job whose row another transaction holds is kept in
memory and sent again with later round trips until it is written (see ``lockedrows.py``).
It sleeps only when a claim came back short, until a NOTIFY names one of its entrypoints, the
next deferred job is due, a finished job is waiting to be written, or ``dequeue_timeout``
passes (the polling fallback). Heartbeats come from a thread (see ``heartbeat.py``); stale jobs
of dead workers are given back to the queue by a periodic rescue, which wakes everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pgqueuer.backoff import reconnect_delays
from pgqueuer.db import Driver, is_connection_error, sqlstate
from pgqueuer.errors import (
    FailingListenerError,
    InvalidOptionError,
    RetryRequested,
    SchemaNotInstalledError,
)
from pgqueuer.executors import (
    AbstractEntrypointExecutor,
    EntrypointExecutor,
    EntrypointExecutorParameters,
    check_handler,
    wants_context,
)
from pgqueuer.heartbeat import HeartbeatThread
from pgqueuer.lockedrows import LockedOutcomes
from pgqueuer.models import (
    CancellationEvent,
    Context,
    HealthCheckEvent,
    Job,
    TableChangedEvent,
    TracebackRecord,
    parse_event,
)
from pgqueuer.ports.metrics import WORKER_METRICS, WorkerObserver
from pgqueuer.ports.tracing import TracingProtocol, resolve_tracer
from pgqueuer.qmcompat import QueueManagerCompat
from pgqueuer.queries import Finished, Queries
from pgqueuer.registry import WorkerRegistry, worker_host
from pgqueuer.types import JobId, OnFailure, QueueExecutionMode

if TYPE_CHECKING:
    from pgqueuer.inmemory import InMemoryQueries

logger = logging.getLogger("pgqueuer")

F = TypeVar("F", bound=Callable[..., Any])

REMOVED_OPTIONS = {
    "requests_per_second": "it was removed in PgQueuer 1.0; limit concurrency instead",
    "retry_timer": "stalled jobs are always recovered; set heartbeat_timeout on run()",
    "serialized_dispatch": "use concurrency_limit=1",
}
LISTENER_FAILURE_GRACE = 10.0  # seconds the listener may stay down before it counts as failed


def _seconds(value: timedelta | float | int, what: str, minimum: float = 0.0) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < minimum:
        raise ValueError(f"{what} must be at least {minimum} seconds, got {seconds}")
    return seconds


@dataclass(slots=True)
class _Running:
    job: Job
    context: Context
    task: asyncio.Task[Finished]


class QueueManager(QueueManagerCompat):
    """Runs the handlers registered with :meth:`entrypoint` for jobs claimed from the queue."""

    def __init__(
        self,
        queries: Queries | InMemoryQueries,
        channel: str | None = None,
        resources: MutableMapping[str, Any] | None = None,
        tracer: TracingProtocol | None = None,
        *,
        metrics: WorkerObserver | None = None,
        host: str | None = None,
    ) -> None:
        self.queries = queries
        self.host = worker_host(host)  # shown by `pgq workers` (see pgqueuer.registry)
        # Both fall back to the process-wide ones (set_tracing_class, set_worker_metrics),
        # resolved when run() starts; None there too means no calls at all per job.
        self.tracer = tracer
        self.metrics = metrics
        self._tracer: TracingProtocol | None = None
        self._obs: WorkerObserver | None = None
        self.connection: Driver = queries.driver
        self.channel = channel or queries.names.channel
        self.resources: MutableMapping[str, Any] = {} if resources is None else resources
        self.shutdown = asyncio.Event()
        self.entrypoint_registry: dict[str, AbstractEntrypointExecutor] = {}
        self.queue_manager_id = uuid.uuid4()
        self.job_context: dict[JobId, Context] = {}
        self.jobs_logged = 0
        self._force = asyncio.Event()
        self._async_claim = True
        self._wake = asyncio.Event()
        self._running: dict[int, _Running] = {}
        self._done: list[Finished] = []
        self._done_since: float | None = None
        self._locked = LockedOutcomes()  # finished, but their row was locked: written later
        self._seat_freed = False
        self._held: set[int] = set()
        self._held_snapshot: tuple[int, ...] = ()
        self._hint = True
        self._schema: str | None = None
        self._listener_down_since: float | None = None
        self._health: dict[uuid.UUID, asyncio.Future[HealthCheckEvent]] = {}
        self._reconnect_task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._active = False
        self._late_after = float("inf")  # a claim answered later than this may be stale

    # -- registration -----------------------------------------------------------------------

    def entrypoint(
        self,
        name: str,
        *,
        concurrency_limit: int = 0,
        accepts_context: bool | None = None,
        on_failure: OnFailure = "delete",
        executor_factory: Callable[[EntrypointExecutorParameters], AbstractEntrypointExecutor]
        | None = None,
        **removed: Any,
    ) -> Callable[[F], F]:
        """Register an async handler for jobs of ``name``: ``@qm.entrypoint("fetch")``."""
        for option in removed:
            hint = REMOVED_OPTIONS.get(option)
            if hint:
                raise TypeError(f"entrypoint({name!r}): option {option!r} is gone: {hint}")
            raise TypeError(
                f"entrypoint({name!r}): unknown option {option!r}; options are "
                "concurrency_limit, accepts_context, on_failure, executor_factory"
            )
        if not isinstance(name, str) or not name:
            raise TypeError(f"entrypoint name must be a non-empty str, got {name!r}")
        if name in self.entrypoint_registry:
            raise RuntimeError(
                f"entrypoint {name!r} is already registered: give each handler its own name"
            )
        if not isinstance(concurrency_limit, int) or concurrency_limit < 0:
            raise InvalidOptionError(
                f"entrypoint({name!r}): concurrency_limit must be an int >= 0 (0 = unlimited), "
                f"got {concurrency_limit!r}"
            )
        if on_failure not in ("delete", "hold"):
            raise InvalidOptionError(
                f"entrypoint({name!r}): on_failure must be 'delete' or 'hold', got {on_failure!r}"
            )

        def register(func: F) -> F:
            check_handler(func, f"entrypoint({name!r})")
            if name in self.entrypoint_registry:
                raise RuntimeError(f"entrypoint {name!r} is already registered")
            params = EntrypointExecutorParameters(
                concurrency_limit=int(concurrency_limit),
                func=func,
                accepts_context=wants_context(func) if accepts_context is None else accepts_context,
                on_failure=on_failure,
            )
            factory = executor_factory or EntrypointExecutor
            self.entrypoint_registry[name] = factory(params)
            return func

        return register

    def register_executor(self, name: str, executor: AbstractEntrypointExecutor) -> None:
        if name in self.entrypoint_registry:
            raise RuntimeError(f"entrypoint {name!r} is already registered")
        self.entrypoint_registry[name] = executor

    def get_context(self, job_id: int) -> Context:
        return self.job_context[JobId(job_id)]

    def abort(self) -> None:
        """Stop now: cancel running handlers and put their jobs back in the queue."""
        self._force.set()
        self.shutdown.set()
        self._wake.set()

    # -- notifications ----------------------------------------------------------------------

    def _on_notify(self, payload: str) -> None:
        event = parse_event(payload)
        if isinstance(event, TableChangedEvent):
            if event.schema is not None and self._schema is not None:
                if event.schema != self._schema:
                    return
            if event.entrypoints is None or any(
                ep in self.entrypoint_registry for ep in event.entrypoints
            ):
                self._hint = True
                self._wake.set()
        elif isinstance(event, CancellationEvent):
            for job_id in event.ids:
                running = self._running.get(job_id)
                if running is not None:
                    running.context.cancellation.cancel()
        elif isinstance(event, HealthCheckEvent) and event.id is not None:
            future = self._health.pop(event.id, None)
            if future is not None and not future.done():
                future.set_result(event)

    def _on_listener_lost(self) -> None:
        if not self._active:  # the connection closed after run() ended: nothing to do
            return
        if self._listener_down_since is None:
            self._listener_down_since = time.monotonic()
            logger.warning("lost the LISTEN connection; reconnecting, polling meanwhile")
        self._wake.set()

    async def listener_healthy(
        self, timeout: timedelta = timedelta(seconds=10)
    ) -> HealthCheckEvent:
        """Round-trip a notification through the channel; FailingListenerError when it fails."""
        hid = uuid.uuid4()
        future: asyncio.Future[HealthCheckEvent] = asyncio.get_running_loop().create_future()
        self._health[hid] = future
        payload = {
            "channel": self.channel,
            "type": "health_check_event",
            "sent_at": datetime.now(UTC).isoformat(),
            "id": str(hid),
        }
        try:
            await self.connection.notify(self.channel, json.dumps(payload))
            return await asyncio.wait_for(future, timeout.total_seconds())
        except Exception as exc:
            database = sqlstate(exc) is not None or is_connection_error(exc)  # asyncpg, psycopg
            if not (database or isinstance(exc, TimeoutError | OSError)):
                raise
            raise FailingListenerError(f"the listener did not answer: {exc or 'timeout'}") from exc
        finally:
            self._health.pop(hid, None)

    async def verify_structure(self) -> None:
        """Raise SchemaNotInstalledError (naming 'pgq install') when the tables are missing."""
        self._schema = await self.queries.table_schema()
        if self._schema is None:
            raise self.queries._missing(Exception("queue table not found"))

    # -- running jobs -----------------------------------------------------------------------

    def _start(self, job: Job) -> None:
        executor = self.entrypoint_registry.get(job.entrypoint)
        self._held.add(job.id)
        if executor is None:  # cannot happen: only registered entrypoints are claimed
            self._finish(Finished(job.id, "release"), None)
            return
        context = Context(resources=self.resources)
        self.job_context[job.id] = context
        task = asyncio.create_task(self._execute(job, context, executor))
        self._running[job.id] = _Running(job, context, task)
        task.add_done_callback(functools.partial(self._task_done, job.id))
        if self._obs is not None:
            self._obs.started(job)

    async def _execute(
        self, job: Job, context: Context, executor: AbstractEntrypointExecutor
    ) -> Finished:
        extra = {"entrypoint": job.entrypoint, "queue_manager_id": str(self.queue_manager_id)}
        try:
            if context.cancellation.cancel_called:
                pass
            elif self._tracer is None:
                await executor.execute(job, context)
            else:
                async with self._tracer.trace_process(job):
                    await executor.execute(job, context)
        except asyncio.CancelledError:
            # Cancelled by shutdown (grace over, second signal) or by run() being cancelled:
            # the job did not finish, so it goes back to the queue untouched.
            return Finished(job.id, "canceled" if context.cancellation.cancel_called else "release")
        except RetryRequested as retry:
            return self._retry(job, retry, [retry], extra)
        except BaseExceptionGroup as group:
            matched, rest = group.split(RetryRequested)
            if matched is not None and rest is None:
                retries = [e for e in _leaves(matched) if isinstance(e, RetryRequested)]
                return self._retry(job, max(retries, key=lambda r: r.delay), retries, extra)
            return self._failed(job, executor, group, extra)
        except Exception as exc:
            return self._failed(job, executor, exc, extra)
        return Finished(job.id, "canceled" if context.cancellation.cancel_called else "successful")

    def _retry(
        self, job: Job, retry: RetryRequested, all_: list[RetryRequested], extra: dict[str, Any]
    ) -> Finished:
        context = {
            **extra,
            "attempt": job.attempts + 1,
            "retry_delay": retry.delay.total_seconds(),
            "reason": retry.reason,
        }
        record = TracebackRecord.from_exception(retry, job.id, context)
        return Finished(job.id, "queued", record.to_json(), retry.delay)

    def _failed(
        self,
        job: Job,
        executor: AbstractEntrypointExecutor,
        exc: BaseException,
        extra: dict[str, Any],
    ) -> Finished:
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

    def _task_done(self, job_id: int, task: asyncio.Task[Finished]) -> None:
        running = self._running.pop(job_id, None)
        self.job_context.pop(JobId(job_id), None)
        if task.cancelled():
            finished = Finished(job_id, "release")
        elif task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            record = TracebackRecord.from_exception(exc, job_id, None)
            finished = Finished(job_id, "exception", record.to_json())
        else:
            finished = task.result()
        if self._obs is not None and running is not None:
            self._obs.finished(running.job, finished.outcome)
        self._finish(finished, running.job if running else None)

    def _finish(self, finished: Finished, job: Job | None) -> None:
        self._done.append(finished)
        if self._done_since is None:
            self._done_since = time.monotonic()
        if job is not None and job.slot is not None:
            self._seat_freed = True  # write back at once: someone may wait for this seat
        self._wake.set()

    def _written(self, done: list[Finished]) -> None:
        for item in done:
            self._held.discard(item.id)
            if item.outcome != "release":
                self.jobs_logged += 1
        self._held_snapshot = tuple(self._held)

    # -- the loop ---------------------------------------------------------------------------

    async def run(
        self,
        dequeue_timeout: timedelta = timedelta(seconds=30),
        batch_size: int = 10,
        mode: QueueExecutionMode = QueueExecutionMode.continuous,
        max_concurrent_tasks: int | None = None,
        shutdown_on_listener_failure: bool = False,
        heartbeat_timeout: timedelta = timedelta(seconds=30),
        log_aggregation_interval: timedelta = timedelta(seconds=30),
        *,
        shutdown_grace: timedelta | None = timedelta(seconds=30),
        max_attempts: int = 5,
        retention: timedelta | None = timedelta(days=7),
        durable_claims: bool = False,
    ) -> None:
        """Work until ``shutdown`` is set (or, in drain mode, until nothing is left).

        ``max_concurrent_tasks`` bounds the jobs running at once (default twice the batch);
        the worker never claims more than it can start. ``heartbeat_timeout``: a job whose
        worker stopped beating for this long is given back to the queue, or held as
        ``failed`` once it has used ``max_attempts``. At shutdown, running jobs get
        ``shutdown_grace`` (None: unlimited) to finish before they are cancelled and put
        back. Log and statistics rows older than ``retention`` are pruned.

        A round trip that only claims commits without waiting for the WAL flush (about half
        the pickup latency on a durable server): if the server crashes right after it, the
        claim is lost and the jobs are simply still queued. Finished jobs are always written
        durably. ``durable_claims=True`` makes claims wait for the flush too, which closes the
        one gap: a job whose claim was lost can run again even though its first run ended.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if max_concurrent_tasks is not None and (
            not isinstance(max_concurrent_tasks, int) or max_concurrent_tasks < 0
        ):
            raise ValueError(
                f"max_concurrent_tasks must be an int >= 1, got {max_concurrent_tasks!r}"
            )
        capacity = max_concurrent_tasks or 2 * batch_size
        batch = min(batch_size, capacity)
        poll = _seconds(dequeue_timeout, "dequeue_timeout", 0.0) or 0.01
        beat_timeout = _seconds(heartbeat_timeout, "heartbeat_timeout", 0.01)
        self._late_after = beat_timeout / 2
        aggregate_every = _seconds(log_aggregation_interval, "log_aggregation_interval")
        grace = None if shutdown_grace is None else _seconds(shutdown_grace, "shutdown_grace")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        mode = QueueExecutionMode(mode)
        self._async_claim = not durable_claims
        self._tracer = resolve_tracer(
            self.tracer if self.tracer is not None else self.queries.tracer
        )
        self._obs = self.metrics if self.metrics is not None else WORKER_METRICS.observer

        async with self.connection as driver:
            await self.verify_structure()
            tune = getattr(driver, "use_generic_plans", None)
            restore_plans = await tune() if tune is not None else None
            names = list(self.entrypoint_registry)
            limits = [ex.parameters.concurrency_limit for ex in self.entrypoint_registry.values()]
            await driver.add_listener(self.channel, self._on_notify)
            if hasattr(driver, "on_connection_lost"):
                driver.on_connection_lost(self._on_listener_lost)
            self._active = True
            beater = await self._start_heartbeats(beat_timeout)
            registry = WorkerRegistry.for_queries(
                self.queries, self.queue_manager_id, self.host, names, beat_timeout
            )
            await registry.start()
            background = [
                asyncio.create_task(self._watch_shutdown()),
                asyncio.create_task(self._rescue_loop(names, beat_timeout, max_attempts)),
                asyncio.create_task(registry.run()),
            ]
            if aggregate_every > 0:
                background.append(
                    asyncio.create_task(self._aggregate_loop(aggregate_every, retention))
                )
            try:
                await self._loop(
                    names, limits, batch, capacity, poll, mode, grace, shutdown_on_listener_failure
                )
            finally:
                await self._teardown(background, beater)
                await registry.stop()
                if restore_plans is not None:
                    with contextlib.suppress(Exception):
                        await restore_plans()
        if self._failure is not None:
            raise self._failure

    async def _loop(
        self,
        names: list[str],
        limits: list[int],
        batch: int,
        capacity: int,
        poll: float,
        mode: QueueExecutionMode,
        grace: float | None,
        shutdown_on_listener_failure: bool,
    ) -> None:
        refill = max(1, batch // 2)
        flush_after = 0.01
        due_at: float | None = None
        deadline: float | None = None
        self._hint = True
        while True:
            self._wake.clear()
            now = time.monotonic()
            stopping = self.shutdown.is_set()
            if stopping and deadline is None:
                deadline = now + grace if grace is not None else float("inf")
                logger.info("shutting down: %d job(s) still running", len(self._running))
            if self._force.is_set() or (deadline is not None and now >= deadline):
                for running in list(self._running.values()):
                    running.task.cancel()
            if self._listener_down_since is not None:
                await self._ensure_connection(wait=False)
                down_for = now - self._listener_down_since
                if (
                    shutdown_on_listener_failure
                    and self._listener_down_since is not None
                    and down_for > LISTENER_FAILURE_GRACE
                    and not stopping
                ):
                    self._failure = FailingListenerError(
                        f"the LISTEN connection has been down for {down_for:.0f} s"
                    )
                    self.shutdown.set()
                    continue

            free = capacity - len(self._running)
            want = 0
            if not stopping and self._hint and free > 0 and (free >= refill or not self._running):
                want = min(batch, free)
            flush = bool(self._done) and (
                want > 0
                or stopping
                or self._seat_freed
                or len(self._done) >= refill
                or not self._running
                or (self._done_since is not None and now - self._done_since >= flush_after)
            )
            if want or flush or self._locked.due(now):
                done, self._done = self._done + self._locked.take(), []
                self._done_since, self._seat_freed = None, False
                asked = time.monotonic()
                try:
                    trip = await self.queries.try_finish_and_claim(
                        done,
                        self.queue_manager_id,
                        names,
                        limits,
                        want,
                        async_claim=self._async_claim,
                    )
                except Exception as exc:
                    self._requeue_done(done)
                    state = sqlstate(exc)  # asyncpg's and psycopg's errors alike
                    if state in ("23505", "40P01"):
                        # Lost a race for a concurrency seat: nothing was written; try again.
                        await asyncio.sleep(random.uniform(0.001, 0.01))
                        continue
                    if state in ("42P01", "42704"):  # undefined table / object
                        raise self.queries._missing(exc) from exc
                    if not is_connection_error(exc):
                        raise
                    logger.warning("database connection lost (%s); reconnecting", exc)
                    await self._ensure_connection(wait=True)
                    self._hint = True
                    continue
                jobs = trip.jobs
                if trip.skipped:
                    skipped = {f.id for f in trip.skipped}
                    done = [f for f in done if f.id not in skipped]
                self._locked.keep(trip.skipped)
                self._written(done)
                if self._obs is not None:
                    self._obs.claimed(time.monotonic() - asked, len(jobs))
                if jobs and time.monotonic() - now > self._late_after:
                    jobs = await self._still_held(jobs)
                for job in jobs:
                    self._start(job)
                if jobs:
                    self._held_snapshot = tuple(self._held)
                if want and len(jobs) < want:
                    self._hint = False
                    if jobs:
                        # Let the handlers just created start before the next round trip:
                        # pickup latency is measured to the handler's first line.
                        await asyncio.sleep(0)
                    due_at = await self._next_due(names)
                continue

            if stopping and not self._running and not self._done:
                return
            if mode is QueueExecutionMode.drain and not stopping and not self._running:
                if not self._done and not self._locked and not self._hint:
                    if await self._safe_count(names) == 0:
                        return

            timeout = poll
            if self._listener_down_since is not None:
                timeout = min(timeout, 1.0)
            if due_at is not None:
                timeout = min(timeout, max(due_at - now, 0.0))
            if self._done_since is not None:
                timeout = min(timeout, max(flush_after - (now - self._done_since), 0.0))
            if self._locked.retry_at is not None:
                timeout = min(timeout, max(self._locked.retry_at - now, 0.0))
            if deadline is not None and deadline != float("inf"):
                timeout = min(timeout, max(deadline - now, 0.0) + 0.001)
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                due_at = None
                self._hint = True

    def _requeue_done(self, done: list[Finished]) -> None:
        if done:
            self._done[:0] = done
            if self._done_since is None:
                self._done_since = time.monotonic()

    async def _still_held(self, jobs: list[Job]) -> list[Job]:
        """The claimed jobs this worker still holds, when the claim's answer was read late.

        Until the answer is read, the heartbeat thread does not know the claimed jobs. When a
        handler blocked the event loop meanwhile, they may have gone stale and been rescued
        (and even completed) by another worker: running them now would run them twice. Their
        heartbeat is refreshed and only those still held by this worker are kept.
        """
        while jobs:
            asked = time.monotonic()
            try:
                ids = [j.id for j in jobs]
                held = set(await self.queries.heartbeat(ids, self.queue_manager_id))
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                logger.warning(
                    "could not confirm %d late-claimed job(s) (%s); they will be rescued",
                    len(jobs),
                    exc,
                )
                return []
            gone = [j.id for j in jobs if j.id not in held]
            if gone:
                logger.warning(
                    "jobs %s were claimed while the event loop was blocked and were rescued "
                    "by another worker meanwhile: not running them here",
                    gone,
                )
            jobs = [j for j in jobs if j.id in held]
            if time.monotonic() - asked <= self._late_after:
                break
        return jobs

    async def _next_due(self, names: list[str]) -> float | None:
        try:
            wait = await self.queries.next_due(names)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            return time.monotonic() + 1.0
        if wait is None:
            return None
        return time.monotonic() + max(wait.total_seconds(), 0.0) + 0.001

    async def _safe_count(self, names: list[str]) -> int:
        try:
            return await self.queries.queued_work(names)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            await self._ensure_connection(wait=True)
            return 1

    async def _ensure_connection(self, *, wait: bool) -> None:
        """Reconnect (once, whoever asks) with backoff; with ``wait`` until it worked."""
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.create_task(self._reconnect())
        if wait:
            await asyncio.shield(self._reconnect_task)

    async def _reconnect(self) -> None:
        reconnect = getattr(self.connection, "reconnect", None)
        delays = reconnect_delays()
        while True:
            try:
                if reconnect is not None:
                    await reconnect()
                if self._listener_down_since is not None:
                    logger.warning("LISTEN connection restored")
                if self._obs is not None:
                    self._obs.reconnected()
                self._listener_down_since = None
                self._hint = True
                self._wake.set()
                return
            except Exception as exc:
                if self._force.is_set():
                    return
                delay = next(delays)
                logger.warning("reconnect failed (%s); retrying in %.2f s", exc, delay)
                await asyncio.sleep(delay)

    # -- background work --------------------------------------------------------------------

    async def _watch_shutdown(self) -> None:
        await self.shutdown.wait()
        self._wake.set()

    async def _start_heartbeats(self, beat_timeout: float) -> HeartbeatThread | None:
        interval = max(beat_timeout / 4, 0.01)
        factory = getattr(self.connection, "connect_factory", None)
        if factory is None:
            return None
        try:
            connect = await factory()
        except Exception as exc:
            logger.warning("heartbeats will run on the event loop: %s", exc)
            return None
        beater = HeartbeatThread(
            connect,
            self.queries.sql["heartbeat"],
            self.queue_manager_id,
            lambda: self._held_snapshot,
            interval,
        )
        beater.start()
        return beater

    async def _rescue_loop(self, names: list[str], beat_timeout: float, max_attempts: int) -> None:
        every = max(beat_timeout / 2, 0.01)
        timeout = timedelta(seconds=beat_timeout)
        fallback = getattr(self.connection, "connect_factory", None) is None
        while True:
            await asyncio.sleep(every * random.uniform(0.8, 1.2))
            try:
                if fallback and self._held_snapshot:
                    await self.queries.heartbeat(self._held_snapshot, self.queue_manager_id)
                rescued = await self.queries.rescue_stale(names, timeout, max_attempts)
                for job_id, status in rescued:
                    logger.warning(
                        "job %s had no heartbeat for %.1f s: %s",
                        job_id,
                        beat_timeout,
                        "held as failed (too many attempts)"
                        if status == "failed"
                        else "queued again",
                    )
            except Exception as exc:
                logger.debug("stale-job rescue skipped: %s", exc)

    async def _aggregate_loop(self, every: float, retention: timedelta | None) -> None:
        logged = 0
        while True:
            await asyncio.sleep(every * random.uniform(0.8, 1.2))
            try:
                if self.jobs_logged != logged:
                    await self.queries.aggregate_logs()
                    logged = self.jobs_logged
                if retention is not None:
                    await self.queries.prune(retention)
            except Exception as exc:
                logger.debug("log aggregation skipped: %s", exc)

    async def _teardown(
        self, background: list[asyncio.Task[None]], beater: HeartbeatThread | None
    ) -> None:
        self._active = False
        for task in background:
            task.cancel()
        for running in list(self._running.values()):
            running.task.cancel()
        tasks = [r.task for r in self._running.values()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # Whatever is still held goes back: finished results first, then anything unaccounted.
        pending = self._done + self._locked.take()
        accounted = {f.id for f in pending}
        leftovers = [Finished(i, "release") for i in self._held if i not in accounted]
        done = pending + leftovers
        self._done = []
        if done:
            try:
                async with asyncio.timeout(10):
                    await self.queries.finish_and_claim(done, self.queue_manager_id, [], [], 0)
                self._written(done)
            except Exception as exc:
                logger.error(
                    "could not write back %d job(s) at shutdown (%s); they will be rescued "
                    "after the heartbeat timeout",
                    len(done),
                    exc,
                )
        await asyncio.gather(*background, return_exceptions=True)
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        if beater is not None:
            await asyncio.to_thread(beater.stop)
        remove = getattr(self.connection, "remove_listener", None)
        if remove is not None:
            try:
                await remove(self.channel, self._on_notify)
            except Exception:
                logger.debug("could not remove the listener", exc_info=True)


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


__all__ = ["QueueManager", "SchemaNotInstalledError"]
