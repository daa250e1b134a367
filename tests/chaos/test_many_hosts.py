"""Many hosts (issue 18, point 2): eight worker processes, each registered under a host name
of its own (PGQUEUER_WORKER_HOST), share one queue.

While they drain a few hundred jobs of two entrypoints, one with a concurrency limit:
``pgq workers --json`` lists the eight hosts with their pids and entrypoints; every job runs
exactly once (the accounting of accounting.py, from the workers' run files and the log); the
limit holds across the processes (a gauge shared by the processes under flock counts the
limited handlers running at once). After SIGTERM the eight leave the registry.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from accounting import Fleet, account, count, figures, op, read_runs, wait_for
from click.testing import CliRunner
from conftest import Server

from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer_cli.main import cli

pytestmark = pytest.mark.slow

PROCESSES = 8
LIMIT = 3
LIMITED_JOBS = 120
FREE_JOBS = 200


@pytest.fixture
async def fleet(server: Server, names: Names, tmp_path: Path) -> AsyncIterator[Fleet]:
    pool = Fleet(server.dsn, names, tmp_path / "runs", tmp_path / "logs")
    try:
        yield pool
    finally:
        pool.stop_all()


async def pgq_workers(server: Server, names: Names) -> list[dict[str, Any]]:
    """``pgq --schema S workers --json``, as an operator runs it."""
    assert names.schema is not None
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["--schema", names.schema, "workers", "--json"], env=server.env()
    )
    assert result.exit_code == 0, result.output
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


async def test_eight_hosts_share_a_queue_and_the_view_shows_them(
    fleet: Fleet,
    server: Server,
    names: Names,
    conn: asyncpg.Connection,
    queries: Queries,
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    gauge = tmp_path / "gauge"
    hosts = [f"host-{i}" for i in range(PROCESSES)]
    for host in hosts:
        await fleet.start(
            "--entrypoint", f"limited={LIMIT}", "--entrypoint", "free",
            "--gauge", str(gauge), "--gauge-per-entrypoint", "--batch-size", "5",
            env={"PGQUEUER_WORKER_HOST": host}, wait=False,
        )  # fmt: skip
    for worker in fleet.workers:
        await fleet.ready(worker, timeout=25)
    pids = {host: w.pid for host, w in zip(hosts, fleet.workers, strict=True)}

    async def all_registered() -> bool:
        return len(await pgq_workers(server, names)) == PROCESSES

    await wait_for(all_registered, 15, "the eight workers registered")
    listed = await pgq_workers(server, names)
    assert {w["host"]: w["pid"] for w in listed} == pids
    assert all(w["entrypoints"] == ["free", "limited"] for w in listed), listed
    assert all(w["last_seen"] and w["started_at"] for w in listed)

    limited = await queries.enqueue(["limited"] * LIMITED_JOBS, [op(sleep=0.02)] * LIMITED_JOBS)
    free = await queries.enqueue(["free"] * FREE_JOBS, [op(sleep=0.005)] * FREE_JOBS)
    drain_began = time.monotonic()
    peak_busy_hosts = 0
    while await count(conn, names):
        during = await pgq_workers(server, names)
        assert {w["host"] for w in during} == set(hosts), "a worker left while running"
        peak_busy_hosts = max(peak_busy_hosts, sum(1 for w in during if w["jobs"]))
        assert time.monotonic() - drain_began < 20, "the jobs did not finish in 20 s"
        await asyncio.sleep(0.2)
    drained = time.monotonic() - drain_began

    await fleet.stop_gracefully()
    assert await pgq_workers(server, names) == [], "stopped workers left the registry"

    acc = await account(conn, names, [*limited, *free], fleet.runs_dir, alive=True)
    assert len(acc.completed) == LIMITED_JOBS + FREE_JOBS
    runs = read_runs(fleet.runs_dir)
    assert len(runs) == LIMITED_JOBS + FREE_JOBS, "every job ran exactly once"
    limited_ids = set(limited)
    peak = max(r.gauge for r in runs if r.job_id in limited_ids)
    assert peak <= LIMIT, f"{peak} limited handlers ran at once across processes"
    took_part = {r.pid for r in runs}
    assert took_part <= set(pids.values()) and len(took_part) >= 2
    figures(
        "many-hosts",
        processes=PROCESSES,
        limit=LIMIT,
        jobs=len(runs),
        peak_limited_handlers=peak,
        processes_that_ran_jobs=len(took_part),
        peak_hosts_seen_busy=peak_busy_hosts,
        drain_seconds=round(drained, 1),
        total_seconds=round(time.monotonic() - began, 1),
        **acc.summary(),
    )
