"""The SQL repository's schema management and catalog probes.

Install, upgrade, uninstall, durability and autovacuum run in ``pgqueuer-schema`` (imported on
use, so a worker never needs it) over one session the driver lends (``pgqueuer.session``): any
driver implementing ``SessionDriver`` works (one asyncpg connection, an asyncpg pool, ...).
Inside ``async with queries.schema_lock():`` the same session (and its advisory lock) is reused
by every schema method of that driver, so they do not wait for the lock they already hold.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from pgqueuer.backends.sql_base import SqlBase
from pgqueuer.errors import ConfigurationError, PgQueuerError
from pgqueuer.session import Session, SessionDriver
from pgqueuer.types import Durability

DURABILITY_ENV = "PGQUEUER_DURABILITY"

# The session a schema_lock() block holds, per task: (driver, session).
_ACTIVE: ContextVar[tuple[object, Session] | None] = ContextVar(
    "pgqueuer_schema_session", default=None
)


class SchemaPackageMissingError(PgQueuerError):
    """Schema management needs the pgqueuer-schema package: pip install pgqueuer-schema."""


def schema_ops() -> Any:
    # Imported by name, on use: core must run without pgqueuer-schema installed.
    try:
        operations = importlib.import_module("pgqueuer_schema.operations")
    except ImportError:
        raise SchemaPackageMissingError() from None
    return operations


def default_durability() -> Durability:
    """``PGQUEUER_DURABILITY`` (volatile, balanced, durable), else durable."""
    return Durability.parse(os.environ.get(DURABILITY_ENV) or Durability.durable)


class SqlSchema(SqlBase):
    """install, upgrade, uninstall, durability, autovacuum, the schema lock, has_* probes."""

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[Session]:
        active = _ACTIVE.get()
        if active is not None and active[0] is self.driver:
            yield active[1]
            return
        if not isinstance(self.driver, SessionDriver):
            raise ConfigurationError(
                f"schema management needs a driver that can lend one connection "
                f"(pgqueuer.session.SessionDriver); {type(self.driver).__name__} cannot"
            )
        async with self.driver.session() as session:
            token = _ACTIVE.set((self.driver, session))
            try:
                yield session
            finally:
                _ACTIVE.reset(token)

    @asynccontextmanager
    async def schema_lock(self) -> AsyncIterator[None]:
        """Hold the installation's advisory lock (one connection) for the block."""
        async with self._session() as session, schema_ops().schema_lock(session, self.names):
            yield

    async def install(
        self, create_schema: bool = True, *, durability: Durability | str | None = None
    ) -> None:
        """Create the tables, type, indexes, function and triggers (SchemaAlreadyInstalledError
        when any exists); ``durability`` defaults to ``PGQUEUER_DURABILITY``, else durable."""
        level = default_durability() if durability is None else Durability.parse(durability)
        async with self._session() as session:
            await schema_ops().install(session, self.names, level, create_schema=create_schema)

    async def uninstall(self) -> None:
        async with self._session() as session:
            await schema_ops().uninstall(session, self.names)

    async def upgrade(self) -> None:
        await self.apply_upgrade()

    async def apply_upgrade(self) -> Any:
        """Converge the installed layout to the current one; return the plan that was applied."""
        async with self._session() as session:
            return await schema_ops().upgrade(session, self.names)

    async def plan_upgrade(self) -> Any:
        """What upgrade would do now (a ``pgqueuer_schema.Plan``), changing nothing."""
        async with self._session() as session:
            return await schema_ops().plan(session, self.names)

    async def alter_durability(self, durability: Durability | str | None = None) -> None:
        """Make the tables LOGGED/UNLOGGED for a level (PgQueuer takes none: it reads its
        settings; here the default is ``PGQUEUER_DURABILITY``, else durable)."""
        level = default_durability() if durability is None else Durability.parse(durability)
        async with self._session() as session:
            await schema_ops().set_durability(session, self.names, level)

    async def optimize_autovacuum(self) -> None:
        """Autovacuum settings for a high-churn queue (``pgq autovac``)."""
        async with self._session() as session:
            await schema_ops().autovac(session, self.names)

    async def optimize_autovacuum_rollback(self) -> None:
        """RESET what optimize_autovacuum set (``pgq autovac --rollback``)."""
        async with self._session() as session:
            await schema_ops().autovac(session, self.names, rollback=True)

    async def schema_is_installed(self) -> bool:
        return await self.table_schema() is not None

    async def table_schema(self) -> str | None:
        """The schema the queue table is in, or None when it is not installed."""
        rows = await self._rows("table_schema", self.names.qualify(self.names.queue_table))
        return rows[0]["schema"] if rows else None

    async def _probe(self, block: str, *args: Any) -> bool:
        rows = await self._rows(block, *args)
        return bool(rows[0]["ok"])

    async def has_table(self, table: str) -> bool:
        return await self._probe("has_table", table)

    async def table_has_column(self, table: str, column: str) -> bool:
        return await self._probe("table_has_column", table, column)

    async def table_has_index(self, table: str, index: str) -> bool:
        return await self._probe("table_has_index", table, index)

    async def has_user_defined_enum(self, key: str, enum: str) -> bool:
        """Whether the enum type ``enum`` has the label ``key``."""
        return await self._probe("has_user_defined_enum", key, enum)

    async def has_function(self, function: str) -> bool:
        """A function of that name (``schema.name`` or on the search_path) exists."""
        schema, _, bare = function.rpartition(".")
        return await self._probe("has_function", schema or None, bare)

    async def has_trigger(self, trigger: str) -> bool:
        """A trigger of that name exists on the queue table."""
        return await self._probe("has_trigger", self.names.qualify(self.names.queue_table), trigger)
