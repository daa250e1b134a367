"""The contract suite's backends: every test in tests/contract runs against each of them.

Loaded as a plugin by tests/conftest.py (``pytest_plugins``): a second conftest.py would
shadow the root one for the ``from conftest import ...`` that other test modules do.

- ``asyncpg``: ``Queries`` over one asyncpg connection (``AsyncpgDriver``);
- ``asyncpg_pool``: ``Queries`` over an asyncpg pool (``AsyncpgPoolDriver``);
- ``memory``: ``InMemoryQueries``.

A new driver is one more entry in ``BACKENDS`` plus a branch in ``backend`` that builds its
repository on the installed ``names`` queue (e.g. ``Queries(PsycopgDriver(aconn), names=names)``).
Where the in-memory backend legitimately differs (it has no tables: DDL is a no-op, probes say
yes), the test says so by name or comment; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver
from pgqueuer.inmemory import InMemoryQueries
from pgqueuer.names import Names
from pgqueuer.queries import Queries

BACKENDS = ["asyncpg", "asyncpg_pool", "psycopg", "memory"]


@dataclass
class Backend:
    """A repository to test, and how to do to its data what tests need besides its API."""

    kind: str
    queries: Any  # Queries | InMemoryQueries
    make: Callable[[Names], Any]  # another repository on the same backend, for other names
    conn: asyncpg.Connection | None = None  # the SQL backends' own connection, for setup

    @property
    def memory(self) -> bool:
        return self.kind == "memory"

    async def age_heartbeats(self, by: timedelta) -> None:
        """Make every picked job's heartbeat ``by`` older (as a worker that stopped beating)."""
        if self.memory:
            for row in self.queries._state.rows.values():
                row.job.heartbeat -= by
            return
        assert self.conn is not None
        await self.conn.execute(
            self.queries.names.substitute(
                "UPDATE /*@queue_table*/pgqueuer SET heartbeat = heartbeat - $1::interval"
            ),
            by,
        )

    async def age_log(self, by: timedelta) -> None:
        """Make every log and statistics row ``by`` older (as if written that long ago)."""
        if self.memory:
            state = self.queries._state
            for g in state.log:
                g.created -= by
            state.stats = {(k[0] - by, *k[1:]): n for k, n in state.stats.items()}
            return
        assert self.conn is not None
        for sql in (
            "UPDATE /*@queue_table_log*/pgqueuer_log SET created = created - $1::interval",
            "UPDATE /*@statistics_table*/pgqueuer_statistics SET created = created - $1::interval",
        ):
            await self.conn.execute(self.queries.names.substitute(sql), by)


@pytest.fixture
async def pool_driver(dsn: str | None) -> AsyncIterator[AsyncpgPoolDriver]:
    """An asyncpg pool (room for a LISTEN connection) behind an entered AsyncpgPoolDriver."""
    driver = await AsyncpgPoolDriver.create(dsn, min_size=1, max_size=3)
    async with driver:  # the driver created the pool: exit closes it
        yield driver


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    kind: str = request.param
    if kind == "memory":
        return Backend(kind, InMemoryQueries(), lambda n: InMemoryQueries(names=n))
    names: Names = request.getfixturevalue("names")
    conn: asyncpg.Connection = request.getfixturevalue("conn")
    driver: Any
    if kind == "asyncpg":
        driver = AsyncpgDriver(conn)
    elif kind == "psycopg":
        driver = request.getfixturevalue("psycopg_driver")
    else:
        driver = request.getfixturevalue("pool_driver")
    return Backend(kind, Queries(driver, names=names), lambda n: Queries(driver, names=n), conn)
