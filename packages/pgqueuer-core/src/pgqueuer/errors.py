"""Typed errors raised by pgqueuer and its sibling packages.

The library never prints: the CLI turns these into one line and an exit code.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgqueuer.names import Names


class PgQueuerError(Exception):
    """Base class of every error pgqueuer raises on purpose."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.__class__.__name__).strip())


# PgQueuer 1.6 spells its base class this way; keep the name importable.
PgqException = PgQueuerError


class InvalidIdentifierError(PgQueuerError, ValueError):
    """A schema, prefix, object or channel name is not allowed."""


class ConfigurationError(PgQueuerError, ValueError):
    """A setting (environment variable or argument) has a value that cannot be used."""


class SchemaNotInstalledError(PgQueuerError):
    """The pgqueuer tables are not installed; run 'pgq install'."""

    @classmethod
    def for_names(cls, names: Names, detail: object = None) -> SchemaNotInstalledError:
        """The one message for "not installed", naming both ways to install.

        A worker may have only pgqueuer-core, so the ``pgq`` command (pgqueuer-cli) is not
        the only way: ``Queries.install()`` needs pgqueuer-schema.
        """
        where = f" in schema {names.schema!r}" if names.schema else ""
        flags = (f" --schema {names.schema}" if names.schema else "") + (
            f" --prefix {names.prefix}" if names.prefix else ""
        )
        because = f" ({detail})" if detail else ""
        return cls(
            f"the pgqueuer tables are not installed{where}{because}; install them with "
            f"'pgq{flags} install' (pip install pgqueuer-cli) or 'await queries.install()' "
            "(pip install pgqueuer-schema)"
        )


class SchemaAlreadyInstalledError(PgQueuerError):
    """The pgqueuer schema is already installed; run 'pgq upgrade' to bring it up to date."""


class SchemaDriftError(PgQueuerError):
    """A column has a type that upgrade cannot convert safely."""

    def __init__(self, table: str, column: str, installed: str, declared: str) -> None:
        self.table = table
        self.column = column
        self.installed = installed
        self.declared = declared
        super().__init__(
            f"column {table}.{column} is {installed}, expected {declared}; "
            "upgrade will not convert it: change it by hand, then run 'pgq upgrade' again"
        )


class RetryRequested(PgQueuerError):
    """The handler asks for the job to run again later (after ``delay``), counting an attempt."""

    def __init__(self, delay: timedelta = timedelta(0), reason: str | None = None) -> None:
        if not isinstance(delay, timedelta):
            raise TypeError(f"RetryRequested(delay=...) must be a timedelta, got {delay!r}")
        self.delay = max(delay, timedelta(0))
        self.reason = reason
        super().__init__(reason or f"retry requested in {self.delay}")


# PgQueuer 1.6 names the base of RetryRequested RetryException.
RetryException = RetryRequested


class DuplicateJobError(PgQueuerError):
    """A job with the same dedupe key is already queued or running."""

    def __init__(self, dedupe_key: str | list[str | None] | None) -> None:
        self.dedupe_key = dedupe_key
        super().__init__(f"a job with dedupe key {dedupe_key!r} is already queued or running")


class FailingListenerError(PgQueuerError):
    """The LISTEN connection is lost and could not be restored in time."""


class ConnectionLostError(PgQueuerError):
    """The connection to PostgreSQL was lost."""


class InvalidOptionError(PgQueuerError, ValueError, TypeError):
    """An option has a value (or type) the call does not accept.

    Both a ValueError and a TypeError: PgQueuer raises either for such misuse (a wrong value,
    or a comparison that fails on a wrong type), so ``except`` clauses written for it still work.
    """
