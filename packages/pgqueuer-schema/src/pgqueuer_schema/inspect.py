"""Read the installed layout from the catalog into the shape of the declaration."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import TYPE_CHECKING

from pgqueuer.errors import ConfigurationError
from pgqueuer.names import Names, quote_ident
from pgqueuer.session import Session, as_session
from pgqueuer.sql import load_blocks

if TYPE_CHECKING:
    import asyncpg

TABLE_FIELDS = (
    "queue_table",
    "queue_table_log",
    "statistics_table",
    "schedules_table",
    "workers_table",
)


def _q(name: str) -> str:
    return load_blocks("pgqueuer_schema.sql", "inspect.sql")[name]


@dataclass
class ColumnInfo:
    name: str
    type: str
    not_null: bool
    default: str | None
    identity: bool


@dataclass
class TableInfo:
    field: str
    schema: str
    name: str
    logged: bool
    reloptions: dict[str, str]
    columns: dict[str, ColumnInfo] = dc_field(default_factory=dict)
    id_sequence_type: str | None = None
    id_sequence: str | None = None  # as regclass prints it (qualified when not visible)


@dataclass
class IndexInfo:
    name: str
    table: str
    unique: bool
    valid: bool
    tail: str  # normalised: what follows "USING btree ", schema qualifiers removed
    is_constraint: bool


@dataclass
class Catalog:
    """What exists now, for one set of names. Missing objects are simply absent."""

    schemas: dict[str, bool]  # schema -> exists
    tables: dict[str, TableInfo]  # Names field -> table
    indexes: dict[str, IndexInfo]  # bare name -> index (all indexes of our tables)
    constraints: dict[str, tuple[str, str, str]]  # name -> (table, kind p|u, definition)
    enum_labels: list[str] | None  # None when the type is missing
    retired_enum: bool
    function_source: str | None
    triggers: dict[str, str]  # name -> normalised definition

    @property
    def empty(self) -> bool:
        return (
            not self.tables
            and self.enum_labels is None
            and self.function_source is None
            and not self.retired_enum
        )


class Resolver:
    """Which schema each object lives in: configured, dotted, or the connection's current."""

    def __init__(self, names: Names, current: str) -> None:
        self.names = names
        self.current = current

    def schema(self, name: str) -> str:
        return self.names.schema_of(name) or self.current

    def strip(self, text: str) -> str:
        """Remove schema qualifiers of our schemas from deparsed SQL."""
        for schema in {
            self.schema(getattr(self.names, f))
            for f in (*TABLE_FIELDS, "function", "queue_status_type")
        }:
            text = re.sub(
                rf'(?<![\w"])(?:{re.escape(quote_ident(schema))}|{re.escape(schema)})\.', "", text
            )
        return text


async def current_schema(conn: Session | asyncpg.Connection, names: Names) -> str:
    if names.schema:
        return names.schema
    rows = await as_session(conn).fetch(_q("current_schema"))
    current = rows[0]["current"]
    if current is None:
        raise ConfigurationError(
            "no schema given and the connection's search_path names no existing schema: "
            "pass --schema or fix search_path"
        )
    return str(current)


async def read_catalog(target: Session | asyncpg.Connection, names: Names) -> Catalog:
    """Inspect everything the declaration covers (over a Session or an asyncpg connection)."""
    conn = as_session(target)
    res = Resolver(names, await current_schema(conn, names))
    fields = {f: getattr(names, f) for f in TABLE_FIELDS}
    schemas = [res.schema(n) for n in fields.values()]
    bares = [names.bare(n) for n in fields.values()]
    by_bare = {(res.schema(n), names.bare(n)): f for f, n in fields.items()}
    bare_to_field = {names.bare(n): f for f, n in fields.items()}

    all_schemas = sorted(
        {*schemas, res.schema(names.function), res.schema(names.queue_status_type)}
    )
    row = (await conn.fetch(_q("inspect_schema"), all_schemas))[0]
    existing = set(row["existing"])

    tables: dict[str, TableInfo] = {}
    for r in await conn.fetch(_q("inspect_tables"), schemas, bares):
        f = by_bare[(r["schema"], r["name"])]
        options = dict(o.split("=", 1) for o in r["reloptions"])
        tables[f] = TableInfo(f, r["schema"], r["name"], r["logged"], options)
    for r in await conn.fetch(_q("inspect_columns"), schemas, bares):
        t = tables.get(bare_to_field[r["table_name"]])
        if t is not None:
            default = res.strip(r["default"]) if r["default"] is not None else None
            t.columns[r["name"]] = ColumnInfo(
                r["name"], res.strip(r["type"]), r["not_null"], default, r["identity"]
            )
    if tables:
        qualified = {
            names.qualify(getattr(names, f)): f for f, t in tables.items() if "id" in t.columns
        }
        for r in await conn.fetch(_q("inspect_sequences"), list(qualified)):
            table = tables[qualified[r["table_name"]]]
            table.id_sequence_type, table.id_sequence = r["type"], r["sequence"]

    indexes: dict[str, IndexInfo] = {}
    for r in await conn.fetch(_q("inspect_indexes"), schemas, bares):
        definition = res.strip(r["definition"])
        tail = (
            definition.split(" USING btree ", 1)[1] if " USING btree " in definition else definition
        )
        indexes[r["name"]] = IndexInfo(
            r["name"], r["table_name"], r["is_unique"], r["valid"], tail, r["is_constraint"]
        )
    constraints = {
        r["name"]: (r["table_name"], _char(r["kind"]), r["definition"])
        for r in await conn.fetch(_q("inspect_constraints"), schemas, bares)
    }

    type_schema = res.schema(names.queue_status_type)
    status_bare = names.bare(names.queue_status_type)
    retired_bare = f"{names.prefix.lower()}pgqueuer_statistics_status"
    types = {
        r["name"]: list(r["labels"] or [])
        for r in await conn.fetch(
            _q("inspect_types"), [type_schema, type_schema], [status_bare, retired_bare]
        )
    }

    found = await conn.fetch(
        _q("inspect_function"), res.schema(names.function), names.bare(names.function)
    )
    source = found[0]["source"] if found else None
    queue_schema = res.schema(names.queue_table)
    triggers = {
        r["name"]: _normalise_trigger(res.strip(r["definition"]), names)
        for r in await conn.fetch(
            _q("inspect_triggers"), queue_schema, names.bare(names.queue_table)
        )
    }
    return Catalog(
        schemas={s: s in existing for s in all_schemas},
        tables=tables,
        indexes=indexes,
        constraints=constraints,
        enum_labels=types.get(status_bare),
        retired_enum=retired_bare in types,
        function_source=source,
        triggers=triggers,
    )


def _normalise_trigger(definition: str, names: Names) -> str:
    """``CREATE TRIGGER x ... ON tbl ...`` with the table shown as ``{table}``."""
    table = names.bare(names.queue_table)
    return re.sub(
        rf" ON (?:{re.escape(quote_ident(table))}|{re.escape(table)}) ",
        " ON {table} ",
        definition,
        count=1,
    )


def _char(value: bytes | str) -> str:
    """asyncpg returns PostgreSQL's "char" type as bytes."""
    return value.decode() if isinstance(value, bytes) else value
