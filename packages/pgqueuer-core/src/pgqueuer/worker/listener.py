"""The worker's LISTEN side: NOTIFY dispatch, health checks, and reconnecting when it is lost.

``run()`` registers ``Listener.on_notify`` on the queue's channel. A table-changed event that
names one of this worker's entrypoints (or none at all) sets the claim loop's ``hint`` and
wakes it; a cancellation event cancels the matching running jobs' contexts; a health-check
event completes the ``healthy()`` call waiting for it.

When the driver reports the LISTEN connection lost (``on_lost``, drivers that are
``Reconnecting``), the loop polls at least once a second and calls ``ensure_connection``:
one reconnect task at a time, retried with ``backoff.reconnect_delays`` until it works (or
the worker is aborted). A claim that fails on a lost connection waits for the same task.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pgqueuer.backoff import reconnect_delays
from pgqueuer.capabilities import Reconnecting
from pgqueuer.db import Driver, is_connection_error, sqlstate
from pgqueuer.errors import ConnectionLostError, FailingListenerError
from pgqueuer.models import (
    CancellationEvent,
    HealthCheckEvent,
    TableChangedEvent,
    parse_event,
)
from pgqueuer.ports.metrics import WorkerObserver
from pgqueuer.worker.state import WorkerState

if TYPE_CHECKING:
    from pgqueuer.listening import Listening

logger = logging.getLogger("pgqueuer")


class Listener:
    """Turns notifications into wake-ups and cancellations; keeps the connection alive."""

    def __init__(
        self,
        state: WorkerState,
        driver: Driver,
        channel: str,
        registry: Mapping[str, Any],
        force: asyncio.Event,
    ) -> None:
        self._state = state
        self._driver = driver
        self.channel = channel
        self._registry = registry  # the registered entrypoints (names are what matters)
        self._force = force  # set by abort(): stop retrying
        self.schema: str | None = None  # the queue table's schema: NOTIFYs of others are ignored
        self.active = False  # between run()'s start and its teardown
        self.obs: WorkerObserver | None = None
        self._health: dict[uuid.UUID, asyncio.Future[HealthCheckEvent]] = {}
        self._reconnect_task: asyncio.Task[None] | None = None
        self.listening: Listening | None = None  # LISTEN elsewhere / polling (run() sets it)

    def on_notify(self, payload: str) -> None:
        event = parse_event(payload)
        if isinstance(event, TableChangedEvent):
            if event.schema is not None and self.schema is not None:
                if event.schema != self.schema:
                    return
            if event.entrypoints is None or any(ep in self._registry for ep in event.entrypoints):
                self._state.hint = True
                self._state.wake.set()
        elif isinstance(event, CancellationEvent):
            if event.schema is not None and self.schema is not None:
                if event.schema != self.schema:
                    return  # the same ids in another schema's queue table
            for job_id in event.ids:
                running = self._state.running.get(job_id)
                if running is not None:
                    running.context.cancellation.cancel()
        elif isinstance(event, HealthCheckEvent) and event.id is not None:
            future = self._health.pop(event.id, None)
            if future is not None and not future.done():
                future.set_result(event)

    def on_lost(self) -> None:
        if not self.active:  # the connection closed after run() ended: nothing to do
            return
        if self._state.listener_down_since is None:
            self._state.listener_down_since = time.monotonic()
            logger.warning("lost the LISTEN connection; reconnecting, polling meanwhile")
        self._state.wake.set()

    async def healthy(self, timeout: timedelta) -> HealthCheckEvent:
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
            await self._driver.notify(self.channel, json.dumps(payload))
            return await asyncio.wait_for(future, timeout.total_seconds())
        except Exception as exc:
            database = sqlstate(exc) is not None or is_connection_error(exc)  # asyncpg, psycopg
            if not (database or isinstance(exc, TimeoutError | OSError)):
                raise
            raise FailingListenerError(f"the listener did not answer: {exc or 'timeout'}") from exc
        finally:
            self._health.pop(hid, None)

    async def ensure_connection(self, *, wait: bool) -> None:
        """Reconnect (once, whoever asks) with backoff; with ``wait`` until it worked.

        Raises ``ConnectionLostError`` when the driver cannot re-open its connection (built
        without ``connect=``): run() then ends with it, and a supervisor (``pgq run``) calls
        the factory again."""
        task = self._reconnect_task
        if task is not None and task.done() and not task.cancelled():
            failed = task.exception()
            if failed is not None:
                raise failed
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.create_task(self._reconnect())
        if wait:
            await asyncio.shield(self._reconnect_task)

    async def _reconnect(self) -> None:
        driver = self._driver
        reconnect = driver.reconnect if isinstance(driver, Reconnecting) else None
        delays = reconnect_delays()
        state = self._state
        while True:
            try:
                if reconnect is not None:
                    await reconnect()
                if self.listening is not None:
                    await self.listening.reconnect()
                if state.listener_down_since is not None:
                    logger.warning("LISTEN connection restored")
                if self.obs is not None:
                    self.obs.reconnected()
                state.listener_down_since = None
                state.hint = True
                state.wake.set()
                return
            except ConnectionLostError:
                raise  # nothing to retry: the driver cannot re-open its connection
            except Exception as exc:
                if self._force.is_set():
                    return
                delay = next(delays)
                logger.warning("reconnect failed (%s); retrying in %.2f s", exc, delay)
                await asyncio.sleep(delay)

    def stop_reconnecting(self) -> None:
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
