"""The asyncpg drivers: ``AsyncpgDriver`` (one connection) and ``AsyncpgPoolDriver`` (a pool).

``AsyncpgDriver`` wraps one connection: queries and LISTEN share it, every call serialised, as
in PgQueuer, so it also works inside the caller's transaction. ``AsyncpgPoolDriver`` runs
queries through a pool and LISTENs on a connection it holds from that pool.

Opening more connections (in-place reconnect, the heartbeat thread's own connection) needs a
way to reach the same server: the ``connect=`` argument, an async callable that opens a new
asyncpg connection (from any event loop), e.g. ``lambda: asyncpg.connect(dsn)``. The
``connect``/``create`` classmethods open the first connection or the pool from a DSN and keep
that callable. Without it, the driver still works; a lost ``AsyncpgDriver`` connection then
raises ``ConnectionLostError`` instead of being replaced, and the worker sends its heartbeats
from the event loop. A pool's LISTEN connection is replaced from the pool either way.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import asyncpg

from pgqueuer.driverbase import DRIVER_SQL, GENERIC_PLANS, NO_CONNECT, Listener, ListenerMixin
from pgqueuer.driverbase import logger as logger
from pgqueuer.errors import ConfigurationError, ConnectionLostError
from pgqueuer.session import AsyncpgSession, Session

AsyncpgConnect = Callable[[], Awaitable[asyncpg.Connection]]
"""Opens a new asyncpg connection to the driver's server (callable from any event loop)."""

# asyncpg.create_pool's own keywords; everything else it passes to asyncpg.connect.
_POOL_ONLY = frozenset(
    {"min_size", "max_size", "max_queries", "max_inactive_connection_lifetime"}
    | {"setup", "init", "reset", "loop"}
)
RECONNECT_TIMEOUT = 10.0


def _no_second_connection(driver: str) -> ConfigurationError:
    return ConfigurationError(NO_CONNECT.format(driver=driver, kind="asyncpg"))


def _gone(proxy: Any) -> bool:
    """Whether a connection held from a pool can no longer be used.

    When the server ends a pool connection, asyncpg gives it back to the pool by itself and
    detaches the proxy the holder still has: the proxy's ``is_closed()`` then raises instead
    of answering, and the connection must be treated as lost.
    """
    try:
        return bool(proxy.is_closed())
    except asyncpg.InterfaceError:
        return True


class AsyncpgDriver(ListenerMixin):
    """One asyncpg connection for queries and LISTEN; calls are serialised by a lock.

    The connection stays the caller's: the driver never closes it. After it is lost, the
    worker calls ``reconnect()``, which opens (and later closes) a connection of its own
    with ``connect`` (see the module docstring); without ``connect`` it raises
    ``ConnectionLostError``.
    """

    def __init__(
        self, connection: asyncpg.Connection, *, connect: AsyncpgConnect | None = None
    ) -> None:
        super().__init__()
        self._conn = connection
        self._connect = connect
        self._owned: asyncpg.Connection | None = None
        self.lock = asyncio.Lock()
        self._watching = False
        self._generic_plans = False
        self._entered = 0

    @classmethod
    async def connect(cls, dsn: str | None = None, **connect_kwargs: Any) -> AsyncpgDriver:
        """Open a connection with ``asyncpg.connect(dsn, **connect_kwargs)`` and keep how, so
        the driver can reconnect and open the heartbeat thread's connection the same way.

        The driver owns that connection: its outermost ``async with`` closes it on exit.
        """
        connect: AsyncpgConnect = functools.partial(asyncpg.connect, dsn, **connect_kwargs)
        driver = cls(await connect(), connect=connect)
        driver._owned = driver._conn
        return driver

    @property
    def connection(self) -> asyncpg.Connection:
        return self._conn

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.fetch_records(query, *args)]

    async def fetch_records(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.lock:
            try:
                rows: list[asyncpg.Record] = await self._conn.fetch(query, *args)
            except asyncpg.InternalClientError:
                self._conn.terminate()  # unusable (see is_connection_error): reconnect() replaces it
                raise
            return rows

    async def execute(self, query: str, *args: Any) -> str:
        async with self.lock:
            try:
                status: str = await self._conn.execute(query, *args)
            except asyncpg.InternalClientError:
                self._conn.terminate()
                raise
            return status

    async def add_listener(self, channel: str, callback: Listener) -> None:
        first = channel not in self._listeners
        self._listeners.setdefault(channel, []).append(callback)
        if first:
            async with self.lock:
                await self._conn.add_listener(channel, self._dispatch)
        self._watch()

    async def remove_listener(self, channel: str, callback: Listener) -> None:
        callbacks = self._listeners.get(channel, [])
        if callback in callbacks:
            callbacks.remove(callback)
        if not callbacks and channel in self._listeners:
            del self._listeners[channel]
            if not self._conn.is_closed():
                async with self.lock:
                    await self._conn.remove_listener(channel, self._dispatch)

    def _watch(self) -> None:
        if not self._watching:
            self._conn.add_termination_listener(self._terminated)
            self._watching = True

    async def notify(self, channel: str, payload: str) -> None:
        await self.execute(DRIVER_SQL["notify"], channel, payload)

    def listener_alive(self) -> bool:
        return not self._conn.is_closed()

    def is_alive(self) -> bool:
        return not self._conn.is_closed()

    async def reconnect(self) -> None:
        """Replace a lost connection with a new one to the same server; LISTENs again.

        Raises ``ConnectionLostError`` when the driver has no ``connect`` to open one with.
        """
        async with self.lock:
            old = self._conn
            if not old.is_closed():
                return  # someone else reconnected already
            if self._connect is None:
                raise ConnectionLostError(
                    "the connection to PostgreSQL was lost; "
                    + NO_CONNECT.format(driver="AsyncpgDriver", kind="asyncpg")
                )
            new = await asyncio.wait_for(self._connect(), timeout=RECONNECT_TIMEOUT)
            if self._generic_plans:
                await new.execute(GENERIC_PLANS)
            for channel in self._listeners:
                await new.add_listener(channel, self._dispatch)
            self._conn = new
            self._watching = False
            if self._listeners:
                self._watch()
            if self._owned is not None:
                old.terminate()
            self._owned = new

    async def use_generic_plans(self) -> Callable[[], Awaitable[None]]:
        """Make this connection reuse generic plans; return how to undo it.

        The worker's hot statement is a long CTE chain: planning it afresh for every call
        (PostgreSQL's choice for it under plan_cache_mode=auto) costs about 0.4 ms, four times
        its execution. Its generic plan is index-driven whatever the arguments, so the worker
        asks for generic plans on its own connection while it runs. JIT is switched off with
        them: a generic plan's row estimates on a large queue pass jit_above_cost, and
        compiling it took 30 ms per call on a 1M-row queue for a statement that runs in 0.1.
        """
        async with self.lock:
            conn = self._conn
            row = await conn.fetchrow(DRIVER_SQL["plan_settings"])
            previous = {"plans": "auto", "jit": "on"} if row is None else dict(row)
            await conn.execute(GENERIC_PLANS)
            self._generic_plans = True

        async def restore() -> None:
            self._generic_plans = False
            async with self.lock:
                if not self._conn.is_closed():
                    await self._conn.execute(
                        DRIVER_SQL["restore_plan_settings"], previous["plans"], previous["jit"]
                    )

        return restore

    async def connect_factory(self) -> AsyncpgConnect:
        """How to open a separate connection to this server, from any event loop.

        ``ConfigurationError`` when the driver was built without ``connect``.
        """
        if self._connect is None:
            raise _no_second_connection("AsyncpgDriver")
        return self._connect

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """SessionDriver: the driver's one connection, each statement in turn with its other
        calls (so the block may use the driver too, e.g. enqueue inside a schema lock)."""
        yield self

    async def __aenter__(self) -> AsyncpgDriver:
        self._entered += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered = max(0, self._entered - 1)
        if self._entered == 0 and self._owned is not None and not self._owned.is_closed():
            await self._owned.close()


class AsyncpgPoolDriver(ListenerMixin):
    """Queries through an asyncpg pool; LISTEN on one connection held from that pool.

    ``connect`` (optional) opens a connection outside the pool for the heartbeat thread;
    ``create`` builds the pool and that callable from the same arguments.
    """

    def __init__(self, pool: asyncpg.Pool, *, connect: AsyncpgConnect | None = None) -> None:
        super().__init__()
        self._pool = pool
        self._connect = connect
        self._owns_pool = False
        self._listen_conn: Any = None
        self._listen_lock = asyncio.Lock()
        self._entered = 0

    @classmethod
    async def create(cls, dsn: str | None = None, **pool_kwargs: Any) -> AsyncpgPoolDriver:
        """``asyncpg.create_pool(dsn, **pool_kwargs)``, keeping its connection arguments for
        the heartbeat thread's connection. The driver owns the pool: its outermost
        ``async with`` closes it on exit."""
        connect_kwargs = {k: v for k, v in pool_kwargs.items() if k not in _POOL_ONLY}
        pool = await asyncpg.create_pool(dsn, **pool_kwargs)
        driver = cls(pool, connect=functools.partial(asyncpg.connect, dsn, **connect_kwargs))
        driver._owns_pool = True
        return driver

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.fetch_records(query, *args)]

    async def fetch_records(self, query: str, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._pool.fetch(query, *args)
        return rows

    async def execute(self, query: str, *args: Any) -> str:
        status: str = await self._pool.execute(query, *args)
        return status

    async def _listen_connection(self) -> Any:
        if self._listen_conn is None or _gone(self._listen_conn):
            max_size = self._pool.get_max_size()
            if max_size < 2:
                raise ConfigurationError(
                    f"the pool's max_size is {max_size}: a listening driver needs at least 2 "
                    "(one connection stays reserved for LISTEN)"
                )
            conn = await self._pool.acquire()
            conn.add_termination_listener(self._terminated)
            self._listen_conn = conn
        return self._listen_conn

    async def add_listener(self, channel: str, callback: Listener) -> None:
        first = channel not in self._listeners
        self._listeners.setdefault(channel, []).append(callback)
        if first:
            async with self._listen_lock:
                conn = await self._listen_connection()
                await conn.add_listener(channel, self._dispatch)

    async def remove_listener(self, channel: str, callback: Listener) -> None:
        callbacks = self._listeners.get(channel, [])
        if callback in callbacks:
            callbacks.remove(callback)
        if not callbacks and channel in self._listeners:
            del self._listeners[channel]
            conn = self._listen_conn
            if conn is not None and not _gone(conn):
                async with self._listen_lock:
                    await conn.remove_listener(channel, self._dispatch)

    async def notify(self, channel: str, payload: str) -> None:
        await self.execute(DRIVER_SQL["notify"], channel, payload)

    def listener_alive(self) -> bool:
        return self._listen_conn is None or not _gone(self._listen_conn)

    def is_alive(self) -> bool:
        return not self._pool.is_closing()

    async def reconnect(self) -> None:
        """Give back a lost LISTEN connection and LISTEN again on a fresh one from the pool."""
        async with self._listen_lock:
            if self._listen_conn is not None and not _gone(self._listen_conn):
                return  # alive (or someone else reconnected already)
            old, self._listen_conn = self._listen_conn, None
            if old is not None:
                await self._release(old)
            if self._listeners:
                conn = await asyncio.wait_for(self._listen_connection(), RECONNECT_TIMEOUT)
                for channel in self._listeners:
                    await conn.add_listener(channel, self._dispatch)

    async def _release(self, conn: Any) -> None:
        """Give the LISTEN connection back to the pool (a no-op for one asyncpg detached)."""
        try:
            if not _gone(conn):
                for channel in self._listeners:
                    await conn.remove_listener(channel, self._dispatch)
            await self._pool.release(conn, timeout=5)
        except Exception:  # the pool replaces a broken connection itself
            logger.debug("releasing the LISTEN connection failed", exc_info=True)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """One connection of the pool for this block: SessionDriver."""
        async with self._pool.acquire() as conn:
            yield AsyncpgSession(conn)

    async def connect_factory(self) -> AsyncpgConnect:
        """How to open a connection to the pool's server outside the pool, from any event loop.

        ``ConfigurationError`` when the driver was built without ``connect`` (see ``create``).
        """
        if self._connect is None:
            raise _no_second_connection("AsyncpgPoolDriver")
        return self._connect

    async def __aenter__(self) -> AsyncpgPoolDriver:
        self._entered += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered = max(0, self._entered - 1)
        if self._entered:
            return
        if self._listen_conn is not None:
            conn, self._listen_conn = self._listen_conn, None
            await self._release(conn)
        if self._owns_pool and not self._pool.is_closing():
            await self._pool.close()


__all__ = ["AsyncpgConnect", "AsyncpgDriver", "AsyncpgPoolDriver"]
