"""Drivers: how pgqueuer talks to PostgreSQL (asyncpg) or to nothing at all (in memory).

A driver runs SQL with ``$n`` parameters and delivers NOTIFY payloads to listeners.
``AsyncpgDriver`` wraps one connection (queries and LISTEN share it, every call serialised, as in
PgQueuer, so it also works inside the caller's transaction); ``AsyncpgPoolDriver`` runs queries
through a pool and LISTENs on a connection of its own. Both can re-open a lost connection
(``reconnect``), which the worker uses to carry on after a backend was terminated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import asyncpg

# Optional capabilities live in pgqueuer.capabilities (re-exported here for old imports).
from pgqueuer.capabilities import (  # noqa: F401
    GenericPlanning,
    ListenerRemoval,
    Reconnecting,
    RecordFetching,
    SeparateConnections,
)
from pgqueuer.errors import ConfigurationError
from pgqueuer.session import AsyncpgSession, Session
from pgqueuer.tasks import DriverLifecycle, TaskManager

logger = logging.getLogger("pgqueuer")

Listener = Callable[[str], object]

GENERIC_PLANS = "SET plan_cache_mode = force_generic_plan; SET jit = off"

# Errors that mean "the connection is gone", as opposed to a failing statement.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CannotConnectNowError,
    ConnectionError,
    OSError,
    TimeoutError,
)


# SQLSTATEs of a lost connection: class 08 (connection exception) and the server going away.
_LOST_STATES = ("57P01", "57P02", "57P03")


def _is_psycopg_connection_error(exc: BaseException) -> bool:
    import sys  # psycopg is only looked at when something imported it: core runs without it

    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    # No SQLSTATE: raised by the client ("server closed the connection", "the connection is
    # closed"); OperationalError with one also covers statement failures (lock timeout, ...).
    return state is None or state.startswith("08") or state in _LOST_STATES


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a server error from asyncpg or psycopg (None for anything else)."""
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def unique_violation(exc: BaseException) -> tuple[str | None, str | None] | None:
    """``(constraint name, detail)`` of a unique violation (23505), asyncpg's or psycopg's."""
    if sqlstate(exc) != "23505":
        return None
    diag = getattr(exc, "diag", None)  # psycopg keeps the server's error fields on .diag
    if diag is not None:
        return diag.constraint_name, diag.message_detail
    return getattr(exc, "constraint_name", None), getattr(exc, "detail", None)


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` means the connection (not the statement) failed."""
    if _is_psycopg_connection_error(exc):
        return True
    if isinstance(exc, asyncpg.InternalClientError):
        # The protocol is out of step with the server, e.g. "cannot switch to state 12;
        # another operation (2) is in progress" when a terminated backend's FATAL message
        # arrived while the connection was idle and its end is not processed yet.
        return True
    if isinstance(exc, asyncpg.InterfaceError) and "another operation" in str(exc):
        return False
    return isinstance(exc, CONNECTION_ERRORS)


@runtime_checkable
class Driver(Protocol):
    """What Queries and the worker need from a database connection."""

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]: ...

    async def execute(self, query: str, *args: Any) -> str: ...

    async def add_listener(self, channel: str, callback: Listener) -> None: ...

    async def notify(self, channel: str, payload: str) -> None: ...

    @property
    def shutdown(self) -> asyncio.Event: ...

    @property
    def tm(self) -> TaskManager: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...


class SyncDriver(Protocol):
    """A blocking driver: what ``SyncQueries`` needs (``SyncPsycopgDriver``)."""

    def fetch(self, query: str, *args: object) -> list[dict[str, object]]: ...


async def clone_connection(conn: asyncpg.Connection) -> asyncpg.Connection:
    """A new connection with the same address and parameters as ``conn``.

    asyncpg keeps what it connected with on the connection object; re-using it lets a driver
    built from a user's connection reconnect, and the heartbeat thread open its own, without
    asking the user for a DSN a second time.
    """
    from asyncpg import connect_utils

    conn = _unwrap(conn)
    addr = getattr(conn, "_addr", None)
    params = getattr(conn, "_params", None)
    config = getattr(conn, "_config", None)
    if addr is None or params is None or config is None:
        raise ConfigurationError("cannot open another connection like this one")
    connect_addr: Any = getattr(connect_utils, "_connect_addr", None)
    if connect_addr is None:
        raise ConfigurationError("this asyncpg version cannot re-open a connection")
    new: asyncpg.Connection = await connect_addr(
        addr=addr,
        loop=asyncio.get_running_loop(),
        params=params,
        config=config,
        connection_class=type(conn),
        record_class=asyncpg.Record,
    )
    return new


def _unwrap(conn: Any) -> Any:
    """The connection behind a pool's proxy object."""
    return getattr(conn, "_con", None) or conn


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


class _ListenerMixin(DriverLifecycle):
    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        self._on_lost: list[Callable[[], object]] = []

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        for callback in list(self._listeners.get(channel, ())):
            try:
                callback(str(payload))
            except Exception:  # a broken callback must not stop the others
                logger.exception("NOTIFY listener on %r failed", channel)

    def _terminated(self, _conn: object) -> None:
        for callback in list(self._on_lost):
            callback()

    def on_connection_lost(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (no arguments) when the LISTEN connection is lost."""
        self._on_lost.append(callback)


class AsyncpgDriver(_ListenerMixin):
    """One asyncpg connection for queries and LISTEN; calls are serialised by a lock.

    The connection stays the caller's: the driver never closes it. After it is lost, the
    worker calls ``reconnect()``, which opens (and later closes) a connection of its own.
    """

    def __init__(self, connection: asyncpg.Connection) -> None:
        super().__init__()
        self._conn = connection
        self._owned: asyncpg.Connection | None = None
        self.lock = asyncio.Lock()
        self._watching = False
        self._generic_plans = False

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
        await self.execute("SELECT pg_notify($1, $2)", channel, payload)

    def listener_alive(self) -> bool:
        return not self._conn.is_closed()

    def is_alive(self) -> bool:
        return not self._conn.is_closed()

    async def reconnect(self) -> None:
        """Replace a lost connection with a new one to the same server; LISTENs again."""
        async with self.lock:
            old = self._conn
            if not old.is_closed():
                return  # someone else reconnected already
            new = await asyncio.wait_for(clone_connection(old), timeout=10)
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
            row = await conn.fetchrow(
                "SELECT current_setting('plan_cache_mode') AS plans, current_setting('jit') AS jit"
            )
            previous = {"plans": "auto", "jit": "on"} if row is None else dict(row)
            await conn.execute(GENERIC_PLANS)
            self._generic_plans = True

        async def restore() -> None:
            self._generic_plans = False
            async with self.lock:
                if not self._conn.is_closed():
                    await self._conn.execute(
                        "SELECT set_config('plan_cache_mode', $1, false), "
                        "set_config('jit', $2, false)",
                        previous["plans"],
                        previous["jit"],
                    )

        return restore

    async def connect_factory(self) -> Callable[[], Awaitable[asyncpg.Connection]]:
        """How to open a separate connection to this server, from any event loop."""
        conn = self._conn
        return lambda: clone_connection(conn)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """SessionDriver: the driver's one connection, each statement in turn with its other
        calls (so the block may use the driver too, e.g. enqueue inside a schema lock)."""
        yield self

    async def __aenter__(self) -> AsyncpgDriver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._owned is not None and not self._owned.is_closed():
            await self._owned.close()


class AsyncpgPoolDriver(_ListenerMixin):
    """Queries through an asyncpg pool; LISTEN on one connection held from that pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__()
        self._pool = pool
        self._listen_conn: Any = None
        self._listen_lock = asyncio.Lock()
        self._entered = 0

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
        await self.execute("SELECT pg_notify($1, $2)", channel, payload)

    def listener_alive(self) -> bool:
        return self._listen_conn is None or not _gone(self._listen_conn)

    def is_alive(self) -> bool:
        return not self._pool.is_closing()

    async def reconnect(self) -> None:
        """Give back a lost LISTEN connection and LISTEN again on a fresh one."""
        async with self._listen_lock:
            if self._listen_conn is not None and not _gone(self._listen_conn):
                return  # alive (or someone else reconnected already)
            old, self._listen_conn = self._listen_conn, None
            if old is not None:
                await self._release(old)
            if self._listeners:
                conn = await asyncio.wait_for(self._listen_connection(), timeout=10)
                for channel in self._listeners:
                    await conn.add_listener(channel, self._dispatch)

    async def _release(self, conn: Any) -> None:
        try:
            if _gone(conn):
                if _unwrap(conn) is not conn:  # not given back by asyncpg already
                    await self._pool.release(conn, timeout=1)
            else:
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

    async def connect_factory(self) -> Callable[[], Awaitable[asyncpg.Connection]]:
        """How to open a separate connection to the pool's server, from any event loop."""
        async with self._pool.acquire() as proxy:
            conn = _unwrap(proxy)
        return lambda: clone_connection(conn)

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
        if self._entered == 0 and self._listen_conn is not None:
            conn, self._listen_conn = self._listen_conn, None
            await self._release(conn)


# The psycopg drivers live in their own module (psycopg is imported there only on use).
from pgqueuer.psycopg_driver import PsycopgDriver as PsycopgDriver  # noqa: E402
from pgqueuer.psycopg_driver import SyncPsycopgDriver as SyncPsycopgDriver  # noqa: E402
