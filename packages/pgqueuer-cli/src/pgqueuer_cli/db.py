"""Run one async database operation for a command, turning failures into one-line errors."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import click

from pgqueuer.connection import connect, describe_target, resolve_dsn
from pgqueuer.errors import PgQueuerError
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


def run_db(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Connect, run ``work``, close. Any failure becomes ``Error: ...`` and exit status 1."""
    import asyncpg

    dsn = resolve_dsn(settings.dsn)
    target = describe_target(dsn)

    async def main() -> T:
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
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
        raise fail(f"authentication failed at {target}: {exc}") from None
    except asyncpg.InvalidCatalogNameError as exc:
        raise fail(f"database does not exist at {target}: {exc}") from None
    except asyncpg.PostgresError as exc:
        raise fail(f"PostgreSQL error {exc.sqlstate}: {exc}") from None
    except TimeoutError:
        raise fail(f"cannot connect to PostgreSQL at {target}: timed out") from None
    except OSError as exc:
        raise fail(f"cannot connect to PostgreSQL at {target}: {exc}") from None
    except (asyncpg.InterfaceError, ValueError) as exc:
        raise fail(f"invalid connection settings for {target}: {exc}") from None
