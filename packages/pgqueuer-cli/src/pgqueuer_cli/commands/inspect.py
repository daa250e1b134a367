"""Looking at the queue: ``pgq failed``, ``stale``, ``workers`` and ``backlog``."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from pgqueuer_cli.db import run_db
from pgqueuer_cli.settings import Settings

if TYPE_CHECKING:
    import asyncpg

from pgqueuer_cli.commands.output import (
    Duration,
    json_option,
    jsonable,
    print_json,
    queries_for,
    table,
    when,
)


@click.command()
@click.option("-n", "--limit", type=click.IntRange(min=1), default=25, show_default=True)
@json_option
@click.pass_obj
def failed(settings: Settings, limit: int, as_json: bool) -> None:
    """List held jobs (status failed), newest first.

    \b
    Example:
      pgq failed -n 50
      pgq failed --json
    """

    async def work(conn: asyncpg.Connection) -> list[Any]:
        return await queries_for(conn, settings).list_failed_jobs(limit=limit)

    jobs = run_db(settings, work)
    if as_json:
        print_json(
            [{**jsonable(j), "payload_bytes": len(j.payload or b""), "payload": None} for j in jobs]
        )
        return
    if not jobs:
        click.echo("No failed jobs.")
        return
    rows = [[j.id, j.entrypoint, j.attempts, when(j.created), len(j.payload or b"")] for j in jobs]
    click.echo(table(rows, ["ID", "Entrypoint", "Attempts", "Created", "Payload bytes"]))


@click.command()
@click.option(
    "-t",
    "--threshold",
    type=Duration(),
    default="300",
    show_default=True,
    help="How long without a heartbeat (e.g. 300, 5m).",
)
@click.option("-n", "--limit", type=click.IntRange(min=1), default=25, show_default=True)
@json_option
@click.pass_obj
def stale(settings: Settings, threshold: timedelta, limit: int, as_json: bool) -> None:
    """List running jobs whose worker has not sent a heartbeat for THRESHOLD.

    \b
    Example:
      pgq stale -t 2m
    """

    async def work(conn: asyncpg.Connection) -> list[Any]:
        return await queries_for(conn, settings).stale_jobs(threshold, limit)

    jobs = run_db(settings, work)
    if as_json:
        print_json(jobs)
        return
    if not jobs:
        click.echo("No stale jobs.")
        return
    rows = [
        [
            j.id,
            j.entrypoint,
            j.queue_manager_id,
            when(j.heartbeat),
            round(j.seconds_since_heartbeat),
        ]
        for j in jobs
    ]
    click.echo(
        table(rows, ["ID", "Entrypoint", "Queue manager", "Heartbeat", "Seconds since heartbeat"])
    )


@click.command()
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="List at most this many workers.",
)
@json_option
@click.pass_obj
def workers(settings: Settings, limit: int, as_json: bool) -> None:
    """List the workers: host, pid, entrypoints, running jobs, last seen.

    Workers register themselves (host, pid) while they run and refresh that every
    heartbeat_timeout / 2; workers holding running jobs without a registration (PgQueuer
    1.6's, or on a database 'pgq upgrade' has not given the registry yet) are listed
    without host and pid. The same query feeds 'pgq dashboard' and the web dashboard, and
    it only reads (a hot standby will do).

    \b
    Example:
      pgq workers
      pgq workers --json
    """
    from pgqueuer_dashboard import Dashboard

    async def work(conn: asyncpg.Connection) -> list[Any]:
        return await Dashboard(conn, settings.names).workers(limit)

    found = run_db(settings, work)
    if as_json:
        print_json(
            [
                {
                    "queue_manager_id": w.queue_manager_id,
                    "host": w.host,
                    "pid": w.pid,
                    "jobs": w.running_jobs,
                    "oldest_heartbeat": w.oldest_heartbeat,
                    "newest_heartbeat": w.last_heartbeat,
                    "started_at": w.started_at,
                    "last_seen": w.last_seen,
                    "entrypoints": list(w.entrypoints),
                }
                for w in found
            ]
        )
        return
    if not found:
        click.echo("No workers are holding picked jobs.")
        return
    rows = [
        [
            w.queue_manager_id,
            w.host or "",
            w.pid or "",
            w.running_jobs,
            when(w.oldest_heartbeat),
            when(w.last_heartbeat),
            when(w.last_seen),
            ", ".join(w.entrypoints),
        ]
        for w in found
    ]
    click.echo(
        table(
            rows,
            [
                "Queue manager",
                "Host",
                "PID",
                "Picked jobs",
                "Oldest heartbeat",
                "Newest heartbeat",
                "Last seen",
                "Entrypoints",
            ],
        )
    )


@click.command()
@json_option
@click.pass_obj
def backlog(settings: Settings, as_json: bool) -> None:
    """Queued jobs per entrypoint: how many, how many are due, how old.

    \b
    Example:
      pgq backlog
    """

    async def work(conn: asyncpg.Connection) -> list[Any]:
        return await queries_for(conn, settings).backlog()

    found = run_db(settings, work)
    if as_json:
        print_json(found)
        return
    if not found:
        click.echo("No queued jobs.")
        return
    rows = [
        [
            b.entrypoint,
            b.queued,
            b.due,
            when(b.oldest_created),
            round(b.oldest_age_seconds, 1),
            round(b.average_age_seconds, 1),
        ]
        for b in found
    ]
    click.echo(
        table(
            rows,
            ["Entrypoint", "Queued", "Due", "Oldest created", "Oldest age (s)", "Average age (s)"],
        )
    )


COMMANDS = [failed, stale, workers, backlog]
