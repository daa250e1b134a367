-- The schema operations' own statements (pgqueuer_schema/operations.py, upgrades.py).

-- name: try_schema_lock
-- The installation's session advisory lock, without waiting (operations.schema_lock polls).
-- $1 bigint  lock key (operations.lock_key)
SELECT pg_try_advisory_lock($1) AS ok;

-- name: schema_unlock
-- $1 bigint  lock key
SELECT pg_advisory_unlock($1);

-- name: fold_statistics
-- Merge statistics rows that share a unique-count bucket into the oldest one, before the
-- unique index is built on them.
WITH ranked AS (
    SELECT id, first_value(id) OVER w AS keep, sum(count) OVER w AS total,
           row_number() OVER w AS n
    FROM /*@statistics_table*/pgqueuer_statistics WINDOW w AS (PARTITION BY priority, date_trunc('sec', timezone('UTC', created)), status, entrypoint ORDER BY id
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
), merged AS (
    UPDATE /*@statistics_table*/pgqueuer_statistics AS s SET count = r.total FROM ranked AS r
    WHERE s.id = r.id AND r.n = 1 AND r.total <> s.count
)
DELETE FROM /*@statistics_table*/pgqueuer_statistics AS s USING ranked AS r WHERE s.id = r.id AND r.n > 1;
