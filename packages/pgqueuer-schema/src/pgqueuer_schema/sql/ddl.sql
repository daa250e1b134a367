-- The statements render.py builds from the declaration (install, uninstall, durability,
-- autovacuum). Templates: each {placeholder} is filled with an identifier quoted by
-- pgqueuer.names, a literal quoted by quote_literal, or text rendered from the declaration.
-- The comment lines after a block's name are dropped when rendered.

-- name: create_type
CREATE TYPE {type} AS ENUM ({labels});

-- name: create_table
-- {kind}: TABLE or UNLOGGED TABLE; {guard}: empty or "IF NOT EXISTS "; {body}: the columns
-- and constraints, one per line.
CREATE {kind} {guard}{table} (
    {body}
);

-- name: create_index
-- {unique}: empty or "UNIQUE "; {guard}: empty or "IF NOT EXISTS "; {tail}: what follows
-- "USING btree" in pg_get_indexdef.
CREATE {unique}INDEX {guard}{name} ON {table} USING btree {tail};

-- name: create_function
-- {body}: the notify_function_body block of notify_function.sql.
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql AS $pgqueuer$
{body}$pgqueuer$;

-- name: create_trigger
CREATE TRIGGER {name} {timing} {body};

-- name: drop_function
DROP FUNCTION IF EXISTS {function}();

-- name: drop_table
DROP TABLE IF EXISTS {table};

-- name: set_persistence
-- {mode}: LOGGED or UNLOGGED.
ALTER TABLE {table} SET {mode};

-- name: set_storage
ALTER TABLE {table} SET ({settings});

-- name: reset_storage
ALTER TABLE {table} RESET ({settings});
