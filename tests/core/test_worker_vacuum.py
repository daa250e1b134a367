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
from pgqueuer.worker.vacuum import VACUUM_DEAD_SHARE, VACUUM_MIN_DEAD, vacuum_due

EVERY = 5.0


def churn(
    live: int = 0, dead: int = 0, since: float | None = None, owned: bool = True
) -> TableChurn:
    return TableChurn(live=live, dead=dead, since_vacuum=since, may_vacuum=owned)


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


# -- against PostgreSQL --------------------------------------------------------------------------


async def vacuums(conn: asyncpg.Connection, names: Names) -> int:
    value = await conn.fetchval(
        "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = to_regclass($1)",
        names.qualify(names.queue_table),
    )
    return int(value)


async def dead_rows(conn: asyncpg.Connection, names: Names) -> int:
    value = await conn.fetchval(
        "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = to_regclass($1)",
        names.qualify(names.queue_table),
    )
    return int(value)


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
