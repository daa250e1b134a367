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

from pgqueuer_schema.upgrades.base import (
    GlobalStep,
    TableStep,
    Target,
    checks_block,
    fold_statistics_sql,
    rebuild_name,
    sql,
    widenable,
)
from pgqueuer_schema.upgrades.objects import (
    AddEnumLabels,
    CreateEnum,
    CreateSchemas,
    DropRetiredEnum,
    DropRetiredIndexes,
    FoldStatistics,
    Indexes,
    NotifyTriggers,
)
from pgqueuer_schema.upgrades.tables import (
    AddColumns,
    AddUniqueConstraints,
    ConvertStatusColumns,
    CreateTable,
    RelaxLegacyColumns,
    SetDefaults,
    SetNullability,
    WidenColumns,
    WidenSequences,
)

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

__all__ = [
    "ALL_STEPS",
    "GLOBAL_AFTER",
    "GLOBAL_BEFORE",
    "TABLE_STEPS",
    "GlobalStep",
    "TableStep",
    "Target",
    "checks_block",
    "fold_statistics_sql",
    "rebuild_name",
    "sql",
    "widenable",
]
