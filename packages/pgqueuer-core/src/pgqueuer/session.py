"""Sessions: one database connection held for a block, for work that needs the same session.

Schema management (install, upgrade, durability, autovacuum, the schema advisory lock) must run
every statement on one connection: a session advisory lock belongs to the connection that took
it, and ``CREATE INDEX CONCURRENTLY`` cannot run inside a transaction. A driver offers that by
implementing :class:`SessionDriver`; ``Queries`` uses it for every schema method, so they work
on any such driver (one asyncpg connection, an asyncpg pool, psycopg, ...).

To add the capability to a driver, give it::

    def session(self) -> contextlib.AbstractAsyncContextManager[Session]

which, on entry, takes one connection for the block and yields a :class:`Session` over it; on
exit gives the connection back. A pool driver acquires a connection of its own (and releases it);
a driver over a single connection yields a session over that connection, each statement taking
its turn with the driver's other calls (so code inside the block may still use the driver). The
session must be in autocommit mode (no transaction open around the statements), must accept a
multi-statement string in ``execute`` when there are no arguments, and must stay usable after a
statement fails.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import asyncpg

__all__ = ["AsyncpgSession", "Session", "SessionDriver", "as_session"]


@runtime_checkable
class Session(Protocol):
    """Statements on one connection, in autocommit mode.

    ``fetch(query, *args)`` returns every row as a dict. ``execute(query, *args)`` returns the
    command status (e.g. ``"DELETE 3"``). Parameters are PostgreSQL's ``$1, $2, ...``. With no
    arguments, ``execute`` may carry several statements separated by ``;`` (they then run as
    one implicit transaction, as PostgreSQL's simple query protocol does).
    """

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]: ...

    async def execute(self, query: str, *args: Any) -> str: ...


@runtime_checkable
class SessionDriver(Protocol):
    """A driver that can lend one connection for a block: ``async with d.session() as s:``."""

    def session(self) -> AbstractAsyncContextManager[Session]: ...


class AsyncpgSession:
    """:class:`Session` over an asyncpg connection (or a pool's connection proxy)."""

    def __init__(self, connection: asyncpg.Connection | Any) -> None:
        self.connection = connection

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.connection.fetch(query, *args)]

    async def execute(self, query: str, *args: Any) -> str:
        status: str = await self.connection.execute(query, *args)
        return status


def as_session(target: Session | asyncpg.Connection | Any) -> Session:
    """``target`` as a Session: asyncpg connections are wrapped, sessions returned as they are."""
    import asyncpg

    if isinstance(target, asyncpg.Connection | asyncpg.pool.PoolConnectionProxy):
        return AsyncpgSession(target)
    if isinstance(target, Session):
        return target
    raise TypeError(
        f"expected an asyncpg connection or a pgqueuer.session.Session, not {type(target).__name__}"
    )
