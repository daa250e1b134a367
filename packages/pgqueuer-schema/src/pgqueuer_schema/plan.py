"""Diff the catalog against the declaration: the steps that converge one to the other.

Each step is one unit of execution (a single statement, or a short script that must be atomic)
and carries the differences it fixes, so ``verify`` reports exactly what ``upgrade`` would change.
Nothing is dropped for being merely unknown: extra columns, indexes and triggers are left alone,
except the indexes earlier releases created and this layout retires.

The kinds of step are declared once, in :mod:`pgqueuer_schema.upgrades`, which also renders
them for the offline script (:mod:`pgqueuer_schema.converge`); this module walks them over an
inspected catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pgqueuer.errors import SchemaDriftError
from pgqueuer.types import Durability
from pgqueuer_schema import render
from pgqueuer_schema.declaration import PERSISTENCE, Declaration
from pgqueuer_schema.inspect import Catalog
from pgqueuer_schema.upgrades import (
    GLOBAL_AFTER,
    GLOBAL_BEFORE,
    TABLE_STEPS,
    Target,
    fold_statistics_sql,
    rebuild_name,
    widenable,
)

__all__ = [
    "Plan",
    "Step",
    "fold_statistics_sql",
    "infer_durability",
    "plan_upgrade",
    "rebuild_name",
]


@dataclass
class Step:
    sql: str
    reasons: list[str]
    note: str | None = None  # locks, rewrites: said before the step runs
    kind: str = ""  # the key of the upgrades step that produced it


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

    def add(self, sql: str, *reasons: str, note: str | None = None, kind: str = "") -> None:
        self.steps.append(Step(sql, list(reasons), note, kind))


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
            kind="install",
        )
        return plan

    target = Target(decl, level, widen_id)
    _find_drift(target, catalog, plan)
    for step in GLOBAL_BEFORE:
        step.detect(target, catalog, plan)
    for table in decl.tables:
        for table_step in TABLE_STEPS:
            table_step.detect(target, catalog, table, plan)
    for step in GLOBAL_AFTER:
        step.detect(target, catalog, plan)

    installed = infer_durability(catalog)
    if durability is not None and installed is not None and installed != durability:
        plan.notes.append(
            f"tables are at durability {installed.value!r}, not {durability.value!r}: upgrade "
            f"never rewrites tables for that; run 'pgq durability {durability.value}'"
        )
    return plan


def _find_drift(t: Target, catalog: Catalog, plan: Plan) -> None:
    """Column types no step converts: upgrade refuses to run until they are fixed by hand."""
    for table in t.decl.tables:
        info = catalog.tables.get(table.field)
        if info is None:
            continue
        for col in table.columns:
            have = info.columns.get(col.name)
            if have is None or have.type == col.type:
                continue
            if not widenable(have, col) and col.type != t.status_bare:
                plan.drift.append(
                    SchemaDriftError(t.names.bare(table.name), col.name, have.type, col.type)
                )
