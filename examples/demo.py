"""The README's demo: a real queue in a real PostgreSQL, worked by `pgq run`.

Uses the PostgreSQL you configured (PGQUEUER_DSN, PGDSN or the libpq variables), or the one the
libpq defaults reach; with neither, it starts a private server (examples/localpg.py) whose data
directory lives under your cache directory (~/.cache/pgqueuer/demo-postgres; as root under the
temporary directory) and stops it at the end.

It installs (or upgrades) the schema ``pgqueuer_demo``, enqueues a few thousand jobs over three
entrypoints (one of which fails now and then; a schedule adds one more every second), drains them with ``pgq run
examples.demo_worker:main --mode drain`` while showing progress, and prints what happened.
Run it with ``hatch run demo [JOBS]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from localpg import LocalPostgres

# The demo's schema: PGQUEUER_SCHEMA when set (validated like every name), else pgqueuer_demo.
SCHEMA = os.environ.get("PGQUEUER_SCHEMA") or "pgqueuer_demo"


def table(which: str) -> str:
    """A validated, quoted, schema-qualified name of the demo's queue or log table."""
    from pgqueuer.names import Names

    names = Names.create(schema=SCHEMA)
    return names.qualify(names.queue_table if which == "queue" else names.queue_table_log)


async def _answers(dsn: str | None) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError, ValueError):
        return False
    await conn.close()
    return True


def demo_data_dir() -> Path:
    """Where the demo keeps its private server's data between runs.

    Your cache directory (``~/.cache/pgqueuer/demo-postgres``), created with normal modes.
    As root the server must run as an unprivileged user who cannot enter /root, so the data
    then lives under the temporary directory instead; no existing directory is changed.
    """
    if os.geteuid() == 0:
        return Path(tempfile.gettempdir()) / "pgqueuer-demo-postgres"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pgqueuer"
    cache.mkdir(parents=True, exist_ok=True)
    return cache / "demo-postgres"


def find_postgres() -> tuple[str | None, LocalPostgres | None]:
    """(dsn or None for the libpq defaults, the private server started for the demo)."""
    configured = os.environ.get("PGQUEUER_DSN") or os.environ.get("PGDSN")
    if configured or os.environ.get("PGHOST"):
        if not asyncio.run(_answers(configured)):
            sys.exit(
                "demo: the configured PostgreSQL does not answer; check PGQUEUER_DSN/PGDSN/PGHOST"
            )
        return configured, None
    if asyncio.run(_answers(None)):
        return None, None
    data = demo_data_dir()
    if data.is_symlink() or (data.exists() and data.stat().st_uid not in _our_uids()):
        sys.exit(f"demo: {data} exists and is not ours; remove it or set PGQUEUER_DSN")
    private = LocalPostgres(data).start()
    return private.dsn, private


def _our_uids() -> set[int]:
    import pwd

    uids = {os.geteuid()}
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            uids.add(pwd.getpwnam(name).pw_uid)
    return uids


async def describe(dsn: str | None) -> str:
    import asyncpg

    from pgqueuer.connection import describe_connection

    conn = await asyncpg.connect(dsn)
    try:
        return await describe_connection(conn)
    finally:
        await conn.close()


def pgq(
    *args: str, env: dict[str, str], check: bool = True, quiet: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``pgq --schema pgqueuer_demo ARGS``; show the command and its output unless quiet
    (a probe whose output is an answer, not news)."""
    cmd = [sys.executable, "-m", "pgqueuer", "--schema", SCHEMA, *args]
    if not quiet:
        print(f"\n$ pgq --schema {SCHEMA} {' '.join(args)}", flush=True)
    done = subprocess.run(cmd, env=env, text=True, capture_output=True)
    if not quiet:
        sys.stdout.write(done.stdout)
        sys.stdout.write(done.stderr)
    if check and done.returncode != 0:
        sys.exit(f"demo: pgq {' '.join(args)} exited {done.returncode}")
    return done


MIX = {"thumbnail": 0.65, "email": 0.25, "invoice": 0.10}


async def enqueue_jobs(dsn: str | None, total: int) -> dict[str, int]:
    import asyncpg

    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.names import Names
    from pgqueuer.queries import Queries

    conn = await asyncpg.connect(dsn)
    try:
        queries = Queries(AsyncpgDriver(conn), Names.create(schema=SCHEMA))
        await queries.clear_queue()  # a fresh start for every run of the demo
        await queries.clear_queue_log()
        await queries.clear_statistics_log()
        counts = {ep: int(total * share) for ep, share in MIX.items()}
        counts["thumbnail"] += total - sum(counts.values())
        entrypoints = [ep for ep, n in counts.items() for _ in range(n)]
        payloads = [f"{ep}-{i}".encode() for i, ep in enumerate(entrypoints)]
        priorities = [1 if ep == "invoice" else 0 for ep in entrypoints]
        await queries.enqueue(entrypoints, payloads, priorities)
        return counts
    finally:
        await conn.close()


async def remaining(dsn: str | None) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                f"SELECT count(*) FROM {table('queue')} WHERE status IN ('queued', 'picked')"
            )
        )
    finally:
        await conn.close()


async def summary(dsn: str | None) -> list[tuple[str, str, int]]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            f"SELECT entrypoint, status::text, count(*) FROM {table('log')} "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        )
        return [(r[0], r[1], r[2]) for r in rows]
    finally:
        await conn.close()


def progress(done: int, total: int, width: int = 40) -> str:
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


def work(dsn: str | None, env: dict[str, str], total: int) -> float:
    cmd = [
        sys.executable,
        "-m",
        "pgqueuer",
        "--schema",
        SCHEMA,
        "run",
        "examples.demo_worker:main",
        "--mode",
        "drain",
        "--batch-size",
        "50",
        "--log-level",
        "WARNING",
    ]
    print(f"\n$ pgq --schema {SCHEMA} run examples.demo_worker:main --mode drain --batch-size 50")
    started = time.monotonic()
    worker = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    tty = sys.stdout.isatty()
    last_line = 0.0
    while worker.poll() is None:
        left = asyncio.run(remaining(dsn))
        now = time.monotonic()
        if tty:
            print("\r" + progress(total - left, total), end="", flush=True)
        elif now - last_line >= 1.0:
            print(progress(total - left, total), flush=True)
            last_line = now
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    print(("\r" if tty else "") + progress(total - asyncio.run(remaining(dsn)), total))
    _, err = worker.communicate()
    if worker.returncode != 0:
        sys.stderr.write(err)
        sys.exit(f"demo: pgq run exited {worker.returncode}")
    return elapsed


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    dsn, private = find_postgres()
    try:
        run_demo(dsn, private, total)
    finally:
        if private is not None:
            private.stop()


def run_demo(dsn: str | None, private: LocalPostgres | None, total: int) -> None:
    where = asyncio.run(describe(dsn))
    if private is not None:
        print(f"Using {private.describe()}: {where}.")
        print("(No PostgreSQL is configured or reachable; it is stopped when the demo ends.)")
    else:
        print(f"Using PostgreSQL at {where}.")
    env = dict(os.environ)
    if dsn:
        env["PGQUEUER_DSN"] = dsn
    if pgq("verify", "--expect", "absent", env=env, check=False, quiet=True).returncode == 0:
        pgq("install", env=env)
    else:
        pgq("upgrade", env=env)
    pgq("verify", env=env)

    counts = asyncio.run(enqueue_jobs(dsn, total))
    print(f"\nEnqueued {total} jobs: " + ", ".join(f"{n} {ep}" for ep, n in counts.items()))
    elapsed = work(dsn, env, total)
    print(f"Drained {total} jobs in {elapsed:.1f} s (worker start-up included).\n")

    from tabulate import tabulate

    rows = asyncio.run(summary(dsn))
    print(tabulate(rows, headers=["Entrypoint", "Final status", "Jobs"], tablefmt="simple"))
    pgq("dashboard", "--tail", "8", env=env)
    print("\nHeld emails stay in the queue as 'failed'; look at them and re-queue them with:")
    print(f"  hatch run pgq --schema {SCHEMA} failed")
    print(f"  hatch run pgq --schema {SCHEMA} requeue ID ...")
    if private is None:
        print(
            f"See the queue in a browser:  hatch run pgq --schema {SCHEMA} web"
            "  (then open http://127.0.0.1:8080)"
        )
    else:
        print(
            "See the queue in a browser with pgq web (hatch run pgq --schema "
            f"{SCHEMA} web, then open http://127.0.0.1:8080) on a PostgreSQL of your own: "
            "this private one stops now."
        )
    print(f"Remove the demo schema with:  hatch run pgq --schema {SCHEMA} uninstall")


if __name__ == "__main__":
    main()
