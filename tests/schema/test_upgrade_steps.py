"""Each upgrade step is declared once (pgqueuer_schema.upgrades) and rendered both ways: found
online in a database that needs it, and present in the offline script ``pgq sql upgrade``."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import asyncpg

import pgqueuer_schema as schema
from pgqueuer.names import Names
from pgqueuer_schema.declaration import declare
from pgqueuer_schema.plan import plan_upgrade
from pgqueuer_schema.upgrades import ALL_STEPS, GLOBAL_AFTER, GLOBAL_BEFORE, TABLE_STEPS, Target

SNAPSHOTS = Path(__file__).parent / "snapshots"
KEYS = [step.key for step in ALL_STEPS]


def test_every_step_has_its_own_key() -> None:
    assert len(KEYS) == len(set(KEYS))


def test_every_step_renders_offline_into_the_script() -> None:
    # A configured schema, so that create_schema has a schema to create.
    for names in (Names.create(schema="jobs"), Names.create(schema="jobs", prefix="x_")):
        script = schema.upgrade_sql(names)
        target = Target(declare(names))
        rendered: dict[str, list[str]] = {
            **{s.key: s.guarded(target) for s in (*GLOBAL_BEFORE, *GLOBAL_AFTER)},
            **{
                s.key: [sql for table in target.decl.tables for sql in s.guarded(target, table)]
                for s in TABLE_STEPS
            },
        }
        assert set(rendered) == set(KEYS)
        for key, statements in rendered.items():
            assert statements, f"step {key!r} renders nothing offline"
            for sql in statements:
                # Steps inside a table's DO block are indented there.
                assert sql in script or textwrap.indent(sql, "    ") in script, (key, sql)


async def test_every_step_is_found_online_in_a_database_that_needs_it(
    conn: asyncpg.Connection, empty_schema: str
) -> None:
    names = Names.create(schema=empty_schema)
    q = f'"{empty_schema}"'
    async with conn.transaction():  # a 0.26 install, then more drift
        await conn.execute(f"SET LOCAL search_path TO {q}")
        await conn.execute((SNAPSHOTS / "pgqueuer_0_26.sql").read_text())
    for statement in (
        f"ALTER TABLE {q}.pgqueuer ADD COLUMN legacy integer NOT NULL DEFAULT 0",
        f"ALTER TABLE {q}.pgqueuer ALTER COLUMN legacy DROP DEFAULT",
        f"ALTER TABLE {q}.pgqueuer_log ALTER COLUMN status TYPE text",
        f"ALTER TABLE {q}.pgqueuer ALTER COLUMN priority SET DEFAULT 5",
        f"ALTER TABLE {q}.pgqueuer_schedules DROP CONSTRAINT IF EXISTS "
        "pgqueuer_schedules_expression_entrypoint_key",
        f"DROP TABLE {q}.pgqueuer_statistics",
        f"CREATE TYPE {q}.pgqueuer_statistics_status AS ENUM ('exhausted')",
    ):
        await conn.execute(statement)
    found = {step.kind for step in (await schema.plan(conn, names)).steps}

    # Two differences this database cannot have: a missing schema (only dotted names put
    # tables outside the one they live in) and a missing enum type (its tables use it). The
    # plan is a plain function of the catalog, so they are shown to it by hand.
    catalog = await schema.inspect(conn, names)
    catalog = replace(
        catalog, enum_labels=None, schemas={**catalog.schemas, "pgq_no_such_schema": False}
    )
    found |= {step.kind for step in plan_upgrade(declare(names), catalog).steps}
    assert found == set(KEYS), f"never found online: {set(KEYS) - found}"

    script = schema.upgrade_sql(names)
    await schema.upgrade(conn, names)
    assert await schema.verify(conn, names) == []
    await conn.execute(script)  # and the offline script changes nothing after it
    assert await schema.verify(conn, names) == []
