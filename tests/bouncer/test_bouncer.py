"""Producers and workers through a real PgBouncer in transaction pooling mode.

The bouncer (fixtures.py) pools the test server's connections per transaction, as in
production: a LISTEN through it is lost when its transaction ends, and asyncpg's named
prepared statements do not survive (Debian's PgBouncer 1.18 has no protocol-level prepared
statements), so every client here opens its connection with ``statement_cache_size=0``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from bouncer.fixtures import Bouncer
from chaos.accounting import Fleet, Producer, account, count, op, read_runs, terminate, wait_for
from cli.test_run_command import finish  # waits for a pgq run process, kills it on timeout
from click.testing import CliRunner

from pgqueuer import QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.listening import (
    BOTH_WAKEUPS,
    LISTEN_THROUGH_POOLER,
    NEEDS_WAKEUP,
    ListenThroughPoolerError,
)
from pgqueuer.models import Job
from pgqueuer.names import Names
from pgqueuer.pooler import behind_pooler, transaction_pooling_proven
from pgqueuer.queries import Queries
from pgqueuer_cli.main import cli

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


async def through(bouncer: Bouncer, app: str | None = None) -> asyncpg.Connection:
    settings = {"application_name": app} if app else None
    return await asyncpg.connect(bouncer.dsn, statement_cache_size=0, server_settings=settings)


# -- detection -----------------------------------------------------------------------------


async def test_the_bouncer_is_detected_and_its_transaction_pooling_proven(
    bouncer: Bouncer, conn: asyncpg.Connection
) -> None:
    bounced = await through(bouncer)
    try:
        driver = AsyncpgDriver(bounced, connect=lambda: through(bouncer))
        assert await behind_pooler(driver) is True
        assert await transaction_pooling_proven(driver) is True
    finally:
        await bounced.close()
    direct = AsyncpgDriver(conn)
    assert await behind_pooler(direct) is False
    assert await transaction_pooling_proven(direct) is False


async def test_listen_through_the_bouncer_is_refused_in_one_line(
    bouncer: Bouncer, names: Names
) -> None:
    bounced = await through(bouncer)
    try:
        driver = AsyncpgDriver(bounced, connect=lambda: through(bouncer))
        qm = QueueManager(Queries(driver, names))
        qm.entrypoint("work")(_noop)
        async with asyncio.timeout(10):  # refused, not a hang
            with pytest.raises(ListenThroughPoolerError) as refused:
                await qm.run()
        assert str(refused.value) == LISTEN_THROUGH_POOLER
        assert "\n" not in LISTEN_THROUGH_POOLER
    finally:
        await bounced.close()


async def _noop(job: Job) -> None:
    return None


# -- producer -> worker round trips (in process) -------------------------------------------


async def _round_trip(
    bouncer: Bouncer, names: Names, caplog: pytest.LogCaptureFixture, **wakeup: Any
) -> tuple[Counter[int], list[int], float, str]:
    """Enqueue through the bouncer while a worker (through the bouncer) runs; return the
    handler runs per job, the ids enqueued, one idle pickup latency and the first log line."""
    ran: Counter[int] = Counter()
    picked: dict[int, float] = {}
    worker_conn = await through(bouncer)
    producer_conn = await through(bouncer)
    qm = QueueManager(Queries(AsyncpgDriver(worker_conn), names))

    @qm.entrypoint("work")
    async def work(job: Job) -> None:
        ran[job.id] += 1
        picked.setdefault(job.id, time.monotonic())

    producer = Queries(AsyncpgDriver(producer_conn), names)
    caplog.set_level(logging.INFO, logger="pgqueuer")
    task = asyncio.create_task(
        qm.run(dequeue_timeout=timedelta(seconds=30), batch_size=5, pgbouncer=True, **wakeup)
    )
    ids: list[int] = []
    try:
        await wait_for(
            lambda: task.done() or any("worker " in r.message for r in caplog.records),
            10,
            "the worker's first log line",
        )
        if task.done():
            task.result()
        for _ in range(4):
            ids += await producer.enqueue(["work"] * 10, [None] * 10)
            await asyncio.sleep(0.05)
        await wait_for(lambda: set(ids) <= set(ran), 15, "every job run")
        await asyncio.sleep(1.5)  # idle: a listener waits for NOTIFY, a poller backs off
        sent = time.monotonic()
        (last,) = await producer.enqueue(["work"], [None])
        ids.append(last)
        await wait_for(lambda: last in ran, 10, "a job enqueued while the worker was idle")
        latency = picked[last] - sent
    finally:
        qm.shutdown.set()
        await asyncio.wait_for(task, 15)
        await worker_conn.close()
        await producer_conn.close()
    first = next(r.message for r in caplog.records if r.message.startswith("worker "))
    return ran, ids, latency, first


async def _exactly_once(conn: asyncpg.Connection, names: Names, ran: Counter[int], ids: list[int]):
    assert set(ran) == set(ids) and set(ran.values()) == {1}, "each job ran exactly once"
    assert await count(conn, names) == 0
    done = await conn.fetchval(
        names.substitute(
            "SELECT count(*) FROM /*@queue_table_log*/pgqueuer_log WHERE status = 'successful'"
        )
    )
    assert done == len(ids)


async def test_round_trip_with_listen_on_a_direct_connection(
    bouncer: Bouncer, names: Names, conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    ran, ids, latency, first = await _round_trip(bouncer, names, caplog, listen_dsn=bouncer.direct)
    await _exactly_once(conn, names, ran, ids)
    assert "listening on" in first and "through PgBouncer" in first
    assert latency < 1.0, f"idle pickup took {latency:.2f} s: NOTIFY did not wake the worker"


async def test_round_trip_polling(
    bouncer: Bouncer, names: Names, conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    ran, ids, latency, first = await _round_trip(bouncer, names, caplog, poll_interval=0.4)
    await _exactly_once(conn, names, ran, ids)
    assert "polling every <= 0.4 s" in first
    assert latency < 1.0, f"idle pickup took {latency:.2f} s with a 0.4 s poll ceiling"


# -- pgq run through the bouncer -------------------------------------------------------------


def _pgq_run(bouncer: Bouncer, names: Names, markers: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PGQUEUER_")},
        "PGQUEUER_DSN": bouncer.dsn,
        "PGQUEUER_SCHEMA": names.schema or "",
        "RUN_MARKERS": str(markers),
        "PYTHONPATH": str(REPO / "tests" / "bouncer"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "pgqueuer", "run", "bouncer_factories:worker", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("mode", ["listen-dsn", "poll-interval"])
async def test_pgq_run_drains_through_the_bouncer(
    bouncer: Bouncer, names: Names, conn: asyncpg.Connection, tmp_path: Path, mode: str
) -> None:
    ids = await Queries(AsyncpgDriver(conn), names).enqueue(["work"] * 30, [None] * 30)
    value = bouncer.direct if mode == "listen-dsn" else "0.5"
    markers = tmp_path / "markers"
    proc = _pgq_run(bouncer, names, markers, "--pgbouncer", f"--{mode}", value, "--mode", "drain")
    status, out, err = await asyncio.to_thread(finish, proc)
    assert status == 0, err
    first = out.splitlines()[0]
    assert ("listening on" if mode == "listen-dsn" else "polling every <= 0.5 s") in first
    assert "PgBouncer" in first
    assert Counter(int(x) for x in markers.read_text().split()) == Counter(ids)


@pytest.mark.parametrize(
    ("args", "message"),
    [([], LISTEN_THROUGH_POOLER)],  # detected: LISTEN on the bouncer's connection
)
async def test_pgq_run_refuses_a_listen_through_the_bouncer_with_exit_2(
    bouncer: Bouncer, names: Names, tmp_path: Path, args: list[str], message: str
) -> None:
    proc = _pgq_run(bouncer, names, tmp_path / "markers", *args)
    status, _out, err = await asyncio.to_thread(finish, proc, 20)
    assert status == 2, err
    assert err.strip().splitlines()[-1] == f"Error: {message}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pgbouncer"], NEEDS_WAKEUP),
        (["--listen-dsn", "postgresql://h/d", "--poll-interval", "1"], BOTH_WAKEUPS),
        (["--pgbouncer", "--poll-interval", "0"], None),  # click's own range check
    ],
)
def test_bad_combinations_are_refused_before_anything_starts(
    args: list[str], message: str | None
) -> None:
    result = CliRunner().invoke(cli, ["run", "no_such_module:factory", *args])
    assert result.exit_code == 2, result.output
    if message is not None:
        assert result.stderr == f"Error: {message}\n"


# -- worker processes: a concurrency limit, SIGKILL, terminated server backends ------------


@pytest.fixture
async def fleet(bouncer: Bouncer, names: Names, tmp_path: Path) -> AsyncIterator[Fleet]:
    pool = Fleet(bouncer.dsn, names, tmp_path / "runs", tmp_path / "logs")
    try:
        yield pool
    finally:
        pool.stop_all()


async def test_a_concurrency_limit_holds_through_the_bouncer(
    fleet: Fleet, bouncer: Bouncer, names: Names, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    gauge = tmp_path / "gauge"
    for _ in range(2):
        await fleet.start(
            "--pgbouncer", "--listen-dsn", bouncer.direct,
            "--entrypoint", "limited=2", "--gauge", str(gauge), "--batch-size", "5",
        )  # fmt: skip
    ids = await Queries(AsyncpgDriver(conn), names).enqueue(["limited"] * 40, [op(sleep=0.03)] * 40)
    await wait_for(lambda: _empty(conn, names), 30, "the limited jobs done")
    await fleet.stop_gracefully()
    await account(conn, names, ids, fleet.runs_dir, alive=True)
    runs = read_runs(fleet.runs_dir)
    assert max(r.gauge for r in runs) == 2, "more than 2 handlers ran at once"


async def _empty(conn: asyncpg.Connection, names: Names) -> bool:
    return await count(conn, names) == 0


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
async def test_a_sigkilled_worker_loses_nothing_through_the_bouncer(
    fleet: Fleet, bouncer: Bouncer, names: Names, conn: asyncpg.Connection, driver: str
) -> None:
    args = ("--pgbouncer", "--poll-interval", "0.2", "--heartbeat-timeout", "1", "--driver", driver)
    victim = await fleet.start(*args, "--batch-size", "5")
    await fleet.start(*args, "--batch-size", "5")
    stop = asyncio.Event()
    producer = Producer(
        bouncer.dsn, names, payload=op(sleep=0.05), batch=10, interval=0.05, statement_cache_size=0
    )
    producing = asyncio.create_task(producer.run(stop))
    try:
        await wait_for(
            lambda: any(r.pid == victim.pid for r in read_runs(fleet.runs_dir)),
            10,
            "victim working",
        )
        fleet.kill(victim)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await producing
    await wait_for(lambda: _empty(conn, names), 30, "the queue drained by the survivor")
    await fleet.stop_gracefully()
    acc = await account(conn, names, producer.ids, fleet.runs_dir)
    assert acc.completed == producer.ids


async def test_terminated_server_backends_under_the_bouncer(
    fleet: Fleet, bouncer: Bouncer, names: Names, conn: asyncpg.Connection
) -> None:
    app = f"bt-{uuid.uuid4().hex[:10]}"
    worker = await fleet.start(
        "--pgbouncer", "--listen-dsn", bouncer.direct, "--heartbeat-timeout", "2",
        "--dequeue-timeout", "30", app=app,
    )  # fmt: skip
    stop = asyncio.Event()
    producer = Producer(
        bouncer.dsn, names, payload=op(sleep=0.01), batch=5, interval=0.05, statement_cache_size=0
    )
    producing = asyncio.create_task(producer.run(stop))
    killed = 0
    try:
        for _ in range(3):
            await asyncio.sleep(0.7)
            since = time.time()
            # The bouncer's server connections last used by the worker carry its
            # application_name (PgBouncer sets it on the server side of each link).
            killed += await terminate(conn, "application_name = $1", app)
            await wait_for(
                lambda t=since: any(
                    r.pid == worker.pid and r.how == "E" and r.started > t
                    for r in read_runs(fleet.runs_dir)
                ),
                15,
                "the worker running jobs again after its server backends were terminated",
            )
            assert worker.alive(), worker.stderr()[-3000:]
    finally:
        stop.set()
        await producing
    assert killed > 0, "no server backend of the worker was found to terminate"
    await wait_for(lambda: _empty(conn, names), 30, "the queue drained")
    await fleet.stop_gracefully()
    acc = await account(conn, names, producer.ids, fleet.runs_dir)
    assert acc.completed == producer.ids
