"""The names of every database object pgqueuer uses, validated once, quoted everywhere.

Defaults match PgQueuer 1.6 (``pgqueuer``, ``pgqueuer_log``, ``ch_pgqueuer``, ...). A prefix is
prepended to every name that is not set explicitly; a schema qualifies tables, the enum type and
the function. Index, sequence, constraint and trigger names are derived from their table's (or the
main trigger's) bare name, so that ``{prefix}pgqueuer`` gets ``{prefix}pgqueuer_ep_prio_id_idx``.

Identifiers are folded to lower case, as PostgreSQL folds the unquoted names PgQueuer writes, and
are always emitted double-quoted. Only the environment variables with the ``PGQUEUER_`` prefix
are read: PgQueuer's bare legacy spellings (``TRIGGER``, ``CHANNEL``, ...) are too generic to
trust and are ignored on purpose.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from pgqueuer.errors import InvalidIdentifierError

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1; longer names are silently truncated

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PREFIX = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*)?")
_CHANNEL = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_MARKER = re.compile(r"/\*@([A-Za-z_]+)\*/('(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_]*)")

IDENTIFIER_RULE = (
    "letters, digits and '_', starting with a letter or '_', "
    f"at most {MAX_IDENTIFIER_BYTES} bytes including the longest derived name"
)

# field name -> (environment variable, default name without prefix)
OVERRIDABLE: dict[str, tuple[str, str]] = {
    "queue_table": ("PGQUEUER_QUEUE_TABLE", "pgqueuer"),
    "queue_table_log": ("PGQUEUER_QUEUE_TABLE_LOG", "pgqueuer_log"),
    "statistics_table": ("PGQUEUER_STATISTICS_TABLE", "pgqueuer_statistics"),
    "schedules_table": ("PGQUEUER_SCHEDULES_TABLE", "pgqueuer_schedules"),
    "queue_status_type": ("PGQUEUER_QUEUE_STATUS_TYPE", "pgqueuer_status"),
    "function": ("PGQUEUER_FUNCTION", "fn_pgqueuer_changed"),
    "trigger": ("PGQUEUER_TRIGGER", "tg_pgqueuer_changed"),
    "channel": ("PGQUEUER_CHANNEL", "ch_pgqueuer"),
    # Not in PgQueuer 1.6: the worker registry (host, pid, last seen) of this project.
    "workers_table": ("PGQUEUER_WORKERS_TABLE", "pgqueuer_workers"),
}
PREFIX_ENV = "PGQUEUER_PREFIX"
SCHEMA_ENV = "PGQUEUER_SCHEMA"

# Suffixes of the names derived from each table's bare name (indexes, keys, sequences).
QUEUE_SUFFIXES = (
    "_pkey",
    "_id_seq",
    "_ep_prio_id_idx",
    "_ep_ea_idx",
    "_picked_heartbeat_idx",
    "_unique_dedupe_key",
    "_picked_slot_idx",
    "_held_idx",
)
LOG_SUFFIXES = ("_pkey", "_id_seq", "_not_aggregated", "_created", "_job_id_status")
STATISTICS_SUFFIXES = ("_pkey", "_id_seq", "_unique_count")
SCHEDULES_SUFFIXES = ("_pkey", "_id_seq", "_expression_entrypoint_key")
WORKERS_SUFFIXES = ("_pkey",)
TRIGGER_SUFFIXES = ("", "_update", "_delete")


def quote_ident(name: str) -> str:
    """Double-quote an identifier for SQL."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Single-quote a string for SQL (standard_conforming_strings is on since PostgreSQL 9.1)."""
    return "'" + value.replace("'", "''") + "'"


def _check_identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise InvalidIdentifierError(f"invalid {what} {value!r}: use {IDENTIFIER_RULE}")
    return value.lower()


@dataclass(frozen=True)
class Names:
    """Validated object names of one pgqueuer installation.

    Build it with :meth:`create` or :meth:`from_env`; the constructor does not validate.
    Object-name fields hold ``name`` or ``schema.name`` (the latter only without ``schema``).
    """

    prefix: str
    schema: str | None
    queue_table: str
    queue_table_log: str
    statistics_table: str
    schedules_table: str
    queue_status_type: str
    function: str
    trigger: str
    channel: str
    workers_table: str = "pgqueuer_workers"

    @classmethod
    def create(
        cls,
        prefix: str = "",
        schema: str | None = None,
        **overrides: str | None,
    ) -> Names:
        """Validate and derive every name; raise InvalidIdentifierError on a bad one."""
        unknown = set(overrides) - set(OVERRIDABLE)
        if unknown:
            raise TypeError(f"unknown name override(s): {', '.join(sorted(unknown))}")
        if not _PREFIX.fullmatch(prefix):
            raise InvalidIdentifierError(
                f"invalid prefix {prefix!r}: use {IDENTIFIER_RULE}, or leave it empty"
            )
        schema = _check_identifier(schema, "schema") if schema else None
        resolved: dict[str, str] = {}
        for field, (env, default) in OVERRIDABLE.items():
            explicit = overrides.get(field)
            if field == "channel":
                value = explicit or f"{prefix}{default}"
                if not _CHANNEL.fullmatch(value) or len(value.encode()) > MAX_IDENTIFIER_BYTES:
                    raise InvalidIdentifierError(
                        f"invalid channel {value!r} ({env}): use letters, digits, '_', '.' and "
                        f"'-', starting with a letter or '_', at most {MAX_IDENTIFIER_BYTES} bytes"
                    )
                resolved[field] = value
                continue
            value = explicit or f"{prefix}{default}"
            parts = value.split(".")
            if len(parts) == 2 and explicit:
                if schema:
                    raise InvalidIdentifierError(
                        f"invalid {field} {value!r} ({env}): a dotted name cannot be combined "
                        "with a schema; drop the schema part or the schema setting"
                    )
                value = ".".join(_check_identifier(p, f"{field} ({env})") for p in parts)
            else:
                value = _check_identifier(value, f"{field} ({env})" if explicit else "prefix")
            resolved[field] = value
        names = cls(prefix=prefix, schema=schema, **resolved)
        names._check_lengths()
        return names

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        prefix: str | None = None,
        schema: str | None = None,
    ) -> Names:
        """Names from ``PGQUEUER_*`` variables; explicit prefix/schema win over the environment."""
        env = os.environ if environ is None else environ
        overrides = {field: env.get(var) or None for field, (var, _) in OVERRIDABLE.items()}
        return cls.create(
            prefix=env.get(PREFIX_ENV, "") if prefix is None else prefix,
            schema=(env.get(SCHEMA_ENV) or None) if schema is None else (schema or None),
            **overrides,
        )

    def _check_lengths(self) -> None:
        # Tables, their indexes and sequences, and the enum type share one namespace per schema
        # (pg_class and the tables' row types); functions and triggers have their own.
        relations = [self.bare(self.queue_status_type)]
        for table, suffixes in self._tables():
            relations.extend(self.bare(table) + s for s in ("", *suffixes))
        for name in relations:
            if relations.count(name) > 1:
                raise InvalidIdentifierError(
                    f"invalid names: {name!r} is used for two objects; give each its own name"
                )
        derived = self.derived_names()
        for name in derived:
            if len(name.encode()) > MAX_IDENTIFIER_BYTES:
                hint = f" (prefix {self.prefix!r} is too long)" if self.prefix else ""
                raise InvalidIdentifierError(
                    f"invalid name: derived name {name!r} is {len(name.encode())} bytes, over PostgreSQL's "
                    f"limit of {MAX_IDENTIFIER_BYTES}{hint}: use a shorter name"
                )

    def _tables(self) -> list[tuple[str, tuple[str, ...]]]:
        return [
            (self.queue_table, QUEUE_SUFFIXES),
            (self.queue_table_log, LOG_SUFFIXES),
            (self.statistics_table, STATISTICS_SUFFIXES),
            (self.schedules_table, SCHEDULES_SUFFIXES),
            (self.workers_table, WORKERS_SUFFIXES),
        ]

    def derived_names(self) -> list[str]:
        """Every bare object name an installation creates (tables, indexes, sequences, ...)."""
        out = [self.bare(self.queue_status_type), self.bare(self.function), self.schema or ""]
        out.extend(self.schema_of(getattr(self, f)) or "" for f in OVERRIDABLE if f != "channel")
        for table, suffixes in self._tables():
            out.extend(self.bare(table) + s for s in ("", *suffixes))
        out.extend(self.bare(self.trigger) + s for s in TRIGGER_SUFFIXES)
        return [n for n in out if n]

    # -- rendering -------------------------------------------------------------------------

    @staticmethod
    def bare(name: str) -> str:
        """The name without any ``schema.`` part."""
        return name.rsplit(".", 1)[-1]

    def schema_of(self, name: str) -> str | None:
        """The schema an object lives in: the configured one, the dotted part, or None."""
        if "." in name:
            return name.split(".", 1)[0]
        return self.schema

    def qualify(self, name: str) -> str:
        """Quoted, schema-qualified SQL for a table, type or function name."""
        schema = self.schema_of(name)
        bare = quote_ident(self.bare(name))
        return f"{quote_ident(schema)}.{bare}" if schema else bare

    def derived(self, table: str, suffix: str) -> str:
        """Bare name of an object derived from a table (``pgqueuer`` + ``_pkey``)."""
        return self.bare(table) + suffix

    def qualify_derived(self, table: str, suffix: str) -> str:
        """Quoted, schema-qualified derived name (for DROP INDEX, ALTER SEQUENCE, ...)."""
        schema = self.schema_of(table)
        bare = quote_ident(self.derived(table, suffix))
        return f"{quote_ident(schema)}.{bare}" if schema else bare

    @property
    def trigger_names(self) -> tuple[str, str, str]:
        """The insert, update and delete trigger names, all on the queue table."""
        base = self.bare(self.trigger)
        return (base, base + "_update", base + "_delete")

    def substitutions(self) -> dict[str, str]:
        """Marker key -> SQL text, as used by :meth:`substitute`."""
        subs = {field: self.qualify(getattr(self, field)) for field in OVERRIDABLE}
        subs["channel"] = quote_literal(self.channel)
        subs["trigger"] = quote_ident(self.bare(self.trigger))
        return subs

    def substitute(self, sql: str) -> str:
        """Replace each ``/*@key*/default`` marker with the configured name.

        The marker and the word (or quoted literal) after it are replaced together, so the file
        stays valid SQL with the default names. An unknown marker is an error.
        """
        subs = self.substitutions()

        def repl(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in subs:
                raise KeyError(f"unknown SQL name marker /*@{key}*/")
            return subs[key]

        out = _MARKER.sub(repl, sql)
        if "/*@" in out:
            raise ValueError("malformed SQL name marker left after substitution")
        return out

    def describe(self) -> str:
        """Human-readable placement, for messages: ``prefix='x_', schema='jobs'``."""
        where = repr(self.schema) if self.schema else "the connection's search_path"
        return f"prefix={self.prefix!r}, schema={where}"

    def as_dict(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


DEFAULT_NAMES = Names.create()
