"""On 1M queued jobs and 1M log rows every dashboard query reads through an index.

The data comes from benchmarks/dashboard.py's fill (the same rows the benchmark times), built
once for this module: about 12 s, most of it the INSERTs and the index builds. Each query is
EXPLAINed twice, with the plan PostgreSQL makes for the real arguments and with the generic
plan it may switch to after a statement has run five times (a dashboard refreshing every few
seconds reuses its statements).
"""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import Iterator
from datetime import timedelta
from types import ModuleType

import asyncpg
import pytest
from conftest import REPO, Server, unique_schema

from pgqueuer.db import AsyncpgDriver
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer.sql import load_blocks
from pgqueuer_dashboard import Dashboard

ROWS = 1_000_000


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dashboard_bench", REPO / "benchmarks/dashboard.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def big(server: Server) -> Iterator[Names]:
    names = Names.create(schema=unique_schema("dash_plans"))
    asyncio.run(_benchmark().fill(server.dsn, names, queued=ROWS, log_rows=ROWS))

    async def drop() -> None:
        conn = await asyncpg.connect(server.dsn)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{names.schema}" CASCADE')
        await conn.close()

    try:
        yield names
    finally:
        asyncio.run(drop())


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, timedelta):
        return f"'{value.total_seconds()} seconds'"
    return f"'{value}'"


async def explain(conn: asyncpg.Connection, sql: str, args: tuple[object, ...], mode: str) -> str:
    await conn.execute(f"SET plan_cache_mode = {mode}")
    types = [t.name for t in (await conn.prepare(sql)).get_parameters()]
    name = f"p_{uuid.uuid4().hex[:8]}"
    await conn.execute(f"PREPARE {name} ({', '.join(types)}) AS {sql}")
    literals = ", ".join(f"{_literal(a)}::{t}" for a, t in zip(args, types, strict=True))
    rows = await conn.fetch(f"EXPLAIN EXECUTE {name}({literals})")
    return "\n".join(r[0] for r in rows)


Q, LOG = "queue_table", "queue_table_log"
# block -> (arguments as the dashboard passes them, (table, index suffix) the plan must use)
CASES: dict[str, tuple[tuple[object, ...], tuple[tuple[str, str], ...]]] = {
    "queue_counts": (
        (1_000_000, 50),
        ((Q, "_ep_ea_idx"), (Q, "_held_idx"), (Q, "_picked_heartbeat_idx")),
    ),
    "log_window": ((timedelta(minutes=1), 20_000, 50), ((LOG, "_created"),)),
    "workers": ((1_000_000, 50), ((Q, "_picked_heartbeat_idx"),)),
    "picked_workers": ((1_000_000, 50), ((Q, "_picked_heartbeat_idx"),)),  # no registry table
    "stale_jobs": ((timedelta(minutes=5), 50), ((Q, "_picked_heartbeat_idx"),)),  # from core
    "recent_log": ((25,), ((LOG, "_created"),)),
    "schedules": ((50,), ()),  # one row per registered schedule: a scan of it is fine
}
NO_TABLE = {"db_now", "jit_off", "has_registry"}


def test_every_dashboard_query_is_checked() -> None:
    blocks = set(load_blocks("pgqueuer_dashboard.sql", "dashboard.sql"))
    assert blocks - NO_TABLE == set(CASES) - {"stale_jobs"}


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_dashboard_queries_use_indexes_on_1m_jobs_and_1m_log_rows(
    server: Server, big: Names, mode: str
) -> None:
    conn = await asyncpg.connect(server.dsn)
    try:
        sql = dict(Dashboard(conn, big).sql)
        sql["stale_jobs"] = Queries(AsyncpgDriver(conn), big).sql["stale_jobs"]
        queue, log = big.bare(big.queue_table), big.bare(big.queue_table_log)
        for block, (args, indexes) in CASES.items():
            text = await explain(conn, sql[block], args, mode)
            for table in (queue, log):
                assert f"Seq Scan on {table} " not in text + " ", f"{block} ({mode}):\n{text}"
            for field, suffix in indexes:
                name = big.derived(getattr(big, field), suffix)
                assert name in text, f"{block} ({mode}) does not use {name}:\n{text}"
    finally:
        await conn.close()


# pgq web's own statements (sql/web.sql), as its pages pass them
WEB_CASES: dict[str, tuple[tuple[object, ...], tuple[tuple[str, str], ...]]] = {
    "picked_jobs": ((51, 0, None), ((Q, "_picked_heartbeat_idx"),)),
    "failed_jobs": ((51, 0, None), ((Q, "_held_idx"),)),
    "failed_ids": (("ep1", 1000), ((Q, "_held_idx"),)),
}


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_web_queries_use_indexes_on_1m_jobs_and_1m_log_rows(
    server: Server, big: Names, mode: str
) -> None:
    blocks = load_blocks("pgqueuer_dashboard.sql", "web.sql")
    assert set(blocks) - NO_TABLE == set(WEB_CASES)
    conn = await asyncpg.connect(server.dsn)
    try:
        queue = big.bare(big.queue_table)
        for block, (args, indexes) in WEB_CASES.items():
            text = await explain(conn, big.substitute(blocks[block]), args, mode)
            assert f"Seq Scan on {queue} " not in text + " ", f"{block} ({mode}):\n{text}"
            assert "pkey" not in text, f"{block} ({mode}) walks the primary key:\n{text}"
            for field, suffix in indexes:
                name = big.derived(getattr(big, field), suffix)
                assert name in text, f"{block} ({mode}) does not use {name}:\n{text}"
    finally:
        await conn.close()


async def test_the_snapshot_counts_a_million_jobs_exactly(server: Server, big: Names) -> None:
    conn = await asyncpg.connect(server.dsn)
    try:
        snap = await Dashboard(conn, big).snapshot()
    finally:
        await conn.close()
    assert sum(e.queued for e in snap.entrypoints) == ROWS
    assert sum(e.running for e in snap.entrypoints) == ROWS // 1000
    assert sum(e.failed for e in snap.entrypoints) == ROWS // 1000
    assert len(snap.workers) == 8 and len(snap.log) == 25
    assert 0 < snap.sampled_log_rows <= 20_000


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_the_exporters_log_reads_walk_the_primary_key(
    server: Server, big: Names, mode: str
) -> None:
    """pgq metrics' counters read the log by id (sql/metrics.sql), never the whole table."""
    blocks = load_blocks("pgqueuer_dashboard.sql", "metrics.sql")
    assert set(blocks) == {"log_since", "log_last_id"}
    sql = {k: big.substitute(v) for k, v in blocks.items()}
    pkey = big.derived(big.queue_table_log, "_pkey")
    log = big.bare(big.queue_table_log)
    conn = await asyncpg.connect(server.dsn)
    try:
        plans = {
            "log_since": await explain(
                conn, sql["log_since"], (0, 50_000, timedelta(seconds=2)), mode
            ),
            "log_last_id": "\n".join(
                r[0] for r in await conn.fetch(f"EXPLAIN {sql['log_last_id']}")
            ),
        }
    finally:
        await conn.close()
    for block, text in plans.items():
        assert f"Seq Scan on {log} " not in text + " ", f"{block} ({mode}):\n{text}"
        assert pkey in text, f"{block} ({mode}) does not use {pkey}:\n{text}"
