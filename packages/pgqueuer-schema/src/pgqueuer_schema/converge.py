"""``pgq sql upgrade``: an idempotent script that converges any earlier layout, for DBAs.

Unlike the online upgrade it cannot look at the database first, so every statement guards
itself (IF NOT EXISTS, or a DO block that checks the catalog). Running it twice changes nothing
the second time. Run it statement by statement (psql's default), not with ``psql -1``.
"""

from __future__ import annotations

from pgqueuer.names import Names, quote_ident, quote_literal
from pgqueuer.types import Durability
from pgqueuer_schema import render
from pgqueuer_schema.declaration import PERSISTENCE, WIDENABLE, declare, retired_index_names
from pgqueuer_schema.plan import fold_statistics_sql


def _do(body: str) -> str:
    return f"DO $pgqueuer$\nBEGIN\n{body.rstrip()}\nEND\n$pgqueuer$;"


def _schema_expr(names: Names, name: str) -> str:
    schema = names.schema_of(name)
    return quote_literal(schema) if schema else "current_schema()"


def upgrade_sql(
    names: Names, durability: Durability | str = Durability.durable, *, widen_id: bool = True
) -> str:
    """The converge script for ``names``; tables it has to create get ``durability``."""
    level = Durability.parse(durability)
    decl = declare(names)
    status_bare = names.bare(names.queue_status_type)
    status_type = names.qualify(names.queue_status_type)
    out = [render.header(names, "upgrade (idempotent)", durability=level.value)]

    out.extend(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(s)};" for s in render.schemas_of(names))
    out.append(
        _do(
            f"    {render.enum_sql(names, decl.enum_labels)}\n"
            "EXCEPTION WHEN duplicate_object THEN NULL;"
        )
    )
    for i, label in enumerate(decl.enum_labels):
        after = f" AFTER {quote_literal(decl.enum_labels[i - 1])}" if i else ""
        out.append(
            f"ALTER TYPE {status_type} ADD VALUE IF NOT EXISTS {quote_literal(label)}{after};"
        )

    for table in decl.tables:
        qualified = names.qualify(table.name)
        out.append(
            render.table_sql(names, table, PERSISTENCE[level][table.field], if_not_exists=True)
        )
        for col in table.columns:
            if col.name == "id":
                continue
            ctype = status_type if col.type == status_bare else col.type
            default = render.qualified_tail(names, col.default) if col.default else None
            ddl = f"{col.name} {ctype}" + (f" DEFAULT {default}" if default else "")
            if col.not_null and default:
                ddl += " NOT NULL"
            out.append(f"ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS {ddl};")

        schema_expr = _schema_expr(names, table.name)
        checks = []
        for col in table.columns:
            where = (
                f"table_schema = {schema_expr} AND table_name = "
                f"{quote_literal(names.bare(table.name))} AND column_name = {quote_literal(col.name)}"
            )
            if col.type == "bigint" and col.name in WIDENABLE and widen_id:
                checks.append(
                    f"    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE {where} "
                    "AND data_type = 'integer') THEN\n"
                    f"        ALTER TABLE {qualified} ALTER COLUMN {col.name} TYPE bigint;\n"
                    "    END IF;"
                )
            if col.type == status_bare:
                restore = (
                    f"\n        ALTER TABLE {qualified} ALTER COLUMN {col.name} SET DEFAULT "
                    f"{render.qualified_tail(names, col.default)};"
                    if col.default
                    else ""
                )
                checks.append(
                    f"    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE {where} "
                    f"AND udt_name <> {quote_literal(status_bare)}) THEN\n"
                    f"        ALTER TABLE {qualified} ALTER COLUMN {col.name} DROP DEFAULT;\n"
                    f"        ALTER TABLE {qualified} ALTER COLUMN {col.name} TYPE {status_type} "
                    f"USING {col.name}::text::{status_type};{restore}\n"
                    "    END IF;"
                )
        if table.serial and widen_id:
            seq = f"pg_get_serial_sequence({quote_literal(qualified)}, 'id')"
            checks.append(
                f"    IF (SELECT format_type(seqtypid, NULL) FROM pg_sequence "
                f"WHERE seqrelid = {seq}::regclass) = 'integer' THEN\n"
                f"        EXECUTE format('ALTER SEQUENCE %s AS bigint', {seq});\n"
                "    END IF;"
            )
        # Columns of earlier releases that this layout no longer writes must not block inserts.
        declared = ", ".join(quote_literal(c.name) for c in table.columns)
        checks.append(
            "    FOR col IN SELECT column_name FROM information_schema.columns\n"
            f"        WHERE table_schema = {schema_expr} AND table_name = "
            f"{quote_literal(names.bare(table.name))}\n"
            f"          AND column_name NOT IN ({declared}) AND is_nullable = 'NO' "
            "AND column_default IS NULL\n"
            "    LOOP\n"
            f"        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL', "
            f"{quote_literal(qualified)}, col.column_name);\n"
            "        RAISE NOTICE 'legacy column % is unused: drop it by hand when convenient', "
            "col.column_name;\n"
            "    END LOOP;"
        )
        out.append(
            "DO $pgqueuer$\nDECLARE col record;\nBEGIN\n" + "\n".join(checks) + "\nEND\n$pgqueuer$;"
        )
        for col in table.columns:
            if col.default is not None and not col.identity and col.name != "id":
                default = render.qualified_tail(names, col.default)
                out.append(
                    f"ALTER TABLE {qualified} ALTER COLUMN {col.name} SET DEFAULT {default};"
                )
                if col.not_null:
                    out.append(
                        f"UPDATE {qualified} SET {col.name} = {default} WHERE {col.name} IS NULL;"
                    )
            if col.not_null:
                out.append(f"ALTER TABLE {qualified} ALTER COLUMN {col.name} SET NOT NULL;")
        for name, columns in table.unique:
            out.append(
                _do(
                    f"    ALTER TABLE {qualified} ADD CONSTRAINT {quote_ident(name)} "
                    f"UNIQUE ({', '.join(columns)});\n"
                    "EXCEPTION WHEN duplicate_table OR duplicate_object THEN NULL;"
                )
            )

    for field, retired in retired_index_names(names):
        table = getattr(names, field)
        suffix = retired[len(names.bare(table)) :]
        out.append(f"DROP INDEX IF EXISTS {names.qualify_derived(table, suffix)};")

    out.append(fold_statistics_sql(names))
    for index in decl.indexes:
        table = getattr(names, index.table)
        schema_expr = _schema_expr(names, table)
        qualified_index = names.qualify_derived(table, index.name[len(names.bare(table)) :])
        # Drop an index of the same name whose definition is not the declared one.
        out.append(
            _do(
                "    IF EXISTS (\n"
                "        SELECT 1 FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid\n"
                "        JOIN pg_namespace AS n ON n.oid = i.relnamespace\n"
                f"        WHERE n.nspname = {schema_expr} AND i.relname = {quote_literal(index.name)}\n"
                "          AND (NOT x.indisvalid OR replace(split_part(pg_get_indexdef(x.indexrelid), "
                "' USING btree ', 2), quote_ident(n.nspname) || '.', '')\n"
                f"              <> {quote_literal(index.tail)})\n"
                "    ) THEN\n"
                f"        DROP INDEX {qualified_index};\n"
                "    END IF;"
            )
        )
        out.append(render.index_sql(names, index, guard=True))

    queue = names.qualify(names.queue_table)
    out.append(render.function_sql(names))
    for trigger in decl.triggers:
        out.append(f"DROP TRIGGER IF EXISTS {quote_ident(trigger.name)} ON {queue};")
        out.append(render.trigger_sql(names, trigger))
    out.append(f"DROP TYPE IF EXISTS {render.retired_statistics_enum(names)};")
    return "\n".join(out) + "\n"
