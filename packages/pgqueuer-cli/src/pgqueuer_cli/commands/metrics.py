"""``pgq metrics``: the queue's Prometheus metrics over HTTP, read from the database."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from pgqueuer_cli import envvars
from pgqueuer_cli.commands.output import Duration
from pgqueuer_cli.db import run_db
from pgqueuer_cli.settings import Settings

if TYPE_CHECKING:
    import asyncpg

MISSING = "pgq metrics needs prometheus-client: pip install 'pgqueuer-cli[metrics]'"


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    envvar=envvars.METRICS_HOST,
    show_envvar=True,
    show_default=True,
    help="Address to listen on (loopback by default; 0.0.0.0 for every interface).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9464,
    envvar=envvars.METRICS_PORT,
    show_envvar=True,
    show_default=True,
    help="Port to listen on (0: any free port; the one used is printed).",
)
@click.option(
    "--stale-after",
    type=Duration(),
    default="300",
    show_default=True,
    help="A running job without a heartbeat this long counts as stale (e.g. 300, 5m).",
)
@click.pass_obj
def metrics(settings: Settings, host: str, port: int, stale_after: timedelta) -> None:
    """Serve the queue's Prometheus metrics on http://HOST:PORT/metrics until SIGINT/SIGTERM.

    Each scrape reads the database (bounded, indexed, read-only): queue depth by entrypoint
    and status, oldest queued age, held jobs, workers, stale jobs, schedule lag, and
    completed / failed / retried counters with time-in-queue and run-time histograms (counted
    from this command's start).

    \b
    Example:
      pgq metrics
      pgq metrics --host 0.0.0.0 --port 9464
    """
    try:
        from pgqueuer_dashboard.exporter import DatabaseMetrics, serve_database_metrics
    except ImportError:
        raise click.ClickException(MISSING) from None
    from pgqueuer.connection import connect, resolve_dsn

    reconnect = None
    if not settings.factory:
        dsn = resolve_dsn(settings.dsn)

        async def reconnect() -> asyncpg.Connection:
            return await connect(dsn)

    def announce(bound: int) -> None:
        click.echo(f"serving metrics on http://{host}:{bound}/metrics", err=True)

    async def work(conn: asyncpg.Connection) -> None:
        shutdown = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, shutdown.set)
        source = DatabaseMetrics(
            conn,
            settings.names,
            stale_after=stale_after,
            reconnect=reconnect,
        )
        try:
            await serve_database_metrics(source, shutdown, host=host, port=port, ready=announce)
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None

    run_db(settings, work)
