"""Where the pages' connections come from, and the database errors that mean "it is down".

A page reads in one read-only, repeatable-read transaction (one moment for every section) on
a connection lent by the pool; an action runs outside it. The pool is the app's own
(``create_web_app``), or one the embedding app put on ``app.state``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import asyncpg

from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver
from pgqueuer.dberrors import UNAVAILABLE_ERRORS
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer.sql import load_blocks
from pgqueuer_dashboard.queries import Dashboard

# Errors that say the database cannot be reached right now (not that a query is wrong).
UNAVAILABLE = UNAVAILABLE_ERRORS


@dataclass
class Reader:
    """One page's reads: the dashboard's queries and core's insight reads, one transaction."""

    dash: Dashboard
    queries: Queries


class Source:
    """Lends connections from an asyncpg pool, or serialises one connection."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool | None = None,
        connection: asyncpg.Connection | None = None,
        names: Names | None = None,
        lock: asyncio.Lock | None = None,
    ) -> None:
        if (pool is None) == (connection is None):
            raise ValueError("Source takes a pool or a connection")
        self.pool = pool
        self.connection = connection
        self.names = names or Names.from_env()
        self._lock = lock or asyncio.Lock()  # one connection: one statement at a time
        self._jit_off = self.names.substitute(
            load_blocks("pgqueuer_dashboard.sql", "web.sql")["jit_off"]
        )

    @classmethod
    def from_queries(cls, queries: Queries) -> Source:
        """The pool or connection behind an asyncpg ``Queries`` (what PgQueuer's embedding
        API puts on ``app.state.pgq_queries``)."""
        driver = queries.driver
        if isinstance(driver, AsyncpgPoolDriver):
            return cls(pool=driver.pool, names=queries.names)
        if isinstance(driver, AsyncpgDriver):
            # the driver's own lock: its other users and the pages take turns
            return cls(connection=driver.connection, names=queries.names, lock=driver.lock)
        raise TypeError(
            f"pgq web reads through asyncpg: {type(driver).__name__} is not supported "
            "(set app.state.pgq_pool to an asyncpg pool instead)"
        )

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        if self.pool is not None:
            async with self.pool.acquire() as lent:
                # The pool's proxy forwards every Connection method (asyncpg's own idiom).
                yield cast(asyncpg.Connection, lent)
            return
        assert self.connection is not None
        async with self._lock:
            yield self.connection

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[Reader]:
        async with self._connection() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await conn.execute(self._jit_off)
                yield Reader(Dashboard(conn, self.names), Queries(AsyncpgDriver(conn), self.names))

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[tuple[Queries, asyncpg.Connection]]:
        async with self._connection() as conn:
            yield Queries(AsyncpgDriver(conn), self.names), conn
