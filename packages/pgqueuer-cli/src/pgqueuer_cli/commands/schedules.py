"""``pgq schedules``: list and remove cron schedules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pgqueuer_cli.db import run_db
from pgqueuer_cli.settings import Settings

if TYPE_CHECKING:
    import asyncpg

from pgqueuer_cli.commands.output import json_option, print_json, table


@click.command()
@click.option(
    "-r",
    "--remove",
    multiple=True,
    metavar="ID|NAME",
    help="Delete the schedule with this id, or every schedule of this entrypoint "
    "(repeatable); then list what is left.",
)
@json_option
@click.pass_obj
def schedules(settings: Settings, remove: tuple[str, ...], as_json: bool) -> None:
    """List the cron schedules, with their next and last run.

    \b
    Example:
      pgq schedules
      pgq schedules --remove 3 --remove nightly_report
    """
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.sm import ScheduleQueries

    ids = [int(r) for r in remove if r.isdigit()]
    names = [r for r in remove if not r.isdigit()]

    async def work(conn: asyncpg.Connection) -> tuple[list[int], list[Any]]:
        # ScheduleQueries turns a missing table into SchemaNotInstalledError itself.
        queries = ScheduleQueries(AsyncpgDriver(conn), settings.names)
        gone = await queries.delete(ids, names) if remove else []
        return gone, await queries.list_all()

    gone, found = run_db(settings, work)
    if remove:
        click.echo(f"Removed {len(gone)} schedule(s).", err=True)
    if as_json:
        print_json(found)
        return
    from pgqueuer_dashboard.render import NO_SCHEDULES, SCHEDULE_HEADERS, schedule_rows

    if not found:
        click.echo(NO_SCHEDULES)
        return
    click.echo(table(schedule_rows(found), SCHEDULE_HEADERS))


COMMANDS = [schedules]
