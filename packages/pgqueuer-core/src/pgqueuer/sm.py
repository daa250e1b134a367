"""``SchedulerManager``: cron schedules that fire once per tick across every process.

Each registered ``(entrypoint, expression)`` pair is a row of the schedules table. A scheduler
claims due rows (``fetch_schedule``: ``FOR UPDATE SKIP LOCKED`` and marked picked in the same
statement), so exactly one process fires each tick however many run. The function runs in that process (as
in PgQueuer), with a heartbeat; afterwards the row goes back to queued with ``last_run`` and the
next tick as ``next_run``, computed from the database's clock.

Missed ticks: when no scheduler ran for a while, or a run outlasted its interval, the schedule
fires once when it is next seen and then continues from the next tick after now; it does not
replay every tick it missed. A schedule whose scheduler died (no heartbeat for
``stale_after``) is taken over by another one.

With no schedule registered, ``run()`` returns at once: it costs nothing to start.

The scheduler works through its repository's schedule methods (``insert_schedule``,
``fetch_schedule``, ``update_schedule_heartbeat``, ``set_schedule_queued``, ``delete_schedule``),
so it runs on ``Queries`` (any driver) and on ``InMemoryQueries`` (``PgQueuer.in_memory()``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pgqueuer.backends.memory_base import InMemoryDriver
from pgqueuer.backends.memory_schedules import MemorySchedules
from pgqueuer.backends.sql_base import fetcher
from pgqueuer.backends.sql_schedules import SqlSchedules
from pgqueuer.cron import next_tick, normalize_expression
from pgqueuer.db import Driver
from pgqueuer.dberrors import not_installed
from pgqueuer.executors import (
    AbstractScheduleExecutor,
    ScheduleExecutor,
    ScheduleExecutorFactoryParameters,
    check_handler,
    wants_context,
)
from pgqueuer.models import CronExpressionEntrypoint, Schedule, ScheduleContext
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer.sql import load_blocks
from pgqueuer.types import CronEntrypoint, CronExpression

if TYPE_CHECKING:
    from pgqueuer.inmemory import InMemoryQueries

logger = logging.getLogger("pgqueuer")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

__all__ = ["ScheduleExecutor", "ScheduleQueries", "SchedulerManager", "normalize_expression"]


class ScheduleQueries:
    """Raw access to ``sql/schedules.sql`` for one set of names (``pgq schedules``, tests).

    The scheduler itself goes through its repository's schedule methods.
    """

    def __init__(self, driver: Driver, names: Names) -> None:
        self.driver = driver
        self.names = names
        blocks = load_blocks("pgqueuer.sql", "schedules.sql")
        self.sql = {key: names.substitute(sql) for key, sql in blocks.items()}
        self._fetch = fetcher(driver)

    async def rows(self, block: str, *args: Any) -> list[Any]:
        """The rows of a schedule block; SchemaNotInstalledError when the table is missing."""
        try:
            rows: list[Any] = await self._fetch(self.sql[block], *args)
        except Exception as exc:
            if (missing := not_installed(exc, self.names)) is not None:
                raise missing from exc
            raise
        return rows

    async def db_now(self) -> datetime:
        rows = await self.rows("db_now")
        now: datetime = rows[0]["now"]
        return now

    async def list_all(self) -> list[Schedule]:
        return [Schedule.from_row(r) for r in await self.rows("list_schedules")]

    async def delete(self, ids: list[int], entrypoints: list[str]) -> list[int]:
        gone = [r["id"] for r in await self.rows("delete_ids", ids)] if ids else []
        if entrypoints:
            gone += [r["id"] for r in await self.rows("delete_entrypoints", entrypoints)]
        return sorted(gone)


class SchedulerManager:
    """Runs functions registered with :meth:`schedule` on their cron expressions.

    ``SchedulerManager(queries)`` (PgQueuer's form: a ``Queries`` or ``InMemoryQueries``), or
    ``SchedulerManager(driver, names=...)``, which builds the repository for that driver.
    """

    def __init__(
        self,
        queries: Queries | InMemoryQueries | Driver,
        resources: MutableMapping[str, Any] | None = None,
        *,
        names: Names | None = None,
    ) -> None:
        repository: Any
        if isinstance(queries, SqlSchedules | MemorySchedules):
            repository = queries
            if names is not None and names != queries.names:
                repository = type(queries)(queries.driver, names=names)  # type: ignore[arg-type]
        elif isinstance(queries, InMemoryDriver):
            from pgqueuer.inmemory import InMemoryQueries

            repository = InMemoryQueries(queries, names=names)
        else:
            repository = Queries(queries, names=names or Names.from_env())
        self.queries: Queries | InMemoryQueries = repository
        self.names = repository.names
        self.resources: MutableMapping[str, Any] = {} if resources is None else resources
        self.shutdown = asyncio.Event()
        self.registry: dict[CronExpressionEntrypoint, AbstractScheduleExecutor] = {}
        self.active_heartbeat_ids: set[int] = set()
        self._clean: set[str] = set()
        self._wake = asyncio.Event()
        self._skew = timedelta(0)  # database clock - this host's clock
        self._failure: BaseException | None = None  # bookkeeping of a run that failed

    def schedule(
        self,
        entrypoint: str,
        expression: str,
        executor_factory: Callable[[ScheduleExecutorFactoryParameters], AbstractScheduleExecutor]
        | None = None,
        clean_old: bool = False,
        accepts_context: bool | None = None,
    ) -> Callable[[F], F]:
        """Register ``async f(schedule)`` to run on ``expression``: ``@sm.schedule("x", "* * * * *")``."""
        if not isinstance(entrypoint, str) or not entrypoint:
            raise TypeError(f"schedule entrypoint must be a non-empty str, got {entrypoint!r}")
        normal = normalize_expression(expression)
        key = CronExpressionEntrypoint(CronEntrypoint(entrypoint), CronExpression(normal))
        if key in self.registry:
            raise RuntimeError(
                f"schedule {entrypoint!r} with {normal!r} is already registered: register each "
                "pair once"
            )

        def register(func: F) -> F:
            check_handler(func, f"schedule({entrypoint!r})")
            params = ScheduleExecutorFactoryParameters(
                entrypoint=entrypoint,
                expression=normal,
                func=func,
                clean_old=clean_old,
                accepts_context=(
                    wants_context(func, ScheduleContext)
                    if accepts_context is None
                    else accepts_context
                ),
            )
            self.registry[key] = (executor_factory or ScheduleExecutor)(params)
            if clean_old:
                self._clean.add(entrypoint)
            return func

        return register

    def _delays(self, keys: list[CronExpressionEntrypoint]) -> dict[Any, timedelta]:
        """Each pair's time until its next tick, on the database's clock."""
        now = datetime.now(UTC) + self._skew
        return {k: next_tick(str(k.expression), now) - now for k in keys}

    async def run(self, *, stale_after: timedelta = timedelta(seconds=30)) -> None:
        """Fire schedules until ``shutdown`` is set; a run in progress is let finish."""
        if not self.registry:
            return
        stale = timedelta(seconds=max(stale_after.total_seconds(), 0.5))
        keys = list(self.registry)
        self._skew = await self.queries.db_now() - datetime.now(UTC)
        if self._clean:
            await self.queries.delete_schedule(set(), set(self._clean))
        await self.queries.insert_schedule(self._delays(keys))
        running: set[asyncio.Task[None]] = set()
        beat = asyncio.create_task(self._beat(stale.total_seconds() / 3))
        watch = asyncio.create_task(self._watch_shutdown())
        try:
            while not self.shutdown.is_set():
                if self._failure is not None:
                    raise self._failure  # a tick could not be recorded: the scheduler is broken
                self._wake.clear()
                due = await self.queries.fetch_schedule(self._delays(keys), stale_after=stale)
                for schedule in due:
                    executor = self.registry[
                        CronExpressionEntrypoint(
                            CronEntrypoint(schedule.entrypoint), CronExpression(schedule.expression)
                        )
                    ]
                    task = asyncio.create_task(self.dispatch(executor, schedule))
                    running.add(task)
                    task.add_done_callback(functools.partial(self._fired, running))
                wait = await self.queries.schedule_wake(keys, stale)
                timeout = 60.0 if wait is None else min(max(wait, 0.0) + 0.005, 60.0)
                try:
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        finally:
            for task in (beat, watch):
                task.cancel()
            await asyncio.gather(beat, watch, return_exceptions=True)

    def _fired(self, running: set[asyncio.Task[None]], task: asyncio.Task[None]) -> None:
        running.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()
        self._wake.set()

    async def _watch_shutdown(self) -> None:
        await self.shutdown.wait()
        self._wake.set()

    async def dispatch(self, executor: AbstractScheduleExecutor, schedule: Schedule) -> None:
        """Run one claimed schedule, with a heartbeat; then queue its next run.

        A failure is logged, not raised: the schedule is queued again either way, for the
        first tick after the run ended (the database's clock): missed ticks are not replayed.
        """
        self.active_heartbeat_ids.add(schedule.id)
        try:
            await executor.execute(schedule, ScheduleContext(resources=self.resources))
        except Exception:
            logger.exception("schedule %s (%s) failed", schedule.entrypoint, schedule.expression)
        finally:
            self.active_heartbeat_ids.discard(schedule.id)
            db_now = await self.queries.db_now()
            await self.queries.set_schedule_queued(
                {schedule.id}, next_runs={schedule.id: next_tick(schedule.expression, db_now)}
            )
            self._wake.set()

    async def _beat(self, every: float) -> None:
        while True:
            await asyncio.sleep(every * random.uniform(0.8, 1.0))
            if self.active_heartbeat_ids:
                try:
                    await self.queries.update_schedule_heartbeat(set(self.active_heartbeat_ids))
                except Exception as exc:
                    logger.warning("schedule heartbeat failed: %s", exc)
