-- Statements of the web pages (pgqueuer_dashboard.web) beyond the dashboard's and core's reads.

-- name: jit_off
-- For the rest of a page's read-only transaction: bounded index reads gain nothing from JIT
-- compilation, which costs hundreds of milliseconds (see dashboard.sql's jit_off).
SET LOCAL jit_above_cost = -1;

-- name: failed_ids
-- Held (failed) jobs of one entrypoint, the oldest first, at most $2 (requeue-all-failed).
-- $1 text entrypoint
-- $2 int  at most this many
SELECT id FROM /*@queue_table*/pgqueuer
WHERE status = 'failed' AND entrypoint = $1
ORDER BY id
LIMIT $2;
