"""``QueueManager``: the worker. It claims jobs, runs their handlers and writes results back.

This class registers handlers (``entrypoint``) and, in ``run()``, puts together the parts in
``pgqueuer.worker``, one job each (their module docstrings say how a job flows through them):
``loop.ClaimLoop``, the hot path, one ``try_finish_and_claim`` round trip at a time, deciding
through the pure ``policy``; ``execution.JobRunner``, a task per job and its outcome;
``listener.Listener``, NOTIFY dispatch and reconnects; ``maintenance.Chores``, heartbeats,
rescue, aggregation and pruning; ``state.WorkerState``, what they share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, MutableMapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pgqueuer.capabilities import GenericPlanning, ListenerRemoval
from pgqueuer.db import Driver
from pgqueuer.errors import InvalidOptionError, SchemaNotInstalledError
from pgqueuer.executors import (
    AbstractEntrypointExecutor,
    EntrypointExecutor,
    EntrypointExecutorParameters,
    check_handler,
    wants_context,
)
from pgqueuer.listening import Listening
from pgqueuer.models import Context, HealthCheckEvent
from pgqueuer.ports.metrics import WORKER_METRICS, WorkerObserver
from pgqueuer.ports.tracing import TracingProtocol, resolve_tracer
from pgqueuer.qmcompat import QueueManagerCompat
from pgqueuer.queries import Queries
from pgqueuer.registry import WorkerRegistry, worker_host
from pgqueuer.types import JobId, OnFailure, QueueExecutionMode
from pgqueuer.worker import maintenance, policy
from pgqueuer.worker.execution import JobRunner
from pgqueuer.worker.listener import Listener
from pgqueuer.worker.loop import ClaimLoop, release_all
from pgqueuer.worker.state import WorkerState

if TYPE_CHECKING:
    from pgqueuer.inmemory import InMemoryQueries

logger = logging.getLogger("pgqueuer")

F = TypeVar("F", bound=Callable[..., Any])

REMOVED_OPTIONS = {
    "requests_per_second": "it was removed in PgQueuer 1.0; limit concurrency instead",
    "retry_timer": "stalled jobs are always recovered; set heartbeat_timeout on run()",
    "serialized_dispatch": "use concurrency_limit=1",
}
LISTENER_FAILURE_GRACE = policy.LISTENER_FAILURE_GRACE


def _seconds(value: timedelta | float | int, what: str, minimum: float = 0.0) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < minimum:
        raise ValueError(f"{what} must be at least {minimum} seconds, got {seconds}")
    return seconds


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
        self.connection: Driver = queries.driver
        self.channel = channel or queries.names.channel
        self.resources: MutableMapping[str, Any] = {} if resources is None else resources
        self.shutdown = asyncio.Event()
        self.entrypoint_registry: dict[str, AbstractEntrypointExecutor] = {}
        self.queue_manager_id = uuid.uuid4()
        self.job_context: dict[JobId, Context] = {}
        self._force = asyncio.Event()  # abort(): cancel handlers now, stop reconnecting
        self._state = WorkerState()
        self._listener = Listener(
            self._state, self.connection, self.channel, self.entrypoint_registry, self._force
        )

    @property
    def jobs_logged(self) -> int:
        """How many outcomes this worker wrote that leave a log row."""
        return self._state.jobs_logged

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
        self._state.wake.set()

    async def listener_healthy(
        self, timeout: timedelta = timedelta(seconds=10)
    ) -> HealthCheckEvent:
        """Round-trip a notification through the channel; FailingListenerError when it fails."""
        return await self._listener.healthy(timeout)

    async def verify_structure(self) -> None:
        """Raise SchemaNotInstalledError (naming 'pgq install') when the tables are missing."""
        self._listener.schema = await self.queries.table_schema()
        if self._listener.schema is None:
            raise SchemaNotInstalledError.for_names(self.queries.names, "queue table not found")

    # -- running ---------------------------------------------------------------------------

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
        pgbouncer: bool = False,
        listen_dsn: str | None = None,
        poll_interval: timedelta | float | None = None,
        vacuum_interval: timedelta | float | None = timedelta(seconds=5),
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

        Behind a transaction-pooling PgBouncer pass ``pgbouncer=True`` and either
        ``listen_dsn`` (LISTEN on a direct connection to PostgreSQL) or ``poll_interval``
        (no LISTEN: poll, at most this many seconds apart); see ``pgqueuer.listening``.

        Every ``vacuum_interval`` the worker looks at the queue table's dead rows and, when
        they piled up and nobody (autovacuum included) vacuumed it within the interval, runs
        ``VACUUM (SKIP_LOCKED)`` on a connection of its own (``pgqueuer.worker.vacuum``).
        None or 0 turns the chore off (autovacuum alone then keeps the table).
        """
        listening = Listening(
            pgbouncer=pgbouncer, listen_dsn=listen_dsn, poll_interval=poll_interval
        )
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
        aggregate_every = _seconds(log_aggregation_interval, "log_aggregation_interval")
        vacuum_every = (
            0.0 if vacuum_interval is None else _seconds(vacuum_interval, "vacuum_interval")
        )
        grace = None if shutdown_grace is None else _seconds(shutdown_grace, "shutdown_grace")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        mode = QueueExecutionMode(mode)
        tracer = resolve_tracer(self.tracer if self.tracer is not None else self.queries.tracer)
        obs = self.metrics if self.metrics is not None else WORKER_METRICS.observer
        state, listener = self._state, self._listener
        listener.obs = obs

        async with self.connection as driver:
            await self.verify_structure()
            listener.listening = listening
            how = await listening.start(driver, self.channel, listener.on_notify, listener.on_lost)
            logger.info("worker %s: %s", self.queue_manager_id, how)
            tune = listening.session_settings and isinstance(driver, GenericPlanning)
            restore_plans = await driver.use_generic_plans() if tune else None
            names = list(self.entrypoint_registry)
            limits = [ex.parameters.concurrency_limit for ex in self.entrypoint_registry.values()]
            listener.active = True
            registry = WorkerRegistry.for_queries(
                self.queries, self.queue_manager_id, self.host, names, beat_timeout
            )
            chores = await maintenance.Chores.start(
                self.queries,
                self.connection,
                self.queue_manager_id,
                lambda: state.held_snapshot,
                lambda: state.jobs_logged,
                names,
                beat_timeout=beat_timeout,
                max_attempts=max_attempts,
                aggregate_every=aggregate_every,
                retention=retention,
                registry=registry,
                vacuum_every=vacuum_every,
            )
            watcher = asyncio.create_task(self._watch_shutdown())
            runner = JobRunner(
                state,
                self.entrypoint_registry,
                self.resources,
                self.job_context,
                self.queue_manager_id,
                tracer,
                obs,
            )
            loop = ClaimLoop(
                state=state,
                queries=self.queries,
                runner=runner,
                listener=listener,
                queue_manager_id=self.queue_manager_id,
                shutdown=self.shutdown,
                force=self._force,
                settings=policy.Settings.create(batch, capacity, poll, grace),
                names=names,
                limits=limits,
                mode=mode,
                shutdown_on_listener_failure=shutdown_on_listener_failure,
                late_after=beat_timeout / 2,
                async_claim=not durable_claims,
                obs=obs,
                listening=listening,
            )
            try:
                await loop.run()
            finally:
                await self._teardown(runner, chores, watcher)
                if restore_plans is not None:
                    with contextlib.suppress(Exception):
                        await restore_plans()
        if loop.failure is not None:
            raise loop.failure

    async def _watch_shutdown(self) -> None:
        await self.shutdown.wait()
        self._state.wake.set()

    async def _teardown(
        self, runner: JobRunner, chores: maintenance.Chores, watcher: asyncio.Task[None]
    ) -> None:
        """Stop the chores, cancel what still runs, give every held job back, stop listening."""
        self._listener.active = False
        watcher.cancel()
        chores.cancel()
        tasks = runner.cancel_all()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # Whatever is still held goes back: finished results first, then anything unaccounted.
        await release_all(self.queries, self.queue_manager_id, self._state)
        await asyncio.gather(watcher, return_exceptions=True)
        self._listener.stop_reconnecting()
        await chores.stop()
        if isinstance(self.connection, ListenerRemoval):
            try:
                await self.connection.remove_listener(self.channel, self._listener.on_notify)
            except Exception:
                logger.debug("could not remove the listener", exc_info=True)
        if self._listener.listening is not None:
            await self._listener.listening.close()


__all__ = ["QueueManager", "SchemaNotInstalledError"]
