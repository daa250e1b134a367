"""``PgQueuer``: the facade most programs use: one driver, a worker and a scheduler on it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from pgqueuer.db import AsyncpgConnect, AsyncpgDriver, AsyncpgPoolDriver, Driver
from pgqueuer.executors import (
    AbstractEntrypointExecutor,
    AbstractScheduleExecutor,
    EntrypointExecutorParameters,
    ScheduleExecutorFactoryParameters,
)
from pgqueuer.names import Names
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries
from pgqueuer.sm import SchedulerManager
from pgqueuer.types import OnFailure, QueueExecutionMode

if TYPE_CHECKING:
    import psycopg

    from pgqueuer.inmemory import InMemoryQueries

F = TypeVar("F", bound=Callable[..., Any])


class PgQueuer:
    """A queue worker over one driver: ``PgQueuer(AsyncpgDriver(conn))``.

    Register handlers with :meth:`entrypoint`, then ``await pgq.run()`` (or hand the object to
    ``pgq run``). ``resources`` is shared with every job's context.
    """

    def __init__(
        self,
        connection: Driver,
        channel: str | None = None,
        resources: MutableMapping[str, Any] | None = None,
        queries: Queries | InMemoryQueries | None = None,
        *,
        names: Names | None = None,
    ) -> None:
        self.connection = connection
        self.queries = queries or Queries(connection, names)
        self.channel = channel or self.queries.names.channel
        self.resources: MutableMapping[str, Any] = {} if resources is None else resources
        self.qm = QueueManager(self.queries, self.channel, self.resources)
        self.shutdown: asyncio.Event = self.qm.shutdown
        self.sm = SchedulerManager(self.queries, self.resources)
        self.sm.shutdown = self.shutdown

    @classmethod
    def from_asyncpg_connection(
        cls,
        connection: asyncpg.Connection,
        channel: str | None = None,
        resources: MutableMapping[str, Any] | None = None,
        *,
        names: Names | None = None,
        connect: AsyncpgConnect | None = None,
    ) -> PgQueuer:
        """``connect``: how to open a new connection, for in-place reconnect and the
        heartbeat thread (see ``AsyncpgDriver``); without it, neither."""
        return cls(AsyncpgDriver(connection, connect=connect), channel, resources, names=names)

    @classmethod
    def from_asyncpg_pool(
        cls,
        pool: asyncpg.Pool,
        channel: str | None = None,
        resources: MutableMapping[str, Any] | None = None,
        *,
        names: Names | None = None,
        connect: AsyncpgConnect | None = None,
    ) -> PgQueuer:
        """``connect``: how to open a connection outside the pool for the heartbeat thread
        (see ``AsyncpgPoolDriver``); without it, heartbeats run on the event loop."""
        return cls(AsyncpgPoolDriver(pool, connect=connect), channel, resources, names=names)

    @classmethod
    def from_psycopg_connection(
        cls,
        connection: psycopg.AsyncConnection[Any],
        channel: str | None = None,
        resources: MutableMapping[str, Any] | None = None,
        *,
        names: Names | None = None,
    ) -> PgQueuer:
        """A PgQueuer on a psycopg ``AsyncConnection`` (autocommit=True), see PsycopgDriver."""
        from pgqueuer.psycopg_driver import PsycopgDriver

        return cls(PsycopgDriver(connection), channel, resources, names=names)

    @classmethod
    def in_memory(
        cls,
        channel: str | None = None,
        resources: MutableMapping[str, Any] | None = None,
    ) -> PgQueuer:
        """A PgQueuer whose queue lives in this process (tests, single-process batches)."""
        from pgqueuer.inmemory import InMemoryDriver, InMemoryQueries

        driver = InMemoryDriver()
        return cls(driver, channel, resources, queries=InMemoryQueries(driver))

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
        """Register a job handler (see QueueManager.entrypoint)."""
        return self.qm.entrypoint(
            name,
            concurrency_limit=concurrency_limit,
            accepts_context=accepts_context,
            on_failure=on_failure,
            executor_factory=executor_factory,
            **removed,
        )

    def schedule(
        self,
        entrypoint: str,
        expression: str,
        executor_factory: Callable[[ScheduleExecutorFactoryParameters], AbstractScheduleExecutor]
        | None = None,
        clean_old: bool = False,
        accepts_context: bool | None = None,
    ) -> Callable[[F], F]:
        """Run ``async f(schedule)`` on a cron expression, once per tick across all processes."""
        return self.sm.schedule(
            entrypoint,
            expression,
            executor_factory=executor_factory,
            clean_old=clean_old,
            accepts_context=accepts_context,
        )

    async def run(
        self,
        dequeue_timeout: timedelta = timedelta(seconds=30),
        batch_size: int = 10,
        mode: QueueExecutionMode = QueueExecutionMode.continuous,
        max_concurrent_tasks: int | None = None,
        shutdown_on_listener_failure: bool = False,
        heartbeat_timeout: timedelta = timedelta(seconds=30),
        log_aggregation_interval: timedelta = timedelta(seconds=30),
        **options: Any,
    ) -> None:
        """Run the worker and the scheduler until shutdown (QueueManager.run has every option).

        Without registered jobs handlers only the scheduler runs, and the other way round. In
        drain mode the scheduler stops when the worker has drained. When one side fails, the
        other is stopped gracefully (running jobs finish) and the failure is raised.
        """
        tasks = []
        if self.qm.entrypoint_registry or not self.sm.registry:
            tasks.append(
                asyncio.create_task(
                    self.qm.run(
                        dequeue_timeout=dequeue_timeout,
                        batch_size=batch_size,
                        mode=mode,
                        max_concurrent_tasks=max_concurrent_tasks,
                        shutdown_on_listener_failure=shutdown_on_listener_failure,
                        heartbeat_timeout=heartbeat_timeout,
                        log_aggregation_interval=log_aggregation_interval,
                        **options,
                    )
                )
            )
        if self.sm.registry:
            tasks.append(asyncio.create_task(self.sm.run()))
        try:
            for finished in asyncio.as_completed(tasks):
                try:
                    await finished
                finally:
                    self.shutdown.set()  # one side ended (drain, failure): stop the other
        except asyncio.CancelledError:
            for task in tasks:  # cancelled from outside: stop now, running jobs go back
                task.cancel()
            raise
        finally:
            self.shutdown.set()
            await asyncio.gather(*tasks, return_exceptions=True)
