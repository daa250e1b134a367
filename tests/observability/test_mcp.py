"""The MCP server through a real MCP client session (the mcp package's stdio client)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from conftest import Server
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from pgqueuer.models import TracebackRecord
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer_dashboard.mcp import InvalidDurationError, parse_duration

TOOLS = {
    "queue_size",
    "queue_table_info",
    "queue_stats",
    "throughput_summary",
    "failed_jobs",
    "queue_log",
    "schedules",
    "stale_jobs",
    "active_workers",
    "queue_age",
    "schema_info",
}


@contextlib.asynccontextmanager
async def mcp_session(
    server: Server, names: Names, module: str = "pgqueuer_dashboard.mcp"
) -> AsyncIterator[ClientSession]:
    """A client session with the server as a subprocess (entered and left in one task, as
    anyio's cancel scopes require)."""
    env = {**os.environ, **server.env(), "PGQUEUER_SCHEMA": names.schema or ""}
    params = StdioServerParameters(command=sys.executable, args=["-m", module], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        yield client


async def call(session: ClientSession, tool: str, **arguments: Any) -> Any:
    result: Any = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    (content,) = result.content
    return json.loads(content.text)


async def error(session: ClientSession, tool: str, **arguments: Any) -> str:
    result: Any = await session.call_tool(tool, arguments)
    assert result.is_error
    return str(result.content[0].text)


async def test_the_tools_answer_over_stdio_and_never_write(
    server: Server, conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    async with mcp_session(server, names) as session:
        await tools_answer(session, conn, names, queries)


async def tools_answer(
    session: ClientSession, conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    listed = await session.list_tools()
    assert {t.name for t in listed.tools} == TOOLS
    prompts = await session.list_prompts()
    assert [p.name for p in prompts.prompts] == ["pgqueuer_guide"]

    big = b"x" * 5000
    await queries.enqueue(["mail", "mail", "sms"], [big, b"hi", None], [0, 5, 0])
    (job,) = await queries.dequeue(1, {"sms": _param()}, __import__("uuid").uuid4())
    record = TracebackRecord.from_exception(ValueError("nope"), job.id, None)
    await queries.log_jobs([(job, "exception", record)])

    sizes = await call(session, "queue_size")
    assert sum(r["count"] for r in sizes if r["entrypoint"] == "mail") == 2
    assert {r["status"] for r in sizes} == {"queued"}

    rows = await call(session, "queue_table_info")
    assert len(rows) == 2 and all("payload" not in r for r in rows)  # never sent unless asked
    rows = await call(session, "queue_table_info", include_payload=True, payload_bytes=100)
    payloads = {r["priority"]: r["payload"] for r in rows}
    assert payloads[0] == {"bytes": 5000, "truncated": True, "text": "x" * 100}
    assert payloads[5] == {"bytes": 2, "truncated": False, "text": "hi"}

    stats = await call(session, "queue_stats", period="PT1H")
    assert {s["entrypoint"]: s["errored"] for s in stats}["sms"] == 1
    summary = await call(session, "throughput_summary", period="P1D")
    assert [(s["entrypoint"], s["status"], s["count"]) for s in summary] == [
        ("sms", "exception", 1)
    ]
    failed = await call(session, "failed_jobs", limit=5)
    assert failed[0]["traceback"]["exception_type"] == "ValueError"
    log = await call(session, "queue_log", limit=5)
    assert log[0]["exception"] == "ValueError: nope"
    assert await call(session, "stale_jobs", threshold="PT1S") == []
    assert await call(session, "active_workers") == []
    assert await call(session, "schedules") == []
    ages = await call(session, "queue_age")
    assert [a["entrypoint"] for a in ages] == ["mail"]
    tables = await call(session, "schema_info")
    assert len(tables) == 4

    aggregated = names.substitute(
        "SELECT count(*) FROM /*@queue_table_log*/pgqueuer_log WHERE aggregated"
    )
    stats_rows = names.substitute("SELECT count(*) FROM /*@statistics_table*/pgqueuer_statistics")
    assert await conn.fetchval(aggregated) == 0  # PgQueuer 1.6 aggregated in queue_stats
    assert await conn.fetchval(stats_rows) == 0


async def test_bad_arguments_get_one_clear_message(server: Server, names: Names) -> None:
    async with mcp_session(server, names) as session:
        await bad_arguments(session)


async def bad_arguments(session: ClientSession) -> None:
    message = await error(session, "queue_stats", period="1 hour")
    assert "period must be an ISO-8601 duration such as" in message
    assert "'1 hour'" in message
    message = await error(session, "stale_jobs", threshold="P90D")
    assert "threshold must be between PT1S and P31D" in message
    message = await error(session, "failed_jobs", limit=0)
    assert "limit must be an integer from 1 to 1000" in message
    message = await error(session, "queue_table_info", payload_bytes=10**6)
    assert "payload_bytes must be from 1 to 4096" in message


async def test_pgqueuers_module_path_serves_the_same_tools(server: Server, names: Names) -> None:
    async with mcp_session(server, names, "pgqueuer.adapters.mcp") as session:
        listed = await session.list_tools()
        assert {t.name for t in listed.tools} == TOOLS
        assert await call(session, "queue_size") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1H", timedelta(hours=1)),
        ("PT5M", timedelta(minutes=5)),
        ("PT30S", timedelta(seconds=30)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("pt1.5s", timedelta(seconds=1.5)),
    ],
)
def test_parse_duration_reads_iso_8601(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "1h", "PT0S", "P1Y", "P32D", "-PT1H", "P1DT"])
def test_parse_duration_rejects_everything_else(text: str) -> None:
    with pytest.raises(InvalidDurationError):
        parse_duration(text)


def _param() -> Any:
    from pgqueuer.queries import EntrypointExecutionParameter

    return EntrypointExecutionParameter(concurrency_limit=0)
