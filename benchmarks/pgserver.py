"""What the PostgreSQL server spends during a benchmark: its CPU time and the queue table's bloat.

CPU time is read from /proc, so it only works when the server runs on this machine and its
processes are visible here. ``find_postmaster`` asks the server for one backend's pid
(``pg_backend_pid()``); that backend's parent is the postmaster, and the server's CPU time is
the postmaster's own utime+stime, plus that of every live child (backends, WAL writer,
checkpointer, autovacuum), plus ``cutime+cstime``: the time of the children that already
exited and were reaped, so a connection that closes during the run still counts. All of the
server counts, including other sessions' backends: on a shared server the figure is an upper
bound for the benchmark's own cost.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")

QUEUE_TABLE_STATS = (
    "SELECT n_dead_tup, n_live_tup, autovacuum_count, autoanalyze_count, vacuum_count "
    "FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'pgqueuer'"
)


def stat_fields(text: str) -> list[str]:
    """The fields of a /proc/<pid>/stat line after ``comm``, from ``state`` (field 3) on.

    ``comm`` sits in parentheses and may hold spaces or parentheses itself, so the line is cut
    at the last ``)``. Index 1 is the parent pid; 11-14 are utime, stime, cutime, cstime.
    """
    return text[text.rindex(")") + 2 :].split()


def _fields(pid: int) -> list[str]:
    return stat_fields(Path(f"/proc/{pid}/stat").read_text())


def cpu_seconds(postmaster: int) -> float:
    """The server's CPU time so far (seconds): the postmaster, its reaped and its live children."""
    own = _fields(postmaster)
    ticks = sum(int(own[i]) for i in (11, 12, 13, 14))
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _fields(int(entry))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # exited meanwhile, or not ours to read
        if int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / TICKS


def cpu(postmaster: int | None) -> float | None:
    """``cpu_seconds``, or None when the postmaster is not known (see ``find_postmaster``)."""
    return None if postmaster is None else cpu_seconds(postmaster)


def cpu_figures(
    before: float | None, after: float | None, jobs: int, secs: float
) -> dict[str, Any]:
    """The server's CPU over a window of ``secs`` in which ``jobs`` jobs were done."""
    if before is None or after is None:
        return {"server_cpu_seconds": None, "cpu_ms_per_job": None}
    used = after - before
    return {
        "server_cpu_seconds": used,
        "server_cores": used / secs,
        "cpu_ms_per_job": used / jobs * 1000 if jobs else None,
    }


async def find_postmaster(conn: Any) -> tuple[int | None, str]:
    """The postmaster's pid, or None and why the server's CPU cannot be measured from here."""
    return postmaster_of(await conn.fetchval("SELECT pg_backend_pid()"))


def postmaster_of(backend: int) -> tuple[int | None, str]:
    """The parent of the server process ``backend``, checked to be the postmaster."""
    try:
        parent = int(_fields(backend)[1])
        comm = Path(f"/proc/{parent}/comm").read_text().strip()
        cpu_seconds(parent)
    except FileNotFoundError:
        return None, f"backend pid {backend} not in /proc: the server is not on this machine"
    except PermissionError:
        return None, f"/proc/{backend}/stat is not readable by this user"
    if comm not in ("postgres", "postmaster"):
        return None, f"backend {backend}'s parent {parent} is {comm!r}, not the postmaster"
    return parent, f"postmaster pid {parent}"


async def queue_table_stats(conn: Any, schema: str) -> dict[str, int]:
    """pg_stat_user_tables for the queue table: dead and live tuples, (auto)vacuum counts."""
    row = await conn.fetchrow(QUEUE_TABLE_STATS, schema)
    if row is None:
        keys = ("n_dead_tup", "n_live_tup", "autovacuum_count", "autoanalyze_count")
        return dict.fromkeys((*keys, "vacuum_count"), 0)
    return dict(row)
