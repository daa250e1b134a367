"""PgQueuer 1.6's example shapes, run as its users run them: `pgq run` on a context-manager
factory (with Context resources, a schedule and pgqueuer.core.logconfig), a scheduler-only
factory, a FastAPI app over a pool and a Flask app enqueueing through SyncQueries, each in a
real process answering real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from conftest import Server
from localpg import free_port

from pgqueuer.names import Names

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _env(server: Server, names: Names) -> dict[str, str]:
    return {**os.environ, **server.env(), "PGQUEUER_SCHEMA": names.schema or ""}


def _count(names: Names, where: str = "true") -> str:
    return names.substitute(f"SELECT count(*) FROM /*@queue_table*/pgqueuer WHERE {where}")


async def test_pgq_run_on_the_context_manager_consumer(
    server: Server, names: Names, conn: asyncpg.Connection
) -> None:
    env = _env(server, names)
    produced = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "examples/producer.py", "9"], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pgqueuer", "run", "examples.consumer:main", "--mode", "drain",
         "--dequeue-timeout", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Processed message: b'") == 10
    assert await conn.fetchval(_count(names)) == 0
    # The schedule was registered in the database by the factory's @pgq.schedule.
    schedules = await conn.fetch(
        names.substitute(
            "SELECT entrypoint, expression FROM /*@schedules_table*/pgqueuer_schedules"
        )
    )
    assert [(r["entrypoint"], r["expression"]) for r in schedules] == [
        ("scheduled_every_minute", "* * * * *")
    ]


async def test_a_scheduler_only_factory_enqueues_on_its_ticks(
    server: Server, names: Names, conn: asyncpg.Connection
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgqueuer", "run", "examples.scheduler:main"],
        cwd=REPO, env=_env(server, names), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if await conn.fetchval(_count(names, "entrypoint = 'tick'")) >= 2:
                break
            assert proc.poll() is None, proc.communicate()
            await asyncio.sleep(0.2)
        else:
            pytest.fail("no two ticks enqueued within 20 s")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err


@contextmanager
def _serving(cmd: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail(f"the app did not start: {proc.communicate()[0]}")
                time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _call(method: str, url: str, body: dict[str, object] | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def _queued(stats: object, entrypoint: str) -> int:
    assert isinstance(stats, list)
    return sum(
        s["count"] for s in stats if s["entrypoint"] == entrypoint and s["status"] == "queued"
    )


async def test_fastapi_app_enqueues_and_reports_the_queue_size(
    server: Server, names: Names, conn: asyncpg.Connection
) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "examples.fastapi_usage:app", "--port", str(port)]
    with _serving(cmd, _env(server, names), port) as base:
        first = _call("POST", f"{base}/enqueue?entrypoint=fetch&payload=hi")
        second = _call("POST", f"{base}/enqueue?entrypoint=fetch&payload=there&priority=3")
        stats = _call("GET", f"{base}/queue_size")
    assert isinstance(first, dict) and isinstance(second, dict)
    assert len(first["job_ids"]) == len(second["job_ids"]) == 1
    assert _queued(stats, "fetch") == 2
    rows = await conn.fetch(
        names.substitute("SELECT payload, priority FROM /*@queue_table*/pgqueuer ORDER BY id")
    )
    assert [(r["payload"], r["priority"]) for r in rows] == [(b"hi", 0), (b"there", 3)]


async def test_flask_app_enqueues_through_sync_queries(
    server: Server, names: Names, conn: asyncpg.Connection
) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "flask", "--app", "examples.flask_sync_usage", "run",
           "--port", str(port)]  # fmt: skip
    with _serving(cmd, _env(server, names), port) as base:
        posted = _call("POST", f"{base}/enqueue", {"entrypoint": "mail", "payload": "x"})
        _call("POST", f"{base}/enqueue", {"entrypoint": "mail", "payload": "y", "priority": 1})
        stats = _call("GET", f"{base}/queue_size")
    assert isinstance(posted, dict) and len(posted["job_ids"]) == 1
    assert _queued(stats, "mail") == 2
    assert await conn.fetchval(_count(names, "entrypoint = 'mail'")) == 2
