"""``Queries``: every statement pgqueuer runs, one typed method each (PgQueuer's repository).

The SQL lives in ``sql/*.sql``; the methods live in ``pgqueuer.backends.sql_*`` by job (queue,
administration, insights, schedules, schema management) and are put together here. Build it as
``Queries(driver)``, ``Queries(driver, names)`` or ``Queries(driver, names=names)``; PgQueuer's
``qbe``/``qbq``/``qbs`` keywords are accepted; ``tracer`` traces every enqueue (see
``pgqueuer.ports.tracing``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgqueuer.backends.args import EntrypointExecutionParameter, Finished, RoundTrip
from pgqueuer.backends.sql_admin import SqlAdmin
from pgqueuer.backends.sql_insights import SqlInsights
from pgqueuer.backends.sql_queue import SqlQueue, is_unique_violation
from pgqueuer.backends.sql_schedules import SqlSchedules
from pgqueuer.backends.sql_schema import SchemaPackageMissingError, SqlSchema
from pgqueuer.db import AsyncpgConnect, AsyncpgDriver, AsyncpgPoolDriver
from pgqueuer.names import Names

if TYPE_CHECKING:
    import asyncpg
    import psycopg

__all__ = [
    "EntrypointExecutionParameter",
    "Finished",
    "Queries",
    "RoundTrip",
    "SchemaPackageMissingError",
    "SyncQueries",
    "is_unique_violation",
]


class Queries(SqlQueue, SqlAdmin, SqlInsights, SqlSchedules, SqlSchema):
    """Producer, worker, operations, insight, schedule and schema methods over one driver."""

    @classmethod
    def from_asyncpg_connection(
        cls,
        connection: asyncpg.Connection,
        names: Names | None = None,
        *,
        connect: AsyncpgConnect | None = None,
    ) -> Queries:
        """``connect``: how to open a new connection (see ``AsyncpgDriver``)."""
        return cls(AsyncpgDriver(connection, connect=connect), names=names)

    @classmethod
    def from_asyncpg_pool(
        cls,
        pool: asyncpg.Pool,
        names: Names | None = None,
        *,
        connect: AsyncpgConnect | None = None,
    ) -> Queries:
        return cls(AsyncpgPoolDriver(pool, connect=connect), names=names)

    @classmethod
    def from_psycopg_connection(
        cls, connection: psycopg.AsyncConnection[Any], names: Names | None = None
    ) -> Queries:
        from pgqueuer.psycopg_driver import PsycopgDriver

        return cls(PsycopgDriver(connection), names=names)


# SyncQueries (blocking producers) shares the argument checks in pgqueuer.backends.args.
from pgqueuer.sync_queries import SyncQueries  # noqa: E402
