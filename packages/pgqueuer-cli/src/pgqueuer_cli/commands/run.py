"""``pgq run FACTORY``: the worker process."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
from datetime import timedelta

import click

from pgqueuer_cli import envvars
from pgqueuer_cli.commands.options import Seconds
from pgqueuer_cli.settings import Settings

LOG_LEVELS = ["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET"]

# Exit statuses of `pgq run` (also in the help text).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_FORCED = 130


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def setup_logging(level: str) -> None:
    """The pgqueuer logger: INFO and below to stdout, WARNING and up to stderr."""
    fmt = logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%S%z"
    )
    out = logging.StreamHandler(sys.stdout)
    out.addFilter(_BelowWarning())
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.WARNING)
    logger = logging.getLogger("pgqueuer")
    logger.handlers.clear()
    for handler in (out, err):
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def _serve_metrics(host: str, port: int) -> None:
    try:
        from pgqueuer.metrics.worker import serve_worker_metrics
    except ImportError:
        raise click.ClickException(
            "--metrics-port needs prometheus-client: pip install 'pgqueuer-cli[metrics]'"
        ) from None
    try:
        served = serve_worker_metrics(port, host)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
    logging.getLogger("pgqueuer").info(
        "serving worker metrics on http://%s:%s/metrics", host, served.port
    )


def _worker_host(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if not value:
        return None
    from pgqueuer.errors import InvalidOptionError
    from pgqueuer.registry import worker_host

    try:
        return worker_host(value)
    except InvalidOptionError as exc:
        raise click.BadParameter(str(exc)) from None


def _seconds(minimum: float = 0.0) -> click.FloatRange:
    return Seconds(min=minimum)


@click.command()
@click.argument("factory", metavar="FACTORY")
@click.argument("factory_args", nargs=-1, metavar="[-- ARGS]...")
@click.option(
    "--dequeue-timeout",
    type=_seconds(),
    default=30.0,
    show_default=True,
    help="Seconds an idle worker waits for a notification before it polls anyway.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Jobs claimed per round trip.",
)
@click.option(
    "--max-concurrent-tasks",
    type=click.IntRange(min=1),
    default=None,
    help="Jobs running at once in this process [default: 2 x batch size].",
)
@click.option(
    "--heartbeat-timeout",
    type=Seconds(min=0.01),
    default=30.0,
    show_default=True,
    help="Seconds without a heartbeat after which another worker takes a job over.",
)
@click.option(
    "--shutdown-grace",
    type=_seconds(),
    default=30.0,
    show_default=True,
    help="Seconds running jobs get to finish after the first SIGINT/SIGTERM; then "
    "they are cancelled and put back in the queue.",
)
@click.option(
    "--mode",
    type=click.Choice(["continuous", "drain"]),
    default="continuous",
    show_default=True,
    help="drain: exit once nothing this worker serves is left.",
)
@click.option(
    "--restart-on-failure",
    is_flag=True,
    help="Call the factory again (fresh connections) after a failure.",
)
@click.option(
    "--restart-delay",
    type=_seconds(),
    default=5.0,
    show_default=True,
    help="Seconds to wait before such a restart.",
)
@click.option(
    "--shutdown-on-listener-failure",
    is_flag=True,
    help="Stop (exit 1) when the LISTEN connection stays down for 10 s.",
)
@click.option(
    "--durable-claims",
    is_flag=True,
    help="Claims also wait for PostgreSQL's WAL flush. By default a claim commits "
    "asynchronously (a server crash can only leave its jobs queued); results are always "
    "written durably.",
)
@click.option(
    "--pgbouncer",
    is_flag=True,
    envvar=envvars.PGBOUNCER,
    show_envvar=True,
    help="Queries go through a transaction-pooling PgBouncer: no session settings, no "
    "statement cache in pgqueuer's connection helpers; needs --listen-dsn or --poll-interval.",
)
@click.option(
    "--listen-dsn",
    default=None,
    metavar="DSN",
    envvar=envvars.LISTEN_DSN,
    show_envvar=True,
    help="LISTEN on a connection of its own to this DSN (directly to PostgreSQL, not "
    "through a transaction-pooling bouncer); queries keep the factory's connection.",
)
@click.option(
    "--poll-interval",
    type=Seconds(min=0.01),
    default=None,
    help="No LISTEN at all: poll for work, soon after finding some and at most this many "
    "seconds apart when idle.",
)
@click.option(
    "--vacuum-interval",
    type=_seconds(),
    default=5.0,
    show_default=True,
    help="Seconds between this worker's looks at the queue table's dead rows: it runs "
    "VACUUM when they piled up and nobody (autovacuum included) vacuumed the table within "
    "this time, and ANALYZE once when a backlog has no statistics. 0: leave both to "
    "autovacuum.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    envvar=envvars.WORKER_METRICS_PORT,
    show_envvar=True,
    help="Serve this worker's Prometheus metrics (jobs, handler durations, claims) on this "
    "port at /metrics (needs pgqueuer-cli[metrics]).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    envvar=envvars.WORKER_METRICS_HOST,
    show_envvar=True,
    show_default=True,
    help="Address for --metrics-port.",
)
@click.option(
    "--worker-host",
    default=None,
    envvar=envvars.WORKER_HOST,
    show_envvar=True,
    callback=_worker_host,
    help="The host name this worker registers, shown by 'pgq workers' and the dashboards "
    "[default: the machine's host name].",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
    help="DEBUG also prints tracebacks of failures.",
)
@click.pass_obj
def run(
    settings: Settings,
    factory: str,
    factory_args: tuple[str, ...],
    dequeue_timeout: float,
    batch_size: int,
    max_concurrent_tasks: int | None,
    heartbeat_timeout: float,
    shutdown_grace: float,
    mode: str,
    restart_on_failure: bool,
    restart_delay: float,
    shutdown_on_listener_failure: bool,
    durable_claims: bool,
    pgbouncer: bool,
    listen_dsn: str | None,
    poll_interval: float | None,
    vacuum_interval: float,
    metrics_port: int | None,
    metrics_host: str,
    worker_host: str | None,
    log_level: str,
) -> None:
    """Run the worker FACTORY builds (module:function), until SIGINT/SIGTERM.

    FACTORY returns (or yields, as an async or sync context manager) a PgQueuer,
    QueueManager or SchedulerManager; arguments after -- are passed to it as one list.
    The first signal lets running jobs finish; a second one stops at once and puts them
    back in the queue.

    Behind a transaction-pooling PgBouncer: --pgbouncer with --listen-dsn (LISTEN on a
    direct connection) or --poll-interval (no LISTEN); a LISTEN through such a bouncer is
    refused. The first log line names the mode.

    Exit status: 0 stopped cleanly (signal, or drain finished); 1 the worker failed;
    2 FACTORY cannot be imported or called, or a bad combination of options; 130 stopped
    by a second signal.

    \b
    Example:
      pgq run myapp.worker:main
      pgq run myapp.worker:main --batch-size 50 --mode drain
      pgq run myapp.worker:create -- --queue emails
      pgq run myapp.worker:main --pgbouncer --listen-dsn postgresql://db:5432/app
    """
    # The factory builds its own connection and names: hand it the global options the way
    # PgQueuer does, through the environment it reads.
    if settings.names.prefix:
        os.environ[envvars.PREFIX] = settings.names.prefix
    if settings.names.schema:
        os.environ[envvars.SCHEMA] = settings.names.schema
    if settings.dsn:
        os.environ[envvars.LIBRARY_DSN] = settings.dsn
    if worker_host:
        os.environ[envvars.WORKER_HOST] = worker_host
    from pgqueuer.errors import InvalidOptionError
    from pgqueuer.factories import FactoryError, FactoryResultError
    from pgqueuer.listening import Listening, ListenThroughPoolerError
    from pgqueuer.supervisor import run as supervise
    from pgqueuer.types import QueueExecutionMode

    try:  # a bad combination is refused before anything starts
        Listening(pgbouncer=pgbouncer, listen_dsn=listen_dsn, poll_interval=poll_interval)
    except InvalidOptionError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if pgbouncer:  # the factory's pgqueuer connection helpers turn statement caches off
        os.environ[envvars.PGBOUNCER] = "1"

    level = log_level.upper()
    setup_logging(level)
    debug = level in ("DEBUG", "NOTSET")
    if metrics_port is not None:
        _serve_metrics(metrics_host, metrics_port)

    async def main() -> int:
        result = await supervise(
            factory,
            dequeue_timeout=timedelta(seconds=dequeue_timeout),
            batch_size=batch_size,
            heartbeat_timeout=timedelta(seconds=heartbeat_timeout),
            mode=QueueExecutionMode(mode),
            max_concurrent_tasks=max_concurrent_tasks,
            shutdown_on_listener_failure=shutdown_on_listener_failure,
            restart_on_failure=restart_on_failure,
            restart_delay=timedelta(seconds=restart_delay),
            shutdown_grace=timedelta(seconds=shutdown_grace),
            factory_args=list(factory_args) or None,
            durable_claims=durable_claims,
            pgbouncer=pgbouncer,
            listen_dsn=listen_dsn,
            poll_interval=None if poll_interval is None else timedelta(seconds=poll_interval),
            vacuum_interval=timedelta(seconds=vacuum_interval),
        )
        return EXIT_FORCED if result.forced else EXIT_OK

    def fail(message: str, status: int) -> None:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {message}", err=True)
        sys.exit(status)

    try:
        status = asyncio.run(main())
    except FactoryError as exc:
        fail(str(exc), EXIT_USAGE)
    except FactoryResultError as exc:
        fail(str(exc), EXIT_FAILED)
    except ListenThroughPoolerError as exc:
        fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_FORCED)
    except Exception as exc:
        fail(f"{type(exc).__name__}: {exc}", EXIT_FAILED)
    else:
        sys.exit(status)
