"""How a worker learns there is work, and what it must not do behind PgBouncer.

Three ways, chosen with ``QueueManager.run``'s keywords (``pgq run``'s flags):

* **LISTEN on the worker's connection** (the default, as in PgQueuer).
* **LISTEN on a direct connection** (``listen_dsn``, ``--listen-dsn``,
  ``PGQUEUER_LISTEN_DSN``): queries go through the bouncer, notifications come over one
  connection of its own straight to PostgreSQL.
* **Polling** (``poll_interval``, ``--poll-interval``): no LISTEN at all; the worker claims
  again soon after a claim found work and waits longer and longer (up to ``poll_interval``)
  while the queue stays empty (:func:`next_poll_interval`).

``pgbouncer=True`` (``--pgbouncer``) says the queries go through a transaction-pooling
PgBouncer: the worker then sets nothing on its session (no ``SET plan_cache_mode``/``jit``,
which would leak into other clients' transactions), and it must be told how to wake up
(a ``listen_dsn`` or a ``poll_interval``), since a LISTEN through such a bouncer is lost as
soon as its transaction ends. The statement cache is the connection's business: open it with
``statement_cache_size=0`` (asyncpg) / ``prepare_threshold=None`` (psycopg), which
``pgqueuer.connection.connect`` and ``pgqueuer.adapters.connections`` do when
``PGQUEUER_PGBOUNCER`` is set (``pgq run --pgbouncer`` sets it for the factory).

Without ``pgbouncer=True``, the worker still checks (``pgqueuer.pooler``): a LISTEN on a
connection that is proven to go through transaction pooling is refused; a pooler that cannot
be proven to pool transactions gets a warning; any pooler turns the session settings off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pgqueuer.capabilities import Reconnecting
from pgqueuer.connection import connect_timeout, describe_target
from pgqueuer.errors import ConfigurationError, InvalidOptionError
from pgqueuer.pooler import behind_pooler, transaction_pooling_proven

logger = logging.getLogger("pgqueuer")

POLL_FLOOR = 0.05  # seconds: the first poll after a claim that found work

NEEDS_WAKEUP = (
    "pgbouncer=True needs listen_dsn (LISTEN on a direct connection to PostgreSQL) or "
    "poll_interval (no LISTEN): a LISTEN through a transaction-pooling PgBouncer is lost "
    "when its transaction ends"
)
BOTH_WAKEUPS = "listen_dsn and poll_interval exclude each other: LISTEN or poll, not both"
LISTEN_THROUGH_POOLER = (
    "the worker's connection goes through a transaction-pooling connection pooler "
    "(PgBouncer?), where a LISTEN is lost when its transaction ends: give listen_dsn "
    "(--listen-dsn / PGQUEUER_LISTEN_DSN, a direct connection to PostgreSQL) or "
    "poll_interval (--poll-interval)"
)
LISTEN_MAYBE_POOLED = (
    "the worker's connection goes through a connection pooler: LISTEN on it works with "
    "session pooling only; under transaction pooling use listen_dsn or poll_interval"
)


class ListenThroughPoolerError(ConfigurationError):
    """A LISTEN was asked for on a connection proven to go through transaction pooling."""


def next_poll_interval(
    current: float, found: int, ceiling: float, floor: float = POLL_FLOOR
) -> float:
    """Seconds to wait before the next poll, after a claim that returned ``found`` jobs.

    Work found: poll again after ``floor`` (more may be coming). Nothing found: twice the
    last wait, never below ``floor`` nor above ``ceiling``.
    """
    floor = min(floor, ceiling)
    if found > 0:
        return floor
    return min(max(current * 2, floor), ceiling)


def _positive_seconds(value: timedelta | float | int, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, timedelta | float | int):
        raise InvalidOptionError(f"{what} must be seconds or a timedelta, got {value!r}")
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not seconds > 0:
        raise InvalidOptionError(f"{what} must be more than 0 seconds, got {seconds}")
    return seconds


class DirectListener:
    """LISTEN on a connection of its own to ``dsn`` (asyncpg), re-opened when lost."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: Any = None
        self._listeners: dict[str, Callable[[str], object]] = {}
        self._on_lost: list[Callable[[], object]] = []

    async def open(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn, timeout=connect_timeout())
        try:
            for channel in self._listeners:
                await conn.add_listener(channel, self._dispatch)
        except BaseException:
            conn.terminate()
            raise
        conn.add_termination_listener(self._terminated)
        self._conn = conn

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        callback = self._listeners.get(channel)
        if callback is not None:
            callback(str(payload))

    def _terminated(self, _conn: object) -> None:
        for callback in list(self._on_lost):
            callback()

    @property
    def connection(self) -> Any:
        return self._conn

    async def add_listener(self, channel: str, callback: Callable[[str], object]) -> None:
        self._listeners[channel] = callback
        await self._conn.add_listener(channel, self._dispatch)

    def on_connection_lost(self, callback: Callable[[], object]) -> None:
        self._on_lost.append(callback)

    def listener_alive(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def reconnect(self) -> None:
        if self.listener_alive():
            return
        await asyncio.wait_for(self.open(), timeout=connect_timeout() + 1)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)
            if not conn.is_closed():
                conn.terminate()


class Listening:
    """One worker run's choice (validated when built), started on its driver."""

    def __init__(
        self,
        *,
        pgbouncer: bool = False,
        listen_dsn: str | None = None,
        poll_interval: timedelta | float | int | None = None,
    ) -> None:
        if listen_dsn is not None and (not isinstance(listen_dsn, str) or not listen_dsn):
            raise InvalidOptionError(f"listen_dsn must be a non-empty DSN, got {listen_dsn!r}")
        ceiling = None
        if poll_interval is not None:
            ceiling = _positive_seconds(poll_interval, "poll_interval")
        if listen_dsn and ceiling is not None:
            raise InvalidOptionError(BOTH_WAKEUPS)
        if pgbouncer and not listen_dsn and ceiling is None:
            raise InvalidOptionError(NEEDS_WAKEUP)
        self.pgbouncer = bool(pgbouncer)
        self.listen_dsn = listen_dsn
        self.ceiling = ceiling
        self.interval = POLL_FLOOR if ceiling is None else min(POLL_FLOOR, ceiling)
        self.session_settings = not self.pgbouncer
        self.listener: DirectListener | None = None
        self.description = ""

    @property
    def polling(self) -> bool:
        return self.ceiling is not None

    async def start(
        self,
        driver: Any,
        channel: str,
        on_notify: Callable[[str], object],
        on_lost: Callable[[], object],
    ) -> str:
        """LISTEN where chosen (refusing a LISTEN through transaction pooling); return the
        one-line description of the mode for the worker's first log line."""
        try:
            return await self._start(driver, channel, on_notify, on_lost)
        except BaseException:
            await self.close()
            raise

    async def _start(
        self,
        driver: Any,
        channel: str,
        on_notify: Callable[[str], object],
        on_lost: Callable[[], object],
    ) -> str:
        pooled = None if self.pgbouncer else await behind_pooler(driver)
        if pooled:
            self.session_settings = False
        if self.polling:
            how = f"polling every <= {self.ceiling:g} s (no LISTEN)"
        elif self.listen_dsn:
            self.listener = DirectListener(self.listen_dsn)
            await self.listener.open()
            await self.listener.add_listener(channel, on_notify)
            self.listener.on_connection_lost(on_lost)
            how = f"listening on {describe_target(self.listen_dsn)}"
        else:
            if pooled:
                if await transaction_pooling_proven(driver):
                    raise ListenThroughPoolerError(LISTEN_THROUGH_POOLER)
                logger.warning(LISTEN_MAYBE_POOLED)
            await driver.add_listener(channel, on_notify)
            if isinstance(driver, Reconnecting):
                driver.on_connection_lost(on_lost)
            how = "LISTEN on the connection"
        if self.pgbouncer:
            how += "; queries through PgBouncer (no session settings)"
        elif pooled:
            how += "; queries through a connection pooler (no session settings)"
        self.description = how
        return how

    def timeout(self, poll: float) -> float:
        """How long the idle worker may wait: ``poll`` (dequeue_timeout), or less when polling."""
        return min(poll, self.interval) if self.polling else poll

    def claimed(self, found: int) -> None:
        """A claim that asked for work returned ``found`` jobs."""
        if self.ceiling is not None:
            self.interval = next_poll_interval(self.interval, found, self.ceiling)

    async def reconnect(self) -> None:
        if self.listener is not None:
            await self.listener.reconnect()

    def listener_alive(self) -> bool:
        return self.listener is None or self.listener.listener_alive()

    async def close(self) -> None:
        if self.listener is not None:
            await self.listener.close()
