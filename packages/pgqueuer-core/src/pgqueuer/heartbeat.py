"""Heartbeats from a thread of their own, on a connection of their own.

A handler that blocks the event loop (CPU work, a sync library call) must not make its job
look dead: then another worker would run it a second time. So the worker's heartbeats are sent
by a small thread with its own event loop and asyncpg connection, which keeps beating as long
as the process is alive. When a second connection cannot be opened (in-memory driver, unknown
driver), the worker falls back to a task on its own loop.

The ``heartbeat`` statement skips rows another transaction has locked instead of waiting for
them (one locked row would otherwise hold back every other row's beat): such a row keeps its
old heartbeat until the next beat. Beats come every ``heartbeat_timeout / 4``, so three can be
missed in a row before the job looks stale, and the rescue skips locked rows as well.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

logger = logging.getLogger("pgqueuer")

Beat = Callable[[Sequence[int]], Awaitable[None]]


class HeartbeatThread:
    """Every ``interval`` seconds, refresh the heartbeat of the ids ``held()`` returns."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        sql: str,
        queue_manager_id: uuid.UUID,
        held: Callable[[], Sequence[int]],
        interval: float,
    ) -> None:
        self._connect = connect
        self._sql = sql
        self._qm_id = queue_manager_id
        self._held = held
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats = 0
        self.failures = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pgqueuer-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        conn: Any = None
        backoff = 0.1
        try:
            while not self._stop.is_set():
                ids = list(self._held())
                if ids:
                    try:
                        if conn is None or conn.is_closed():
                            conn = await asyncio.wait_for(self._connect(), timeout=10)
                        await asyncio.wait_for(conn.execute(self._sql, ids, self._qm_id), 10)
                        self.beats += 1
                        backoff = 0.1
                    except Exception as exc:  # keep beating once the database is back
                        self.failures += 1
                        logger.warning("heartbeat failed (%s); retrying", exc)
                        if conn is not None:
                            conn.terminate()
                            conn = None
                        self._stop.wait(backoff)  # this loop serves only the idle connection
                        backoff = min(backoff * 2, self._interval)
                        continue
                self._stop.wait(self._interval)
        finally:
            if conn is not None:
                try:
                    await asyncio.wait_for(conn.close(), timeout=2)
                except Exception:
                    conn.terminate()
