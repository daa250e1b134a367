"""``pgq sql upgrade``: an idempotent script that converges any earlier layout, for DBAs.

Unlike the online upgrade it cannot look at the database first, so every statement guards
itself (IF NOT EXISTS, or a DO block that checks the catalog). Running it twice changes nothing
the second time. Run it statement by statement (psql's default), not with ``psql -1``.

The steps and their guarded SQL are declared in :mod:`pgqueuer_schema.upgrades`, beside the
online detection of the same differences; this module strings them together.
"""

from __future__ import annotations

from pgqueuer.names import Names
from pgqueuer.types import Durability
from pgqueuer_schema import render
from pgqueuer_schema.declaration import declare
from pgqueuer_schema.upgrades import (
    GLOBAL_AFTER,
    GLOBAL_BEFORE,
    TABLE_STEPS,
    Target,
    checks_block,
)


def upgrade_sql(
    names: Names, durability: Durability | str = Durability.durable, *, widen_id: bool = True
) -> str:
    """The converge script for ``names``; tables it has to create get ``durability``."""
    level = Durability.parse(durability)
    target = Target(declare(names), level, widen_id)
    out = [render.header(names, "upgrade (idempotent)", durability=level.value)]
    for step in GLOBAL_BEFORE:
        out.extend(step.guarded(target))
    for table in target.decl.tables:
        checks: list[str] = []  # consecutive in-checks steps share one DO block
        for table_step in TABLE_STEPS:
            if table_step.in_checks:
                checks.extend(table_step.guarded(target, table))
                continue
            if checks:
                out.append(checks_block(checks))
                checks = []
            out.extend(table_step.guarded(target, table))
        if checks:
            out.append(checks_block(checks))
    for step in GLOBAL_AFTER:
        out.extend(step.guarded(target))
    return "\n".join(out) + "\n"
