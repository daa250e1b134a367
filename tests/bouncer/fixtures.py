"""A real PgBouncer (transaction pooling) in front of the test server, for tests/bouncer.

Started once per session on a free port (examples/localbouncer.py), stopped and waited for at
the end. A machine without pgbouncer fails these tests with a message saying what to install
(CI installs Debian's package): they never skip.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import TEST_DATABASE, Server
from localbouncer import LocalBouncer, pgbouncer_binary, server_params


@dataclass(frozen=True)
class Bouncer:
    dsn: str  # the test database through the bouncer
    direct: str  # the same database, straight to PostgreSQL (for LISTEN)
    pid: int


def direct_dsn(server: Server) -> str:
    """A DSN string for the test database even when the libpq variables name the server."""
    if server.dsn:
        return server.dsn
    params = server_params(None)
    user = quote(params["user"])
    secret = f":{quote(params['password'])}" if "password" in params else ""
    host = params["host"]
    if host.startswith("/"):
        return f"postgresql://{user}{secret}@/{TEST_DATABASE}?host={host}&port={params['port']}"
    return f"postgresql://{user}{secret}@{host}:{params['port']}/{TEST_DATABASE}"


@pytest.fixture(scope="session")
def bouncer(server: Server) -> Iterator[Bouncer]:
    if pgbouncer_binary() is None:
        pytest.fail(
            "pgbouncer is not installed: the PgBouncer tests need it "
            "(apt-get install pgbouncer; .ci/run installs it)",
            pytrace=False,
        )
    root = Path(tempfile.mkdtemp(prefix="pgqueuer-bouncer-"))
    os.chmod(root, 0o755)
    local = LocalBouncer(root, server.dsn).start()
    try:
        assert local.pid is not None
        yield Bouncer(local.dsn(TEST_DATABASE), direct_dsn(server), local.pid)
    finally:
        local.destroy()
