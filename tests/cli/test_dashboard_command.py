"""pgq dashboard as a user runs it: once, every table format, JSON, live, killed, Ctrl-C."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import signal
import struct
import sys
import termios
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner, Result
from queue_states import States, populate

from pgqueuer.db import AsyncpgDriver
from pgqueuer.names import Names
from pgqueuer.queries import Queries
from pgqueuer_cli.main import cli
from pgqueuer_dashboard.render import TABLE_FORMATS

REPO = Path(__file__).resolve().parents[2]
HOME, CLEAR_DOWN = "\x1b[H", "\x1b[J"
SECTIONS = ("Entrypoints", "Workers", "Stale jobs", "Schedules", "Newest log entries")


@pytest.fixture
def pgq(server, names):
    """``pgq --schema <test schema> ARGS`` in-process, with no table format from the shell."""

    def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
        return CliRunner().invoke(
            cli,
            ["--schema", names.schema, *args],
            env={**server.env(), "PGQUEUER_TABLEFMT": None, "TABLEFMT": None, **(env or {})},
        )

    return run


@pytest.fixture
async def states(conn: asyncpg.Connection, names: Names) -> States:
    return await populate(conn, names)


async def call(pgq: Callable[..., Result], *args: str, **kwargs: object) -> Result:
    return await asyncio.to_thread(pgq, *args, **kwargs)


def assert_every_section(text: str, states: States) -> None:
    for expected in (
        *SECTIONS,
        "email",
        "report",
        str(states.worker_a),
        str(states.worker_b),
        str(states.stale),
        "nightly",
        "0 3 * * *",
        "RuntimeError: disk full",
        "ValueError: boom",
    ):
        assert expected in text, (expected, text)


async def test_once_prints_every_section_in_every_table_format(pgq, states: States) -> None:
    for fmt in TABLE_FORMATS:
        r = await call(pgq, "dashboard", "--table-format", fmt)
        assert r.exit_code == 0, (fmt, r.output)
        assert_every_section(r.stdout, states)
        assert "\x1b" not in r.stdout and r.stderr == ""
    r = await call(pgq, "dashboard")  # default: pretty
    assert "+------------+" in r.stdout


async def test_json_is_the_same_data(pgq, states: States) -> None:
    r = await call(pgq, "dashboard", "--json", "-n", "3")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    by_name = {e["entrypoint"]: e for e in data["entrypoints"]}
    email, report = by_name["email"], by_name["report"]
    assert (email["queued"], email["running"], email["failed"]) == (3, 2, 0)
    assert (report["queued"], report["running"], report["failed"]) == (0, 1, 1)
    assert email["oldest_queued_age"] == pytest.approx(120, abs=5)
    assert email["completed_per_second"] == pytest.approx(3 / 60)
    assert email["queue_time"]["p99"] == pytest.approx(3, abs=0.5)
    assert email["run_time"]["p50"] == pytest.approx(1, abs=0.5)
    assert {w["queue_manager_id"]: w["running_jobs"] for w in data["workers"]} == {
        str(states.worker_a): 2,
        str(states.worker_b): 1,
    }
    assert [s["id"] for s in data["stale"]] == [states.stale]
    assert data["schedules"][0]["expression"] == "0 3 * * *"
    assert [g["job_id"] for g in data["log"]] == [
        states.held,
        states.finished[3],
        states.finished[2],
    ]
    assert data["log"][1]["exception"] == "ValueError: boom"


async def test_tail_limit_and_n_are_one_option(pgq, states: States) -> None:
    for flag in ("-n", "--limit", "--tail"):
        r = await call(pgq, "dashboard", flag, "1", "--table-format", "plain")
        assert r.exit_code == 0 and "Newest log entries (1)" in r.stdout, r.output
    r = await call(pgq, "dashboard", "--tail", "0")
    assert "Newest log entries (0)\nNo log entries yet." in r.stdout


async def test_the_table_format_comes_from_the_environment_and_the_flag_wins(
    pgq, states: States
) -> None:
    r = await call(pgq, "dashboard", env={"PGQUEUER_TABLEFMT": "github"})
    assert "| Entrypoint" in r.stdout and "|------" in r.stdout and "+--" not in r.stdout
    r = await call(pgq, "dashboard", env={"TABLEFMT": "html"})  # PgQueuer's legacy name
    assert r.stdout.count("<table>") == 5
    r = await call(pgq, "dashboard", "--table-format", "plain", env={"TABLEFMT": "html"})
    assert "<table>" not in r.stdout
    r = await call(pgq, "dashboard", "--table-format", "fancy")
    assert r.exit_code == 2 and "'fancy' is not a tabulate format" in r.stderr


async def test_an_installed_queue_without_jobs_says_so(pgq) -> None:
    r = await call(pgq, "dashboard")
    assert r.exit_code == 0 and "The queue is empty" in r.stdout and "pgq queue" in r.stdout


def test_a_missing_schema_is_one_line_and_exit_1(server) -> None:
    for extra in ([], ["--interval", "0.2"], ["--json"]):
        r = CliRunner().invoke(
            cli, ["--schema", "pgq_dash_absent", "dashboard", *extra], env=server.env()
        )
        assert r.exit_code == 1, (extra, r.output)
        assert r.stderr.startswith("Error: the pgqueuer tables are not installed")
        assert (
            "pgq --schema pgq_dash_absent install" in r.stderr and len(r.stderr.splitlines()) == 1
        )
        assert r.stdout == ""


async def test_interval_piped_prints_plain_snapshots_one_after_another(pgq, states: States) -> None:
    r = await call(
        pgq, "dashboard", "--interval", "0.1", "--max-refreshes", "3", "--table-format", "plain"
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.count("pgqueuer dashboard (") == 3 and "\x1b" not in r.stdout
    assert "\n\npgqueuer dashboard (" in r.stdout  # a blank line between snapshots
    r = await call(pgq, "dashboard", "--interval", "0.1", "--max-refreshes", "2", "--json")
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and all(json.loads(line)["workers"] for line in lines)


# -- live, in a process of its own -----------------------------------------------------------


class Live:
    """``pgq dashboard --interval`` in a subprocess; stdout a pipe or a terminal (pty)."""

    def __init__(self) -> None:
        self.out = ""
        self.err = ""
        self.changed = asyncio.Event()
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, args: list[str], env: dict[str, str], tty: bool) -> None:
        loop = asyncio.get_running_loop()
        master = slave = -1
        if tty:
            master, slave = pty.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 80, 200, 0, 0))
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pgqueuer_cli",
            *args,
            stdout=slave if tty else asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            cwd=REPO,
        )
        assert self.proc.stderr is not None
        self._tasks = [asyncio.create_task(self._pump(self.proc.stderr, "err"))]
        if tty:
            os.close(slave)
            loop.add_reader(master, self._read_pty, master)
            self._master = master
        else:
            assert self.proc.stdout is not None
            self._tasks.append(asyncio.create_task(self._pump(self.proc.stdout, "out")))

    def _read_pty(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(fd)
            return
        self.out += data.decode(errors="replace")
        self.changed.set()

    async def _pump(self, stream: asyncio.StreamReader, name: str) -> None:
        while chunk := await stream.read(65536):
            setattr(self, name, getattr(self, name) + chunk.decode(errors="replace"))
            self.changed.set()

    async def until(self, ready: Callable[[Live], bool], timeout: float = 20) -> None:
        """Wait until ``ready(self)`` holds (checked whenever output arrives)."""
        async with asyncio.timeout(timeout):
            while not ready(self):
                self.changed.clear()
                await self.changed.wait()

    async def interrupt(self) -> int:
        """Ctrl-C, then the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(self.proc.wait(), 20)
        await asyncio.wait_for(asyncio.gather(*self._tasks), 5)
        if hasattr(self, "_master"):
            await asyncio.sleep(0)  # let the reader drain what is left
            try:
                asyncio.get_running_loop().remove_reader(self._master)
            finally:
                os.close(self._master)
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


@pytest.fixture
async def live():
    started = Live()
    yield started
    started.kill()


async def test_on_a_terminal_it_redraws_in_place_and_ctrl_c_exits_0(
    server, conn: asyncpg.Connection, names: Names, states: States, live: Live
) -> None:
    await live.start(
        ["--schema", names.schema, "dashboard", "--interval", "0.2", "--table-format", "plain"],
        {**server.env(), "COLUMNS": "200", "LINES": "80"},
        tty=True,
    )
    await live.until(lambda s: s.out.count(CLEAR_DOWN) >= 2)
    await Queries(AsyncpgDriver(conn), names).enqueue("fresh_entrypoint", None)
    await live.until(lambda s: "fresh_entrypoint" in s.out)
    assert await live.interrupt() == 0
    assert "Traceback" not in live.err and "Aborted" not in live.err
    frames = live.out.split(HOME)[1:]
    assert len(frames) >= 3
    assert all(f.rstrip().endswith(CLEAR_DOWN) or f == frames[-1] for f in frames)
    assert all(f.count("pgqueuer dashboard (") == 1 for f in frames)  # one per screen
    assert "\x1b[2J" in live.out.split(HOME)[0]  # the screen is cleared once, at the start
    assert live.out.rstrip().endswith("\x1b[?25h")  # the cursor is shown again
    for section in SECTIONS:
        assert section in frames[-1]


async def test_a_killed_connection_is_shown_and_the_loop_reconnects(
    server, conn: asyncpg.Connection, names: Names, states: States, live: Live
) -> None:
    app = f"pgq-dash-test-{uuid.uuid4().hex[:8]}"
    await live.start(
        ["--schema", names.schema, "dashboard", "--interval", "0.2", "--json"],
        {**server.env(), "PGQUEUER_APPLICATION_NAME": app},
        tty=False,
    )
    await live.until(lambda s: s.out.count("\n") >= 1)
    killed = await conn.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
        app,
    )
    assert killed == 1
    await live.until(lambda s: "reconnected" in s.err)
    seen = live.out.count("\n")
    await live.until(lambda s: s.out.count("\n") >= seen + 2)  # snapshots again
    assert await live.interrupt() == 0
    assert "connection lost at" in live.err and "retrying every 0.2s (attempt 1)" in live.err
    assert "Traceback" not in live.err
    for line in live.out.splitlines():
        assert json.loads(line)["entrypoints"][0]["entrypoint"] == "email"
    backends = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app
    )
    assert backends == 0  # the new connection is closed on Ctrl-C


async def test_header_names_the_server_the_connection_reached(
    pgq, conn: asyncpg.Connection, names: Names
) -> None:
    r = await call(pgq, "dashboard")
    assert r.exit_code == 0, r.output
    header = r.stdout.splitlines()[0]
    row = await conn.fetchrow(
        "SELECT host(inet_server_addr()) AS a, inet_server_port() AS p, "
        "current_database() AS d, current_user AS u"
    )
    where = f"{row['a']}:{row['p']}" if row["a"] else "unix socket "
    assert where in header, header
    assert f"database {row['d']}, user {row['u']}, schema {names.schema}" in header, header
