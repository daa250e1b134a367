"""The MCP server's tools: PgQueuer's eleven, truly read-only.

Each tool call borrows a pooled connection and runs its reads in a read-only transaction, so
nothing it does can write (PgQueuer 1.6's queue_stats and throughput_summary ran the log
aggregation first). Payloads are left out unless asked for, and then cut to ``payload_bytes``;
durations and limits are validated with a one-line message.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

import asyncpg
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from pgqueuer.connection import DSN_ENV, resolve_dsn
from pgqueuer.db import AsyncpgDriver
from pgqueuer.dberrors import classify
from pgqueuer.errors import PgQueuerError
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer_dashboard.mcp.durations import InvalidDurationError, parse_duration
from pgqueuer_dashboard.queries import Dashboard

__all__ = ["GUIDE", "create_mcp_server", "main"]

T = TypeVar("T")
MAX_LIMIT = 1000
MAX_PAYLOAD_BYTES = 4096

GUIDE = """pgqueuer keeps jobs in PostgreSQL. A job has an entrypoint (the handler's name), a
priority, a status (queued, picked = running, failed = held after an error) and a payload. Ended
jobs leave log rows (successful, exception, canceled, deleted, or queued = retried).
Start with queue_size and queue_age for the backlog, queue_stats for per-entrypoint rates and
p50/p95/p99 of time in queue and run time over a period, failed_jobs for tracebacks,
active_workers and stale_jobs for the workers. Every tool is read-only. Durations are ISO-8601
(PT30S, PT5M, PT1H, P1D). Payloads are omitted unless include_payload is true."""


def _limit(value: int, what: str = "limit") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise ToolError(f"{what} must be an integer from 1 to {MAX_LIMIT}; got {value!r}")
    return value


def _duration(text: str, what: str) -> timedelta:
    try:
        return parse_duration(text, what)
    except InvalidDurationError as exc:
        raise ToolError(str(exc)) from None


def _out(value: Any) -> str:
    """The tool's answer: one JSON document."""
    return json.dumps(_json(value))


def _json(value: Any) -> Any:
    """Model, dataclass, list, datetime, UUID... as JSON types."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _payload(raw: bytes | None, limit: int) -> dict[str, Any] | None:
    if raw is None:
        return None
    cut = raw[:limit]
    try:
        text: str | None = cut.decode()
    except UnicodeDecodeError:
        text = None
    out: dict[str, Any] = {"bytes": len(raw), "truncated": len(raw) > limit}
    if text is not None:
        out["text"] = text
    else:
        out["base64"] = base64.b64encode(cut).decode()
    return out


class _Reader:
    """A lazily created pool; every read runs in its own read-only transaction."""

    def __init__(self, dsn: str | None, names: Names) -> None:
        self.dsn = dsn
        self.names = names
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)
            return self._pool

    async def read(self, work: Callable[[Queries, Dashboard], Awaitable[T]]) -> T:
        pool = await self.pool()
        try:
            async with pool.acquire() as conn, conn.transaction(readonly=True):
                connection = cast("asyncpg.Connection", conn)  # a pool proxy forwards every call
                queries = Queries(AsyncpgDriver(connection), self.names)
                return await work(queries, Dashboard(connection, self.names))
        except Exception as exc:
            if not isinstance(exc, PgQueuerError) and classify(exc) is None:
                raise
            raise ToolError(f"{type(exc).__name__}: {exc}") from None


def create_mcp_server(dsn: str | None = None, names: Names | None = None) -> MCPServer:
    """The read-only MCP server for the queue at ``dsn`` (default: PGQUEUER_DSN, then libpq)
    named by ``names`` (default: PGQUEUER_PREFIX/PGQUEUER_SCHEMA from the environment)."""
    reader = _Reader(resolve_dsn(dsn), names or Names.from_env())
    server = MCPServer("pgqueuer", instructions=GUIDE)

    @server.prompt()
    def pgqueuer_guide() -> str:
        """How pgqueuer's tables and these tools fit together."""
        return GUIDE

    @server.tool()
    async def queue_size() -> str:
        """Jobs in the queue by entrypoint, priority and status (queued, picked, failed)."""
        return _out(await reader.read(lambda q, d: q.queue_size()))

    @server.tool()
    async def queue_table_info(
        limit: int = 100, offset: int = 0, include_payload: bool = False, payload_bytes: int = 256
    ) -> str:
        """A page of queue rows by id. Payloads only with include_payload, cut to
        payload_bytes (at most 4096)."""
        _limit(limit)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ToolError(f"offset must be an integer >= 0; got {offset!r}")
        if not 1 <= payload_bytes <= MAX_PAYLOAD_BYTES:
            raise ToolError(f"payload_bytes must be from 1 to {MAX_PAYLOAD_BYTES}")
        jobs = await reader.read(lambda q, d: q.browse_queue(limit, offset))
        rows = []
        for job in jobs:
            row = _json(job)
            row.pop("payload", None)
            if include_payload:
                row["payload"] = _payload(job.payload, payload_bytes)
            rows.append(row)
        return json.dumps(rows)

    @server.tool()
    async def queue_stats(period: str = "PT1H", limit: int = 50) -> str:
        """Per entrypoint over the period: counts now, completed/failed/retried, rates and
        p50/p95/p99 of time in queue and run time (seconds)."""
        window = _duration(period, "period")
        _limit(limit)
        return _out(await reader.read(lambda q, d: d.entrypoints(window, limit=limit)))

    @server.tool()
    async def throughput_summary(period: str = "PT1H") -> str:
        """Ended jobs per entrypoint and status over the period, with the rate per second."""
        window = _duration(period, "period")
        return _out(await reader.read(lambda q, d: q.throughput_summary(window)))

    @server.tool()
    async def failed_jobs(limit: int = 50) -> str:
        """The newest log entries of jobs that raised, with their tracebacks."""
        _limit(limit)
        return _out(await reader.read(lambda q, d: q.exception_logs(limit)))

    @server.tool()
    async def queue_log(limit: int = 100) -> str:
        """The newest log entries (status, first line of any exception, time in queue, run
        time)."""
        _limit(limit)
        return _out(await reader.read(lambda q, d: d.recent_log(limit)))

    @server.tool()
    async def schedules() -> str:
        """Cron schedules, the next to run first."""
        return _out(await reader.read(lambda q, d: d.schedules(MAX_LIMIT)))

    @server.tool()
    async def stale_jobs(threshold: str = "PT5M", limit: int = 50) -> str:
        """Running jobs without a heartbeat for longer than threshold, the stalest first."""
        after = _duration(threshold, "threshold")
        _limit(limit)
        return _out(await reader.read(lambda q, d: d.stale_jobs(after, limit)))

    @server.tool()
    async def active_workers() -> str:
        """Workers holding running jobs: how many, heartbeats, entrypoints."""
        return _out(await reader.read(lambda q, d: q.active_workers()))

    @server.tool()
    async def queue_age() -> str:
        """Per entrypoint: queued jobs, how many are due, how long the oldest has waited."""
        return _out(await reader.read(lambda q, d: q.queue_age()))

    @server.tool()
    async def schema_info() -> str:
        """The pgqueuer tables: logged or not, estimated rows, size."""
        return _out(await reader.read(lambda q, d: q.schema_info()))

    return server


def main() -> None:
    """Serve over stdio (``PGQUEUER_DSN`` or the libpq variables; PGQUEUER_SCHEMA/PREFIX)."""
    create_mcp_server(os.environ.get(DSN_ENV[0]) or None).run("stdio")
