"""Acting on jobs: ``pgq requeue``, ``cancel`` and ``prune``."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import click

from pgqueuer_cli.db import run_db
from pgqueuer_cli.settings import Settings

if TYPE_CHECKING:
    import asyncpg

from pgqueuer_cli.commands.output import (
    Duration,
    queries_for,
)


@click.command()
@click.argument("ids", nargs=-1, required=True, type=click.IntRange(min=1))
@click.pass_obj
def requeue(settings: Settings, ids: tuple[int, ...]) -> None:
    """Queue held (failed) jobs IDS again, due now, with their attempts reset.

    \b
    Example:
      pgq requeue 17 18 42
    """
    from pgqueuer.errors import DuplicateJobError

    async def work(conn: asyncpg.Connection) -> list[int]:
        try:
            return list(await queries_for(conn, settings).requeue_jobs(ids))
        except DuplicateJobError as exc:
            raise click.ClickException(
                f"cannot re-queue: another job with dedupe key {exc.dedupe_key!r} is queued or "
                "running; cancel it or wait for it"
            ) from None

    done = run_db(settings, work)
    click.echo(f"Re-queued {len(done)} job(s).")
    missed = [i for i in ids if i not in set(done)]
    if missed:
        click.echo(f"Not re-queued (no such failed job): {', '.join(map(str, missed))}", err=True)


@click.command()
@click.argument("ids", nargs=-1, required=True, type=click.IntRange(min=1))
@click.pass_obj
def cancel(settings: Settings, ids: tuple[int, ...]) -> None:
    """Cancel queued or running jobs IDS (running handlers are interrupted where they allow it).

    \b
    Example:
      pgq cancel 17 18
    """

    async def work(conn: asyncpg.Connection) -> list[int]:
        return list(await queries_for(conn, settings).mark_job_as_cancelled(ids))

    done = run_db(settings, work)
    click.echo(f"Cancelled {len(done)} job(s).")
    missed = [i for i in ids if i not in set(done)]
    if missed:
        click.echo(
            f"Not cancelled (not queued or running): {', '.join(map(str, missed))}", err=True
        )


@click.command()
@click.option(
    "--older-than",
    type=Duration(),
    required=True,
    help="Delete log and statistics rows older than this (e.g. 7d, 12h, 3600).",
)
@click.pass_obj
def prune(settings: Settings, older_than: timedelta) -> None:
    """Delete old rows from the job log and the statistics (workers also prune after 7 days).

    \b
    Example:
      pgq prune --older-than 30d
    """

    async def work(conn: asyncpg.Connection) -> tuple[int, int]:
        queries = queries_for(conn, settings)
        await queries.aggregate_logs()
        log_total = stats_total = 0
        while True:
            log_rows, stats_rows = await queries.prune(older_than)
            log_total += log_rows
            stats_total += stats_rows
            if not log_rows and not stats_rows:
                return log_total, stats_total

    log_rows, stats_rows = run_db(settings, work)
    click.echo(f"Deleted {log_rows} log row(s) and {stats_rows} statistics row(s).")


COMMANDS = [requeue, cancel, prune]
