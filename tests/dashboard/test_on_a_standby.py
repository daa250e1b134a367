"""The read-only tools on a hot standby (issue 18, point 3, in part): `pgq dashboard`, the
Dashboard snapshot, the Prometheus exporter and Queries' insight reads run against a streaming
replica of a private primary (pg_basebackup -R, same machine) and see the primary's jobs."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner
from localpg import LocalPostgres

from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer_cli.main import cli
from pgqueuer_schema import install_sql

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[LocalPostgres, LocalPostgres]]:
    primary = LocalPostgres(Path(tempfile.mkdtemp(prefix="pgqueuer-test-pg-")), fsync="off")
    standby = LocalPostgres(Path(tempfile.mkdtemp(prefix="pgqueuer-test-pg-")), fsync="off")
    try:
        primary.start()
        standby.clone_from(primary)
        yield primary, standby
    finally:
        standby.destroy()
        primary.destroy()


async def _caught_up(primary: asyncpg.Connection, standby: asyncpg.Connection) -> None:
    target = await primary.fetchval("SELECT pg_current_wal_lsn()")
    for _ in range(200):
        if await standby.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", target):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the standby did not replay the primary's WAL within 10 s")


async def test_read_tools_work_on_a_hot_standby(pair: tuple[LocalPostgres, LocalPostgres]) -> None:
    primary, standby = pair
    names = Names.create(schema="pgq_standby")
    p = await asyncpg.connect(primary.dsn)
    s = await asyncpg.connect(standby.dsn)
    try:
        await p.execute(install_sql(names))
        await Queries(AsyncpgDriver(p), names).enqueue(["mail"] * 3 + ["report"], [None] * 4)
        # A worker on the primary registers itself (host, pid); it serves an entrypoint with
        # no jobs, so the queue above stays as it is.
        worker = await _worker_on(primary, names, "primary-side-host")
        await _caught_up(p, s)
        assert await s.fetchval("SELECT pg_is_in_recovery()")

        # Queries' insight reads on the standby's connection.
        queries = Queries(AsyncpgDriver(s), names)
        sizes = {(q.entrypoint, q.status): q.count for q in await queries.queue_size()}
        assert sizes == {("mail", "queued"): 3, ("report", "queued"): 1}
        ages = {a.entrypoint: a.queued for a in await queries.queue_age()}
        assert ages == {"mail": 3, "report": 1}
        # The statistics API folds new log rows first, a write: skipped on the standby.
        assert await queries.log_statistics(10) == []
        assert {b.entrypoint for b in await queries.backlog()} == {"mail", "report"}
        assert await queries.stale_jobs() == [] and await queries.active_workers() == []

        # The dashboard as data, and the Prometheus exporter (one read-only transaction each).
        from pgqueuer_dashboard import Dashboard
        from pgqueuer_dashboard.exporter import DatabaseMetrics, scrape

        snap = await Dashboard(s, names).snapshot()
        assert {e.entrypoint: e.queued for e in snap.entrypoints} == {"mail": 3, "report": 1}
        text = (await scrape(DatabaseMetrics(s, names))).decode()
        assert 'entrypoint="mail"' in text and "# TYPE" in text
        assert [(w.host, w.entrypoints) for w in snap.workers] == [("primary-side-host", ("idle",))]

        # pgq workers pointed at the standby.
        listed = await asyncio.to_thread(
            CliRunner().invoke,
            cli,
            ["--pg-dsn", standby.dsn, "--schema", "pgq_standby", "workers", "--json"],
        )
        assert listed.exit_code == 0, listed.output
        assert [(w["host"], w["jobs"]) for w in json.loads(listed.stdout)] == [
            ("primary-side-host", 0)
        ]
    finally:
        await _stop(worker)
        await s.close()
        await p.close()

    # pgq dashboard pointed at the standby, as an operator would run it.
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["--pg-dsn", standby.dsn, "--schema", "pgq_standby", "dashboard", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    queued = {e["entrypoint"]: e["queued"] for e in data["entrypoints"]}
    assert queued == {"mail": 3, "report": 1}


async def _worker_on(
    server: LocalPostgres, names: Names, host: str
) -> tuple[PgQueuer, asyncio.Task[None]]:
    pgq = PgQueuer(AsyncpgDriver(await asyncpg.connect(server.dsn)), names=names)
    pgq.qm.host = host

    @pgq.entrypoint("idle")
    async def idle(job: Job) -> None: ...

    task = asyncio.create_task(pgq.run())
    check = await asyncpg.connect(server.dsn)
    try:
        registry = names.substitute("SELECT count(*) FROM /*@workers_table*/pgqueuer_workers")
        for _ in range(200):
            if await check.fetchval(registry):
                return pgq, task
            await asyncio.sleep(0.05)
        raise AssertionError("the worker did not register within 10 s")
    finally:
        await check.close()


async def _stop(worker: tuple[PgQueuer, asyncio.Task[None]]) -> None:
    pgq, task = worker
    pgq.shutdown.set()
    await asyncio.wait_for(task, 30)
    await pgq.connection.connection.close()


async def test_pgq_web_pages_render_on_a_hot_standby(
    pair: tuple[LocalPostgres, LocalPostgres],
) -> None:
    from web.webserver import serve_app, stop_server

    from pgqueuer_dashboard.web import create_web_app

    primary, standby = pair
    names = Names.create(schema="pgq_standby_web")
    p = await asyncpg.connect(primary.dsn)
    s = await asyncpg.connect(standby.dsn)
    try:
        await p.execute(install_sql(names))
        await Queries(AsyncpgDriver(p), names).enqueue(["mail"] * 2, [None] * 2)
        worker = await _worker_on(primary, names, "web-side-host")
        await _caught_up(p, s)
    finally:
        await s.close()
        await p.close()
    web = serve_app(create_web_app(standby.dsn, names=names))
    try:
        for path in ("/", "/entrypoints", "/jobs", "/failures", "/workers", "/system"):
            reply = await asyncio.to_thread(web.request, path)
            assert reply.status == 200, (path, reply.status, reply.text[:500])
        overview = await asyncio.to_thread(web.request, "/jobs?status=queued")
        assert "mail" in overview.text
        workers = await asyncio.to_thread(web.request, "/workers")
        assert "web-side-host" in workers.text
    finally:
        stop_server(web)
        await _stop(worker)
