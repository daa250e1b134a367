-- Catalog probes behind Queries' has_* methods (PgQueuer's API). Names are passed as
-- parameters, never interpolated.

-- name: has_table
-- $1 text table name, optionally schema-qualified
SELECT to_regclass($1) IS NOT NULL AS ok;

-- name: table_has_column
-- $1 text table name
-- $2 text column name
SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_attribute
    WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped
) AS ok;

-- name: table_has_index
-- $1 text table name
-- $2 text index name (bare)
SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_index AS i
    JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
    WHERE i.indrelid = to_regclass($1) AND c.relname = $2
) AS ok;

-- name: has_user_defined_enum
-- $1 text label
-- $2 text enum type name, optionally schema-qualified
SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_enum AS e
    WHERE e.enumtypid = to_regtype($2) AND e.enumlabel = $1
) AS ok;

-- name: has_function
-- A function of that name visible on the search_path, or in the given schema.
-- $1 text schema (NULL: the search_path)
-- $2 text bare function name
SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_proc AS p
    JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
    WHERE p.proname = $2
      AND (CASE WHEN $1::text IS NULL THEN pg_catalog.pg_function_is_visible(p.oid)
                ELSE n.nspname = $1 END)
) AS ok;

-- name: has_trigger
-- A (user) trigger of that name on the queue table.
-- $1 text the queue table's qualified name
-- $2 text trigger name
SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_trigger
    WHERE tgrelid = to_regclass($1) AND tgname = $2 AND NOT tgisinternal
) AS ok;

-- name: is_read_only
-- Whether this session cannot write: a hot standby, or a read-only transaction.
SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::boolean AS ok;
