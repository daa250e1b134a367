-- name: current_schema
-- The schema unqualified names resolve to on this connection (NULL: none on the search_path).
SELECT current_schema() AS current;

-- name: inspect_tables
-- Tables among the given (schema, name) pairs, with persistence and storage parameters.
-- $1 text[]  schema of each table
-- $2 text[]  bare name of each table
SELECT n.nspname AS schema, c.relname AS name, c.relpersistence = 'p' AS logged,
       coalesce(c.reloptions, '{}') AS reloptions
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN unnest($1::text[], $2::text[]) AS want(schema, name)
  ON want.schema = n.nspname AND want.name = c.relname
WHERE c.relkind IN ('r', 'p');

-- name: inspect_columns
-- Columns of the given tables, typed and defaulted as PostgreSQL prints them.
-- $1 text[]  schema of each table
-- $2 text[]  bare name of each table
SELECT c.relname AS table_name, a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS "default", a.attidentity <> '' AS identity
FROM pg_attribute AS a
JOIN pg_class AS c ON c.oid = a.attrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN unnest($1::text[], $2::text[]) AS want(schema, name)
  ON want.schema = n.nspname AND want.name = c.relname
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum;

-- name: inspect_indexes
-- Indexes of the given tables; constraint-backed ones (primary keys, UNIQUE constraints) flagged.
-- $1 text[]  schema of each table
-- $2 text[]  bare name of each table
SELECT i.relname AS name, t.relname AS table_name, x.indisunique AS is_unique,
       x.indisvalid AS valid, pg_get_indexdef(x.indexrelid) AS definition,
       EXISTS (SELECT 1 FROM pg_constraint AS k WHERE k.conindid = x.indexrelid) AS is_constraint
FROM pg_index AS x
JOIN pg_class AS i ON i.oid = x.indexrelid
JOIN pg_class AS t ON t.oid = x.indrelid
JOIN pg_namespace AS n ON n.oid = t.relnamespace
JOIN unnest($1::text[], $2::text[]) AS want(schema, name)
  ON want.schema = n.nspname AND want.name = t.relname;

-- name: inspect_constraints
-- Primary key and UNIQUE constraints of the given tables.
-- $1 text[]  schema of each table
-- $2 text[]  bare name of each table
SELECT k.conname AS name, t.relname AS table_name, k.contype AS kind,
       pg_get_constraintdef(k.oid) AS definition
FROM pg_constraint AS k
JOIN pg_class AS t ON t.oid = k.conrelid
JOIN pg_namespace AS n ON n.oid = t.relnamespace
JOIN unnest($1::text[], $2::text[]) AS want(schema, name)
  ON want.schema = n.nspname AND want.name = t.relname
WHERE k.contype IN ('p', 'u');

-- name: inspect_sequences
-- Data type of the sequence behind each table's id column (serial or identity).
-- $1 text[]  quoted, qualified table names
SELECT t.name AS table_name, format_type(s.seqtypid, NULL) AS type,
       s.seqrelid::regclass::text AS sequence
FROM unnest($1::text[]) AS t(name)
JOIN pg_sequence AS s ON s.seqrelid = pg_get_serial_sequence(t.name, 'id')::regclass;

-- name: inspect_types
-- Enum types by (schema, name), with their labels in declaration order.
-- $1 text[]  schema of each type
-- $2 text[]  bare name of each type
SELECT t.typname AS name,
       array_agg(e.enumlabel ORDER BY e.enumsortorder) FILTER (WHERE e.enumlabel IS NOT NULL)
           AS labels
FROM pg_type AS t
JOIN pg_namespace AS n ON n.oid = t.typnamespace
JOIN unnest($1::text[], $2::text[]) AS want(schema, name)
  ON want.schema = n.nspname AND want.name = t.typname
LEFT JOIN pg_enum AS e ON e.enumtypid = t.oid
GROUP BY t.typname;

-- name: inspect_function
-- Source of the trigger function (no arguments), if it exists.
-- $1 text  schema
-- $2 text  bare function name
SELECT p.prosrc AS source
FROM pg_proc AS p
JOIN pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname = $1 AND p.proname = $2 AND p.pronargs = 0;

-- name: inspect_triggers
-- User triggers on the queue table.
-- $1 text  schema
-- $2 text  bare table name
SELECT g.tgname AS name, pg_get_triggerdef(g.oid) AS definition
FROM pg_trigger AS g
JOIN pg_class AS t ON t.oid = g.tgrelid
JOIN pg_namespace AS n ON n.oid = t.relnamespace
WHERE n.nspname = $1 AND t.relname = $2 AND NOT g.tgisinternal;

-- name: inspect_schema
-- Whether each schema exists, and the schema unqualified names resolve to.
-- $1 text[]  schema names
SELECT current_schema() AS current,
       array(SELECT s FROM unnest($1::text[]) AS s
             WHERE EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = s)) AS existing;
