"""The ``pgq`` root group: connection and naming options shared by every command."""

from __future__ import annotations

import os
import sys
import traceback

import click

from pgqueuer_cli import envvars
from pgqueuer_cli.settings import Settings

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.option(
    "--pg-dsn",
    envvar=envvars.PGDSN,
    show_envvar=True,
    default="",
    metavar="DSN",
    help="PostgreSQL URI, e.g. postgresql://user@host:5432/db. When empty, PGQUEUER_DSN is "
    "used, then the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, ...).",
)
@click.option(
    "--prefix",
    envvar=envvars.PREFIX,
    show_envvar=True,
    default="",
    help="Prefix for every object name (tables, type, function, triggers, channel).",
)
@click.option(
    "--schema",
    envvar=envvars.SCHEMA,
    show_envvar=True,
    default="",
    help="PostgreSQL schema for the objects. Empty: the connection's search_path.",
)
@click.option(
    "--factory",
    default=None,
    metavar="MODULE:FN",
    help="An async context manager factory that yields a Queries: commands use its "
    "connection and object names instead of --pg-dsn, --schema and --prefix (as in PgQueuer).",
)
@click.version_option(package_name="pgqueuer-cli", prog_name="pgq")
@click.pass_context
def cli(ctx: click.Context, pg_dsn: str, prefix: str, schema: str, factory: str | None) -> None:
    """pgq: install, operate and inspect a pgqueuer job queue in PostgreSQL.

    \b
    Example:
      pgq install
      pgq --schema jobs verify
      pgq sql install > install.sql
    """
    from pgqueuer.errors import InvalidIdentifierError
    from pgqueuer.names import Names

    try:
        names = Names.from_env(prefix=prefix, schema=schema)
    except InvalidIdentifierError as exc:
        raise click.UsageError(str(exc), ctx) from None
    ctx.obj = Settings(dsn=pg_dsn or None, names=names, factory=factory or None)


def _register() -> None:
    from pgqueuer_cli.commands import (
        dashboard,
        enqueue,
        inspect,
        metrics,
        repair,
        run,
        schedules,
        schema,
        sql,
        web,
    )

    for command in schema.COMMANDS:
        cli.add_command(command)
    cli.add_command(schema.durability, name="alter-durability")
    cli.add_command(sql.sql)
    cli.add_command(run.run)
    for topic in (enqueue, inspect, repair, schedules):
        for command in topic.COMMANDS:
            cli.add_command(command)
    cli.add_command(dashboard.dashboard)
    cli.add_command(metrics.metrics)
    cli.add_command(web.web)


_register()


def main(args: list[str] | None = None, prog_name: str = "pgq") -> None:
    """Console entry point: unexpected errors become one line unless PGQUEUER_DEBUG=1."""
    try:
        cli.main(args=args, prog_name=prog_name)
    except SystemExit:
        raise
    except Exception as exc:
        if os.environ.get(envvars.DEBUG, "") not in ("", "0"):
            traceback.print_exc()
        else:
            lines = [f"Error: {type(exc).__name__}: {exc}"]
            cause = exc.__cause__ or exc.__context__
            while cause is not None:
                lines.append(f"  caused by {type(cause).__name__}: {cause}")
                cause = cause.__cause__ or cause.__context__
            lines.append(f"  (set {envvars.DEBUG}=1 for the traceback)")
            sys.stderr.write("\n".join(lines) + "\n")
        sys.exit(1)
