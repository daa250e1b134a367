"""How Queries and InMemoryQueries are built: our (driver, names) and PgQueuer's keywords."""

from __future__ import annotations

import asyncpg
import pytest

from pgqueuer import InMemoryDriver, InMemoryQueries
from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import ConfigurationError
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer.session import as_session
from pgqueuer.sm import SchedulerManager


def test_names_positionally_or_by_keyword_and_the_tracer_is_kept() -> None:
    names = Names.create(prefix="x_")
    driver = InMemoryDriver()
    tracer = object()
    for repo in (
        Queries(driver, names),
        Queries(driver, names=names, tracer=tracer),
        InMemoryQueries(driver, names),
        InMemoryQueries(driver, names=names, tracer=tracer),
    ):
        assert repo.names == names and repo.driver is driver
    assert Queries(driver, tracer=tracer).tracer is tracer
    assert Queries(driver).names == Names.from_env()


def test_query_builders_are_refused_with_what_to_pass_instead() -> None:
    with pytest.raises(TypeError, match="names="):
        Queries(InMemoryDriver(), qbe=object())
    with pytest.raises(TypeError, match="qbq"):
        InMemoryQueries(InMemoryDriver(), qbq=object())
    with pytest.raises(TypeError, match="twice"):
        Queries(InMemoryDriver(), Names.create(), names=Names.create())


async def test_schema_methods_need_a_driver_that_lends_a_connection() -> None:
    with pytest.raises(ConfigurationError, match="SessionDriver"):
        await Queries(InMemoryDriver()).install()


async def test_sessions_wrap_asyncpg_connections_only(conn: asyncpg.Connection) -> None:
    session = as_session(conn)
    assert await session.fetch("SELECT 1 AS one") == [{"one": 1}]
    assert await session.execute("SELECT 1; SELECT 2") == "SELECT 1"
    with pytest.raises(TypeError, match="Session"):
        as_session(object())


def test_the_scheduler_takes_a_repository_or_a_driver(conn: asyncpg.Connection) -> None:
    names = Names.create(schema="s")
    queries = Queries(AsyncpgDriver(conn), names)
    assert SchedulerManager(queries).queries is queries
    assert SchedulerManager(AsyncpgDriver(conn), names=names).names == names
    assert isinstance(SchedulerManager(InMemoryDriver()).queries, InMemoryQueries)
    memory = InMemoryQueries()
    assert SchedulerManager(memory, {"r": 1}).queries is memory
