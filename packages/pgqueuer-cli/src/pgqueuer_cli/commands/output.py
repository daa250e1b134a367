"""What the job commands share: the queue over a command's connection, table and JSON output,
duration and text arguments (one place for each)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from pgqueuer_cli import envvars
from pgqueuer_cli.settings import Settings

if TYPE_CHECKING:
    import asyncpg

    from pgqueuer.queries import Queries


TABLEFMT_ENV = (envvars.TABLEFMT, envvars.LEGACY_TABLEFMT)  # the first one set wins


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def queries_for(conn: asyncpg.Connection, settings: Settings) -> Queries:
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    return Queries(AsyncpgDriver(conn), settings.names)


def table(rows: list[list[Any]], headers: list[str]) -> str:
    from pgqueuer_dashboard.render import table

    # PGQUEUER_TABLEFMT, then the legacy TABLEFMT; "pretty" is PgQueuer's default.
    fmt = next((os.environ[v] for v in TABLEFMT_ENV if os.environ.get(v)), "pretty")
    return table(rows, headers, fmt)


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return len(value)
    return value


def print_json(value: Any) -> None:
    click.echo(json.dumps(jsonable(value), indent=2))


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def text_value(value: str, hint: str) -> str:
    """A value for a text column: not empty, no NUL, encodable as UTF-8 (exit 2 otherwise)."""
    if not value:
        raise click.BadParameter("must not be empty", param_hint=hint)
    if "\x00" in value:
        raise click.BadParameter("must not contain a NUL character", param_hint=hint)
    try:
        value.encode()
    except UnicodeEncodeError:
        raise click.BadParameter("is not valid UTF-8", param_hint=hint) from None
    return value


def payload_bytes(payload: str) -> bytes:
    """The payload's bytes: UTF-8, and bytes of the command line that were not UTF-8 as they
    were (Python hands them over as surrogate escapes)."""
    try:
        return payload.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise click.BadParameter("is not valid UTF-8", param_hint="PAYLOAD") from None


def parse_duration(text: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``12h``, ``7d``, ``2w`` to a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: use e.g. 3600, 90s, 15m, 12h, 7d or 2w")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


class Duration(click.ParamType):  # type: ignore[type-arg]
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
