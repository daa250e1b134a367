"""Install, uninstall, upgrade, verify, durability and autovac against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

import pgqueuer_schema as schema
from pgqueuer.errors import SchemaAlreadyInstalledError, SchemaNotInstalledError
from pgqueuer.names import Names
from pgqueuer.types import Durability
from pgqueuer_schema.declaration import declare

SNAPSHOTS = Path(__file__).parent / "snapshots"


async def catalog_fingerprint(conn: asyncpg.Connection, names: Names) -> dict[str, object]:
    """Everything the declaration covers, comparable across schemas."""
    cat = await schema.inspect(conn, names)
    return {
        "tables": {
            f: (t.logged, t.id_sequence_type, sorted(vars(c).items() for c in t.columns.values()))
            for f, t in cat.tables.items()
        },
        "indexes": {n: (i.table, i.unique, i.valid, i.tail) for n, i in cat.indexes.items()},
        "constraints": cat.constraints,
        "labels": cat.enum_labels,
        "retired_enum": cat.retired_enum,
        "function": " ".join((cat.function_source or "").split()),
        "triggers": cat.triggers,
    }


async def load_snapshot(conn: asyncpg.Connection, schema_name: str, release: str) -> None:
    sql = (SNAPSHOTS / f"pgqueuer_{release}.sql").read_text()
    async with conn.transaction():
        await conn.execute(f'SET LOCAL search_path TO "{schema_name}"')
        await conn.execute(sql)


async def row_counts(conn: asyncpg.Connection, names: Names) -> dict[str, int]:
    out = {}
    for field in ("queue_table", "queue_table_log", "statistics_table", "schedules_table"):
        out[field] = await conn.fetchval(
            f"SELECT count(*) FROM {names.qualify(getattr(names, field))}"
        )
    return out


async def test_fresh_install_verifies_clean_and_plans_nothing(conn, names):
    assert await schema.verify(conn, names) == []
    assert (await schema.plan(conn, names)).empty


async def test_install_creates_every_declared_object_in_the_schema(conn, empty_schema):
    names = Names.create(schema=empty_schema)
    await schema.install(conn, names)
    cat = await schema.inspect(conn, names)
    decl = declare(names)
    assert set(cat.tables) == {t.field for t in decl.tables}
    assert {i.name for i in decl.indexes} <= set(cat.indexes)
    assert set(cat.triggers) == set(names.trigger_names)
    assert cat.enum_labels == list(decl.enum_labels)


async def test_install_twice_raises_already_installed(conn, names):
    with pytest.raises(SchemaAlreadyInstalledError, match="pgq upgrade"):
        await schema.install(conn, names)


async def test_uninstall_drops_everything_and_is_repeatable(conn, names):
    await schema.uninstall(conn, names)
    assert await schema.verify(conn, names, expect="absent") == []
    assert not await schema.is_installed(conn, names)
    await schema.uninstall(conn, names)  # second run is fine


async def test_uninstall_keeps_the_schema_and_foreign_objects(conn, names):
    await conn.execute(f'CREATE TABLE "{names.schema}".mine (x int)')
    await schema.uninstall(conn, names)
    assert await conn.fetchval(f"SELECT to_regclass('\"{names.schema}\".mine') IS NOT NULL")


async def test_verify_absent_lists_what_is_installed(conn, names):
    lines = await schema.verify(conn, names, expect="absent")
    assert "unexpected table 'pgqueuer'" in lines
    assert "unexpected function 'fn_pgqueuer_changed'" in lines


async def test_verify_reports_missing_column_index_label_and_trigger(conn, names):
    q = names.qualify(names.queue_table)
    await conn.execute(f"ALTER TABLE {q} DROP COLUMN slot CASCADE")
    await conn.execute(f'DROP INDEX "{names.schema}".pgqueuer_ep_ea_idx')
    await conn.execute(f"DROP TRIGGER IF EXISTS tg_pgqueuer_changed_delete ON {q}")
    lines = await schema.verify(conn, names)
    assert "missing column pgqueuer.slot" in lines
    assert "missing index 'pgqueuer_ep_ea_idx'" in lines
    assert "missing trigger 'tg_pgqueuer_changed_delete'" in lines
    await schema.upgrade(conn, names)
    assert await schema.verify(conn, names) == []


async def test_verify_reports_changed_index_definition(conn, names):
    await conn.execute(f'DROP INDEX "{names.schema}".pgqueuer_log_created')
    await conn.execute(
        f"CREATE INDEX pgqueuer_log_created ON {names.qualify(names.queue_table_log)} (id)"
    )
    lines = await schema.verify(conn, names)
    assert lines == [
        "index 'pgqueuer_log_created' is (id), expected (created)",
        "swap in the rebuilt 'pgqueuer_log_created'",
    ]
    await schema.upgrade(conn, names)
    assert await schema.verify(conn, names) == []


async def test_empty_database_upgrade_is_a_full_install(conn, empty_schema):
    names = Names.create(schema=empty_schema)
    plan = await schema.plan(conn, names)
    assert len(plan.steps) == 1 and "CREATE TABLE" in plan.steps[0].sql
    await schema.upgrade(conn, names)
    assert await schema.verify(conn, names) == []


@pytest.mark.parametrize("release", ["0_26", "1_6"])
async def test_upgrade_from_pgqueuer_release_keeps_rows_and_matches_fresh_install(
    conn, empty_schema, names, release
):
    old = Names.create(schema=empty_schema)
    await load_snapshot(conn, empty_schema, release)
    before = await row_counts(conn, old)
    jobs_before = await conn.fetch(
        f"SELECT id, priority, entrypoint, payload, status::text FROM {old.qualify(old.queue_table)} ORDER BY id"
    )
    differences = await schema.verify(conn, old)
    assert "missing table 'pgqueuer_workers'" in differences  # the worker registry is new

    plan = await schema.upgrade(conn, old)
    assert not plan.empty

    assert await row_counts(conn, old) == before
    jobs_after = await conn.fetch(
        f"SELECT id, priority, entrypoint, payload, status::text FROM {old.qualify(old.queue_table)} ORDER BY id"
    )
    assert jobs_after == jobs_before
    assert await catalog_fingerprint(conn, old) == await catalog_fingerprint(conn, names)
    assert await schema.verify(conn, old) == []
    assert (await schema.upgrade(conn, old)).empty  # a second run is a no-op


@pytest.mark.parametrize("release", ["0_26", "1_6"])
async def test_sql_upgrade_script_converges_release_and_is_idempotent(
    conn, empty_schema, names, release
):
    old = Names.create(schema=empty_schema)
    await load_snapshot(conn, empty_schema, release)
    before = await row_counts(conn, old)
    script = schema.upgrade_sql(old)
    await conn.execute(script)
    await conn.execute(script)
    assert await row_counts(conn, old) == before
    assert await catalog_fingerprint(conn, old) == await catalog_fingerprint(conn, names)


async def test_sql_upgrade_script_installs_into_an_empty_schema(conn, empty_schema, names):
    fresh = Names.create(schema=empty_schema)
    await conn.execute(schema.upgrade_sql(fresh))
    assert await catalog_fingerprint(conn, fresh) == await catalog_fingerprint(conn, names)


async def test_upgrade_without_widening_leaves_integer_ids(conn, empty_schema):
    old = Names.create(schema=empty_schema)
    await load_snapshot(conn, empty_schema, "0_26")
    plan = await schema.upgrade(conn, old, widen_id=False)
    assert any("--no-widen-id" in note for note in plan.notes)
    cat = await schema.inspect(conn, old)
    assert cat.tables["queue_table"].columns["id"].type == "integer"


async def test_concurrent_upgrades_are_serialised(conn, dsn, empty_schema):
    old = Names.create(schema=empty_schema)
    await load_snapshot(conn, empty_schema, "1_6")
    conns = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        plans = await asyncio.gather(*(schema.upgrade(c, old) for c in conns))
    finally:
        for c in conns:
            await c.close()
    assert sorted(p.empty for p in plans) == [False, True, True]
    assert await schema.verify(conn, old) == []


async def test_durability_round_trip_keeps_rows(conn, names):
    q = names.qualify(names.queue_table)
    await conn.execute(
        f"INSERT INTO {q} (priority, status, entrypoint, payload) "
        "SELECT i, 'queued', 'ep', 'x' FROM generate_series(1, 50) AS i"
    )
    for level in (Durability.volatile, Durability.balanced, Durability.durable):
        assert await schema.set_durability(conn, names, level)
        cat = await schema.inspect(conn, names)
        from pgqueuer_schema.plan import infer_durability

        assert infer_durability(cat) == level
        assert await schema.verify(conn, names, durability=level) == []
        assert await conn.fetchval(f"SELECT count(*) FROM {q}") == 50
    assert not await schema.set_durability(conn, names, Durability.durable)  # nothing to do


async def test_verify_reports_durability_mismatch(conn, names):
    await schema.set_durability(conn, names, "balanced")
    lines = await schema.verify(conn, names, durability=Durability.durable)
    assert "table 'pgqueuer_log' is UNLOGGED, expected logged for durability 'durable'" in lines
    await conn.execute(f"ALTER TABLE {names.qualify(names.queue_table)} SET UNLOGGED")
    await conn.execute(f"ALTER TABLE {names.qualify(names.queue_table_log)} SET LOGGED")
    assert any("match no durability level" in line for line in await schema.verify(conn, names))


async def test_install_volatile_creates_unlogged_tables(conn, empty_schema):
    names = Names.create(schema=empty_schema)
    await schema.install(conn, names, Durability.volatile)
    cat = await schema.inspect(conn, names)
    assert not any(t.logged for t in cat.tables.values())
    assert await schema.verify(conn, names, durability=Durability.volatile) == []


async def test_durability_on_missing_schema_says_install(conn, empty_schema):
    with pytest.raises(
        SchemaNotInstalledError, match=f"pgq --schema {empty_schema} install.*pgqueuer-schema"
    ):
        await schema.set_durability(conn, Names.create(schema=empty_schema), "volatile")


async def test_autovac_sets_and_rolls_back_storage_parameters(conn, names):
    await schema.autovac(conn, names)
    cat = await schema.inspect(conn, names)
    assert cat.tables["queue_table"].reloptions["fillfactor"] == "70"
    assert cat.tables["queue_table_log"].reloptions["autovacuum_vacuum_threshold"] == "1000000"
    await schema.autovac(conn, names, rollback=True)
    cat = await schema.inspect(conn, names)
    assert all(not t.reloptions for t in cat.tables.values())


async def test_prefix_and_schema_installs_live_side_by_side(conn, empty_schema):
    a = Names.create(schema=empty_schema)
    b = Names.create(prefix="other_", schema=empty_schema)
    await schema.install(conn, a)
    await schema.install(conn, b)
    assert await schema.verify(conn, a) == []
    assert await schema.verify(conn, b) == []
    await schema.uninstall(conn, b)
    assert await schema.verify(conn, a) == []
    assert await schema.verify(conn, b, expect="absent") == []
    assert (await schema.inspect(conn, b)).tables == {}
    cat = await schema.inspect(conn, a)
    assert "pgqueuer_pkey" in cat.indexes


async def test_install_on_search_path_without_schema(conn, dsn, empty_schema):
    """No --schema: objects go where unqualified names resolve (the first search_path entry)."""
    other = await asyncpg.connect(dsn, server_settings={"search_path": empty_schema})
    try:
        names = Names.create()
        await schema.install(other, names)
        assert await schema.verify(other, names) == []
        assert await conn.fetchval(f"SELECT to_regclass('\"{empty_schema}\".pgqueuer') IS NOT NULL")
    finally:
        await other.close()
