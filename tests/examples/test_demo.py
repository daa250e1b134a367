"""The README's demo, run as a newcomer runs it: a clean run says where it works, prints
nothing on stderr, and a second run upgrades without a probe's output looking like errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from conftest import Server, unique_schema

REPO = Path(__file__).resolve().parents[2]


def run_demo(server: Server, schema: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **server.env(), "PGQUEUER_SCHEMA": schema}
    env.pop("XDG_RUNTIME_DIR", None)  # as in CI: nothing may warn about it
    return subprocess.run(
        [sys.executable, "examples/demo.py", "300"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
async def test_the_demo_twice_on_the_suites_server(
    server: Server, conn: asyncpg.Connection
) -> None:
    schema = unique_schema("demo")
    try:
        first = run_demo(server, schema)
        assert first.returncode == 0, first.stdout + first.stderr
        assert first.stderr == ""
        where = await conn.fetchrow("SELECT current_database() AS d, current_user AS u")
        opening = first.stdout.splitlines()[0]
        assert f"database {where['d']}, user {where['u']}" in opening, opening
        assert f"$ pgq --schema {schema} install" in first.stdout
        assert "Drained 300 jobs" in first.stdout

        second = run_demo(server, schema)
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stderr == ""
        assert f"$ pgq --schema {schema} upgrade" in second.stdout
        assert "unexpected" not in second.stdout.lower()
        assert "verify --expect absent" not in second.stdout
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
