"""The worker's background chores: heartbeats, rescuing stale jobs, aggregating and pruning logs.

* Heartbeats come from ``HeartbeatThread`` (``pgqueuer.heartbeat``) on a connection of its
  own, every ``heartbeat_timeout / 4``, for the ids in ``WorkerState.held_snapshot``. It needs
  a driver that can open ``SeparateConnections``; when it has none, or opening one fails,
  ``start_heartbeats`` returns None and the rescue loop beats on the event loop instead.
* ``rescue_loop`` runs every ``heartbeat_timeout / 2`` (jittered): jobs of any worker without a
  heartbeat for ``heartbeat_timeout`` go back to the queue, or are held as ``failed`` once
  they used ``max_attempts``.
* ``aggregate_loop`` folds the log rows into statistics when jobs were written since the last
  time, and prunes log and statistics rows older than ``retention``.
* ``vacuum.vacuum_loop`` vacuums the queue table when dead rows pile up (``vacuum.py``).

A failing chore logs at debug level and tries again next time: it never stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from pgqueuer.capabilities import SeparateConnections
from pgqueuer.db import Driver
from pgqueuer.heartbeat import HeartbeatThread
from pgqueuer.worker.vacuum import vacuum_loop

if TYPE_CHECKING:
    from pgqueuer.inmemory import InMemoryQueries
    from pgqueuer.queries import Queries
    from pgqueuer.registry import WorkerRegistry

logger = logging.getLogger("pgqueuer")

Held = Callable[[], Sequence[int]]


async def start_heartbeats(
    driver: Driver,
    sql: Mapping[str, str],
    queue_manager_id: uuid.UUID,
    held: Held,
    beat_timeout: float,
) -> HeartbeatThread | None:
    """Start the heartbeat thread; None when the driver cannot give it a connection."""
    if not isinstance(driver, SeparateConnections):
        return None
    try:
        connect = await driver.connect_factory()
    except Exception as exc:
        logger.warning("heartbeats will run on the event loop: %s", exc)
        return None
    interval = max(beat_timeout / 4, 0.01)
    beater = HeartbeatThread(connect, sql["heartbeat"], queue_manager_id, held, interval)
    beater.start()
    return beater


async def rescue_loop(
    queries: Queries | InMemoryQueries,
    queue_manager_id: uuid.UUID,
    names: list[str],
    beat_timeout: float,
    max_attempts: int,
    beat_here: Held | None,
) -> None:
    """Give stale jobs back, forever; with ``beat_here``, also beat for those ids first."""
    every = max(beat_timeout / 2, 0.01)
    timeout = timedelta(seconds=beat_timeout)
    while True:
        await asyncio.sleep(every * random.uniform(0.8, 1.2))
        try:
            if beat_here is not None:
                held = beat_here()
                if held:
                    await queries.heartbeat(held, queue_manager_id)
            rescued = await queries.rescue_stale(names, timeout, max_attempts)
            for job_id, status in rescued:
                logger.warning(
                    "job %s had no heartbeat for %.1f s: %s",
                    job_id,
                    beat_timeout,
                    "held as failed (too many attempts)" if status == "failed" else "queued again",
                )
        except Exception as exc:
            logger.debug("stale-job rescue skipped: %s", exc)


async def aggregate_loop(
    queries: Queries | InMemoryQueries,
    every: float,
    retention: timedelta | None,
    logged: Callable[[], int],
) -> None:
    """Aggregate the log when ``logged()`` moved since last time; prune; forever."""
    seen = 0
    while True:
        await asyncio.sleep(every * random.uniform(0.8, 1.2))
        try:
            if logged() != seen:
                await queries.aggregate_logs()
                seen = logged()
            if retention is not None:
                await queries.prune(retention)
        except Exception as exc:
            logger.debug("log aggregation skipped: %s", exc)


class Chores:
    """The background chores of one ``run()``: started together, stopped together."""

    def __init__(
        self,
        beater: HeartbeatThread | None,
        tasks: list[asyncio.Task[None]],
        registry: WorkerRegistry | None = None,
    ) -> None:
        self.beater = beater
        self.tasks = tasks
        self.registry = registry

    @classmethod
    async def start(
        cls,
        queries: Queries | InMemoryQueries,
        driver: Driver,
        queue_manager_id: uuid.UUID,
        held: Held,
        logged: Callable[[], int],
        names: list[str],
        *,
        beat_timeout: float,
        max_attempts: int,
        aggregate_every: float,
        retention: timedelta | None,
        registry: WorkerRegistry | None = None,
        vacuum_every: float = 0.0,
    ) -> Chores:
        """Heartbeats (a thread, else on the loop), rescue, aggregation unless every is 0, the
        vacuum chore unless ``vacuum_every`` is 0, and the worker's row in the registry
        (written now, refreshed, deleted at stop)."""
        beater = await start_heartbeats(driver, queries.sql, queue_manager_id, held, beat_timeout)
        beat_here = held if beater is None else None  # no thread: beat on the event loop
        tasks = [
            asyncio.create_task(
                rescue_loop(queries, queue_manager_id, names, beat_timeout, max_attempts, beat_here)
            )
        ]
        if aggregate_every > 0:
            tasks.append(
                asyncio.create_task(aggregate_loop(queries, aggregate_every, retention, logged))
            )
        if vacuum_every > 0:
            tasks.append(asyncio.create_task(vacuum_loop(queries, driver, vacuum_every)))
        if registry is not None:
            await registry.start()
            tasks.append(asyncio.create_task(registry.run()))
        return cls(beater, tasks, registry)

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()

    async def stop(self) -> None:
        """Wait for the cancelled tasks, then stop the heartbeat thread."""
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.registry is not None:
            await self.registry.stop()
        if self.beater is not None:
            await asyncio.to_thread(self.beater.stop)
