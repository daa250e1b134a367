"""Database errors, classified in one place (asyncpg's and psycopg's alike).

Everything in pgqueuer that must tell one database failure from another asks here: whether
the connection (not the statement) failed, whether the pgqueuer tables are missing, whether a
unique index refused a row, and, for messages, what kind of failure it was. Statement errors
themselves are not wrapped: like PgQueuer, ``Queries`` lets the driver's exception through,
except a missing table or type, which becomes ``SchemaNotInstalledError`` (see
:func:`not_installed`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Literal

import asyncpg

from pgqueuer.errors import SchemaNotInstalledError

if TYPE_CHECKING:
    from pgqueuer.names import Names

# Errors that mean "the connection is gone", as opposed to a failing statement.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CannotConnectNowError,
    ConnectionError,
    OSError,
    TimeoutError,
)

# Errors that say the database cannot be reached right now (not that a statement is wrong):
# the above and operator intervention (class 57: shutdown, cancel, crash recovery). For
# ``except`` clauses, e.g. the dashboard's "database unavailable" pages.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    asyncpg.OperatorInterventionError,
)

# SQLSTATEs of a lost connection besides class 08 (connection exception): the server going away.
LOST_STATES = frozenset({"57P01", "57P02", "57P03"})
# undefined_table, undefined_object (the status enum type): the pgqueuer schema is not there.
MISSING_STATES = frozenset({"42P01", "42704"})
UNDEFINED_COLUMN = "42703"
UNIQUE_VIOLATION = "23505"
SEAT_RACE_STATES = frozenset({UNIQUE_VIOLATION, "40P01"})  # and deadlock_detected
AUTHENTICATION_STATES = frozenset({"28000", "28P01"})
NO_DATABASE = "3D000"
FEATURE_NOT_SUPPORTED = "0A000"  # e.g. LISTEN on a hot standby

Kind = Literal[
    "authentication",  # the server refused the login (28000, 28P01)
    "no_database",  # the database named does not exist (3D000)
    "schema_missing",  # a pgqueuer table or type is missing (42P01, 42704)
    "server",  # any other error the server reported (it has a SQLSTATE)
    "timeout",  # connecting or a statement timed out on the client
    "unreachable",  # the socket failed (refused, reset, no route, name not resolved)
    "client",  # the driver refused the call or the settings (bad DSN, closed connection)
]


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a server error from asyncpg or psycopg (None for anything else)."""
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def unique_violation(exc: BaseException) -> tuple[str | None, str | None] | None:
    """``(constraint name, detail)`` of a unique violation (23505), asyncpg's or psycopg's."""
    if sqlstate(exc) != UNIQUE_VIOLATION:
        return None
    diag = getattr(exc, "diag", None)  # psycopg keeps the server's error fields on .diag
    if diag is not None:
        return diag.constraint_name, diag.message_detail
    return getattr(exc, "constraint_name", None), getattr(exc, "detail", None)


def is_seat_race(exc: BaseException) -> bool:
    """True when a claim lost a race for a concurrency seat (unique violation on the seat
    index, or a deadlock): nothing was written, and claiming again is the answer."""
    return sqlstate(exc) in SEAT_RACE_STATES


def is_schema_missing(exc: BaseException) -> bool:
    """True when a statement failed because a pgqueuer table or type does not exist."""
    return sqlstate(exc) in MISSING_STATES


def is_column_missing(exc: BaseException) -> bool:
    """True for undefined_column (42703): the tables predate a column (run an upgrade)."""
    return sqlstate(exc) == UNDEFINED_COLUMN


def not_installed(exc: BaseException, names: Names) -> SchemaNotInstalledError | None:
    """The ``SchemaNotInstalledError`` that ``exc`` means, or None when it means something else.

    The one translation of "table/type missing" for every caller (Queries, the scheduler's
    raw queries, the CLI and the dashboard)::

        except Exception as exc:
            if (missing := not_installed(exc, names)) is not None:
                raise missing from exc
            raise
    """
    if not is_schema_missing(exc):
        return None
    return SchemaNotInstalledError.for_names(names, exc)


def _is_psycopg_connection_error(exc: BaseException) -> bool:
    psycopg = sys.modules.get("psycopg")  # only when something imported it: core runs without
    if psycopg is None or not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    # No SQLSTATE: raised by the client ("server closed the connection", "the connection is
    # closed"); OperationalError with one also covers statement failures (lock timeout, ...).
    return state is None or state.startswith("08") or state in LOST_STATES


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` means the connection (not the statement) failed."""
    if _is_psycopg_connection_error(exc):
        return True
    if isinstance(exc, asyncpg.InternalClientError):
        # The protocol is out of step with the server, e.g. "cannot switch to state 12;
        # another operation (2) is in progress" when a terminated backend's FATAL message
        # arrived while the connection was idle and its end is not processed yet.
        return True
    if isinstance(exc, asyncpg.InterfaceError) and "another operation" in str(exc):
        return False
    return isinstance(exc, CONNECTION_ERRORS)


def _is_client_error(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.InterfaceError | ValueError):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(
        exc, psycopg.InterfaceError | psycopg.ProgrammingError
    )


def classify(exc: BaseException) -> Kind | None:
    """What kind of database failure ``exc`` is (None: not one), for messages and exit codes.

    The server's SQLSTATE decides first; then what the client saw. ``is_connection_error``
    answers the separate question a worker asks (may a reconnect help?).
    """
    state = sqlstate(exc)
    if state in AUTHENTICATION_STATES:
        return "authentication"
    if state == NO_DATABASE:
        return "no_database"
    if state in MISSING_STATES:
        return "schema_missing"
    if state is not None:
        return "server"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, OSError):
        return "unreachable"
    if _is_client_error(exc):
        return "client"
    return None


__all__ = [
    "CONNECTION_ERRORS",
    "UNAVAILABLE_ERRORS",
    "Kind",
    "classify",
    "is_column_missing",
    "is_connection_error",
    "is_schema_missing",
    "is_seat_race",
    "not_installed",
    "sqlstate",
    "unique_violation",
]
