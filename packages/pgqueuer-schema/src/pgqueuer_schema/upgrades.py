"""The upgrade steps, each declared once with both of its renderings.

A step knows one kind of difference an older layout can have (a missing enum label, a missing
column, an integer id, a retired index, a changed trigger, ...) and renders it twice:

* ``detect``: online, from the inspected catalog (``plan.plan_upgrade``). It adds a
  :class:`~pgqueuer_schema.plan.Step` only when the database needs it, with the reason that
  ``verify`` reports.
* ``guarded``: offline, for the script a DBA runs without us looking first
  (``converge.upgrade_sql``): statements that guard themselves (IF NOT EXISTS, or a catalog check
  in a DO block) and so change nothing where the database is already right.

:data:`GLOBAL_BEFORE`, :data:`TABLE_STEPS` and :data:`GLOBAL_AFTER` list every step in the
order both renderings run them. The statements are the templates of ``sql/upgrade.sql``, filled
with names quoted by :mod:`pgqueuer.names`.
"""

from __future__ import annotations

import textwrap
import zlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from pgqueuer.names import Names, quote_ident, quote_literal
from pgqueuer.types import Durability
from pgqueuer_schema import render
from pgqueuer_schema.declaration import (
    PERSISTENCE,
    WIDENABLE,
    Column,
    Declaration,
    Index,
    Table,
    retired_index_names,
)

if TYPE_CHECKING:
    from pgqueuer_schema.inspect import Catalog, ColumnInfo
    from pgqueuer_schema.plan import Plan


def sql(block: str, file: str = "upgrade.sql", /, **values: str) -> str:
    """A statement of ``sql/upgrade.sql`` (or ``file``), filled in (see render.template)."""
    return render.template(block, file, **values)


def fold_statistics_sql(names: Names) -> str:
    """Merge rows that share a unique-count bucket into the oldest one, before indexing."""
    return names.substitute(sql("fold_statistics", "operations.sql"))


@dataclass(frozen=True)
class Target:
    """What the layout converges to: the declaration, the durability of tables it creates, and
    whether integer ids may be widened."""

    decl: Declaration
    durability: Durability = Durability.durable
    widen_id: bool = True

    @property
    def names(self) -> Names:
        return self.decl.names

    @property
    def status_bare(self) -> str:
        return self.names.bare(self.names.queue_status_type)

    @property
    def status_type(self) -> str:
        return self.names.qualify(self.names.queue_status_type)

    def default(self, col: Column) -> str | None:
        """The column's default as it is written in DDL (the enum type qualified)."""
        return render.qualified_tail(self.names, col.default) if col.default else None


class GlobalStep:
    """A step about the installation as a whole (schemas, the enum, indexes, triggers)."""

    key: ClassVar[str]

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        raise NotImplementedError  # pragma: no cover

    def guarded(self, t: Target) -> list[str]:
        raise NotImplementedError  # pragma: no cover


class TableStep:
    """A step about one declared table (which ``detect`` may find missing from the catalog).

    ``in_checks`` steps render offline as PL/pgSQL inside the table's one DO block.
    """

    key: ClassVar[str]
    in_checks: ClassVar[bool] = False

    def detect(self, t: Target, catalog: Catalog, table: Table, plan: Plan) -> None:
        raise NotImplementedError  # pragma: no cover

    def guarded(self, t: Target, table: Table) -> list[str]:
        raise NotImplementedError  # pragma: no cover


def _where(names: Names, table: Table, col: Column) -> str:
    return sql(
        "column_where",
        schema=_schema_expr(names, table.name),
        table_name=quote_literal(names.bare(table.name)),
        column=quote_literal(col.name),
    )


def _schema_expr(names: Names, name: str) -> str:
    schema = names.schema_of(name)
    return quote_literal(schema) if schema else "current_schema()"


def _column_ddl(t: Target, col: Column) -> Column:
    """The column as ADD COLUMN writes it: NOT NULL only when a default fills existing rows."""
    ddl = replace(
        col, type=t.status_type if col.type == t.status_bare else col.type, default=t.default(col)
    )
    return replace(ddl, not_null=False) if ddl.not_null and ddl.default is None else ddl


# -- before the tables ---------------------------------------------------------------------


class CreateSchemas(GlobalStep):
    key = "create_schema"

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        for schema, exists in catalog.schemas.items():
            if not exists:
                plan.add(
                    sql("create_schema", schema=quote_ident(schema)),
                    f"missing schema {schema!r}",
                    kind=self.key,
                )

    def guarded(self, t: Target) -> list[str]:
        return [sql("create_schema", schema=quote_ident(s)) for s in render.schemas_of(t.names)]


class CreateEnum(GlobalStep):
    key = "create_enum"

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        if catalog.enum_labels is None:
            plan.add(
                render.enum_sql(t.names, t.decl.enum_labels),
                f"missing type {t.status_bare!r}",
                kind=self.key,
            )

    def guarded(self, t: Target) -> list[str]:
        statement = render.enum_sql(t.names, t.decl.enum_labels)
        return [sql("ignore_duplicate", statement=statement, errors="duplicate_object")]


class AddEnumLabels(GlobalStep):
    key = "add_enum_label"

    def _label(self, t: Target, i: int) -> str:
        labels = t.decl.enum_labels
        after = f" AFTER {quote_literal(labels[i - 1])}" if i else ""
        return sql(
            "add_enum_label", type=t.status_type, label=quote_literal(labels[i]), after=after
        )

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        if catalog.enum_labels is None:
            return  # CreateEnum creates it with every label
        for i, label in enumerate(t.decl.enum_labels):
            if label not in catalog.enum_labels:
                plan.add(
                    self._label(t, i),
                    f"type {t.status_bare!r} lacks label {label!r}",
                    kind=self.key,
                )

    def guarded(self, t: Target) -> list[str]:
        return [self._label(t, i) for i in range(len(t.decl.enum_labels))]


# -- per table -----------------------------------------------------------------------------


class CreateTable(TableStep):
    key = "create_table"

    def detect(self, t: Target, catalog: Catalog, table: Table, plan: Plan) -> None:
        info = catalog.tables.get(table.field)
        if info is None:
            logged = PERSISTENCE[t.durability][table.field]
            plan.add(
                render.table_sql(t.names, table, logged),
                f"missing table {t.names.bare(table.name)!r}",
                kind=self.key,
            )

    def guarded(self, t: Target, table: Table) -> list[str]:
        logged = PERSISTENCE[t.durability][table.field]
        return [render.table_sql(t.names, table, logged, if_not_exists=True)]


class AddColumns(TableStep):
    key = "add_column"

    def detect(self, t: Target, catalog: Catalog, table: Table, plan: Plan) -> None:
        info = catalog.tables.get(table.field)
        if info is None:
            return
        qualified, bare = t.names.qualify(table.name), t.names.bare(table.name)
        for col in table.columns:
            if col.name in info.columns:
                continue
            ddl = _column_ddl(t, col)
            if col.not_null and not ddl.not_null:
                plan.notes.append(
                    f"column {bare}.{col.name} added as nullable: it has no default to fill rows"
                )
            plan.add(
                sql("add_column", table=qualified, guard="", ddl=ddl.ddl()),
                f"missing column {bare}.{col.name}",
                kind=self.key,
            )

    def guarded(self, t: Target, table: Table) -> list[str]:
        qualified = t.names.qualify(table.name)
        return [
            sql("add_column", table=qualified, guard="IF NOT EXISTS ", ddl=_column_ddl(t, c).ddl())
            for c in table.columns
            if c.name != "id"  # the table is created with it
        ]


class WidenColumns(TableStep):
    """integer -> bigint for the id-like columns (PgQueuer's widen_id)."""

    key = "widen_column"
    in_checks = True

    def detect(self, t: Target, catalog: Catalog, table: Table, plan: Plan) -> None:
        info = catalog.tables.get(table.field)
        if info is None:
            return
        qualified, bare = t.names.qualify(table.name), t.names.bare(table.name)
        for col in table.columns:
            have = info.columns.get(col.name)
            if have is None or not widenable(have, col):
                continue
            where = f"{bare}.{col.name}"
            if not t.widen_id:
                plan.notes.append(f"column {where} left as integer (--no-widen-id)")
                continue
            plan.add(
                sql("widen_column", table=qualified, column=col.name),
                f"column {where} is integer, expected bigint",
                note=f"widening {where} rewrites {bare} under an ACCESS EXCLUSIVE lock",
                kind=self.key,
            )

    def guarded(self, t: Target, table: Table) -> list[str]:
        if not t.widen_id:
            return []
        qualified = t.names.qualify(table.name)
        return [
            sql(
                "widen_column_if_integer",
                where=_where(t.names, table, col),
                table=qualified,
                column=col.name,
            )
            for col in table.columns
            if col.type == "bigint" and col.name in WIDENABLE
        ]


def widenable(have: ColumnInfo, col: Column) -> bool:
    return have.type == "integer" and col.type == "bigint" and col.name in WIDENABLE


class ConvertStatusColumns(TableStep):
    """A status column of another type (an older enum, text) becomes the status enum."""

    key = "column_to_status"
    in_checks = True

    def detect(self, t: Target, catalog: Catalog, table: Table, plan: Plan) -> None:
        info = catalog.tables.get(table.field)
        if info is None:
            return
        qualified, bare = t.names.qualify(table.name), t.names.bare(table.name)
        for col in table.columns:
            have = info.columns.get(col.name)
            if have is None or col.type != t.status_bare or have.type == col.type:
                continue
            drop = ""
            if have.default is not None:
                drop = sql("drop_default", table=qualified, column=col.name) + "\n"
                have.default = None  # so that SetDefaults puts the declared one back
            plan.add(
                sql(
                    "column_to_status",
                    drop_default=drop,
                    table=qualified,
                    column=col.name,
                    type=t.status_type,
                ),
                f"column {bare}.{col.name} is {have.type}, expected {col.type}",
                kind=self.key,
            )

    def guarded(self, t: Target, table: Table) -> list[str]:
        qualified = t.names.qualify(table.name)
        out = []
        for col in table.columns:
            if col.type != t.status_bare:
                continue
            default = t.default(col)
            restore = (
                "\n    " + sql("set_default", table=qualified, column=col.name, default=default)
                if default
                else ""
            )
            out.append(
                sql(
                    "column_to_status_if_other",
                    where=_where(t.names, table, col),
                    type_name=quote_literal(t.status_bare),
                    table=qualified,
                    column=col.name,
                    type=t.status_type,
                    restore=restore,
                )
            )
        return out


class WidenSequences(TableStep):
    key = "widen_sequence"
    in_checks = True

    def detect(self, t: Target, catalog: Catalog, table: Table, plan: Plan) -> None:
        info = catalog.tables.get(table.field)
        if info is None or info.id_sequence_type != "integer" or not info.id_sequence:
            return
        bare = t.names.bare(table.name)
        if not t.widen_id:
            plan.notes.append(f"sequence of {bare}.id left as integer (--no-widen-id)")
            return
        plan.add(
            sql("widen_sequence", sequence=info.id_sequence),
            f"sequence of {bare}.id is integer, expected bigint",
            kind=self.key,
        )

    def guarded(self, t: Target, table: Table) -> list[str]:
        if not (table.serial and t.widen_id):
            return []
        seq = sql("serial_sequence", table=quote_literal(t.names.qualify(table.name)))
        return [sql("widen_sequence_if_integer", sequence=seq)]


class RelaxLegacyColumns(TableStep):
    """Columns of earlier releases that this layout no longer writes must not block inserts."""

    key = "relax_legacy_column"
    in_checks = True

    def detect(self, t: Target, catalog: Catalog, table: Table, plan: Plan) -> None:
        info = catalog.tables.get(table.field)
        if info is None:
            return
        qualified, bare = t.names.qualify(table.name), t.names.bare(table.name)
        for extra in sorted(set(info.columns) - {c.name for c in table.columns}):
            have = info.columns[extra]
            if have.not_null and have.default is None:
                plan.add(
                    sql("drop_not_null", table=qualified, column=extra),
                    f"legacy column {bare}.{extra} is NOT NULL and would block inserts",
                    note=f"legacy column {bare}.{extra} is unused; drop it by hand when convenient",
                    kind=self.key,
                )

    def guarded(self, t: Target, table: Table) -> list[str]:
        return [
            sql(
                "relax_legacy_columns",
                schema=_schema_expr(t.names, table.name),
                table_name=quote_literal(t.names.bare(table.name)),
                declared=", ".join(quote_literal(c.name) for c in table.columns),
                table=quote_literal(t.names.qualify(table.name)),
            )
        ]


class SetDefaults(TableStep):
    """Column defaults as declared (the id's and identity columns' are left as they are).

    Offline, only declared defaults are (re)set: a default some older layout had on a column
    declared without one is dropped online only. No release had such a default, and a DROP
    DEFAULT per column would take the queue table's ACCESS EXCLUSIVE lock for nothing.
    """

    key = "column_default"

    def detect(self, t: Target, catalog: Catalog, table: Table, plan: Plan) -> None:
        info = catalog.tables.get(table.field)
        if info is None:
            return
        qualified, bare = t.names.qualify(table.name), t.names.bare(table.name)
        for col in table.columns:
            have = info.columns.get(col.name)
            if have is None:
                continue
            where = f"{bare}.{col.name}"
            default = t.default(col)
            if col.name == "id" and col.default != have.default:
                plan.notes.append(f"column {where}: default {have.default} left as is")
            elif col.identity != have.identity:
                plan.notes.append(
                    f"column {where}: identity differs from the declaration; left as is"
                )
            elif not col.identity and have.default != col.default:
                statement = (
                    sql("drop_default", table=qualified, column=col.name)
                    if default is None
                    else sql("set_default", table=qualified, column=col.name, default=default)
                )
                plan.add(
                    statement,
                    f"column {where} default is {have.default}, expected {col.default}",
                    kind=self.key,
                )

    def guarded(self, t: Target, table: Table) -> list[str]:
        qualified = t.names.qualify(table.name)
        out = []
        for col in table.columns:
            if col.identity or col.name == "id":
                continue
            default = t.default(col)
            if default is None:
                continue  # see the class docstring
            out.append(sql("set_default", table=qualified, column=col.name, default=default))
            if col.not_null:  # fill the rows SetNotNull would refuse
                out.append(sql("fill_nulls", table=qualified, column=col.name, default=default))
        return out


class SetNullability(TableStep):
    """NOT NULL as declared. Offline, only SET NOT NULL (a no-op where it holds already): a
    column declared nullable is made nullable online only, as no release had it NOT NULL."""

    key = "column_nullability"

    def detect(self, t: Target, catalog: Catalog, table: Table, plan: Plan) -> None:
        info = catalog.tables.get(table.field)
        if info is None:
            return
        qualified, bare = t.names.qualify(table.name), t.names.bare(table.name)
        for col in table.columns:
            have = info.columns.get(col.name)
            if have is None:
                continue
            where = f"{bare}.{col.name}"
            default = t.default(col)
            if col.not_null and not have.not_null:
                fill = ""
                if default is not None:
                    fill = sql("fill_nulls", table=qualified, column=col.name, default=default)
                    fill += "\n"
                plan.add(
                    fill + sql("set_not_null", table=qualified, column=col.name),
                    f"column {where} is nullable, expected NOT NULL",
                    kind=self.key,
                )
            elif have.not_null and not col.not_null:
                plan.add(
                    sql("drop_not_null", table=qualified, column=col.name),
                    f"column {where} is NOT NULL, expected nullable",
                    kind=self.key,
                )

    def guarded(self, t: Target, table: Table) -> list[str]:
        qualified = t.names.qualify(table.name)
        return [
            sql("set_not_null", table=qualified, column=col.name)
            for col in table.columns
            if col.not_null
        ]


class AddUniqueConstraints(TableStep):
    key = "unique_constraint"

    def _add(self, t: Target, table: Table, name: str, columns: tuple[str, ...]) -> str:
        return sql(
            "add_unique_constraint",
            table=t.names.qualify(table.name),
            name=quote_ident(name),
            columns=", ".join(columns),
        )

    def detect(self, t: Target, catalog: Catalog, table: Table, plan: Plan) -> None:
        info = catalog.tables.get(table.field)
        if info is None:
            return
        for name, columns in table.unique:
            if name not in catalog.constraints:
                plan.add(
                    self._add(t, table, name, columns),
                    f"missing constraint {name!r}",
                    kind=self.key,
                )

    def guarded(self, t: Target, table: Table) -> list[str]:
        return [
            sql(
                "ignore_duplicate",
                statement=self._add(t, table, name, columns),
                errors="duplicate_table OR duplicate_object",
            )
            for name, columns in table.unique
        ]


# -- after the tables ----------------------------------------------------------------------


class DropRetiredIndexes(GlobalStep):
    key = "retired_index"

    def _drop(self, t: Target, field: str, index: str) -> str:
        table = getattr(t.names, field)
        qualified = t.names.qualify_derived(table, index[len(t.names.bare(table)) :])
        return sql("drop_index", guard="IF EXISTS ", index=qualified)

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        for field, index in retired_index_names(t.names):
            if index in catalog.indexes:
                plan.add(
                    self._drop(t, field, index),
                    f"retired index {index!r} is still installed",
                    kind=self.key,
                )

    def guarded(self, t: Target) -> list[str]:
        return [self._drop(t, field, index) for field, index in retired_index_names(t.names)]


def index_matches(t: Target, index: Index, catalog: Catalog, name: str) -> bool:
    have = catalog.indexes.get(name)
    return (
        have is not None
        and have.valid
        and have.tail == index.tail
        and (name != index.name or have.unique == index.unique)
    )


class FoldStatistics(GlobalStep):
    """Rows sharing a bucket of the statistics unique index are merged before it is built."""

    key = "fold_statistics"

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        for index in t.decl.indexes:
            if index.table != "statistics_table" or not index.unique:
                continue
            if not index_matches(t, index, catalog, index.name):
                plan.add(
                    fold_statistics_sql(t.names),
                    f"statistics rows may repeat a bucket of {index.name!r}",
                    kind=self.key,
                )

    def guarded(self, t: Target) -> list[str]:
        return [fold_statistics_sql(t.names)]


def rebuild_name(index: str) -> str:
    """Name of the replacement built beside an index whose definition changed."""
    return f"pgq_rebuild_{zlib.crc32(index.encode()):08x}"


def _qualify_index(names: Names, index: Index, name: str) -> str:
    schema = names.schema_of(getattr(names, index.table))
    return f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)


def _create_concurrently(names: Names, index: Index, *, name: str | None = None) -> str:
    # One statement per step and no transaction around it, so CONCURRENTLY is allowed: the
    # queue keeps taking writes while an index builds on a big log table.
    return render.index_sql(names, index, name=name).replace("INDEX ", "INDEX CONCURRENTLY ", 1)


class Indexes(GlobalStep):
    """Declared indexes: built when missing; rebuilt beside the old one and swapped in when
    their definition changed (online), dropped and re-created (offline)."""

    key = "index"

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        names = t.names
        for index in t.decl.indexes:
            have = catalog.indexes.get(index.name)
            spare_name = rebuild_name(index.name)
            spare = catalog.indexes.get(spare_name)
            spare_sql = _qualify_index(names, index, spare_name)
            if index_matches(t, index, catalog, index.name):
                if spare is not None:  # left over from an interrupted rebuild that finished
                    plan.add(
                        sql("drop_index", guard="IF EXISTS ", index=spare_sql),
                        f"leftover index {spare_name!r}",
                        kind=self.key,
                    )
                continue
            spare_ready = index_matches(t, index, catalog, spare_name)
            if have is None:
                if spare_ready:
                    plan.add(
                        sql("rename_index", index=spare_sql, name=quote_ident(index.name)),
                        f"missing index {index.name!r} (finishing an interrupted rebuild)",
                        kind=self.key,
                    )
                    continue
                plan.add(
                    _create_concurrently(names, index),
                    f"missing index {index.name!r}",
                    note=f"building index {index.name!r} (CONCURRENTLY: writes continue)",
                    kind=self.key,
                )
                continue
            reason = (
                f"index {index.name!r} is invalid"
                if not have.valid
                else f"index {index.name!r} is {have.tail}, expected {index.tail}"
            )
            if not spare_ready:
                if spare is not None:
                    plan.add(
                        sql("drop_index", guard="IF EXISTS ", index=spare_sql),
                        f"stale leftover index {spare_name!r}",
                        kind=self.key,
                    )
                plan.add(
                    _create_concurrently(names, index, name=spare_name),
                    reason,
                    note=f"rebuilding index {index.name!r} beside the old one",
                    kind=self.key,
                )
            plan.add(
                sql("drop_index", guard="", index=_qualify_index(names, index, index.name))
                + "\n"
                + sql("rename_index", index=spare_sql, name=quote_ident(index.name)),
                f"swap in the rebuilt {index.name!r}",
                kind=self.key,
            )

    def guarded(self, t: Target) -> list[str]:
        names = t.names
        out = []
        for index in t.decl.indexes:
            table = getattr(names, index.table)
            out.append(
                sql(
                    "drop_index_if_changed",
                    schema=_schema_expr(names, table),
                    name=quote_literal(index.name),
                    tail=quote_literal(index.tail),
                    index=names.qualify_derived(table, index.name[len(names.bare(table)) :]),
                )
            )
            out.append(render.index_sql(names, index, guard=True))
        return out


def _ws(text: str) -> str:
    return " ".join(text.split())


class NotifyTriggers(GlobalStep):
    """The notify function and the three triggers, replaced together in one transaction: a
    trigger must never fire into a function body written for another trigger shape."""

    key = "notify_trigger"

    def _replace(self, t: Target, triggers: list[str]) -> list[str]:
        queue = t.names.qualify(t.names.queue_table)
        out = [render.function_sql(t.names)]
        for trigger in t.decl.triggers:
            if trigger.name in triggers:
                out.append(sql("drop_trigger", trigger=quote_ident(trigger.name), table=queue))
                out.append(render.trigger_sql(t.names, trigger))
        return out

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        names = t.names
        reasons: list[str] = []
        fn_bare = names.bare(names.function)
        if catalog.function_source is None:
            reasons.append(f"missing function {fn_bare!r}")
        elif _ws(catalog.function_source) != _ws(render.function_body(names)):
            reasons.append(f"function {fn_bare!r} differs")
        changed = []
        for trigger in t.decl.triggers:
            want = render.template(
                "create_trigger",
                name=trigger.name,
                timing=trigger.timing_events,
                body=trigger.body,
            ).removesuffix(";")  # as pg_get_triggerdef prints it
            have = catalog.triggers.get(trigger.name)
            if have is None:
                reasons.append(f"missing trigger {trigger.name!r}")
            elif _ws(have) != _ws(want):
                reasons.append(f"trigger {trigger.name!r} differs")
            else:
                continue
            changed.append(trigger.name)
        if reasons:
            plan.add("\n".join(self._replace(t, changed)), *reasons, kind=self.key)

    def guarded(self, t: Target) -> list[str]:
        return self._replace(t, [trigger.name for trigger in t.decl.triggers])


class DropRetiredEnum(GlobalStep):
    key = "retired_enum"

    def _drop(self, t: Target) -> str:
        return sql("drop_type", type=render.retired_statistics_enum(t.names))

    def detect(self, t: Target, catalog: Catalog, plan: Plan) -> None:
        if catalog.retired_enum:
            plan.add(
                self._drop(t),
                "retired type 'pgqueuer_statistics_status' is still installed",
                kind=self.key,
            )

    def guarded(self, t: Target) -> list[str]:
        return [self._drop(t)]


GLOBAL_BEFORE: tuple[GlobalStep, ...] = (CreateSchemas(), CreateEnum(), AddEnumLabels())
TABLE_STEPS: tuple[TableStep, ...] = (
    CreateTable(),
    AddColumns(),
    WidenColumns(),
    ConvertStatusColumns(),
    WidenSequences(),
    RelaxLegacyColumns(),
    SetDefaults(),
    SetNullability(),
    AddUniqueConstraints(),
)
GLOBAL_AFTER: tuple[GlobalStep, ...] = (
    DropRetiredIndexes(),
    FoldStatistics(),
    Indexes(),
    NotifyTriggers(),
    DropRetiredEnum(),
)
ALL_STEPS: tuple[GlobalStep | TableStep, ...] = (*GLOBAL_BEFORE, *TABLE_STEPS, *GLOBAL_AFTER)


def checks_block(checks: list[str]) -> str:
    """Offline: the in-checks steps of one table as one DO block."""
    return sql("checks_block", checks=textwrap.indent("\n".join(checks), "    "))
