"""Drivers: how pgqueuer talks to PostgreSQL (asyncpg, psycopg) or to nothing at all (in memory).

A driver runs SQL with ``$n`` parameters and delivers NOTIFY payloads to listeners: that is the
``Driver`` protocol below. What a driver may offer beyond it (reconnect, generic plans, a
second connection, ...) is declared as Protocols in ``pgqueuer.capabilities``.

This module is the import path PgQueuer's users know; the code lives by job in
``pgqueuer.asyncpg_driver`` (``AsyncpgDriver``, ``AsyncpgPoolDriver``),
``pgqueuer.psycopg_driver`` (``PsycopgDriver``, ``SyncPsycopgDriver``), ``pgqueuer.driverbase``
(what drivers share) and ``pgqueuer.dberrors`` (classifying database errors).
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from pgqueuer.asyncpg_driver import AsyncpgConnect as AsyncpgConnect
from pgqueuer.asyncpg_driver import AsyncpgDriver as AsyncpgDriver
from pgqueuer.asyncpg_driver import AsyncpgPoolDriver as AsyncpgPoolDriver

# Optional capabilities live in pgqueuer.capabilities (re-exported here for old imports).
from pgqueuer.capabilities import GenericPlanning as GenericPlanning
from pgqueuer.capabilities import ListenerRemoval as ListenerRemoval
from pgqueuer.capabilities import Reconnecting as Reconnecting
from pgqueuer.capabilities import RecordFetching as RecordFetching
from pgqueuer.capabilities import SeparateConnections as SeparateConnections
from pgqueuer.dberrors import CONNECTION_ERRORS as CONNECTION_ERRORS
from pgqueuer.dberrors import is_connection_error as is_connection_error
from pgqueuer.dberrors import sqlstate as sqlstate
from pgqueuer.dberrors import unique_violation as unique_violation
from pgqueuer.driverbase import GENERIC_PLANS as GENERIC_PLANS
from pgqueuer.driverbase import Listener as Listener
from pgqueuer.driverbase import ListenerMixin as _ListenerMixin  # noqa: F401
from pgqueuer.tasks import TaskManager


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


# The psycopg drivers live in their own module (psycopg is imported there only on use).
from pgqueuer.psycopg_driver import PsycopgDriver as PsycopgDriver  # noqa: E402
from pgqueuer.psycopg_driver import SyncPsycopgDriver as SyncPsycopgDriver  # noqa: E402
