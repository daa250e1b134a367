"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from pgqueuer_cli import envvars

F = TypeVar("F", bound=Callable[..., Any])
LEVELS = ["volatile", "balanced", "durable"]


def durability_option(
    default: str | None = "durable", help_text: str | None = None
) -> Callable[[F], F]:
    return click.option(
        "-d",
        "--durability",
        type=click.Choice(LEVELS, case_sensitive=False),
        default=default,
        envvar=envvars.DURABILITY,
        show_envvar=True,
        show_default=default is not None,
        help=help_text
        or "volatile: every table UNLOGGED; balanced: queue and schedules logged, log and "
        "statistics UNLOGGED; durable: every table logged.",
    )


def widen_id_option() -> Callable[[F], F]:
    return click.option(
        "--widen-id/--no-widen-id",
        default=True,
        envvar=envvars.WIDEN_ID,
        show_envvar=True,
        show_default=True,
        help="Widen integer ids and their sequences to bigint (rewrites the table under an "
        "ACCESS EXCLUSIVE lock).",
    )


def create_schema_option() -> Callable[[F], F]:
    return click.option(
        "--create-schema/--no-create-schema",
        default=True,
        show_default=True,
        help="Start with CREATE SCHEMA IF NOT EXISTS when a schema is set.",
    )
