"""``pgq sql ...``: print the DDL without connecting, for DBAs who apply it themselves."""

from __future__ import annotations

import click

from pgqueuer_cli.commands.options import (
    LEVELS,
    create_schema_option,
    durability_option,
    widen_id_option,
)
from pgqueuer_cli.settings import Settings


@click.group()
def sql() -> None:
    """Print the SQL of a schema command without connecting to PostgreSQL.

    \b
    Example:
      pgq --schema jobs sql install | psql
    """


@sql.command("install")
@durability_option()
@create_schema_option()
@click.pass_obj
def sql_install(settings: Settings, durability: str, create_schema: bool) -> None:
    """Print the install script (one transaction when sent as one string)."""
    from pgqueuer_schema import install_sql

    click.echo(install_sql(settings.names, durability, create_schema=create_schema), nl=False)


@sql.command("uninstall")
@click.pass_obj
def sql_uninstall(settings: Settings) -> None:
    """Print the statements that drop what install creates."""
    from pgqueuer_schema import uninstall_sql

    click.echo(uninstall_sql(settings.names), nl=False)


@sql.command("upgrade")
@durability_option(help_text="Durability for tables the script has to create.")
@widen_id_option()
@click.pass_obj
def sql_upgrade(settings: Settings, durability: str, widen_id: bool) -> None:
    """Print an idempotent script that brings any earlier layout up to date.

    Run it statement by statement (psql's default), not in a single transaction.
    """
    from pgqueuer_schema import upgrade_sql

    click.echo(upgrade_sql(settings.names, durability, widen_id=widen_id), nl=False)


@sql.command("durability")
@click.argument("level", metavar="DURABILITY", type=click.Choice(LEVELS, case_sensitive=False))
@click.pass_obj
def sql_durability(settings: Settings, level: str) -> None:
    """Print ALTER TABLE ... SET LOGGED/UNLOGGED for every table."""
    from pgqueuer_schema import durability_sql

    click.echo(durability_sql(settings.names, level), nl=False)


@sql.command("autovac")
@click.option(
    "--rollback/--no-rollback",
    default=False,
    show_default=True,
    help="Print the RESET statements instead.",
)
@click.pass_obj
def sql_autovac(settings: Settings, rollback: bool) -> None:
    """Print the autovacuum storage parameters (or their RESET)."""
    from pgqueuer_schema import autovac_sql

    click.echo(autovac_sql(settings.names, rollback=rollback), nl=False)
