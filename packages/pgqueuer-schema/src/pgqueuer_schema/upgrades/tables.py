"""The upgrade steps about one declared table: create it, its columns, its constraints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgqueuer.names import quote_ident, quote_literal
from pgqueuer_schema import render
from pgqueuer_schema.declaration import PERSISTENCE, WIDENABLE, Table
from pgqueuer_schema.upgrades.base import (
    TableStep,
    Target,
    column_ddl,
    column_where,
    schema_expr,
    sql,
    widenable,
)

if TYPE_CHECKING:
    from pgqueuer_schema.inspect import Catalog
    from pgqueuer_schema.plan import Plan


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
            ddl = column_ddl(t, col)
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
            sql("add_column", table=qualified, guard="IF NOT EXISTS ", ddl=column_ddl(t, c).ddl())
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
                where=column_where(t.names, table, col),
                table=qualified,
                column=col.name,
            )
            for col in table.columns
            if col.type == "bigint" and col.name in WIDENABLE
        ]


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
                    where=column_where(t.names, table, col),
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
                schema=schema_expr(t.names, table.name),
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
