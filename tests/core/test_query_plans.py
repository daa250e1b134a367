"""On a queue of 1M jobs, every hot statement reads through its index (EXPLAIN, generic plans).

The worker runs its statements with plan_cache_mode = force_generic_plan, so the plans checked
are the generic ones, the way the worker gets them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from pgqueuer.db import AsyncpgDriver
from pgqueuer.names import Names
from pgqueuer.queries import Queries

ROWS = 1_000_000


@pytest.fixture
async def big_queue(server) -> AsyncIterator[tuple[str | None, Names]]:
    from conftest import unique_schema

    from pgqueuer_schema import install_sql

    conn = await asyncpg.connect(server.dsn)
    names = Names.create(schema=unique_schema("plans"))
    try:
        await conn.execute(install_sql(names))
        await conn.execute(
            names.substitute(
                "INSERT INTO /*@queue_table*/pgqueuer (priority, entrypoint, status, execute_after) "
                "SELECT (i % 3), 'ep' || (i % 4), 'queued', now() - interval '1 second' "
                "FROM generate_series(1, $1) AS i"
            ),
            ROWS,
        )
        await conn.execute(
            names.substitute(
                "UPDATE /*@queue_table*/pgqueuer SET status = 'picked', "
                "queue_manager_id = gen_random_uuid() WHERE id % 1000 = 0"
            )
        )
        await conn.execute(names.substitute("VACUUM ANALYZE /*@queue_table*/pgqueuer"))
        yield server.dsn, names
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{names.schema}" CASCADE')
        await conn.close()


def _literal(value: object) -> str:
    def text(v: object) -> str:
        if v is None:
            return "NULL"
        if isinstance(v, timedelta):
            return f"{v.total_seconds()} seconds"
        return str(v)

    if isinstance(value, list):
        inner = ",".join('"' + text(v) + '"' if v is not None else "NULL" for v in value)
        return "'{" + inner + "}'"
    return "'" + text(value).replace("'", "''") + "'"


async def plan(conn: asyncpg.Connection, sql: str, *args: object) -> str:
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    stmt = await conn.prepare(sql)
    types = [t.name for t in stmt.get_parameters()]
    name = f"p_{uuid.uuid4().hex[:8]}"
    await conn.execute(f"PREPARE {name} ({', '.join(types)}) AS {sql}")
    literals = ", ".join(f"{_literal(a)}::{t}" for a, t in zip(args, types, strict=True))
    rows = await conn.fetch(f"EXPLAIN EXECUTE {name}({literals})")
    return "\n".join(r[0] for r in rows)


async def test_hot_statements_use_their_indexes_on_1m_rows(big_queue) -> None:
    dsn, names = big_queue
    conn = await asyncpg.connect(dsn)
    try:
        sql = Queries(AsyncpgDriver(conn), names).sql
        table = names.bare(names.queue_table)
        me = uuid.uuid4()
        claim = await plan(
            conn,
            sql["finish_and_claim"],
            [1, 2],
            ["successful", "failed"],
            [None, None],
            [None, None],
            me,
            ["ep1", "ep2"],
            [0, 2],
            10,
            True,
        )
        assert f"Seq Scan on {table}" not in claim, claim
        assert f"{table}_ep_prio_id_idx" in claim and f"{table}_pkey" in claim, claim

        for block, args, index in [
            ("next_due", (["ep1"],), "_ep_ea_idx"),
            ("heartbeat", ([1, 2], me), "_pkey"),
            ("rescue_stale", (["ep1"], timedelta(seconds=30), 100, 5), "_picked_heartbeat_idx"),
            ("stale_jobs", (timedelta(seconds=30), 25), "_picked_heartbeat_idx"),
            ("cancel_jobs", ([1, 2], names.channel), "_pkey"),
            # held rows only: the small partial index on them beats the primary key
            ("requeue_failed", ([1, 2],), "_held_idx"),
            # insight reads
            ("queue_age", (10_000, 1000), "_ep_"),
            ("browse_queue", (50, 0, ["queued"], ["ep1"]), "_pkey"),
            ("queue_job_by_id", (1,), "_pkey"),
        ]:
            text = await plan(conn, sql[block], *args)
            assert f"Seq Scan on {table} " not in text + " ", f"{block}:\n{text}"
            assert f"{table}{index}" in text, f"{block}:\n{text}"
    finally:
        await conn.close()


@pytest.fixture
async def big_log(server) -> AsyncIterator[tuple[str | None, Names]]:
    from conftest import unique_schema

    from pgqueuer_schema import install_sql

    conn = await asyncpg.connect(server.dsn)
    names = Names.create(schema=unique_schema("logplans"))
    try:
        await conn.execute(install_sql(names))
        await conn.execute(
            names.substitute(
                "INSERT INTO /*@queue_table_log*/pgqueuer_log (created, job_id, status, priority, "
                "entrypoint, aggregated, picked_at, execute_after) "
                "SELECT now() - make_interval(secs => i), i, "
                "CASE WHEN i % 100 = 0 THEN 'exception' ELSE 'successful' END::"
                "/*@queue_status_type*/pgqueuer_status, 0, 'ep' || (i % 4), i > 1000, "
                "now() - make_interval(secs => i + 1), now() - make_interval(secs => i + 2) "
                "FROM generate_series(1, $1) AS i"
            ),
            LOG_ROWS,
        )
        await conn.execute(names.substitute("VACUUM ANALYZE /*@queue_table_log*/pgqueuer_log"))
        yield server.dsn, names
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{names.schema}" CASCADE')
        await conn.close()


LOG_ROWS = 300_000


async def test_insight_reads_of_the_log_use_its_indexes(big_log) -> None:
    dsn, names = big_log
    conn = await asyncpg.connect(dsn)
    try:
        sql = Queries(AsyncpgDriver(conn), names).sql
        log = names.bare(names.queue_table_log)
        hour = timedelta(hours=1)
        for block, args, index in [
            ("job_durations", (hour, 20_000), "_created"),
            ("throughput_summary", (hour, 50_000), "_created"),
            ("throughput_timeseries", (hour, 50_000, 60.0), "_created"),
            ("exception_logs", (100, 50_000), "_created"),
            ("job_log_history", (5, 100), "_job_id_status"),
            ("unaggregated_log_count", (1_000_000,), "_not_aggregated"),
        ]:
            text = await plan(conn, sql[block], *args)
            assert f"Seq Scan on {log} " not in text + " ", f"{block}:\n{text}"
            assert f"{log}{index}" in text, f"{block}:\n{text}"
    finally:
        await conn.close()
