"""Live updates: the queue's NOTIFY channel, debounced, fanned out to server-sent events.

One LISTEN connection per app (not one per browser). A burst of notifications becomes one
``queue-change`` event 250 ms after the first of them; each subscriber has a small bounded
buffer (a slow browser misses repeats, never blocks the others); every stream sends a comment
line as a keepalive, and ends when the client goes away. When the LISTEN connection is lost
the broadcaster reconnects by itself and then tells every page to refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg

from pgqueuer.dberrors import FEATURE_NOT_SUPPORTED, sqlstate
from pgqueuer.names import Names
from pgqueuer_dashboard.web.source import UNAVAILABLE

logger = logging.getLogger("pgqueuer.web")

DEBOUNCE = 0.25
KEEPALIVE = 15.0
BUFFER = 8
RETRY = 2.0

Connect = Callable[[], Awaitable[asyncpg.Connection]]


class Broadcaster:
    """LISTEN once, fan out debounced ``queue-change`` events to every subscriber."""

    def __init__(
        self,
        connect: Connect,
        names: Names,
        *,
        debounce: float = DEBOUNCE,
        keepalive: float = KEEPALIVE,
        buffer: int = BUFFER,
    ) -> None:
        self.connect = connect
        self.names = names
        self.debounce = debounce
        self.keepalive = keepalive
        self.buffer = buffer
        self.subscribers: set[asyncio.Queue[str]] = set()
        self.connected = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._fanout: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="pgq-web-listen")
        self._fanout = asyncio.create_task(self._debounced(), name="pgq-web-fanout")

    async def stop(self) -> None:
        for task in (self._task, self._fanout):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.end_streams()

    def end_streams(self) -> None:
        """End every open event stream (the server is stopping)."""
        for queue in list(self.subscribers):
            self._offer(queue, "stop")

    def _notified(self, *_: object) -> None:
        self._changed.set()

    async def _listen(self) -> None:
        first = True
        while True:
            conn: asyncpg.Connection | None = None
            lost = asyncio.Event()
            try:
                conn = await self.connect()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(self.names.channel, self._notified)
                self.connected.set()
                if not first:  # what changed while we were away: every page refreshes
                    self._changed.set()
                first = False
                await lost.wait()
            except Exception as exc:
                if sqlstate(exc) == FEATURE_NOT_SUPPORTED:
                    # A hot standby refuses LISTEN during recovery: the pages still work (they
                    # read), only their live updates are off. Say it once; do not retry forever.
                    logger.warning("pgq web: no live updates from this server (%s)", exc)
                    return
                if isinstance(exc, UNAVAILABLE):
                    logger.warning("pgq web: LISTEN connection unavailable (%s); retrying", exc)
                else:  # never let the listener die silently; keep trying
                    logger.exception("pgq web: the LISTEN connection failed; retrying")
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(RETRY)

    async def _debounced(self) -> None:
        while True:
            await self._changed.wait()
            await asyncio.sleep(self.debounce)
            self._changed.clear()
            self.publish("queue-change")

    def _offer(self, queue: asyncio.Queue[str], event: str) -> None:
        if queue.full():  # the oldest is a repeat of what is coming: drop it
            queue.get_nowait()
        queue.put_nowait(event)

    def publish(self, event: str) -> None:
        for queue in list(self.subscribers):
            self._offer(queue, event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=self.buffer)
        self.subscribers.add(queue)
        try:
            yield queue
        finally:
            self.subscribers.discard(queue)

    async def stream(self) -> AsyncIterator[str]:
        """The text of one text/event-stream response, until the client leaves."""
        async with self.subscribe() as queue:
            yield "retry: 2000\n: connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), self.keepalive)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if event == "stop":
                    return
                yield f"event: {event}\ndata: {{}}\n\n"
