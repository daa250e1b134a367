"""``pgq --factory module:fn``: commands use the Queries the factory yields (PgQueuer §4.1)."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer_cli.main import cli

FACTORIES = """
    import contextlib
    import os

    import asyncpg

    from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver
    from pgqueuer.inmemory import InMemoryDriver, InMemoryQueries
    from pgqueuer.names import Names
    from pgqueuer.queries import Queries

    EVENTS = []
    NAMES = Names.create(schema=os.environ["FACTORY_TEST_SCHEMA"])


    @contextlib.asynccontextmanager
    async def on_connection():
        conn = await asyncpg.connect(os.environ.get("PGQUEUER_DSN") or None)
        EVENTS.append("entered")
        try:
            yield Queries(AsyncpgDriver(conn), NAMES)
        finally:
            await conn.close()
            EVENTS.append("closed")
            with open(os.environ["FACTORY_TEST_MARK"], "w") as mark:
                mark.write(",".join(EVENTS))


    @contextlib.asynccontextmanager
    async def on_pool():
        dsn = os.environ.get("PGQUEUER_DSN") or None
        async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
            yield Queries(AsyncpgPoolDriver(pool), NAMES)


    @contextlib.asynccontextmanager
    async def not_queries():
        yield "a string"


    @contextlib.asynccontextmanager
    async def in_memory():
        yield InMemoryQueries(InMemoryDriver())
"""


@pytest.fixture
def factory_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, names: Names) -> Path:
    module = tmp_path / f"pgq_cli_factories_{names.schema}.py"
    module.write_text(textwrap.dedent(FACTORIES))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("FACTORY_TEST_SCHEMA", names.schema or "")
    monkeypatch.setenv("FACTORY_TEST_MARK", str(tmp_path / "mark"))
    return module


def invoke(server, module: Path, fn: str, *args: str) -> Result:
    # No --schema: the names must come from the factory's Queries.
    return CliRunner().invoke(
        cli,
        ["--factory", f"{module.stem}:{fn}", *args],
        env={**server.env(), "PGQUEUER_TABLEFMT": ""},
    )


@pytest.mark.parametrize("fn", ["on_connection", "on_pool"])
async def test_a_command_reads_the_queue_of_the_factorys_queries(
    server, conn, names: Names, queries: Queries, factory_module: Path, fn: str
) -> None:
    await queries.enqueue(["email", "email", "sms"], [None, None, None])
    result = await asyncio.to_thread(invoke, server, factory_module, fn, "backlog", "--json")
    assert result.exit_code == 0, result.output
    counts = {row["entrypoint"]: row["queued"] for row in json.loads(result.stdout)}
    assert counts == {"email": 2, "sms": 1}


async def test_the_factory_context_is_closed_after_the_command(
    server, conn, names: Names, factory_module: Path, tmp_path: Path
) -> None:
    result = await asyncio.to_thread(
        invoke, server, factory_module, "on_connection", "queue", "email", "hi"
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mark").read_text() == "entered,closed"
    rows = await conn.fetch(f"SELECT entrypoint, payload FROM {names.qualify(names.queue_table)}")
    assert [(r["entrypoint"], r["payload"]) for r in rows] == [("email", b"hi")]


async def test_a_factory_yielding_something_else_fails_with_one_line(
    server, names: Names, factory_module: Path
) -> None:
    result = await asyncio.to_thread(invoke, server, factory_module, "not_queries", "backlog")
    assert result.exit_code == 1
    assert "must yield a Queries, got str" in result.stderr


async def test_a_factory_on_a_driver_without_sql_fails_with_one_line(
    server, names: Names, factory_module: Path
) -> None:
    result = await asyncio.to_thread(invoke, server, factory_module, "in_memory", "backlog")
    assert result.exit_code == 1
    assert "asyncpg driver" in result.stderr


def test_a_factory_that_cannot_be_imported_fails_with_one_line() -> None:
    result = CliRunner().invoke(cli, ["--factory", "no_such_module_here:fn", "backlog"])
    assert result.exit_code == 1
    assert "no_such_module_here" in result.stderr


def test_the_option_is_in_the_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "--factory MODULE:FN" in result.stdout
