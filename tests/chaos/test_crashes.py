"""Workers that die or are stopped: SIGKILL under load, SIGTERM, poison jobs, slow live jobs.

Scenarios 1, 5, 6 and 7 of docs/reliability.md. Each ends with the shared accounting
(accounting.py): nothing lost, nothing left picked, nothing run again after it completed.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from accounting import Fleet, Producer, account, count, figures, op, read_runs, wait_for
from conftest import Server

from pgqueuer.names import Names
from pgqueuer.queries import EntrypointExecutionParameter, Queries

pytestmark = pytest.mark.slow


@pytest.fixture
async def fleet(server: Server, names: Names, tmp_path: Path) -> AsyncIterator[Fleet]:
    pool = Fleet(server.dsn, names, tmp_path / "runs", tmp_path / "logs")
    try:
        yield pool
    finally:
        pool.stop_all()


async def empty(conn: asyncpg.Connection, names: Names) -> bool:
    return await count(conn, names) == 0


# -- 1. workers SIGKILLed repeatedly while producers keep enqueueing -----------------------


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
async def test_sigkilled_workers_under_load_lose_nothing(
    fleet: Fleet, server: Server, names: Names, conn: asyncpg.Connection, driver: str
) -> None:
    worker_args = (
        *("--heartbeat-timeout", "1", "--batch-size", "5", "--max-concurrent", "10"),
        *("--driver", driver),
    )
    for _ in range(3):
        await fleet.start(*worker_args)
    stop = asyncio.Event()
    producers = [
        Producer(server.dsn, names, payload=op(sleep=0.02), batch=20, interval=0.05)
        for _ in range(2)
    ]
    tasks = [asyncio.create_task(p.run(stop)) for p in producers]
    rng = random.Random(7)
    kills = 0
    began = time.monotonic()
    try:
        while kills < 12 and time.monotonic() - began < 15:
            await asyncio.sleep(rng.uniform(0.3, 0.7))
            ready = [w for w in fleet.workers if w.is_ready()]
            if len(ready) < 2:
                continue  # keep at least one worker up between kills
            Fleet.kill(rng.choice(ready))
            kills += 1
            await fleet.start(*worker_args, wait=False)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    produced = time.monotonic() - began

    async def settled() -> bool:
        return await count(conn, names, "status <> 'failed'") == 0

    drain = await wait_for(settled, 40, "every job finished after the last kill")
    await fleet.stop_gracefully()
    ids = set().union(*(p.ids for p in producers))
    acc = await account(conn, names, ids, fleet.runs_dir)
    assert len(ids) >= 2000 and kills == 12
    assert acc.rescues > 0, "no job was ever rescued: the kills did not hit running jobs"
    assert len(acc.completed) + len(acc.failed) == len(ids)
    figures(
        "1-sigkill" if driver == "asyncpg" else "1-sigkill-psycopg",
        workers=3,
        kills=kills,
        produce_seconds=round(produced, 1),
        drain_after_last_kill_seconds=round(drain, 1),
        **acc.summary(),
    )


# -- 5. SIGTERM with running jobs and a claimed batch; a second SIGTERM during the grace ---


async def test_sigterm_drains_running_jobs_and_a_second_one_puts_them_back(
    fleet: Fleet, names: Names, conn: asyncpg.Connection, queries: Queries
) -> None:
    # Part 1: three workers, each with a full batch running (4 of 1.5 s) and more claimed
    # results waiting to be written; one SIGTERM each: the running jobs finish, nothing else
    # is claimed, nothing is left picked.
    graceful = [
        await fleet.start("--batch-size", "4", "--max-concurrent", "4", "--grace", "20")
        for _ in range(3)
    ]
    slow = await queries.enqueue(["work"] * 40, [op(sleep=1.5)] * 40)

    async def all_busy() -> bool:
        return await count(conn, names, "status = 'picked'") == 12

    await wait_for(all_busy, 15, "12 jobs running on three workers")
    began = time.monotonic()
    for worker in graceful:
        worker.proc.send_signal(signal.SIGTERM)
    for worker in graceful:
        assert await Fleet.exit_status(worker, 15) == 0, worker.stderr()
    drained_in = time.monotonic() - began
    assert await count(conn, names, "status = 'picked'") == 0
    runs = read_runs(fleet.runs_dir)
    assert len(runs) == 12 and all(r.how == "E" for r in runs), "a running job did not finish"
    assert await count(conn, names, "status = 'queued' AND attempts = 0") == 28

    # Part 2: long jobs, a long grace; the first SIGTERM waits, the second stops at once and
    # the jobs go back to the queue untouched (no attempt counted).
    worker = await fleet.start("--batch-size", "3", "--grace", "60")
    long = await queries.enqueue(["work"] * 3, [op(sleep=120)] * 3, priority=10)

    async def long_running() -> bool:
        started = {r.job_id for r in read_runs(fleet.runs_dir)}
        return set(long) <= started

    await wait_for(long_running, 15, "the three long jobs running")
    worker.proc.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    assert worker.alive(), "the first SIGTERM must wait for the running jobs"
    second = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    assert await Fleet.exit_status(worker, 10) == 0, worker.stderr()
    forced_in = time.monotonic() - second
    rows = await conn.fetch(
        names.substitute(
            "SELECT status::text, attempts FROM /*@queue_table*/pgqueuer WHERE id = ANY($1)"
        ),
        long,
    )
    assert [(r["status"], r["attempts"]) for r in rows] == [("queued", 0)] * 3
    cancelled = [r for r in read_runs(fleet.runs_dir) if r.job_id in long]
    assert all(r.how == "C" for r in cancelled)

    # Part 3: a grace shorter than the jobs: they are cancelled when it ends and put back.
    worker = await fleet.start("--batch-size", "3", "--grace", "1")
    await wait_for(
        lambda: sum(r.job_id in long for r in read_runs(fleet.runs_dir)) == 6,
        15,
        "the long jobs running again",
    )
    graced = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    assert await Fleet.exit_status(worker, 10) == 0, worker.stderr()
    grace_exit = time.monotonic() - graced
    assert 0.9 < grace_exit < 5
    assert (
        await count(conn, names, "status = 'queued' AND attempts = 0 AND id = ANY($1)", long) == 3
    )

    # The rest is drained by a fresh worker; the long jobs are cancelled through the API.
    await queries.mark_job_as_cancelled(long)
    await fleet.start("--batch-size", "10")
    await wait_for(lambda: empty(conn, names), 20, "the queue drained")
    await fleet.stop_gracefully()
    acc = await account(conn, names, [*slow, *long], fleet.runs_dir)
    assert acc.completed == set(slow) and acc.cancelled == set(long)
    figures(
        "5-sigterm",
        running_at_sigterm=12,
        graceful_exit_seconds=round(drained_in, 2),
        second_sigterm_exit_seconds=round(forced_in, 2),
        grace_1s_exit_seconds=round(grace_exit, 2),
        **acc.summary(),
    )


# -- 6. a poison job that kills its worker every time -------------------------------------


async def test_a_poison_job_is_held_as_failed_after_max_attempts(
    fleet: Fleet, server: Server, names: Names, conn: asyncpg.Connection, queries: Queries
) -> None:
    args = (
        "--heartbeat-timeout", "1", "--max-attempts", "3", "--batch-size", "5",
        "--entrypoint", "work", "--entrypoint", "poison",
    )  # fmt: skip
    for _ in range(2):
        await fleet.start(*args)
    stop = asyncio.Event()
    producer = Producer(server.dsn, names, payload=op(sleep=0.01), batch=5, interval=0.05)
    producing = asyncio.create_task(producer.run(stop))
    (poison,) = await queries.enqueue("poison", op(kill=1))
    restarts = 0

    async def held() -> bool:
        nonlocal restarts
        for worker in fleet.workers:  # a supervisor (systemd, k8s) starts a new worker
            if not worker.alive() and worker.proc.returncode == -signal.SIGKILL:
                worker.proc.returncode = 0  # replaced: count it once
                restarts += 1
                await fleet.start(*args, wait=False)
        status = await conn.fetchval(
            names.substitute("SELECT status::text FROM /*@queue_table*/pgqueuer WHERE id = $1"),
            poison,
        )
        return status == "failed"

    try:
        held_after = await wait_for(held, 40, "the poison job held as failed")
    finally:
        stop.set()
        await producing
    for worker in fleet.workers:
        if worker.proc.returncode != 0:
            await fleet.ready(worker)

    async def drained() -> bool:
        return await count(conn, names, "status <> 'failed'") == 0

    await wait_for(drained, 20, "the other jobs finished")
    await fleet.stop_gracefully()
    acc = await account(conn, names, {poison, *producer.ids}, fleet.runs_dir)
    assert poison in acc.failed and acc.attempts[poison] == 3
    poison_runs = acc.runs_by_job[poison]
    assert len(poison_runs) == 3 and [r.attempts for r in poison_runs] == [0, 1, 2]
    assert restarts == 3
    log = await conn.fetch(
        names.substitute(
            "SELECT status::text, traceback->>'exception_type' AS kind, "
            "(traceback->'additional_context'->>'attempt')::int AS attempt "
            "FROM /*@queue_table_log*/pgqueuer_log WHERE job_id = $1 ORDER BY id"
        ),
        poison,
    )
    assert [tuple(r) for r in log] == [
        ("queued", "WorkerLost", 1),
        ("queued", "WorkerLost", 2),
        ("failed", "WorkerLost", 3),
    ]
    # Jobs that shared a worker with the poison job were rescued too; the rest just ran.
    others = producer.ids
    assert acc.completed | acc.failed - {poison} == others
    assert len(acc.completed & others) >= 0.95 * len(others)
    figures(
        "6-poison",
        max_attempts=3,
        poison_runs=len(poison_runs),
        worker_restarts=restarts,
        seconds_until_held=round(held_after, 1),
        other_jobs=len(others),
        other_jobs_completed=len(acc.completed & others),
        other_jobs_held_with_it=len((acc.failed - {poison}) & others),
        **acc.summary(),
    )


# -- 7. jobs slower than the heartbeat timeout on a live, busy worker ----------------------


async def test_jobs_longer_than_the_heartbeat_timeout_run_once(
    fleet: Fleet, names: Names, conn: asyncpg.Connection, queries: Queries
) -> None:
    for _ in range(2):
        await fleet.start("--heartbeat-timeout", "1", "--batch-size", "5")
    slow = [op(sleep=4), op(sleep=4), op(block=3), op(block=3), op(spin=3)]
    ids = await queries.enqueue(["work"] * len(slow), slow, priority=1)
    ids += await queries.enqueue(["work"] * 100, [op(sleep=0.01)] * 100)
    began = time.monotonic()

    async def drained() -> bool:
        return await count(conn, names, "status <> 'failed'") == 0

    took = await wait_for(drained, 30, "every job finished")
    await fleet.stop_gracefully()
    acc = await account(conn, names, ids, fleet.runs_dir, alive=True)
    assert acc.completed == set(ids)
    assert not set(acc.rescues_by_job) & set(ids[:5]), "a slow job was taken for dead"
    figures(
        "7-slow-live-jobs",
        heartbeat_timeout_seconds=1,
        slow_jobs="2 x asyncio.sleep(4), 2 x time.sleep(3), 1 x 3 s CPU loop",
        seconds=round(took, 1),
        since_enqueue=round(time.monotonic() - began, 1),
        rescued_before_they_started=acc.rescues,
        **acc.summary(),
    )


async def test_a_claim_answered_while_a_handler_blocks_the_loop_is_not_run_twice(
    fleet: Fleet, names: Names, conn: asyncpg.Connection, queries: Queries
) -> None:
    """The worker claims a blocking job, then (batch of 1, room for 2) sends the next claim;
    the handler blocks the event loop before that claim's answer is read, so the heartbeat
    thread cannot know the second job and it goes stale. It is rescued and completed by
    another worker meanwhile; when the loop wakes up, the late claim must not run it again.
    """
    blocker, late = await queries.enqueue(["work"] * 2, [op(block=2.5), op(sleep=0)], [1, 0])
    worker = await fleet.start(
        "--heartbeat-timeout", "1", "--batch-size", "1", "--max-concurrent", "2"
    )

    async def both_picked() -> bool:
        return await count(conn, names, "status = 'picked'") == 2

    await wait_for(both_picked, 10, "both jobs claimed by the blocked worker")
    await asyncio.sleep(1.3)  # the second job's heartbeat is now older than the timeout
    rescued = await queries.rescue_stale(["work"], timedelta(seconds=1), 5)
    assert rescued == [(late, "queued")], "only the job claimed in flight goes stale"
    other = uuid.uuid4()  # another worker runs and completes it
    (job,) = await queries.dequeue(1, {"work": EntrypointExecutionParameter()}, other)
    assert job.id == late
    await queries.log_jobs([(job, "successful", None)])

    await wait_for(lambda: empty(conn, names), 10, "the blocking job finished")
    await asyncio.sleep(0.3)  # time for a (wrong) second run of the late job to start
    worker.proc.send_signal(signal.SIGTERM)
    assert await Fleet.exit_status(worker, 10) == 0, worker.stderr()
    ran = [r.job_id for r in read_runs(fleet.runs_dir)]
    assert ran == [blocker], f"the worker ran {ran}; the late claim must be dropped"
    assert "rescued" in worker.stderr()
