"""Run one async database operation for a command, turning failures into one-line errors."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar, cast
from urllib.parse import urlsplit

import click

from pgqueuer.connection import connect, describe_target, resolve_dsn
from pgqueuer.dberrors import classify, sqlstate
from pgqueuer.errors import PgQueuerError
from pgqueuer.factories import FactoryResultError
from pgqueuer_cli.settings import Settings

if TYPE_CHECKING:
    import asyncpg

T = TypeVar("T")


def redact(message: str, dsn: str | None) -> str:
    """Remove the DSN's password (and the DSN itself) from a message."""
    if not dsn:
        return message
    try:
        password = urlsplit(dsn).password
    except ValueError:
        password = None
    if password:
        message = message.replace(password, "***")
    # keyword DSNs (password=...) and user:password@ forms that urlsplit cannot parse
    for match in re.finditer(r"password\s*=\s*'?([^\s']+)|:([^:@/\s]+)@", dsn):
        secret = match.group(1) or match.group(2)
        message = message.replace(secret, "***")
    return message.replace(dsn, "<dsn>")


@contextlib.asynccontextmanager
async def factory_connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """The connection of the Queries that ``--factory`` yields; its names become the settings'.

    The factory's context stays open while the command runs and is closed afterwards.
    """
    from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver
    from pgqueuer.factories import load_factory, validate_factory_result
    from pgqueuer.inmemory import InMemoryQueries
    from pgqueuer.queries import Queries

    assert settings.factory is not None
    factory = load_factory(settings.factory)
    async with validate_factory_result(factory()) as queries:
        if not isinstance(queries, Queries | InMemoryQueries):
            got = type(queries).__name__
            raise FactoryResultError(
                f"--factory {settings.factory} must yield a Queries, got {got}"
            )
        settings.names = queries.names
        driver = queries.driver
        if isinstance(driver, AsyncpgDriver):
            yield driver.connection
        elif isinstance(driver, AsyncpgPoolDriver):
            async with driver.pool.acquire() as conn:
                yield cast("asyncpg.Connection", conn)  # a proxy that forwards every call
        else:
            raise FactoryResultError(
                f"--factory {settings.factory}: pgq commands need a Queries on an asyncpg "
                f"driver (AsyncpgDriver or AsyncpgPoolDriver), got {type(driver).__name__}"
            )


def run_db(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Connect, run ``work``, close. Any failure becomes ``Error: ...`` and exit status 1.

    With ``--factory``, the connection is the one of the Queries the factory yields.
    """
    dsn = resolve_dsn(settings.dsn)
    target = describe_target(dsn) if not settings.factory else f"factory {settings.factory}"

    async def main() -> T:
        if settings.factory:
            async with factory_connection(settings) as conn:
                return await work(conn)
        conn = await connect(dsn)
        try:
            return await work(conn)
        finally:
            await conn.close()

    def fail(message: str) -> click.ClickException:
        return click.ClickException(redact(message, dsn))

    try:
        return asyncio.run(main())
    except PgQueuerError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        message = failure_message(exc, target)
        if message is None:
            raise
        raise fail(message) from None


def failure_message(exc: BaseException, target: str) -> str | None:
    """The one line a command prints for a database failure (None: not one, let it through).

    The kind of failure comes from ``pgqueuer.dberrors.classify``, the library's one place
    for telling database errors apart.
    """
    match classify(exc):
        case "authentication":
            return f"authentication failed at {target}: {exc}"
        case "no_database":
            return f"database does not exist at {target}: {exc}"
        case "schema_missing" | "server":
            return f"PostgreSQL error {sqlstate(exc)}: {exc}"
        case "timeout":
            return f"cannot connect to PostgreSQL at {target}: timed out"
        case "unreachable":
            return f"cannot connect to PostgreSQL at {target}: {exc}"
        case "client":
            return f"invalid connection settings for {target}: {exc}"
    return None
