"""The test harness itself: with no server reachable it starts a private one and leaves
nothing behind (issue 19: an embedded server used to outlive every session, orphaned)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def _postgres_processes_using(path: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if path in cmdline and "pytest" not in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


def test_a_session_without_a_server_starts_a_private_one_and_stops_it() -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PG", "PGQUEUER_")) or k == "PATH"
    }
    env.update(PGHOST="127.0.0.1", PGPORT=str(_closed_port()), PGUSER="postgres")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "tests/core/test_connection.py::test_describe_connection_asks_the_server",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    header = re.search(r"PostgreSQL: (.*)", done.stdout)
    assert header, done.stdout
    assert "database pgqueuer_tests" in header.group(1)
    assert "no other server answered: a private PostgreSQL at 127.0.0.1:" in header.group(1)
    data = re.search(r"data in (\S+)\)", header.group(1))
    assert data, header.group(1)
    assert "1 passed" in done.stdout
    # The server is stopped (its postmaster gone, not orphaned) and its directory removed.
    assert _postgres_processes_using(data.group(1)) == []
    assert not Path(data.group(1)).exists()
