"""What every upgrade step shares: the target, the two step shapes, the SQL template helper."""

from __future__ import annotations

import textwrap
import zlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from pgqueuer.names import Names, quote_ident, quote_literal
from pgqueuer.types import Durability
from pgqueuer_schema import render
from pgqueuer_schema.declaration import WIDENABLE, Column, Declaration, Index, Table

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


def column_where(names: Names, table: Table, col: Column) -> str:
    return sql(
        "column_where",
        schema=schema_expr(names, table.name),
        table_name=quote_literal(names.bare(table.name)),
        column=quote_literal(col.name),
    )


def schema_expr(names: Names, name: str) -> str:
    schema = names.schema_of(name)
    return quote_literal(schema) if schema else "current_schema()"


def column_ddl(t: Target, col: Column) -> Column:
    """The column as ADD COLUMN writes it: NOT NULL only when a default fills existing rows."""
    ddl = replace(
        col, type=t.status_type if col.type == t.status_bare else col.type, default=t.default(col)
    )
    return replace(ddl, not_null=False) if ddl.not_null and ddl.default is None else ddl


def widenable(have: ColumnInfo, col: Column) -> bool:
    return have.type == "integer" and col.type == "bigint" and col.name in WIDENABLE


def index_matches(t: Target, index: Index, catalog: Catalog, name: str) -> bool:
    have = catalog.indexes.get(name)
    return (
        have is not None
        and have.valid
        and have.tail == index.tail
        and (name != index.name or have.unique == index.unique)
    )


def rebuild_name(index: str) -> str:
    """Name of the replacement built beside an index whose definition changed."""
    return f"pgq_rebuild_{zlib.crc32(index.encode()):08x}"


def qualify_index(names: Names, index: Index, name: str) -> str:
    schema = names.schema_of(getattr(names, index.table))
    return f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)


def create_concurrently(names: Names, index: Index, *, name: str | None = None) -> str:
    # One statement per step and no transaction around it, so CONCURRENTLY is allowed: the
    # queue keeps taking writes while an index builds on a big log table.
    return render.index_sql(names, index, name=name).replace("INDEX ", "INDEX CONCURRENTLY ", 1)


def ws(text: str) -> str:
    return " ".join(text.split())


def checks_block(checks: list[str]) -> str:
    """Offline: the in-checks steps of one table as one DO block."""
    return sql("checks_block", checks=textwrap.indent("\n".join(checks), "    "))
