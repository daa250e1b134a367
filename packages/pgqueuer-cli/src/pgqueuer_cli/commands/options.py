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


# A duration far beyond any useful one, but one every consumer (timedelta, asyncio, PostgreSQL
# intervals) can hold: about 31 years.
MAX_SECONDS = 1e9


class Seconds(click.FloatRange):
    """A number of seconds: finite (no nan or inf) and within ``[min, MAX_SECONDS]``.

    click's FloatRange lets ``nan`` through every bound (comparisons with nan are false) and
    ``inf`` through an open upper bound; both then fail deep inside with a traceback-like
    message. Here they are usage errors (exit 2), like every other bad value.
    """

    name = "seconds"

    def __init__(self, min: float = 0.0) -> None:
        super().__init__(min=min, max=MAX_SECONDS)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds.", param, ctx)
        if number != number or number in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a finite number of seconds.", param, ctx)
        return super().convert(number, param, ctx)
