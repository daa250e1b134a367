"""Diff the catalog against the declaration: the steps that converge one to the other.

Each step is one unit of execution (a single statement, or a short script that must be atomic)
and carries the differences it fixes, so ``verify`` reports exactly what ``upgrade`` would change.
Nothing is dropped for being merely unknown: extra columns, indexes and triggers are left alone,
except the indexes earlier releases created and this layout retires.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field, replace

from pgqueuer.errors import SchemaDriftError
from pgqueuer.names import Names, quote_ident, quote_literal
from pgqueuer.types import Durability
from pgqueuer_schema import render
from pgqueuer_schema.declaration import (
    PERSISTENCE,
    WIDENABLE,
    Declaration,
    Index,
    Table,
    retired_index_names,
)
from pgqueuer_schema.inspect import Catalog, TableInfo


@dataclass
class Step:
    sql: str
    reasons: list[str]
    note: str | None = None  # locks, rewrites: said before the step runs


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    drift: list[SchemaDriftError] = field(default_factory=list)  # what upgrade cannot convert

    @property
    def empty(self) -> bool:
        return not self.steps

    @property
    def differences(self) -> list[str]:
        return [str(d) for d in self.drift] + [r for step in self.steps for r in step.reasons]

    def script(self) -> str:
        return "\n".join(step.sql.rstrip() for step in self.steps) + ("\n" if self.steps else "")

    def add(self, sql: str, *reasons: str, note: str | None = None) -> None:
        self.steps.append(Step(sql, list(reasons), note))


def rebuild_name(index: str) -> str:
    """Name of the replacement built beside an index whose definition changed."""
    return f"pgq_rebuild_{zlib.crc32(index.encode()):08x}"


def _ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def infer_durability(catalog: Catalog) -> Durability | None:
    """The level the installed tables' persistence matches, or None for a mixed state."""
    found = {f: t.logged for f, t in catalog.tables.items()}
    if not found:
        return None
    for level, persistence in PERSISTENCE.items():
        if all(persistence[f] == logged for f, logged in found.items()):
            return level
    return None


def plan_upgrade(
    decl: Declaration,
    catalog: Catalog,
    *,
    durability: Durability | None = None,
    widen_id: bool = True,
    create_schema: bool = True,
) -> Plan:
    """Steps that bring ``catalog`` to ``decl``. An empty catalog gets the full install."""
    names = decl.names
    level = durability or infer_durability(catalog) or Durability.durable
    plan = Plan()
    if catalog.empty:
        plan.add(
            render.install_sql(names, level, create_schema=create_schema),
            "PgQueuer schema is not installed",
        )
        return plan

    for schema, exists in catalog.schemas.items():
        if not exists:
            plan.add(
                f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)};", f"missing schema {schema!r}"
            )

    status_type = names.qualify(names.queue_status_type)
    status_bare = names.bare(names.queue_status_type)
    if catalog.enum_labels is None:
        plan.add(render.enum_sql(names, decl.enum_labels), f"missing type {status_bare!r}")
    else:
        for i, label in enumerate(decl.enum_labels):
            if label not in catalog.enum_labels:
                where = f" AFTER {quote_literal(decl.enum_labels[i - 1])}" if i else ""
                plan.add(
                    f"ALTER TYPE {status_type} ADD VALUE IF NOT EXISTS {quote_literal(label)}{where};",
                    f"type {status_bare!r} lacks label {label!r}",
                )

    for table in decl.tables:
        info = catalog.tables.get(table.field)
        bare = names.bare(table.name)
        if info is None:
            plan.add(
                render.table_sql(names, table, PERSISTENCE[level][table.field]),
                f"missing table {bare!r}",
            )
            continue
        _plan_columns(plan, names, table, info, widen_id)

    _plan_retired_indexes(plan, decl, catalog)
    _plan_constraints(plan, decl, catalog)
    _plan_indexes(plan, decl, catalog)
    _plan_notify(plan, decl, catalog)
    if catalog.retired_enum:
        plan.add(
            f"DROP TYPE IF EXISTS {render.retired_statistics_enum(names)};",
            "retired type 'pgqueuer_statistics_status' is still installed",
        )

    installed = infer_durability(catalog)
    if durability is not None and installed is not None and installed != durability:
        plan.notes.append(
            f"tables are at durability {installed.value!r}, not {durability.value!r}: upgrade "
            f"never rewrites tables for that; run 'pgq durability {durability.value}'"
        )
    return plan


def _plan_columns(plan: Plan, names: Names, table: Table, info: TableInfo, widen: bool) -> None:
    qualified = names.qualify(table.name)
    bare = names.bare(table.name)
    status_bare = names.bare(names.queue_status_type)
    status_type = names.qualify(names.queue_status_type)
    for col in table.columns:
        have = info.columns.get(col.name)
        where = f"{bare}.{col.name}"
        alter = f"ALTER TABLE {qualified} ALTER COLUMN {col.name}"
        default = render.qualified_tail(names, col.default) if col.default else None
        if have is None:
            ddl = replace(
                col,
                type=status_type if col.type == status_bare else col.type,
                default=render.qualified_tail(names, col.default) if col.default else None,
            )
            if ddl.not_null and ddl.default is None:
                ddl = replace(ddl, not_null=False)
                plan.notes.append(
                    f"column {where} added as nullable: it has no default to fill rows"
                )
            plan.add(f"ALTER TABLE {qualified} ADD COLUMN {ddl.ddl()};", f"missing column {where}")
            continue
        if have.type != col.type:
            if have.type == "integer" and col.type == "bigint" and col.name in WIDENABLE:
                if widen:
                    plan.add(
                        f"ALTER TABLE {qualified} ALTER COLUMN {col.name} TYPE bigint;",
                        f"column {where} is integer, expected bigint",
                        note=f"widening {where} rewrites {bare} under an ACCESS EXCLUSIVE lock",
                    )
                else:
                    plan.notes.append(f"column {where} left as integer (--no-widen-id)")
            elif col.type == status_bare:
                sql = f"{alter} TYPE {status_type} USING {col.name}::text::{status_type};"
                if have.default is not None:
                    sql = f"{alter} DROP DEFAULT;\n{sql}"
                    have.default = None  # re-set below
                plan.add(sql, f"column {where} is {have.type}, expected {col.type}")
            else:
                plan.drift.append(SchemaDriftError(bare, col.name, have.type, col.type))
        if col.name == "id" and col.default != have.default:
            plan.notes.append(f"column {where}: default {have.default} left as is")
        elif col.identity != have.identity:
            plan.notes.append(f"column {where}: identity differs from the declaration; left as is")
        elif not col.identity and have.default != col.default:
            sql = f"{alter} DROP DEFAULT;" if default is None else f"{alter} SET DEFAULT {default};"
            plan.add(sql, f"column {where} default is {have.default}, expected {col.default}")
        if col.not_null and not have.not_null:
            fill = ""
            if default is not None:
                fill = f"UPDATE {qualified} SET {col.name} = {default} WHERE {col.name} IS NULL;\n"
            plan.add(
                f"{fill}{alter} SET NOT NULL;",
                f"column {where} is nullable, expected NOT NULL",
            )
        elif have.not_null and not col.not_null:
            plan.add(
                f"{alter} DROP NOT NULL;",
                f"column {where} is NOT NULL, expected nullable",
            )
    if info.id_sequence_type == "integer" and info.id_sequence:
        if widen:
            plan.add(
                f"ALTER SEQUENCE {info.id_sequence} AS bigint;",
                f"sequence of {bare}.id is integer, expected bigint",
            )
        else:
            plan.notes.append(f"sequence of {bare}.id left as integer (--no-widen-id)")
    for extra in sorted(set(info.columns) - {c.name for c in table.columns}):
        have = info.columns[extra]
        if have.not_null and have.default is None:
            plan.add(
                f"ALTER TABLE {qualified} ALTER COLUMN {extra} DROP NOT NULL;",
                f"legacy column {bare}.{extra} is NOT NULL and would block inserts",
                note=f"legacy column {bare}.{extra} is unused; drop it by hand when convenient",
            )


def _plan_retired_indexes(plan: Plan, decl: Declaration, catalog: Catalog) -> None:
    names = decl.names
    for field_name, index in retired_index_names(names):
        if index in catalog.indexes:
            table = getattr(names, field_name)
            plan.add(
                f"DROP INDEX IF EXISTS {names.qualify_derived(table, index[len(names.bare(table)) :])};",
                f"retired index {index!r} is still installed",
            )


def _plan_constraints(plan: Plan, decl: Declaration, catalog: Catalog) -> None:
    names = decl.names
    for table in decl.tables:
        if table.field not in catalog.tables:
            continue
        for name, columns in table.unique:
            if name not in catalog.constraints:
                plan.add(
                    f"ALTER TABLE {names.qualify(table.name)} ADD CONSTRAINT {quote_ident(name)} "
                    f"UNIQUE ({', '.join(columns)});",
                    f"missing constraint {name!r}",
                )


def _plan_indexes(plan: Plan, decl: Declaration, catalog: Catalog) -> None:
    names = decl.names
    for index in decl.indexes:
        have = catalog.indexes.get(index.name)
        spare_name = rebuild_name(index.name)
        spare = catalog.indexes.get(spare_name)
        if (
            have is not None
            and have.valid
            and have.tail == index.tail
            and have.unique == index.unique
        ):
            if spare is not None:  # left over from an interrupted rebuild that finished
                plan.add(
                    f"DROP INDEX IF EXISTS {_qualify_index(names, index, spare_name)};",
                    f"leftover index {spare_name!r}",
                )
            continue
        if index.table == "statistics_table" and index.unique:
            plan.add(
                fold_statistics_sql(names), f"statistics rows may repeat a bucket of {index.name!r}"
            )
        if have is None:
            if spare is not None and spare.valid and spare.tail == index.tail:
                plan.add(
                    f"ALTER INDEX {_qualify_index(names, index, spare_name)} RENAME TO {quote_ident(index.name)};",
                    f"missing index {index.name!r} (finishing an interrupted rebuild)",
                )
                continue
            plan.add(
                _create_index(names, index),
                f"missing index {index.name!r}",
                note=f"building index {index.name!r} (CONCURRENTLY: writes continue)",
            )
            continue
        reason = (
            f"index {index.name!r} is invalid"
            if not have.valid
            else f"index {index.name!r} is {have.tail}, expected {index.tail}"
        )
        if spare is None or not spare.valid or spare.tail != index.tail:
            if spare is not None:
                plan.add(
                    f"DROP INDEX IF EXISTS {_qualify_index(names, index, spare_name)};",
                    f"stale leftover index {spare_name!r}",
                )
            plan.add(
                _create_index(names, index, name=spare_name),
                reason,
                note=f"rebuilding index {index.name!r} beside the old one",
            )
        plan.add(
            f"DROP INDEX {_qualify_index(names, index, index.name)};\n"
            f"ALTER INDEX {_qualify_index(names, index, spare_name)} RENAME TO {quote_ident(index.name)};",
            f"swap in the rebuilt {index.name!r}",
        )


def _qualify_index(names: Names, index: Index, name: str) -> str:
    table = getattr(names, index.table)
    schema = names.schema_of(table)
    return f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)


def _create_index(names: Names, index: Index, *, name: str | None = None) -> str:
    sql = render.index_sql(names, index, name=name)
    # One statement per step and no transaction around it, so CONCURRENTLY is allowed: the
    # queue keeps taking writes while an index builds on a big log table.
    return sql.replace("INDEX ", "INDEX CONCURRENTLY ", 1)


def fold_statistics_sql(names: Names) -> str:
    """Merge rows that share a unique-count bucket into the oldest one, before indexing."""
    stats = names.qualify(names.statistics_table)
    key = "priority, date_trunc('sec', timezone('UTC', created)), status, entrypoint"
    return (
        f"WITH ranked AS (\n"
        f"    SELECT id, first_value(id) OVER w AS keep, sum(count) OVER w AS total,\n"
        f"           row_number() OVER w AS n\n"
        f"    FROM {stats} WINDOW w AS (PARTITION BY {key} ORDER BY id\n"
        f"        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)\n"
        f"), merged AS (\n"
        f"    UPDATE {stats} AS s SET count = r.total FROM ranked AS r\n"
        f"    WHERE s.id = r.id AND r.n = 1 AND r.total <> s.count\n"
        f")\n"
        f"DELETE FROM {stats} AS s USING ranked AS r WHERE s.id = r.id AND r.n > 1;"
    )


def _plan_notify(plan: Plan, decl: Declaration, catalog: Catalog) -> None:
    names = decl.names
    reasons: list[str] = []
    fn_bare = names.bare(names.function)
    if catalog.function_source is None:
        reasons.append(f"missing function {fn_bare!r}")
    elif _ws(catalog.function_source) != _ws(render.function_body(names)):
        reasons.append(f"function {fn_bare!r} differs")
    triggers = []
    for trigger in decl.triggers:
        want = f"CREATE TRIGGER {trigger.name} {trigger.timing_events} {trigger.body}"
        have = catalog.triggers.get(trigger.name)
        if have is None:
            reasons.append(f"missing trigger {trigger.name!r}")
        elif _ws(have) != _ws(want):
            reasons.append(f"trigger {trigger.name!r} differs")
        else:
            continue
        triggers.append(trigger)
    if not reasons:
        return
    # Function and triggers change together, in one transaction: a trigger must never fire
    # into a function body written for another trigger shape.
    queue = names.qualify(names.queue_table)
    sql = [render.function_sql(names)]
    for trigger in triggers:
        sql.append(f"DROP TRIGGER IF EXISTS {quote_ident(trigger.name)} ON {queue};")
        sql.append(render.trigger_sql(names, trigger))
    plan.add("\n".join(sql), *reasons)
