"""The vacuum chore (pgqueuer.worker.vacuum): when it vacuums, that it does, and when it must not."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
import pytest
from conftest import WorkerDriver
from test_worker import running, wait_until

from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job, TableChurn
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer.sql import load_blocks
from pgqueuer.worker.vacuum import (
    ANALYZE_MIN_LIVE,
    VACUUM_DEAD_SHARE,
    VACUUM_MIN_DEAD,
    analyze_due,
    vacuum_due,
)

EVERY = 5.0


def churn(
    live: int = 0,
    dead: int = 0,
    since: float | None = None,
    owned: bool = True,
    analyzed: bool = True,
) -> TableChurn:
    return TableChurn(live=live, dead=dead, since_vacuum=since, may_vacuum=owned, analyzed=analyzed)


# -- the policy, without a database ------------------------------------------------------------


def test_not_before_enough_dead_rows() -> None:
    assert not vacuum_due(churn(dead=VACUUM_MIN_DEAD - 1), EVERY)
    assert vacuum_due(churn(dead=VACUUM_MIN_DEAD), EVERY)


def test_a_large_backlog_raises_the_bar() -> None:
    live = 100_000
    bar = int(VACUUM_DEAD_SHARE * live)
    assert bar > VACUUM_MIN_DEAD
    assert not vacuum_due(churn(live=live, dead=bar - 1), EVERY)
    assert vacuum_due(churn(live=live, dead=bar), EVERY)


def test_not_again_within_the_interval_whoever_vacuumed() -> None:
    many = 10 * VACUUM_MIN_DEAD
    assert not vacuum_due(churn(dead=many, since=EVERY - 0.1), EVERY)
    assert vacuum_due(churn(dead=many, since=EVERY), EVERY)
    assert vacuum_due(churn(dead=many, since=None), EVERY)  # never vacuumed


def test_never_without_a_table_or_ownership() -> None:
    assert not vacuum_due(None, EVERY)
    assert not vacuum_due(churn(dead=10 * VACUUM_MIN_DEAD, owned=False), EVERY)


def test_not_while_a_vacuum_runs() -> None:
    running = TableChurn(live=0, dead=10 * VACUUM_MIN_DEAD, since_vacuum=None, may_vacuum=True)
    assert vacuum_due(running, EVERY)
    running.vacuuming = True
    assert not vacuum_due(running, EVERY)


def test_analyze_once_a_backlog_has_no_statistics() -> None:
    assert not analyze_due(churn(live=ANALYZE_MIN_LIVE - 1, analyzed=False))
    assert analyze_due(churn(live=ANALYZE_MIN_LIVE, analyzed=False))
    assert not analyze_due(churn(live=10 * ANALYZE_MIN_LIVE, analyzed=True))


def test_no_analyze_without_a_table_ownership_or_during_a_vacuum() -> None:
    assert not analyze_due(None)
    assert not analyze_due(churn(live=10 * ANALYZE_MIN_LIVE, owned=False, analyzed=False))
    busy = churn(live=10 * ANALYZE_MIN_LIVE, analyzed=False)
    busy.vacuuming = True
    assert not analyze_due(busy)


# -- against PostgreSQL --------------------------------------------------------------------------


async def table_stat(conn: asyncpg.Connection, names: Names, column: str) -> int:
    """One counter of pg_stat_user_tables for the queue table (vacuum_count, n_dead_tup, ...)."""
    value = await conn.fetchval(
        f"SELECT {column} FROM pg_stat_user_tables WHERE relid = to_regclass($1)",
        names.qualify(names.queue_table),
    )
    return int(value)


async def vacuums(conn: asyncpg.Connection, names: Names) -> int:
    return await table_stat(conn, names, "vacuum_count")


async def dead_rows(conn: asyncpg.Connection, names: Names) -> int:
    return await table_stat(conn, names, "n_dead_tup")


def all_done(done: list[int], n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(done) >= n

    return check


def counted_dead(conn: asyncpg.Connection, names: Names, n: int) -> Callable[[], Awaitable[bool]]:
    """The server's statistics show at least n dead rows (they lag by about a second)."""

    async def check() -> bool:
        return await dead_rows(conn, names) >= n

    return check


def worker(driver: object, names: Names, done: list[int]) -> PgQueuer:
    pgq = PgQueuer(driver, names=names)  # type: ignore[arg-type]

    @pgq.entrypoint("w")
    async def w(job: Job) -> None:
        done.append(job.id)

    return pgq


async def test_a_busy_worker_vacuums_its_queue_table(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    done: list[int] = []
    pgq = worker(worker_driver.driver, names, done)
    n = VACUUM_MIN_DEAD  # each job leaves two dead rows: its claim and its delete
    await queries.enqueue(["w"] * n, [None] * n)
    before = await vacuums(conn, names)

    async def vacuumed() -> bool:
        return await vacuums(conn, names) > before

    async with running(pgq, batch_size=100, vacuum_interval=timedelta(seconds=0.2)):
        await wait_until(vacuumed, timeout=30)
        await wait_until(all_done(done, n), timeout=30)
    assert len(set(done)) == n  # every job ran, once
    assert await dead_rows(conn, names) < VACUUM_MIN_DEAD


async def test_vacuum_interval_none_leaves_it_to_autovacuum(
    conn: asyncpg.Connection, names: Names, queries: Queries, dsn: str | None
) -> None:
    done: list[int] = []
    async with await AsyncpgDriver.connect(dsn) as driver:
        pgq = worker(driver, names, done)
        n = VACUUM_MIN_DEAD
        await queries.enqueue(["w"] * n, [None] * n)
        async with running(pgq, batch_size=100, vacuum_interval=None):
            await wait_until(all_done(done, n), timeout=30)
            # The statistics now call for a vacuum; a chore checking every 0.2 s would have
            # run one well within a second (the test above).
            await wait_until(counted_dead(conn, names, 2 * n), timeout=15)
            await asyncio.sleep(1.0)
        assert await vacuums(conn, names) == 0


async def test_a_role_that_does_not_own_the_table_never_vacuums(
    conn: asyncpg.Connection,
    names: Names,
    queries: Queries,
    dsn: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    role = f"pgq_not_owner_{uuid.uuid4().hex[:8]}"
    schema = names.schema or "public"
    await conn.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        for grant in (
            f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
            f'GRANT ALL ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"',
            f'GRANT ALL ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"',
        ):
            await conn.execute(grant)
        done: list[int] = []
        n = VACUUM_MIN_DEAD
        await queries.enqueue(["w"] * n, [None] * n)
        caplog.set_level(logging.INFO, logger="pgqueuer")
        async with await AsyncpgDriver.connect(dsn, user=role) as driver:
            pgq = worker(driver, names, done)
            async with running(pgq, batch_size=100, vacuum_interval=timedelta(seconds=0.2)):
                await wait_until(all_done(done, n), timeout=30)
                await wait_until(counted_dead(conn, names, 2 * n), timeout=15)
                await asyncio.sleep(1.0)  # the chore checks every 0.2 s
        assert "vacuum chore off: this role does not own the queue table" in caplog.text
        assert await vacuums(conn, names) == 0
    finally:
        await conn.execute(f'DROP OWNED BY "{role}"')
        await conn.execute(f'DROP ROLE "{role}"')


CLAIM_ARGS = "'{}', '{}', NULL, NULL, gen_random_uuid(), '{w}', '{0}', 20, true"


async def claim_index(conn: asyncpg.Connection, names: Names) -> str:
    """The index the claim's generic plan (what a worker runs after five claims) reads its
    candidates through, as EXPLAIN shows it."""
    sql = names.substitute(load_blocks("pgqueuer.sql", "queries.sql")["finish_and_claim"])
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(
            "PREPARE claim_plan(bigint[], text[], jsonb[], interval[], uuid, text[], int[], "
            f"int, boolean) AS {sql}"
        )
        try:
            plan = [r[0] for r in await conn.fetch(f"EXPLAIN EXECUTE claim_plan({CLAIM_ARGS})")]
        finally:
            await conn.execute("DEALLOCATE claim_plan")
    either = {names.derived(names.queue_table, s) for s in ("_ep_ea_idx", "_ep_prio_id_idx")}
    used = {word for line in plan if "Index Scan using" in line for word in line.split()} & either
    assert len(used) == 1, plan
    return used.pop()


async def test_a_backlog_without_statistics_is_analyzed_and_claimed_in_priority_order(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    """A table nobody analyzed (autovacuum off, or not yet) with a large backlog: the planner
    guesses that few rows match and its generic plan sorts the whole backlog on every claim
    (through the deferred-job index). The chore analyzes the table at its first look, so
    the plan walks the priority index instead (benchmarks/RESULTS.md, 2026-12-04 third stop:
    700 jobs/s against 24,000 on a 200,000-job backlog)."""
    n = 150_000
    await queries.enqueue(["w"] * n, [None] * n)
    await conn.execute(f"VACUUM {names.qualify(names.queue_table)}")  # its size, not its columns
    assert await claim_index(conn, names) == names.derived(names.queue_table, "_ep_ea_idx")
    done: list[int] = []
    pgq = worker(worker_driver.driver, names, done)

    async def analyzed() -> bool:
        return await table_stat(conn, names, "analyze_count") > 0

    async with running(pgq, batch_size=100, vacuum_interval=timedelta(seconds=30)):
        await wait_until(analyzed, timeout=15)  # the first look comes early, not after 30 s
    assert await claim_index(conn, names) == names.derived(names.queue_table, "_ep_prio_id_idx")


async def test_a_table_with_statistics_is_not_analyzed_again(
    conn: asyncpg.Connection, worker_driver: WorkerDriver, names: Names, queries: Queries
) -> None:
    n = 2 * ANALYZE_MIN_LIVE
    await queries.enqueue(["w"] * n, [None] * n)
    await conn.execute(f"ANALYZE {names.qualify(names.queue_table)}")
    done: list[int] = []
    pgq = worker(worker_driver.driver, names, done)
    async with running(pgq, batch_size=100, vacuum_interval=timedelta(seconds=0.2)):
        await wait_until(all_done(done, n), timeout=30)
        await asyncio.sleep(1.0)  # five looks at least
    assert await table_stat(conn, names, "analyze_count") == 1  # ours above
