"""SQL-specific checks of Queries (every block prepares, raw rows, concurrency, commit modes).

The behaviour both repositories share is tested once, against every backend, in tests/contract.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import pytest

from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import SchemaNotInstalledError
from pgqueuer.models import TracebackRecord
from pgqueuer.names import Names
from pgqueuer.queries import Finished, Queries


async def rows(conn: asyncpg.Connection, names: Names, sql: str) -> list[asyncpg.Record]:
    return await conn.fetch(names.substitute(sql))


async def test_every_block_prepares(conn: asyncpg.Connection, queries: Queries) -> None:
    for name, sql in queries.sql.items():
        try:
            await conn.prepare(sql)
        except asyncpg.PostgresError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"block {name} does not prepare: {exc}")


async def test_headers_none_is_sql_null_and_dict_is_json(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    await queries.enqueue(["a", "b"], [None, None], headers=[None, {"k": 1}])
    got = await rows(
        conn,
        names,
        (
            "SELECT headers IS NULL AS null, headers->>'k' AS k "
            "FROM /*@queue_table*/pgqueuer ORDER BY id"
        ),
    )
    assert [(r["null"], r["k"]) for r in got] == [(True, None), (False, "1")]


async def test_outcomes_delete_hold_retry_release_and_log_only_what_ended(
    conn: asyncpg.Connection, names: Names, queries: Queries
) -> None:
    me = uuid.uuid4()
    ids = await queries.enqueue(["a"] * 5, [None] * 5)
    await queries.finish_and_claim([], me, ["a"], [0], 5)
    tb = TracebackRecord.from_exception(ValueError("boom"), ids[1]).to_json()
    done = [
        Finished(ids[0], "successful"),
        Finished(ids[1], "exception", tb),
        Finished(ids[2], "failed", tb),
        Finished(ids[3], "queued", tb, timedelta(minutes=5)),
        Finished(ids[4], "release"),
    ]
    await queries.finish_and_claim(done, me, [], [], 0)
    left = {
        r["id"]: r
        for r in await rows(
            conn,
            names,
            (
                "SELECT id, status::text, attempts, queue_manager_id, execute_after > now() AS later "
                "FROM /*@queue_table*/pgqueuer"
            ),
        )
    }
    assert set(left) == {ids[2], ids[3], ids[4]}
    assert left[ids[2]]["status"] == "failed" and left[ids[2]]["queue_manager_id"] is None
    assert (
        left[ids[3]]["status"] == "queued"
        and left[ids[3]]["attempts"] == 1
        and left[ids[3]]["later"]
    )
    assert left[ids[4]]["status"] == "queued" and left[ids[4]]["attempts"] == 0
    log = await rows(
        conn,
        names,
        (
            "SELECT job_id, status::text, traceback->>'exception_type' AS t "
            "FROM /*@queue_table_log*/pgqueuer_log ORDER BY job_id"
        ),
    )
    assert [(r["job_id"], r["status"], r["t"]) for r in log] == [
        (ids[0], "successful", None),
        (ids[1], "exception", "ValueError"),
        (ids[2], "failed", "ValueError"),
        (ids[3], "queued", "ValueError"),
    ]


async def test_concurrent_claims_never_overshoot_a_limit(dsn: str | None, names: Names) -> None:
    setup = await asyncpg.connect(dsn)
    try:
        await Queries(AsyncpgDriver(setup), names).enqueue(["lim"] * 50, [None] * 50)
        conns = [await asyncpg.connect(dsn) for _ in range(6)]
        try:

            async def claim(c: asyncpg.Connection) -> int:
                q = Queries(AsyncpgDriver(c), names)
                got = 0
                for _ in range(5):
                    got += len(await q.dequeue(10, {"lim": _limit(3)}, uuid.uuid4()))
                return got

            results = await asyncio.gather(*(claim(c) for c in conns))
        finally:
            for c in conns:
                await c.close()
        picked = await setup.fetchval(
            names.substitute(
                "SELECT count(*) FROM /*@queue_table*/pgqueuer WHERE status = 'picked'"
            )
        )
        assert picked == sum(results) == 3
    finally:
        await setup.close()


def _limit(n: int) -> object:
    from pgqueuer.queries import EntrypointExecutionParameter

    return EntrypointExecutionParameter(concurrency_limit=n)


async def test_aggregation_counts_each_log_row_once_even_when_run_concurrently(
    dsn: str | None, names: Names, queries: Queries
) -> None:
    me = uuid.uuid4()
    ids = await queries.enqueue(["a"] * 200, [None] * 200)
    await queries.finish_and_claim([], me, ["a"], [0], 200)
    await queries.finish_and_claim([Finished(i, "successful") for i in ids], me, [], [], 0)
    conns = [await asyncpg.connect(dsn) for _ in range(4)]
    try:

        async def fold(c: asyncpg.Connection) -> None:
            q = Queries(AsyncpgDriver(c), names)
            for _ in range(3):
                await q.aggregate_logs(limit=50)

        await asyncio.gather(*(fold(c) for c in conns))
    finally:
        for c in conns:
            await c.close()
    await queries.aggregate_logs()
    stats = await queries.log_statistics()
    assert sum(s.count for s in stats if s.status == "successful") == 200


async def test_missing_schema_is_one_error_naming_pgq_install(conn: asyncpg.Connection) -> None:
    queries = Queries(AsyncpgDriver(conn), Names.create(schema="pgq_nowhere_to_be_found"))
    with pytest.raises(
        SchemaNotInstalledError, match="pgq --schema pgq_nowhere_to_be_found install"
    ):
        await queries.enqueue("a", None)
    assert await queries.table_schema() is None


ME = uuid.uuid4()


async def _commit_mode_after(
    conn: asyncpg.Connection, queries: Queries, finished: list[Finished], async_claim: bool
) -> str:
    """synchronous_commit as finish_and_claim left it in its transaction (read before commit)."""
    async with conn.transaction():
        await queries.finish_and_claim(
            finished, uuid.uuid4() if not finished else ME, ["a"], [0], 1, async_claim=async_claim
        )
        mode: str = await conn.fetchval("SELECT current_setting('synchronous_commit')")
    return mode


async def test_only_a_claim_only_statement_commits_asynchronously(
    conn: asyncpg.Connection, queries: Queries
) -> None:
    await queries.enqueue(["a"] * 4, [None] * 4)
    assert await conn.fetchval("SELECT current_setting('synchronous_commit')") == "on"
    assert await _commit_mode_after(conn, queries, [], async_claim=True) == "off"
    assert await _commit_mode_after(conn, queries, [], async_claim=False) == "on"
    # A statement that finishes a job waits for its flush, even when it also claims.
    (job,) = await queries.finish_and_claim([], ME, ["a"], [0], 1)
    done = [Finished(job.id, "successful")]
    assert await _commit_mode_after(conn, queries, done, async_claim=True) == "on"
    # The setting is the transaction's own: the session keeps its default afterwards.
    assert await conn.fetchval("SELECT current_setting('synchronous_commit')") == "on"
    assert (
        await conn.fetchval(
            queries.names.substitute(
                "SELECT count(*) FROM /*@queue_table_log*/pgqueuer_log WHERE status = 'successful'"
            )
        )
        == 1
    )
