"""A private PgBouncer in transaction pooling mode, for the tests and the benchmarks.

A development helper like ``localpg.py`` (not shipped in any wheel). It writes a
``pgbouncer.ini`` into a directory of its own, starts ``pgbouncer`` in the foreground as a
child process on a free port of 127.0.0.1, and stops it (and waits for it) in :meth:`stop`;
an ``atexit`` hook stops one its owner forgot. The ini file's path is on the command line, so a
leak check on the temporary directory (``.ci/run``) sees a pgbouncer left running.

- Every database name a client asks for is passed on to the one PostgreSQL server named at
  construction (``* = host=... port=... user=...``), logged in as that server's user;
  clients are not authenticated (``auth_type = any``: a test tool, listening on 127.0.0.1).
- Run as root, pgbouncer refuses to start unless told to drop to another user (``user =``):
  it runs as ``postgres`` (or ``nobody``), as the private PostgreSQL does.
- Binary: ``pgbouncer`` on PATH or ``/usr/sbin/pgbouncer`` (Debian's package).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from localpg import free_port, unprivileged_user

CANDIDATES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


def pgbouncer_binary() -> str | None:
    """Where pgbouncer is installed, or None."""
    found = shutil.which("pgbouncer")
    if found:
        return found
    return next((c for c in CANDIDATES if Path(c).exists()), None)


def server_params(dsn: str | None) -> dict[str, str]:
    """host, port, user, password (when known) of the server a DSN (or libpq's env) names."""
    env = os.environ
    params = {
        "host": env.get("PGHOST") or "/var/run/postgresql",
        "port": env.get("PGPORT") or "5432",
        "user": env.get("PGUSER") or "postgres",
    }
    if env.get("PGPASSWORD"):
        params["password"] = env["PGPASSWORD"]
    if dsn:
        parts = urlsplit(dsn)
        if parts.hostname:
            params["host"] = parts.hostname
        if parts.port:
            params["port"] = str(parts.port)
        if parts.username:
            params["user"] = unquote(parts.username)
        if parts.password:
            params["password"] = unquote(parts.password)
    return params


class LocalBouncer:
    """One pgbouncer in ``root`` (created when missing), in front of the server ``dsn`` names."""

    def __init__(
        self,
        root: Path,
        dsn: str | None,
        *,
        pool_mode: str = "transaction",
        pool_size: int = 20,
    ) -> None:
        binary = pgbouncer_binary()
        if binary is None:
            raise RuntimeError(
                "pgbouncer is not installed: apt-get install pgbouncer (.ci/run installs it)"
            )
        self.binary = binary
        self.root = root
        self.ini = root / "pgbouncer.ini"
        self.log = root / "pgbouncer.log"
        self.server = server_params(dsn)
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.port = free_port()
        self.user = unprivileged_user()
        self._proc: subprocess.Popen[bytes] | None = None

    def dsn(self, database: str) -> str:
        """A DSN reaching ``database`` through the bouncer."""
        return f"postgresql://{self.server['user']}@127.0.0.1:{self.port}/{database}"

    def describe(self) -> str:
        return f"PgBouncer ({self.pool_mode} pooling) at 127.0.0.1:{self.port}"

    def _config(self) -> str:
        target = " ".join(f"{k}={v}" for k, v in self.server.items())
        lines = [
            "[databases]",
            f"* = {target}",
            "",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = any",
            f"pool_mode = {self.pool_mode}",
            f"default_pool_size = {self.pool_size}",
            "max_client_conn = 500",
            # asyncpg and psycopg send no unusual startup parameters; tests may set these
            "ignore_startup_parameters = extra_float_digits,options",
            "server_login_retry = 1",
            "server_connect_timeout = 5",
            "query_wait_timeout = 30",
            "so_reuseport = 0",
        ]
        if self.user is not None:
            lines.append(f"user = {self.user}")
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 15) -> LocalBouncer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.ini.write_text(self._config())
        os.chmod(self.ini, 0o600)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            os.chown(self.ini, entry.pw_uid, entry.pw_gid)
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [self.binary, str(self.ini)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.root,
                start_new_session=True,  # a Ctrl-C in the terminal is the test's, not its
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while not self._accepts():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"pgbouncer did not start:\n{tail}")
            time.sleep(0.05)
        return self

    def _accepts(self) -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def stop(self) -> None:
        """Stop pgbouncer (SIGINT: at once, closing every connection) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(10)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
