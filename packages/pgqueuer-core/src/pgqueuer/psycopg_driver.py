"""psycopg 3 drivers: ``PsycopgDriver`` (async, workers and producers) and
``SyncPsycopgDriver`` (blocking, for ``SyncQueries`` in WSGI code).

Both run pgqueuer's ``$n`` SQL through psycopg's raw-query cursors with dict rows, and both
need an autocommit connection (as in PgQueuer).

``PsycopgDriver`` runs queries on the caller's connection and LISTENs on a second connection
of its own, opened from the first one's connection parameters. psycopg delivers notifications
only while a task waits in ``notifies()``, and that wait holds the connection: on one shared
connection every query would queue behind it (PgQueuer's psycopg worker stalls about a second
per query that way). With LISTEN on its own connection, queries never wait for it.

psycopg is imported on first use, so ``pgqueuer`` imports without it; constructing a driver
without it installed raises ``ConfigurationError`` naming the extra to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pgqueuer.dberrors import is_connection_error
from pgqueuer.driverbase import DRIVER_SQL, GENERIC_PLANS, Listener, ListenerMixin
from pgqueuer.errors import ConfigurationError

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger("pgqueuer")

_NEEDS_AUTOCOMMIT = (
    "{name} needs a connection with autocommit=True (psycopg.{kind}.connect(..., autocommit=True))"
)


def _psycopg() -> Any:
    try:
        return importlib.import_module("psycopg")
    except ImportError:
        raise ConfigurationError(
            "the psycopg drivers need psycopg 3: pip install 'pgqueuer-core[psycopg]'"
        ) from None


def conninfo_of(connection: psycopg.AsyncConnection[Any] | psycopg.Connection[Any]) -> str:
    """Connection parameters to open another connection like ``connection`` (password too)."""
    conninfo = _psycopg().conninfo
    password = connection.info.password
    extra = {"password": password} if password else {}
    text: str = conninfo.make_conninfo(connection.info.dsn, **extra)
    return text


class _Statements:
    """Runs ``$n`` SQL on one connection through one reused raw cursor (dict rows).

    With arguments, results come in binary (about a fifth less client time per worker round
    trip than text); unknown types (the status enum) then load as ``str``, as they do in text.
    Without arguments the simple protocol is used, so several statements may be sent at once.
    """

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        pg = _psycopg()
        self.connection = connection
        self._cursor = pg.AsyncRawCursor(connection, row_factory=pg.rows.dict_row)
        text = importlib.import_module("psycopg.types.string").TextBinaryLoader
        self._cursor.adapters.register_loader(0, text)  # 0: any type psycopg does not know
        self._lock = asyncio.Lock()

    async def run(self, query: str, args: Sequence[Any]) -> tuple[list[dict[str, Any]], str]:
        async with self._lock:
            cur = self._cursor
            await cur.execute(query, args if args else None, binary=True if args else None)
            rows: list[dict[str, Any]] = await cur.fetchall() if cur.description else []
            return rows, cur.statusmessage or ""


async def _open(conninfo: str) -> psycopg.AsyncConnection[Any]:
    connection: psycopg.AsyncConnection[Any] = await _psycopg().AsyncConnection.connect(
        conninfo, autocommit=True
    )
    return connection


class PsycopgDriver(ListenerMixin):
    """Queries on the given psycopg ``AsyncConnection``; LISTEN on a connection of its own.

    The caller's connection stays the caller's: the driver never closes it. When it is lost,
    ``reconnect()`` replaces it with one the driver opens (and closes on exit).
    """

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        _psycopg()  # a clear error when psycopg is not installed
        if not connection.autocommit:
            raise RuntimeError(
                _NEEDS_AUTOCOMMIT.format(name="PsycopgDriver", kind="AsyncConnection")
            )
        super().__init__()
        self._conn = connection
        self._run = _Statements(connection)
        self._conninfo = conninfo_of(connection)
        self._owned: psycopg.AsyncConnection[Any] | None = None
        self._listen: psycopg.AsyncConnection[Any] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._listen_lock = asyncio.Lock()
        self._reconnect_lock = asyncio.Lock()
        self._generic_plans = False
        self._entered = 0

    @property
    def connection(self) -> psycopg.AsyncConnection[Any]:
        """The connection queries run on (the caller's, or the one reconnect() opened)."""
        return self._conn

    # -- queries ----------------------------------------------------------------------------

    async def fetch(self, query: str, *args: object) -> list[dict[str, object]]:
        rows, _ = await self._run.run(query, args)
        return rows

    async def fetch_records(self, query: str, *args: object) -> list[dict[str, object]]:
        """RecordFetching: psycopg's rows already are dicts (the same as ``fetch``)."""
        rows, _ = await self._run.run(query, args)
        return rows

    async def execute(self, query: str, *args: object) -> str:
        _, status = await self._run.run(query, args)
        return status

    async def notify(self, channel: str, payload: str) -> None:
        await self.execute(DRIVER_SQL["notify"], channel, payload)

    # -- LISTEN -----------------------------------------------------------------------------

    async def add_listener(self, channel: str, callback: Listener) -> None:
        first = channel not in self._listeners
        self._listeners.setdefault(channel, []).append(callback)
        if first:
            async with self._listen_lock:
                if self._listen is None or self._listen.closed:
                    await self._relisten()  # a new connection: LISTEN to every channel
                    return
                await self._stop_watching()  # the wait in notifies() holds the connection
                try:
                    await self._listen.execute(self._listen_sql("LISTEN", channel))
                finally:
                    self._start_watching()

    async def _relisten(self) -> None:
        """(Re)open the LISTEN connection, LISTEN to every channel, watch it (under the lock)."""
        await self._stop_watching()
        await self._close_listen()
        if not self._listeners:
            return
        listen = await asyncio.wait_for(_open(self._conninfo), timeout=10)
        try:
            for channel in self._listeners:
                await listen.execute(self._listen_sql("LISTEN", channel))
        except BaseException:
            await listen.close()
            raise
        self._listen = listen
        self._start_watching()

    async def remove_listener(self, channel: str, callback: Listener) -> None:
        callbacks = self._listeners.get(channel, [])
        if callback in callbacks:
            callbacks.remove(callback)
        if callbacks or channel not in self._listeners:
            return
        del self._listeners[channel]
        async with self._listen_lock:
            listen = self._listen
            if listen is None or listen.closed:
                return
            await self._stop_watching()
            if not self._listeners:
                await self._close_listen()
                return
            try:
                await listen.execute(self._listen_sql("UNLISTEN", channel))
            finally:
                self._start_watching()

    @staticmethod
    def _listen_sql(command: str, channel: str) -> Any:
        sql = _psycopg().sql
        return sql.SQL(command + " {}").format(sql.Identifier(channel))

    def _start_watching(self) -> None:
        if self._watcher is None and self._listen is not None and self._listeners:
            self._watcher = asyncio.create_task(self.watch_notifies(), name="pgqueuer-notifies")

    async def _stop_watching(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None and not watcher.done():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def watch_notifies(self) -> None:
        """Deliver notifications from the LISTEN connection until it is closed or lost."""
        listen = self._listen
        if listen is None:
            return
        try:
            async for note in listen.notifies():
                self._dispatch(listen, note.pid, note.channel, note.payload)
        except Exception as exc:
            if self._listen is not listen:  # replaced or closed on purpose
                return
            if not is_connection_error(exc) and not listen.closed:
                logger.exception("the NOTIFY watcher failed")
            else:
                logger.warning("lost the LISTEN connection (%s)", exc)
            self._terminated(listen)

    async def _close_listen(self) -> None:
        listen, self._listen = self._listen, None
        if listen is not None and not listen.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(listen.close(), timeout=5)

    # -- capabilities (the Protocols of pgqueuer.capabilities) ----------------------------

    def listener_alive(self) -> bool:
        if not self._listeners:
            return True
        return (
            self._listen is not None
            and not self._listen.closed
            and self._watcher is not None
            and not self._watcher.done()
        )

    def is_alive(self) -> bool:
        return not self._conn.closed

    async def reconnect(self) -> None:
        """Replace a lost query connection and a lost LISTEN connection; LISTEN again."""
        async with self._reconnect_lock:
            if self._conn.closed or not await self._answers(self._run):
                new = await asyncio.wait_for(_open(self._conninfo), timeout=10)
                if self._generic_plans:
                    await new.execute(GENERIC_PLANS)
                old, self._conn = self._owned, new
                self._run = _Statements(new)
                self._owned = new
                if old is not None:
                    with contextlib.suppress(Exception):
                        await old.close()
            if not self.listener_alive():
                async with self._listen_lock:
                    await self._relisten()

    @staticmethod
    async def _answers(statements: _Statements) -> bool:
        try:
            await asyncio.wait_for(statements.run(DRIVER_SQL["ping"], ()), timeout=5)
        except Exception as exc:
            if is_connection_error(exc) or isinstance(exc, TimeoutError):
                return False
            raise
        return True

    async def use_generic_plans(self) -> Callable[[], Awaitable[None]]:
        """Make the query connection reuse generic plans (see AsyncpgDriver); return the undo."""
        rows = await self.fetch(DRIVER_SQL["plan_settings"])
        previous = dict(rows[0])
        await self.execute(GENERIC_PLANS)
        self._generic_plans = True

        async def restore() -> None:
            self._generic_plans = False
            if not self._conn.closed:
                await self.execute(
                    DRIVER_SQL["restore_plan_settings"], previous["plans"], previous["jit"]
                )

        return restore

    async def connect_factory(self) -> Callable[[], Awaitable[PsycopgBeatConnection]]:
        """How to open a separate connection to this server, from any event loop."""
        conninfo = self._conninfo

        async def connect() -> PsycopgBeatConnection:
            return PsycopgBeatConnection(await _open(conninfo))

        return connect

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[PsycopgDriver]:
        """One connection for a block (schema management): this driver's, statement by statement.

        Its ``execute`` takes several statements when there are no arguments, and autocommit
        keeps it usable after a statement fails.
        """
        yield self

    # -- context manager --------------------------------------------------------------------

    async def __aenter__(self) -> PsycopgDriver:
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
        async with self._listen_lock:
            await self._stop_watching()
            await self._close_listen()
        owned, self._owned = self._owned, None
        if owned is not None and not owned.closed:
            await owned.close()


class PsycopgBeatConnection:
    """A psycopg connection with the few asyncpg-style methods the heartbeat thread calls."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._conn = connection
        self._run = _Statements(connection)

    async def execute(self, query: str, *args: object) -> str:
        _, status = await self._run.run(query, args)
        return status

    def is_closed(self) -> bool:
        return self._conn.closed

    def terminate(self) -> None:
        self._conn.pgconn.finish()  # closes the socket now, without a round trip

    async def close(self) -> None:
        await self._conn.close()


class SyncPsycopgDriver:
    """A blocking driver over a psycopg ``Connection`` (autocommit): ``fetch`` only."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        _psycopg()
        if not connection.autocommit:
            raise RuntimeError(
                _NEEDS_AUTOCOMMIT.format(name="SyncPsycopgDriver", kind="Connection")
            )
        self._conn = connection

    @property
    def connection(self) -> psycopg.Connection[Any]:
        return self._conn

    def fetch(self, query: str, *args: object) -> list[dict[str, object]]:
        pg = _psycopg()
        with pg.RawCursor(self._conn, row_factory=pg.rows.dict_row) as cur:
            cur.execute(query, args if args else None)
            rows: list[dict[str, object]] = cur.fetchall() if cur.description else []
            return rows


__all__ = ["PsycopgBeatConnection", "PsycopgDriver", "SyncPsycopgDriver", "conninfo_of"]
