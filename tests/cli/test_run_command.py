"""`pgq run` as a user runs it: a subprocess, real signals, a real queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
from conftest import Server

from pgqueuer.db import AsyncpgDriver
from pgqueuer.names import Names
from pgqueuer.queries import Queries

REPO = Path(__file__).resolve().parents[2]


def pgq_run(
    server: Server, names: Names, markers: Path, *args: str, sleep: float = 0.0
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **server.env(),
        "PGQUEUER_SCHEMA": names.schema or "",
        "RUN_MARKERS": str(markers),
        "RUN_SLEEP": str(sleep),
        "PYTHONPATH": str(REPO / "tests" / "cli"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "pgqueuer", "run", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"pgq run did not exit: {err}") from None
    return proc.returncode, out, err


def wait_for(markers: Path, text: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if markers.exists() and text in markers.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in the markers")


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    return tmp_path / "markers.txt"


@pytest.fixture
async def queries(conn: asyncpg.Connection, names: Names) -> Queries:
    return Queries(AsyncpgDriver(conn), names)


async def count(conn: asyncpg.Connection, names: Names, where: str) -> int:
    sql = names.substitute(f"SELECT count(*) FROM /*@queue_table*/pgqueuer WHERE {where}")
    return int(await conn.fetchval(sql))


@pytest.mark.parametrize(
    "factory",
    [
        "run_factories:plain",
        "run_factories.plain",
        "run_factories:queue_manager",
        "run_factories:managed",
        "run_factories:sync_factory",
        "run_factories:partial_factory",
        "run_factories:lambda_factory",
    ],
)
async def test_every_factory_shape_drains_the_queue(
    server: Server,
    names: Names,
    conn: asyncpg.Connection,
    queries: Queries,
    markers: Path,
    factory: str,
) -> None:
    ids = await queries.enqueue(["work"] * 5, [None] * 5)
    extra = ["--durable-claims"] if factory.endswith("queue_manager") else []
    extra += ["--vacuum-interval", "0" if factory.endswith("managed") else "0.5"]
    proc = pgq_run(
        server, names, markers, factory, "--mode", "drain", "--dequeue-timeout", "1", *extra
    )
    status, _, err = await _finish(proc)
    assert status == 0, err
    text = markers.read_text()
    assert all(f"done {i}" in text for i in ids)
    assert await count(conn, names, "true") == 0
    if factory.endswith("managed"):
        assert text.index("setup") < text.index("cleanup")
    if factory.endswith("sync_factory"):
        assert "sync cleanup" in text


async def _finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str, str]:
    import asyncio

    return await asyncio.to_thread(finish, proc, timeout)


async def test_arguments_after_double_dash_reach_the_factory(
    server: Server, names: Names, markers: Path
) -> None:
    proc = pgq_run(
        server, names, markers, "run_factories:with_args", "--mode", "drain", "--", "--queue", "x"
    )
    status, _, err = await _finish(proc)
    assert status == 0, err
    assert "args --queue x" in markers.read_text()


async def test_sigterm_finishes_running_jobs_then_cleans_up(
    server: Server, names: Names, conn: asyncpg.Connection, queries: Queries, markers: Path
) -> None:
    ids = await queries.enqueue(["work"] * 2, [None] * 2)
    proc = pgq_run(server, names, markers, "run_factories:managed", "--batch-size", "2", sleep=1.0)
    import asyncio

    await asyncio.to_thread(wait_for, markers, f"start {ids[1]}")
    proc.send_signal(signal.SIGTERM)
    status, _, err = await _finish(proc)
    assert status == 0, err
    text = markers.read_text()
    assert f"done {ids[0]}" in text and f"done {ids[1]}" in text
    assert text.rstrip().endswith("cleanup")
    assert await count(conn, names, "true") == 0


async def test_a_second_signal_stops_at_once_and_requeues(
    server: Server, names: Names, conn: asyncpg.Connection, queries: Queries, markers: Path
) -> None:
    ids = await queries.enqueue(["work"] * 2, [None] * 2)
    proc = pgq_run(server, names, markers, "run_factories:managed", "--batch-size", "2", sleep=60)
    import asyncio

    await asyncio.to_thread(wait_for, markers, f"start {ids[1]}")
    proc.send_signal(signal.SIGINT)
    await asyncio.sleep(0.3)
    assert proc.poll() is None
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    status, _, err = await _finish(proc)
    assert status == 130, err
    assert time.monotonic() - began < 10
    assert await count(conn, names, "status = 'queued' AND attempts = 0") == 2
    assert "cleanup" in markers.read_text()


async def test_a_scheduler_factory_fires_and_stops_on_sigterm(
    server: Server, names: Names, markers: Path
) -> None:
    proc = pgq_run(server, names, markers, "run_factories:scheduler_only")
    import asyncio

    await asyncio.to_thread(wait_for, markers, "tick")
    proc.send_signal(signal.SIGTERM)
    status, _, err = await _finish(proc)
    assert status == 0, err


async def test_restart_on_failure_calls_the_factory_again(
    server: Server, names: Names, conn: asyncpg.Connection, queries: Queries, markers: Path
) -> None:
    await queries.enqueue(["work"] * 3, [None] * 3)
    proc = pgq_run(
        server,
        names,
        markers,
        "run_factories:flaky",
        "--mode",
        "drain",
        "--restart-on-failure",
        "--restart-delay",
        "0.2",
    )
    status, _, err = await _finish(proc)
    assert status == 0, err
    assert markers.read_text().count("flaky call") == 2
    assert "database went away" in err and "restarting" in err
    assert await count(conn, names, "true") == 0


@pytest.mark.parametrize(
    ("factory", "status", "message"),
    [
        ("no_such_module_here:main", 2, "cannot import module 'no_such_module_here'"),
        ("run_factories:nothing", 2, "has no attribute 'nothing'"),
        ("run_factories", 2, "not module:function"),
        ("run_factories:wrong_type", 1, "must return or yield a PgQueuer"),
        ("run_factories:broken", 1, "RuntimeError: the factory could not start"),
    ],
)
async def test_bad_factories_get_one_line_and_the_documented_status(
    server: Server, names: Names, markers: Path, factory: str, status: int, message: str
) -> None:
    proc = pgq_run(server, names, markers, factory)
    got, _, err = await _finish(proc)
    assert got == status
    assert message in err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("Error:")]) == 1


async def test_debug_log_level_shows_the_traceback(
    server: Server, names: Names, markers: Path
) -> None:
    proc = pgq_run(server, names, markers, "run_factories:broken", "--log-level", "DEBUG")
    status, _, err = await _finish(proc)
    assert status == 1 and "Traceback" in err


async def test_a_missing_schema_is_one_line_naming_pgq_install(
    server: Server, markers: Path
) -> None:
    absent = Names.create(schema="pgq_run_absent")
    proc = pgq_run(server, absent, markers, "run_factories:plain")
    status, _, err = await _finish(proc)
    assert status == 1
    assert "pgq --schema pgq_run_absent install" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "option", ["--dequeue-timeout", "--heartbeat-timeout", "--shutdown-grace", "--vacuum-interval"]
)
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_non_finite_or_negative_seconds_are_usage_errors(option: str, value: str) -> None:
    from click.testing import CliRunner

    from pgqueuer_cli.main import cli

    r = CliRunner().invoke(cli, ["run", "examples.demo_worker:main", option, value])
    assert r.exit_code == 2, r.output
    assert option in r.stderr and "Traceback" not in r.output


async def test_worker_host_is_registered_listed_and_removed_at_sigterm(
    server: Server, names: Names, conn: asyncpg.Connection, queries: Queries, markers: Path
) -> None:
    import asyncio

    from click.testing import CliRunner

    from pgqueuer_cli.main import cli

    (job,) = await queries.enqueue(["work"], [None])
    proc = pgq_run(server, names, markers, "run_factories:plain", "--worker-host", "web-7", sleep=2)
    try:
        await asyncio.to_thread(wait_for, markers, f"start {job}")
        assert names.schema is not None
        listed = await asyncio.to_thread(
            CliRunner().invoke,
            cli,
            ["--schema", names.schema, "workers"],
            env={**server.env(), "PGQUEUER_TABLEFMT": "plain"},
        )
        assert listed.exit_code == 0, listed.output
        (line,) = [row for row in listed.stdout.splitlines() if "web-7" in row]
        assert str(proc.pid) in line.split() and "work" in line.split()
        assert "Host" in listed.stdout and "PID" in listed.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
    status, _, err = await _finish(proc)
    assert status == 0, err
    left = names.substitute("SELECT count(*) FROM /*@workers_table*/pgqueuer_workers")
    assert await conn.fetchval(left) == 0


def test_a_bad_worker_host_is_one_line_and_exit_2(
    server: Server, names: Names, markers: Path
) -> None:
    proc = pgq_run(server, names, markers, "run_factories:plain", "--worker-host", "a\tb")
    status, _, err = finish(proc)
    assert status == 2
    assert "--worker-host" in err and "printable" in err and "Traceback" not in err
