"""pgq dashboard: the queue at a glance, once or redrawn every few seconds."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from pgqueuer_cli import envvars
from pgqueuer_cli.commands.options import Seconds
from pgqueuer_cli.commands.output import Duration, json_option
from pgqueuer_cli.db import redact, run_db
from pgqueuer_cli.settings import Settings

if TYPE_CHECKING:
    import asyncpg

    from pgqueuer_dashboard import Snapshot

HOME, CLEAR_LINE, CLEAR_DOWN, CLEAR_SCREEN = "\x1b[H", "\x1b[K", "\x1b[J", "\x1b[2J"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"


def _table_format(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from pgqueuer_dashboard.render import TABLE_FORMATS

    if value not in TABLE_FORMATS:
        raise click.BadParameter(
            f"{value!r} is not a tabulate format: use one of {', '.join(TABLE_FORMATS)}"
        )
    return value


def _connection_lost(exc: BaseException, conn: asyncpg.Connection) -> bool:
    """True when ``exc`` means the connection is gone (killed backend, restart, network)."""
    from pgqueuer.dberrors import UNAVAILABLE_ERRORS

    return conn.is_closed() or isinstance(exc, UNAVAILABLE_ERRORS)


class _Screen:
    """Where frames go: redrawn in place on a terminal, plain snapshots when piped."""

    def __init__(self, as_json: bool) -> None:
        self.tty = sys.stdout.isatty() and not as_json
        self.as_json = as_json
        self.frames = 0
        self.last = ""

    def frame(self, text: str, status: str = "") -> None:
        self.last = text
        if not self.tty:
            if self.frames and not self.as_json:
                click.echo()
            click.echo(text)
            self.frames += 1
            return
        size = shutil.get_terminal_size()
        lines = ([status] if status else []) + text.splitlines()
        # Clipped to the window: a frame taller or wider than it would scroll and tear.
        lines = [line[: size.columns] for line in lines[: max(size.lines - 1, 1)]]
        start = (HIDE_CURSOR + CLEAR_SCREEN) if not self.frames else ""
        body = "".join(f"{line}{CLEAR_LINE}\n" for line in lines)
        click.echo(f"{start}{HOME}{body}{CLEAR_DOWN}", nl=False)
        self.frames += 1

    def status(self, message: str) -> None:
        if self.tty:
            self.frame(self.last, click.style(message, fg="yellow", bold=True))
        else:
            click.echo(message, err=True)

    def close(self) -> None:
        if self.tty and self.frames:
            click.echo(SHOW_CURSOR, nl=False)


@click.command()
@click.option(
    "-i",
    "--interval",
    type=Seconds(min=0.1),
    default=None,
    metavar="SECONDS",
    help="Redraw every SECONDS (in place on a terminal, as plain snapshots when piped), "
    "reconnecting when the connection is lost, until Ctrl-C (exit status 0). Without it, "
    "print once and exit.",
)
@click.option(
    "-n",
    "--tail",
    "--limit",
    "tail",
    type=click.IntRange(min=0, max=1000),
    default=25,
    show_default=True,
    help="How many of the newest log entries to show (--limit is PgQueuer's spelling).",
)
@click.option(
    "--table-format",
    envvar=[envvars.TABLEFMT, envvars.LEGACY_TABLEFMT],
    show_envvar=True,
    default="pretty",
    show_default=True,
    callback=_table_format,
    metavar="FORMAT",
    help="Any tabulate format: pretty, grid, plain, simple, github, html, ...",
)
@click.option(
    "--window",
    type=Duration(),
    default="60",
    show_default=True,
    help="Rates and percentiles over the jobs that ended this recently (e.g. 60, 5m).",
)
@click.option(
    "--stale-after",
    type=Duration(),
    default="300",
    show_default=True,
    help="A running job without a heartbeat this long is listed as stale.",
)
@json_option
@click.option("--max-refreshes", type=click.IntRange(min=1), default=None, hidden=True)
@click.pass_obj
def dashboard(
    settings: Settings,
    interval: float | None,
    tail: int,
    table_format: str,
    window: timedelta,
    stale_after: timedelta,
    as_json: bool,
    max_refreshes: int | None,
) -> None:
    """Show the queue at a glance: entrypoints, workers, stale jobs, schedules, newest log.

    \b
    Example:
      pgq dashboard
      pgq dashboard --interval 2 --tail 10
      pgq dashboard --table-format github --json
    """
    from pgqueuer.connection import connect, describe_connection, resolve_dsn
    from pgqueuer_dashboard import Dashboard, as_dict, render_text

    dsn = resolve_dsn(settings.dsn)
    where = ""

    async def locate(conn: asyncpg.Connection) -> None:
        """Name the server from the connection actually made, never from guessed defaults."""
        nonlocal where
        where = await describe_connection(conn)
        if settings.names.schema:
            where += f", schema {settings.names.schema}"

    options: dict[str, Any] = {"tail": tail, "window": window, "stale_after": stale_after}
    screen = _Screen(as_json)

    def show(snap: Snapshot) -> None:
        if as_json:
            data = as_dict(snap)
            screen.frame(json.dumps(data, indent=None if interval else 2))
        else:
            screen.frame(render_text(snap, table_format, where=where))

    async def once(conn: asyncpg.Connection) -> None:
        await locate(conn)
        show(await Dashboard(conn, settings.names).snapshot(**options))

    async def live(conn: asyncpg.Connection) -> None:
        assert interval is not None
        retry = min(interval, 5.0)
        refreshes = 0
        board = Dashboard(conn, settings.names)
        try:
            await locate(conn)
            while max_refreshes is None or refreshes < max_refreshes:
                try:
                    snap = await board.snapshot(**options)
                except Exception as exc:
                    if not _connection_lost(exc, conn):
                        raise
                    conn = await reconnect(conn, exc, retry)
                    board = Dashboard(conn, settings.names)
                    continue
                show(snap)
                refreshes += 1
                if max_refreshes is None or refreshes < max_refreshes:
                    await asyncio.sleep(interval)
        finally:
            await conn.close()

    async def reconnect(
        conn: asyncpg.Connection, exc: BaseException, retry: float
    ) -> asyncpg.Connection:
        conn.terminate()
        lost = datetime.now().strftime("%H:%M:%S")
        reason = redact(f"{type(exc).__name__}: {exc}".strip(), dsn)
        attempt = 0
        while True:
            attempt += 1
            screen.status(
                f"connection lost at {lost} ({reason}); retrying every {retry:g}s "
                f"(attempt {attempt})"
            )
            try:
                fresh = await connect(dsn)
            except (OSError, TimeoutError) as err:
                reason = redact(str(err), dsn)
            except Exception as err:  # asyncpg's own errors while the server restarts
                reason = redact(f"{type(err).__name__}: {err}", dsn)
            else:
                screen.status(
                    f"reconnected at {datetime.now():%H:%M:%S} after {attempt} attempt(s)"
                )
                return fresh
            await asyncio.sleep(retry)

    try:
        run_db(settings, live if interval else once)
    except KeyboardInterrupt:
        pass
    finally:
        screen.close()
