"""Open connections and pools the way pgqueuer's own commands do (PgQueuer's helpers).

Each helper is an async context manager that closes what it opened::

    async with connect_psycopg() as conn:          # autocommit, ready for PsycopgDriver
        pgq = PgQueuer.from_psycopg_connection(conn)

Settings come from ``ConnectionSettings`` (by default ``ConnectionSettings.from_env()``, which
uses the rules of ``pgqueuer.connection``): the DSN (``dsn=`` argument, then ``PGQUEUER_DSN``,
then ``PGDSN``; with none, the libpq variables), the connect timeout
(``PGQUEUER_CONNECT_TIMEOUT``, ``PGCONNECT_TIMEOUT``, default 10 s), ``application_name``
(``PGQUEUER_APPLICATION_NAME``), the pool sizes (``PGQUEUER_POOL_MIN_SIZE`` = 1,
``PGQUEUER_POOL_MAX_SIZE`` = 5) and ``PGQUEUER_PGBOUNCER`` (behind a transaction-pooling
PgBouncer: asyncpg's statement cache off, psycopg never prepares). The DSN is passed to the
driver unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from pgqueuer import connection as settings_env
from pgqueuer.errors import ConfigurationError

if TYPE_CHECKING:
    import asyncpg
    import psycopg
    import psycopg_pool


class AsyncpgConnectKwargs(TypedDict, total=False):
    """Keyword arguments for ``asyncpg.connect`` / ``asyncpg.create_pool``."""

    dsn: str | None
    timeout: float
    server_settings: dict[str, str]
    statement_cache_size: int


class PsycopgConnectKwargs(TypedDict, total=False):
    """Keyword arguments for ``psycopg.AsyncConnection.connect``."""

    conninfo: str
    autocommit: bool
    connect_timeout: int
    application_name: str
    prepare_threshold: int | None


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where and how to connect; ``from_env()`` reads the environment once."""

    dsn: str | None = None
    connect_timeout: float = settings_env.DEFAULT_CONNECT_TIMEOUT
    application_name: str | None = None
    pool_min_size: int = 1
    pool_max_size: int = 5
    pgbouncer: bool = False  # through a transaction-pooling PgBouncer: no prepared statements

    @classmethod
    def from_env(
        cls, dsn: str | None = None, environ: Mapping[str, str] | None = None
    ) -> ConnectionSettings:
        low, high = settings_env.pool_sizes(environ)
        return cls(
            dsn=settings_env.resolve_dsn(dsn, environ),
            connect_timeout=settings_env.connect_timeout(environ),
            application_name=settings_env.application_name(environ),
            pool_min_size=low,
            pool_max_size=high,
            pgbouncer=settings_env.pgbouncer(environ),
        )

    def asyncpg_kwargs(self) -> AsyncpgConnectKwargs:
        kwargs = AsyncpgConnectKwargs(dsn=self.dsn, timeout=self.connect_timeout)
        if self.application_name:
            kwargs["server_settings"] = {"application_name": self.application_name}
        if self.pgbouncer:
            kwargs["statement_cache_size"] = 0
        return kwargs

    def asyncpg_connect(self) -> Callable[[], Awaitable[asyncpg.Connection]]:
        """Opens a new asyncpg connection with these settings: the drivers' ``connect=``
        (``AsyncpgDriver(conn, connect=settings.asyncpg_connect())``)."""
        import asyncpg

        return functools.partial(asyncpg.connect, **self.asyncpg_kwargs())

    def psycopg_kwargs(self) -> PsycopgConnectKwargs:
        # libpq takes whole seconds (and treats 1 as 2).
        kwargs = PsycopgConnectKwargs(
            conninfo=self.dsn or "",
            autocommit=True,
            connect_timeout=max(2, math.ceil(self.connect_timeout)),
        )
        if self.application_name:
            kwargs["application_name"] = self.application_name
        if self.pgbouncer:
            kwargs["prepare_threshold"] = None
        return kwargs


def _settings(dsn: str | None, settings: ConnectionSettings | None) -> ConnectionSettings:
    if settings is None:
        return ConnectionSettings.from_env(dsn)
    return dataclasses.replace(settings, dsn=dsn) if dsn else settings


def _module(name: str, extra: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ConfigurationError(
            f"{name} is not installed: pip install 'pgqueuer-core[{extra}]'"
        ) from None


@asynccontextmanager
async def connect_asyncpg(
    dsn: str | None = None, settings: ConnectionSettings | None = None
) -> AsyncIterator[asyncpg.Connection]:
    """One asyncpg connection, closed on exit."""
    resolved = _settings(dsn, settings)
    import asyncpg

    conn = await asyncpg.connect(**resolved.asyncpg_kwargs())
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def connect_psycopg(
    dsn: str | None = None, settings: ConnectionSettings | None = None
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """One psycopg ``AsyncConnection`` in autocommit mode (as PsycopgDriver needs), closed on exit."""
    resolved = _settings(dsn, settings)
    pg = _module("psycopg", "psycopg")
    conn: psycopg.AsyncConnection[Any] = await pg.AsyncConnection.connect(
        **resolved.psycopg_kwargs()
    )
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def create_asyncpg_pool(
    dsn: str | None = None, settings: ConnectionSettings | None = None
) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool of ``pool_min_size``..``pool_max_size`` connections, closed on exit."""
    resolved = _settings(dsn, settings)
    import asyncpg

    pool = await asyncpg.create_pool(
        min_size=resolved.pool_min_size,
        max_size=resolved.pool_max_size,
        **resolved.asyncpg_kwargs(),
    )
    try:
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def create_psycopg_pool(
    dsn: str | None = None, settings: ConnectionSettings | None = None
) -> AsyncIterator[psycopg_pool.AsyncConnectionPool[Any]]:
    """A psycopg ``AsyncConnectionPool`` of autocommit connections, open inside the block."""
    resolved = _settings(dsn, settings)
    pools = _module("psycopg_pool", "psycopg")
    kwargs = dict(resolved.psycopg_kwargs())
    conninfo = kwargs.pop("conninfo")
    pool: psycopg_pool.AsyncConnectionPool[Any] = pools.AsyncConnectionPool(
        conninfo,
        min_size=resolved.pool_min_size,
        max_size=resolved.pool_max_size,
        kwargs=kwargs,
        timeout=resolved.connect_timeout,
        open=False,
    )
    await pool.open(wait=True, timeout=resolved.connect_timeout)
    try:
        yield pool
    finally:
        await pool.close()


__all__ = [
    "AsyncpgConnectKwargs",
    "ConnectionSettings",
    "PsycopgConnectKwargs",
    "connect_asyncpg",
    "connect_psycopg",
    "create_asyncpg_pool",
    "create_psycopg_pool",
]
