-- The statements of the upgrade steps (pgqueuer_schema/upgrades.py), online and offline.
-- Templates: each {placeholder} is filled by upgrades.py with an identifier quoted by
-- pgqueuer.names (quote_ident, Names.qualify) or a literal quoted by quote_literal; column names
-- come from the declaration. The comment lines after a block's name are dropped when rendered.

-- name: create_schema
CREATE SCHEMA IF NOT EXISTS {schema};

-- name: ignore_duplicate
-- Offline: run {statement}, and do nothing when the object already exists ({errors}).
DO $pgqueuer$
BEGIN
    {statement}
EXCEPTION WHEN {errors} THEN NULL;
END
$pgqueuer$;

-- name: add_enum_label
-- {after} is empty or " AFTER 'label'".
ALTER TYPE {type} ADD VALUE IF NOT EXISTS {label}{after};

-- name: add_column
-- {guard} is empty (online) or "IF NOT EXISTS " (offline).
ALTER TABLE {table} ADD COLUMN {guard}{ddl};

-- name: add_unique_constraint
ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({columns});

-- name: widen_column
ALTER TABLE {table} ALTER COLUMN {column} TYPE bigint;

-- name: widen_column_if_integer
-- Offline, inside the table's DO block (checks_block indents it).
-- {where} picks the column in information_schema.columns (column_where).
IF EXISTS (SELECT 1 FROM information_schema.columns WHERE {where} AND data_type = 'integer') THEN
    ALTER TABLE {table} ALTER COLUMN {column} TYPE bigint;
END IF;

-- name: column_to_status
-- {drop_default} is empty or the drop_default statement and a newline.
{drop_default}ALTER TABLE {table} ALTER COLUMN {column} TYPE {type} USING {column}::text::{type};

-- name: column_to_status_if_other
-- Offline, inside the table's DO block (checks_block indents it).
-- {restore} is empty, or a newline and the set_default statement.
IF EXISTS (SELECT 1 FROM information_schema.columns WHERE {where} AND udt_name <> {type_name}) THEN
    ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT;
    ALTER TABLE {table} ALTER COLUMN {column} TYPE {type} USING {column}::text::{type};{restore}
END IF;

-- name: column_where
-- The information_schema.columns predicate of one column ({schema}: a literal or current_schema()).
table_schema = {schema} AND table_name = {table_name} AND column_name = {column}

-- name: widen_sequence
ALTER SEQUENCE {sequence} AS bigint;

-- name: widen_sequence_if_integer
-- Offline, inside the table's DO block (checks_block indents it).
-- {sequence} is an expression naming the sequence (serial_sequence).
IF (SELECT format_type(seqtypid, NULL) FROM pg_sequence WHERE seqrelid = {sequence}::regclass) = 'integer' THEN
    EXECUTE format('ALTER SEQUENCE %s AS bigint', {sequence});
END IF;

-- name: serial_sequence
pg_get_serial_sequence({table}, 'id')

-- name: relax_legacy_columns
-- Offline, inside the table's DO block (checks_block indents it): columns of earlier
-- releases that this layout no longer writes must not block inserts.
FOR col IN SELECT column_name FROM information_schema.columns
    WHERE table_schema = {schema} AND table_name = {table_name}
      AND column_name NOT IN ({declared}) AND is_nullable = 'NO' AND column_default IS NULL
LOOP
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL', {table}, col.column_name);
    RAISE NOTICE 'legacy column % is unused: drop it by hand when convenient', col.column_name;
END LOOP;

-- name: checks_block
-- Offline: one table's catalog-guarded steps, in one DO block.
DO $pgqueuer$
DECLARE col record;
BEGIN
{checks}
END
$pgqueuer$;

-- name: set_default
ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default};

-- name: drop_default
ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT;

-- name: fill_nulls
UPDATE {table} SET {column} = {default} WHERE {column} IS NULL;

-- name: set_not_null
ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL;

-- name: drop_not_null
ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL;

-- name: drop_index
DROP INDEX {guard}{index};

-- name: rename_index
ALTER INDEX {index} RENAME TO {name};

-- name: drop_index_if_changed
-- Offline: drop an index of the declared name whose definition is not the declared one.
DO $pgqueuer$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid
        JOIN pg_namespace AS n ON n.oid = i.relnamespace
        WHERE n.nspname = {schema} AND i.relname = {name}
          AND (NOT x.indisvalid OR replace(split_part(pg_get_indexdef(x.indexrelid), ' USING btree ', 2), quote_ident(n.nspname) || '.', '')
              <> {tail})
    ) THEN
        DROP INDEX {index};
    END IF;
END
$pgqueuer$;

-- name: drop_trigger
DROP TRIGGER IF EXISTS {trigger} ON {table};

-- name: drop_type
DROP TYPE IF EXISTS {type};
