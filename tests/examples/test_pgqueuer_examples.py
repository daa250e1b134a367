"""PgQueuer-style examples in examples/ run unmodified against this package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
from conftest import Server

from pgqueuer.names import Names

REPO = Path(__file__).resolve().parents[2]


def run_example(server: Server, names: Names, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **server.env(), "PGQUEUER_SCHEMA": names.schema or ""}
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_producer_then_consumer_processes_every_job(
    server: Server, names: Names, conn: asyncpg.Connection
) -> None:
    produced = run_example(server, names, "examples/producer.py", "25")
    assert produced.returncode == 0, produced.stderr
    assert "enqueued 26 jobs" in produced.stdout
    consumed = run_example(server, names, "examples/consumer.py", "--drain")
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.count("Processed message") == 26
    left = await conn.fetchval(names.substitute("SELECT count(*) FROM /*@queue_table*/pgqueuer"))
    logged = await conn.fetchval(
        names.substitute(
            "SELECT count(*) FROM /*@queue_table_log*/pgqueuer_log WHERE status = 'successful'"
        )
    )
    assert (left, logged) == (0, 26)


async def test_transactional_enqueue_keeps_only_the_committed_job(
    server: Server, names: Names, conn: asyncpg.Connection
) -> None:
    result = run_example(server, names, "examples/transactional_enqueue.py")
    assert result.returncode == 0, result.stderr
    assert "ship_order jobs queued: 1" in result.stdout
    orders = await conn.fetch(f'SELECT item FROM "{names.schema}".orders')
    jobs = await conn.fetch(
        names.substitute(
            "SELECT payload FROM /*@queue_table*/pgqueuer WHERE entrypoint = 'ship_order'"
        )
    )
    assert [r["item"] for r in orders] == ["book"]
    assert len(jobs) == 1


def test_in_memory_example_needs_no_database(server: Server, names: Names) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGHOST"] = "/nonexistent"  # any database access would fail
    result = subprocess.run(
        [sys.executable, "examples/in_memory.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "greeted: ada, grace, linus"
