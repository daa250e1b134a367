"""Prometheus metrics end to end: real HTTP endpoints, parsed with prometheus-client's parser.

``pgq metrics`` (database-wide, a subprocess), ``pgq run --metrics-port`` (a worker's own
instruments, a subprocess), PgQueuer's ``collect_metrics`` and its FastAPI router (uvicorn).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import asyncpg
from conftest import Server
from helpers import fetch, samples, scrape_until, value
from localpg import free_port

from pgqueuer import QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ODD = 'odd "name" \\ with\nnewline'  # every character a label value must escape


def pgq(server: Server, names: Names, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **server.env(),
        "PGQUEUER_SCHEMA": names.schema or "",
        "PYTHONPATH": str(HERE),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "pgqueuer", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def line_with(stream: object, text: str, timeout: float = 20) -> str:
    async def read() -> str:
        while True:
            line = await asyncio.to_thread(stream.readline)  # type: ignore[attr-defined]
            if not line:
                raise AssertionError(f"stream ended before {text!r}")
            if text in line:
                return str(line)

    return await asyncio.wait_for(read(), timeout)


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"did not stop on SIGTERM: {err}") from None
    return proc.returncode, err


async def drain(dsn: str | None, names: Names) -> None:
    """Run the test entrypoints until nothing they serve is left (no log aggregation)."""
    sys.path.insert(0, str(HERE))
    from obs_factories import register

    worker_conn = await asyncpg.connect(dsn)
    try:
        qm = QueueManager(Queries(AsyncpgDriver(worker_conn), names))
        register(qm)
        await asyncio.wait_for(
            qm.run(
                mode=QueueExecutionMode.drain,
                dequeue_timeout=timedelta(seconds=0.2),
                log_aggregation_interval=timedelta(0),
            ),
            30,
        )
    finally:
        await worker_conn.close()


async def test_pgq_metrics_serves_database_statistics_over_http(
    conn: asyncpg.Connection, names: Names, queries: Queries, server: Server, dsn: str | None
) -> None:
    await queries.enqueue(["ok", "ok", "ok", ODD], [None] * 4, [0] * 4)
    await conn.execute(
        names.substitute(
            "INSERT INTO /*@schedules_table*/pgqueuer_schedules (expression, entrypoint, next_run)"
            " VALUES ('* * * * *', 'cron', now() - interval '90 seconds')"
        )
    )
    proc = pgq(server, names, "metrics", "--port", "0")
    try:
        line = await line_with(proc.stderr, "serving metrics on")
        url = line.split()[-1]
        assert url.startswith("http://127.0.0.1:")  # loopback by default

        content_type, text = await asyncio.to_thread(fetch, url)
        assert content_type.startswith("text/plain; version=0.0.4")
        assert "# HELP pgqueuer_queue_jobs " in text
        assert "# TYPE pgqueuer_queue_jobs gauge" in text
        assert value(text, "pgqueuer_queue_jobs", entrypoint="ok", status="queued") == 3
        # The parser reads back the exact label: quotes, backslash and newline were escaped.
        assert value(text, "pgqueuer_queue_jobs", entrypoint=ODD, status="queued") == 1
        assert (value(text, "pgqueuer_queue_oldest_age_seconds", entrypoint="ok") or 0) > 0
        lag = value(text, "pgqueuer_schedule_lag_seconds", entrypoint="cron")
        assert lag is not None and lag >= 89
        assert value(text, "pgqueuer_workers") == 0
        assert value(text, "pgqueuer_stale_jobs") == 0
        assert value(text, "pgqueuer_jobs_completed_total", entrypoint="ok") is None

        await queries.enqueue(["boom", "boom", "flaky"], [None] * 3, [0] * 3)
        await drain(dsn, names)

        def done(t: str) -> bool:
            return value(t, "pgqueuer_jobs_completed_total", entrypoint="flaky") == 1

        text = await scrape_until(url, done)
        assert value(text, "pgqueuer_jobs_completed_total", entrypoint="ok") == 3
        assert value(text, "pgqueuer_jobs_failed_total", entrypoint="boom") == 2
        assert value(text, "pgqueuer_jobs_retried_total", entrypoint="flaky") == 1
        assert "# TYPE pgqueuer_jobs_completed_total counter" in text
        assert value(text, "pgqueuer_job_run_seconds_count", entrypoint="ok") == 3
        assert value(text, "pgqueuer_job_run_seconds_bucket", entrypoint="ok", le="+Inf") == 3
        assert value(text, "pgqueuer_job_queue_seconds_count", entrypoint="flaky") == 2
        assert "# TYPE pgqueuer_job_queue_seconds histogram" in text
        assert not value(text, "pgqueuer_queue_jobs", entrypoint="ok", status="queued")
        assert value(text, "pgqueuer_queue_jobs", entrypoint=ODD, status="queued") == 1

        # Scrapes never write: nothing aggregated, no statistics rows.
        stats = names.substitute("SELECT count(*) FROM /*@statistics_table*/pgqueuer_statistics")
        aggregated = names.substitute(
            "SELECT count(*) FROM /*@queue_table_log*/pgqueuer_log WHERE aggregated"
        )
        assert await conn.fetchval(stats) == 0
        assert await conn.fetchval(aggregated) == 0
    finally:
        status, err = stop(proc)
    assert status == 0, err


async def test_pgq_run_metrics_port_serves_the_workers_instruments(
    names: Names, queries: Queries, server: Server
) -> None:
    await queries.enqueue(["ok"] * 4 + ["boom", "flaky"], [None] * 6, [0] * 6)
    port = free_port()
    proc = pgq(server, names, "run", "obs_factories:worker", "--metrics-port", str(port))
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        await line_with(proc.stdout, "serving worker metrics on")

        def done(t: str) -> bool:
            finished = value(t, "pgqueuer_worker_jobs_finished_total", entrypoint="flaky")
            return finished == 1 and (
                value(t, "pgqueuer_worker_jobs_finished_total", entrypoint="ok") == 4
            )

        text = await scrape_until(url, done)
        finished = {
            (s.labels["entrypoint"], s.labels["outcome"]): s.value
            for s in samples(text)
            if s.name == "pgqueuer_worker_jobs_finished_total"
        }
        assert finished == {
            ("ok", "successful"): 4,
            ("boom", "exception"): 1,
            ("flaky", "retried"): 1,
            ("flaky", "successful"): 1,
        }
        assert value(text, "pgqueuer_worker_jobs_started_total", entrypoint="flaky") == 2
        assert value(text, "pgqueuer_worker_handler_duration_seconds_count", entrypoint="ok") == 4
        assert value(text, "pgqueuer_worker_jobs_in_flight", entrypoint="ok") == 0
        claims = value(text, "pgqueuer_worker_claim_roundtrip_seconds_count")
        assert claims is not None and claims >= 1
        assert value(text, "pgqueuer_worker_claim_batch_size_sum") == 7  # 6 jobs + 1 retry
        assert "# TYPE pgqueuer_worker_handler_duration_seconds histogram" in text
    finally:
        status, err = stop(proc)
    assert status == 0, err


async def test_pgq_metrics_reports_a_port_in_use_in_one_line(names: Names, server: Server) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = pgq(server, names, "metrics", "--port", str(port))
        _, err = await asyncio.to_thread(proc.communicate, timeout=30)
    assert proc.returncode == 1
    assert err.startswith(f"Error: cannot listen on 127.0.0.1:{port}:"), err
    assert len(err.strip().splitlines()) == 1


async def test_collect_metrics_is_pgqueuers_text_with_help_type_and_no_writes(
    conn: asyncpg.Connection, names: Names, queries: Queries, dsn: str | None
) -> None:
    from pgqueuer.metrics.prometheus import MetricNames, collect_metrics

    await queries.enqueue(["ok", "ok", "boom", ODD], [None] * 4, [0] * 4)
    await drain(dsn, names)
    text = await collect_metrics(queries)
    assert "# TYPE pgqueuer_queue_count gauge" in text
    assert value(text, "pgqueuer_queue_count", entrypoint=ODD, status="queued") == 1
    assert value(text, "pgqueuer_logs_count", aggregation="sum", entrypoint="ok") == 2
    assert value(text, "pgqueuer_logs_count", entrypoint="boom", status="exception") == 1
    renamed = await collect_metrics(queries, metric_names=MetricNames("q", "l"))
    assert value(renamed, "l", entrypoint="ok", status="successful") == 2
    aggregated = names.substitute(
        "SELECT count(*) FROM /*@queue_table_log*/pgqueuer_log WHERE aggregated"
    )
    assert await conn.fetchval(aggregated) == 0  # PgQueuer 1.6 aggregated (wrote) here


def test_prometheus_format_escapes_label_values() -> None:
    from pgqueuer.metrics.prometheus import prometheus_format

    line = prometheus_format("m", {"entrypoint": 'a"b\\c\nd', "status": "queued"}, 3)
    assert line == 'm{entrypoint="a\\"b\\\\c\\nd",status="queued"} 3'
    (sample,) = samples(f"# TYPE m gauge\n{line}\n")
    assert sample.labels["entrypoint"] == 'a"b\\c\nd'


async def test_fastapi_metrics_router_serves_collect_metrics(
    names: Names, queries: Queries
) -> None:
    import uvicorn
    from fastapi import FastAPI

    from pgqueuer.metrics.fastapi import create_metrics_router

    await queries.enqueue(["ok", "ok"], [None] * 2, [0] * 2)
    app = FastAPI()
    app.include_router(create_metrics_router(queries, path="/prom"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # connections wait in the backlog until uvicorn accepts them
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        port = sock.getsockname()[1]
        content_type, text = await asyncio.to_thread(fetch, f"http://127.0.0.1:{port}/prom")
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
        sock.close()
    assert content_type.startswith("text/plain")
    assert value(text, "pgqueuer_queue_count", entrypoint="ok", status="queued") == 2


def test_core_imports_neither_the_dashboard_nor_prometheus_until_used() -> None:
    code = (
        "import sys, pgqueuer, pgqueuer.qm, pgqueuer.queries, pgqueuer.metrics.prometheus, "
        "pgqueuer.metrics.fastapi, pgqueuer.ports.tracing\n"
        "banned = [m for m in sys.modules if m.split('.')[0] in "
        "('pgqueuer_dashboard', 'prometheus_client', 'opentelemetry', 'fastapi')]\n"
        "assert not banned, banned\n"
        "import asyncio\n"
        "from pgqueuer.inmemory import InMemoryQueries\n"
        "from pgqueuer.metrics.prometheus import collect_metrics\n"
        "text = asyncio.run(collect_metrics(InMemoryQueries()))\n"
        "assert 'pgqueuer_dashboard.prometheus' in sys.modules, 'delegated at call time'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
