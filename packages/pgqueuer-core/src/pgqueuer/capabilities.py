"""Optional driver capabilities, as explicit Protocols.

``pgqueuer.db.Driver`` is what every driver must offer. The worker, the scheduler and the
SQL backends use more when a driver has it, and ask with ``isinstance(driver, Capability)``
(never ``getattr``): a driver states what it can do by implementing these methods.
The asyncpg drivers (``pgqueuer.db``) and the psycopg driver (``pgqueuer.psycopg_driver``)
implement all of them; the in-memory driver none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

Listener = Callable[[str], object]


@runtime_checkable
class Reconnecting(Protocol):
    """Survives a lost connection: reports it, and re-opens it (LISTENing again)."""

    def on_connection_lost(self, callback: Callable[[], object]) -> None: ...

    async def reconnect(self) -> None: ...

    def listener_alive(self) -> bool: ...

    def is_alive(self) -> bool: ...


@runtime_checkable
class GenericPlanning(Protocol):
    """Can make its connection reuse generic plans (the worker's hot statement)."""

    async def use_generic_plans(self) -> Callable[[], Awaitable[None]]: ...


@runtime_checkable
class SeparateConnections(Protocol):
    """Can open another connection to its server from any event loop (heartbeat thread).

    The connection returned must offer ``execute(sql, *args)``, ``is_closed()``,
    ``terminate()`` and ``close()`` (asyncpg's names).
    """

    async def connect_factory(self) -> Callable[[], Awaitable[Any]]: ...


@runtime_checkable
class ListenerRemoval(Protocol):
    """Can stop delivering a channel's notifications to a callback added before."""

    async def remove_listener(self, channel: str, callback: Listener) -> None: ...


@runtime_checkable
class RecordFetching(Protocol):
    """Returns rows as the driver's own mapping records (no dict copy on the hot path)."""

    async def fetch_records(self, query: str, *args: Any) -> list[Any]: ...
