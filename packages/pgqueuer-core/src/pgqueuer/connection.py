"""Connection settings: which PostgreSQL to talk to, and how to describe it safely.

Precedence (PgQueuer 1.6 compatible): an explicit DSN (``--pg-dsn``, or the ``PGDSN`` the CLI
reads for it), then ``PGQUEUER_DSN``, then ``PGDSN``; with none of them set, asyncpg reads the
libpq variables itself (``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``,
``PGPASSFILE``, ``PGSSLMODE``, ...).
"""

from __future__ import annotations

import getpass
import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from pgqueuer.errors import ConfigurationError

if TYPE_CHECKING:
    import asyncpg

DSN_ENV = ("PGQUEUER_DSN", "PGDSN")
CONNECT_TIMEOUT_ENV = ("PGQUEUER_CONNECT_TIMEOUT", "PGCONNECT_TIMEOUT")
APPLICATION_NAME_ENV = "PGQUEUER_APPLICATION_NAME"
# Set (to 1/true/yes) when connections go through a transaction-pooling PgBouncer: the
# connection helpers then turn prepared-statement caches off (pgq run --pgbouncer sets it).
PGBOUNCER_ENV = "PGQUEUER_PGBOUNCER"
DEFAULT_CONNECT_TIMEOUT = 10.0
POOL_SIZE_ENV = {"min": ("PGQUEUER_POOL_MIN_SIZE", 1), "max": ("PGQUEUER_POOL_MAX_SIZE", 5)}


def resolve_dsn(dsn: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The DSN to use, or None to let the libpq variables decide."""
    env = os.environ if environ is None else environ
    if dsn:
        return dsn
    for var in DSN_ENV:
        if env.get(var):
            return env[var]
    return None


def connect_timeout(environ: Mapping[str, str] | None = None) -> float:
    """Seconds to wait for a connection (``PGQUEUER_CONNECT_TIMEOUT``, ``PGCONNECT_TIMEOUT``)."""
    env = os.environ if environ is None else environ
    for var in CONNECT_TIMEOUT_ENV:
        raw = env.get(var)
        if raw:
            try:
                value = float(raw)
            except ValueError:
                raise ConfigurationError(f"{var}={raw!r} is not a number of seconds") from None
            if not math.isfinite(value) or value <= 0:
                raise ConfigurationError(f"{var}={raw!r} must be greater than 0")
            return value
    return DEFAULT_CONNECT_TIMEOUT


def application_name(environ: Mapping[str, str] | None = None) -> str | None:
    """The application_name to report to the server (``PGQUEUER_APPLICATION_NAME``)."""
    env = os.environ if environ is None else environ
    return env.get(APPLICATION_NAME_ENV) or None


def pgbouncer(environ: Mapping[str, str] | None = None) -> bool:
    """Whether connections go through a transaction-pooling PgBouncer (``PGQUEUER_PGBOUNCER``)."""
    env = os.environ if environ is None else environ
    raw = (env.get(PGBOUNCER_ENV) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigurationError(f"{PGBOUNCER_ENV}={raw!r}: use 1 or 0")


def pool_sizes(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(min, max)`` pool sizes (``PGQUEUER_POOL_MIN_SIZE`` = 1, ``PGQUEUER_POOL_MAX_SIZE`` = 5)."""
    env = os.environ if environ is None else environ
    sizes = []
    for var, default in POOL_SIZE_ENV.values():
        raw = env.get(var)
        if not raw:
            sizes.append(default)
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{var}={raw!r} is not a whole number") from None
        if value < 0:
            raise ConfigurationError(f"{var}={raw!r} must not be negative")
        sizes.append(value)
    low, high = sizes
    if high < max(low, 1):
        raise ConfigurationError(
            f"PGQUEUER_POOL_MAX_SIZE ({high}) must be at least PGQUEUER_POOL_MIN_SIZE ({low}) and 1"
        )
    return low, high


def describe_target(dsn: str | None, environ: Mapping[str, str] | None = None) -> str:
    """``host:port/database`` of what a connection *would* reach, for messages about a
    connection that failed; never includes a password.

    Without settings, libpq's own defaults are named as libpq applies them: the local unix
    socket, port 5432, and a database named after the user (PGUSER, else the login name).
    Once connected, describe the server with :func:`describe_connection` instead.
    """
    env = os.environ if environ is None else environ
    host = env.get("PGHOST")
    port = env.get("PGPORT") or "5432"
    database = env.get("PGDATABASE") or env.get("PGUSER") or _login_name()
    if dsn:
        # Only a well-formed URI is described; anything else could put a password on screen.
        try:
            parts = urlsplit(dsn)
            if parts.scheme not in ("postgres", "postgresql") or "@" in parts.path:
                return "the configured DSN"
            query = parse_qs(parts.query)
            host = parts.hostname or query.get("host", [host])[0]
            port = str(parts.port or query.get("port", [port])[0])
        except ValueError:
            return "the configured DSN"
        if parts.path.strip("/"):
            database = parts.path.strip("/")
    if not host:
        return f"local socket, port {port}, database {database}"
    return f"{host}:{port}/{database}"


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no entry for this uid (some containers)
        return "postgres"


def describe_identity(row: Mapping[str, object]) -> str:
    """One line naming the server, database and user of a ``server_identity`` row."""
    where = (
        f"{row['address']}:{row['port']}"
        if row["address"]
        else f"unix socket {_first_socket_dir(str(row['sockets'] or ''))}/.s.PGSQL.{row['port']}"
    )
    return f"{where}, database {row['database']}, user {row['username']}"


def _first_socket_dir(setting: str) -> str:
    first = setting.split(",")[0].strip()
    return first or "(unknown directory)"


async def describe_connection(conn: asyncpg.Connection) -> str:
    """Describe the server ``conn`` is connected to, asked from the server itself.

    ``127.0.0.1:5432, database postgres, user postgres`` over TCP, or
    ``unix socket /var/run/postgresql/.s.PGSQL.5432, database root, user root``.
    """
    from pgqueuer.sql import load_blocks

    row = await conn.fetchrow(load_blocks("pgqueuer.sql", "connection.sql")["server_identity"])
    assert row is not None
    return describe_identity(dict(row))


async def connect(
    dsn: str | None = None,
    *,
    timeout: float | None = None,
    application_name: str | None = None,
) -> asyncpg.Connection:
    """Open one asyncpg connection with the resolved settings.

    With ``PGQUEUER_PGBOUNCER`` set, asyncpg's statement cache is off (``statement_cache_size=0``):
    PgBouncer before 1.21 (Debian 12 ships 1.18) cannot route named prepared statements in
    transaction pooling.
    """
    import asyncpg

    server_settings = {}
    app = application_name or os.environ.get(APPLICATION_NAME_ENV)
    if app:
        server_settings["application_name"] = app
    return await asyncpg.connect(
        resolve_dsn(dsn),
        timeout=timeout or connect_timeout(),
        server_settings=server_settings or None,
        statement_cache_size=0 if pgbouncer() else 100,
    )
