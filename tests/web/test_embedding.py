"""PgQueuer's embedding API (pgqueuer.web), the missing extra, and pgq web as a command."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator

import asyncpg
import pytest
from click.testing import CliRunner
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from queue_states import States, populate
from web.webserver import free_port, serve_app, stop_server

import pgqueuer.web
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer_cli.main import cli

HIDE_FASTAPI = "import sys; sys.modules['fastapi'] = None\n"


@pytest.fixture
async def states(conn: asyncpg.Connection, names: Names) -> States:
    return await populate(conn, names)


def test_create_web_app_is_a_fastapi_app() -> None:
    assert isinstance(pgqueuer.web.create_web_app(), FastAPI)
    assert isinstance(pgqueuer.web.create_web_router(), APIRouter)


async def test_router_mounts_on_your_app_with_your_dependency(
    dsn: str | None, names: Names, states: States
) -> None:
    def token(request: Request) -> None:
        if request.headers.get("x-token") != "let-me-in":
            raise HTTPException(status_code=401)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
            app.state.pgq_queries = Queries.from_asyncpg_pool(pool, names)
            yield

    app = FastAPI(lifespan=lifespan)
    app.include_router(
        pgqueuer.web.create_web_router(dependencies=[Depends(token)], include_sse=False)
    )
    web = serve_app(app)
    try:
        assert (await asyncio.to_thread(web.get, "/")).status == 401
        reply = await asyncio.to_thread(
            web.get, f"/jobs/{states.held}", headers={"x-token": "let-me-in"}
        )
        assert reply.status == 200 and "RuntimeError" in reply.text
        reply = await asyncio.to_thread(web.get, "/events", headers={"x-token": "let-me-in"})
        assert reply.status == 404  # include_sse=False
    finally:
        stop_server(web)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


async def test_router_over_a_single_connection_queries(
    dsn: str | None, names: Names, states: States
) -> None:
    """PgQueuer's other embedding: app.state.pgq_queries over one connection, shared with the
    app's own use of it (the pages take the driver's lock)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        conn = await asyncpg.connect(dsn)
        app.state.pgq_queries = Queries.from_asyncpg_connection(conn, names)
        try:
            yield
        finally:
            await conn.close()

    app = FastAPI(lifespan=lifespan)
    app.include_router(pgqueuer.web.create_web_router(include_sse=False))
    web = serve_app(app)
    try:
        replies = await asyncio.gather(
            *(asyncio.to_thread(web.get, p) for p in ["/", "/jobs", f"/jobs/{states.held}"] * 3)
        )
        assert [r.status for r in replies] == [200] * 9
    finally:
        stop_server(web)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_core_imports_no_web_stack() -> None:
    result = run_python(
        "import sys, pgqueuer, pgqueuer.web\n"
        "assert 'pgqueuer_dashboard' not in sys.modules, 'dashboard imported'\n"
        "assert 'fastapi' not in sys.modules, 'fastapi imported'\n"
    )
    assert result.returncode == 0, result.stderr


def test_without_the_extra_one_line_says_what_to_install() -> None:
    result = run_python(
        HIDE_FASTAPI + "import pgqueuer.web\n"
        "try:\n    pgqueuer.web.create_web_app()\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "pgqueuer.web needs the web extra: pip install 'pgqueuer-dashboard[web]'"
    ]
    result = run_python(HIDE_FASTAPI + "from pgqueuer_cli.main import main\nmain(['web'])\n")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: pgq web needs the web extra: pip install 'pgqueuer-dashboard[web]' "
        "(fastapi is not installed)"
    ]


def test_help_names_the_options_and_their_variables() -> None:
    result = CliRunner().invoke(cli, ["web", "--help"])
    assert result.exit_code == 0
    for text in ("--host", "--port", "PGQUEUER_WEB_HOST", "PGQUEUER_WEB_PORT", "Read-only"):
        assert text in result.output
    assert CliRunner().invoke(cli, ["web", "--port", "0"]).exit_code == 2
    half = CliRunner().invoke(cli, ["web"], env={"PGQUEUER_WEB_USER": "admin"})
    assert (
        half.exit_code == 2
        and "set both PGQUEUER_WEB_USER and PGQUEUER_WEB_PASSWORD" in half.output
    )


async def test_pgq_web_serves_until_interrupted(server, names: Names, states: States) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = {**os.environ, **server.env(), "PGQUEUER_WEB_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgqueuer_cli", "--schema", names.schema, "web"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = await asyncio.to_thread(fetch, f"http://127.0.0.1:{port}/")
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "pgq web did not answer"
                await asyncio.sleep(0.2)
        assert 'id="total-queued">3<' in page
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(proc.communicate, timeout=20)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert f"pgq web: http://127.0.0.1:{port}/ (read-only: set PGQUEUER_WEB_USER" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


async def test_create_web_app_takes_pgqueuer_connection_settings(
    dsn: str | None, names: Names, conn: asyncpg.Connection
) -> None:
    from pgqueuer.adapters.connections import ConnectionSettings
    from pgqueuer_dashboard.web import create_web_app

    app_name = f"pgq-web-{names.schema}"
    settings = ConnectionSettings.from_env(dsn)
    settings = ConnectionSettings(
        dsn=settings.dsn,
        connect_timeout=5,
        application_name=app_name,
        pool_min_size=1,
        pool_max_size=2,
    )
    web = serve_app(create_web_app(connection_settings=settings, names=names))
    try:
        reply = await asyncio.to_thread(web.request, "/")
        assert reply.status == 200, reply.text
        # The pool was opened with the settings' application name.
        seen = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app_name
        )
        assert seen >= 1
    finally:
        stop_server(web)
