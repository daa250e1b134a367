"""The worker registry: which host and process each running worker is.

A worker writes one row to ``{prefix}pgqueuer_workers`` when it starts (queue manager id,
host, pid, entrypoints, version), refreshes it from a background task every
``heartbeat_timeout / 2`` (never per claim: the hot path does not see it) and deletes it when
it stops cleanly. Every refresh pushes ``expires_at`` four intervals ahead, so the row of a
worker that died without saying so expires by itself: readers ignore expired rows (unless
the worker still holds jobs) and workers prune them one heartbeat timeout later.

The host is ``socket.gethostname()`` unless the worker is given one (``QueueManager(...,
host=...)``, ``PGQUEUER_WORKER_HOST``, ``pgq run --worker-host``): containers often share a
generic name, and tests give processes on one machine names of their own.

A database installed by PgQueuer 1.6 has no registry table until ``pgq upgrade`` adds it; the
worker then runs as before, unlisted, after one warning.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from pgqueuer.backends.sql_base import substituted
from pgqueuer.db import Driver, sqlstate
from pgqueuer.errors import InvalidOptionError
from pgqueuer.names import Names

logger = logging.getLogger("pgqueuer")

WORKER_HOST_ENV = "PGQUEUER_WORKER_HOST"
MAX_HOST_LENGTH = 255
EXPIRES_AFTER_REFRESHES = 4  # a row outlives this many missed refreshes
MISSING_TABLE_SQLSTATES = frozenset({"42P01"})  # undefined_table


def worker_host(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The host name a worker registers: ``explicit``, ``PGQUEUER_WORKER_HOST``, the machine's.

    Raises InvalidOptionError for an empty name, a control character or more than 255
    characters.
    """
    env = os.environ if environ is None else environ
    if explicit is not None:
        value, source = explicit, "host"
    elif env.get(WORKER_HOST_ENV):
        value, source = env[WORKER_HOST_ENV], WORKER_HOST_ENV
    else:
        return socket.gethostname()[:MAX_HOST_LENGTH] or "unknown"
    if not isinstance(value, str) or not value.strip():
        raise InvalidOptionError(f"{source} must be a non-empty string, got {value!r}")
    if len(value) > MAX_HOST_LENGTH or not value.isprintable():
        raise InvalidOptionError(
            f"{source} must be printable text of at most {MAX_HOST_LENGTH} characters, "
            f"got {value!r}"
        )
    return value


def refresh_interval(heartbeat_timeout: float) -> float:
    """Seconds between two refreshes of a worker's row (as often as the stale-job rescue)."""
    return max(heartbeat_timeout / 2, 0.01)


def _version() -> str:
    import pgqueuer  # the package imports this module's importer: read it when running

    return str(pgqueuer.__version__)


class WorkerRegistry:
    """One worker's row in the registry: :meth:`start`, then :meth:`run` as a task, :meth:`stop`."""

    def __init__(
        self,
        driver: Driver,
        names: Names,
        queue_manager_id: uuid.UUID,
        host: str,
        entrypoints: Sequence[str],
        heartbeat_timeout: float,
        *,
        enabled: bool = True,
    ) -> None:
        self.driver = driver
        self.names = names
        self.queue_manager_id = queue_manager_id
        self.host = host
        self.pid = os.getpid()
        self.entrypoints = list(entrypoints)
        self.interval = refresh_interval(heartbeat_timeout)
        self.time_to_live = timedelta(seconds=self.interval * EXPIRES_AFTER_REFRESHES)
        self.enabled = enabled
        self._sql = substituted(names, "workers.sql")

    @classmethod
    def for_queries(
        cls,
        queries: Any,
        queue_manager_id: uuid.UUID,
        host: str,
        entrypoints: Sequence[str],
        heartbeat_timeout: float,
    ) -> WorkerRegistry:
        """The registry of a worker over ``queries`` (disabled for the in-memory queue)."""
        from pgqueuer.queries import Queries

        return cls(
            queries.driver,
            queries.names,
            queue_manager_id,
            host,
            entrypoints,
            heartbeat_timeout,
            enabled=isinstance(queries, Queries),
        )

    async def _register(self) -> None:
        await self.driver.execute(
            self._sql["register_worker"],
            self.queue_manager_id,
            self.host,
            self.pid,
            self.entrypoints,
            _version(),
            self.time_to_live,
        )

    async def start(self) -> None:
        """Write this worker's row; without the table, warn once and stay disabled."""
        if not self.enabled:
            return
        try:
            await self._register()
        except Exception as exc:
            if sqlstate(exc) in MISSING_TABLE_SQLSTATES:
                self.enabled = False
                logger.warning(
                    "the worker registry table %s is missing: this worker runs unlisted "
                    "(host and pid not shown by 'pgq workers') until 'pgq upgrade' adds it",
                    self.names.qualify(self.names.workers_table),
                )
                return
            logger.warning("could not register this worker (%s); retrying", exc)

    async def run(self) -> None:
        """Refresh the row and prune expired ones, every ``interval`` (run as a task)."""
        while self.enabled:
            await asyncio.sleep(self.interval * random.uniform(0.8, 1.0))
            try:
                await self._register()
                await self.driver.execute(self._sql["prune_workers"], self.time_to_live)
            except Exception as exc:
                if sqlstate(exc) in MISSING_TABLE_SQLSTATES:  # uninstalled while running
                    self.enabled = False
                logger.debug("worker registry refresh skipped: %s", exc)

    async def stop(self) -> None:
        """Delete this worker's row (at a clean shutdown); a failure leaves it to expire."""
        if not self.enabled:
            return
        try:
            async with asyncio.timeout(5):
                await self.driver.execute(self._sql["unregister_worker"], self.queue_manager_id)
        except Exception as exc:
            logger.debug("could not remove this worker from the registry: %s", exc)
