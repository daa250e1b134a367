"""The SQL repository's base: construction, the substituted SQL blocks, one way to run them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pgqueuer.backends.args import resolve_names
from pgqueuer.capabilities import RecordFetching
from pgqueuer.db import Driver
from pgqueuer.dberrors import MISSING_STATES, not_installed
from pgqueuer.errors import SchemaNotInstalledError
from pgqueuer.names import Names
from pgqueuer.sql import load_blocks

MISSING_SQLSTATES = MISSING_STATES  # the old name
SQL_FILES = ("queries.sql", "insights.sql", "probes.sql")


def substituted(names: Names, *files: str) -> dict[str, str]:
    """The blocks of ``files`` (no name twice) with ``names`` put in."""
    out: dict[str, str] = {}
    for filename in files:
        for key, sql in load_blocks("pgqueuer.sql", filename).items():
            if key in out:
                raise ValueError(f"SQL block {key!r} is defined in two files")
            out[key] = names.substitute(sql)
    return out


class SqlBase:
    """Holds the driver, the names and their SQL; subclasses add the statements."""

    def __init__(
        self,
        driver: Driver,
        qbe: Any = None,
        qbq: Any = None,
        qbs: Any = None,
        tracer: Any = None,
        *,
        names: Names | None = None,
    ) -> None:
        self.driver = driver
        self.names = resolve_names(type(self).__name__, qbe, qbq, qbs, names, Names.from_env())
        self.tracer = tracer  # None: the process-wide one (set_tracing_class), if any
        self._sql = substituted(self.names, *SQL_FILES)
        self._schedule_sql = substituted(self.names, "schedules.sql")
        self._fetch = fetcher(driver)

    @property
    def sql(self) -> Mapping[str, str]:
        """The substituted SQL of every queue, insight and probe block (tests, printing)."""
        return self._sql

    @property
    def schedule_sql(self) -> Mapping[str, str]:
        """The substituted SQL of every schedule block."""
        return self._schedule_sql

    async def _rows(self, block: str, *args: Any) -> list[Any]:
        return await self._run(self._sql[block], *args)

    async def _schedule_rows(self, block: str, *args: Any) -> list[Any]:
        return await self._run(self._schedule_sql[block], *args)

    async def _run(self, sql: str, *args: Any) -> list[Any]:
        try:
            rows: list[Any] = await self._fetch(sql, *args)
        except Exception as exc:
            if (missing := not_installed(exc, self.names)) is not None:
                raise missing from exc
            raise
        return rows

    async def _execute(self, block: str, *args: Any) -> str:
        """Run a block for its status line (``DELETE 3``), translating errors as ``_run`` does."""
        try:
            return await self.driver.execute(self._sql[block], *args)
        except Exception as exc:
            if (missing := not_installed(exc, self.names)) is not None:
                raise missing from exc
            raise

    def not_installed(self, exc: BaseException) -> SchemaNotInstalledError | None:
        """The ``SchemaNotInstalledError`` a database error means for these names, or None
        (see ``pgqueuer.dberrors.not_installed``)."""
        return not_installed(exc, self.names)

    def _missing(self, exc: BaseException) -> SchemaNotInstalledError:
        """ "Not installed" for these names, whatever ``exc`` is (kept for older callers)."""
        return SchemaNotInstalledError.for_names(self.names, exc)


def fetcher(driver: Driver) -> Any:
    """The driver's fastest way to fetch rows: its own records when it has them."""
    return driver.fetch_records if isinstance(driver, RecordFetching) else driver.fetch
