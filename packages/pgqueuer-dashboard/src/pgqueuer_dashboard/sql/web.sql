-- Statements of the web pages (pgqueuer_dashboard.web) beyond the dashboard's and core's reads.

-- name: jit_off
-- For the rest of a page's read-only transaction: bounded index reads gain nothing from JIT
-- compilation, which costs hundreds of milliseconds (see dashboard.sql's jit_off).
SET LOCAL jit_above_cost = -1;

-- name: failed_ids
-- Held (failed) jobs of one entrypoint, the oldest first, at most $2 (requeue-all-failed),
-- through the held rows' partial index (see picked_jobs for "id + 0").
-- $1 text entrypoint
-- $2 int  at most this many
SELECT id FROM /*@queue_table*/pgqueuer
WHERE status = 'failed' AND entrypoint = $1
ORDER BY id + 0
LIMIT $2;

-- name: picked_jobs
-- A page of running jobs by id. Running and held jobs are few beside the queued ones: the
-- literal status and "ORDER BY id + 0" keep the planner on their partial index (then a top-N
-- sort of those few rows) instead of walking the primary key through every queued row.
-- $1 int  page size
-- $2 int  rows to skip
-- $3 text entrypoint (NULL: all)
SELECT id, priority, created, updated, heartbeat, execute_after, status::text AS status,
       entrypoint, payload, attempts, queue_manager_id, slot, headers
FROM /*@queue_table*/pgqueuer
WHERE status = 'picked' AND ($3::text IS NULL OR entrypoint = $3)
ORDER BY id + 0
LIMIT $1 OFFSET $2;

-- name: failed_jobs
-- A page of held (failed) jobs by id: as picked_jobs, through the held rows' partial index.
-- $1 int  page size
-- $2 int  rows to skip
-- $3 text entrypoint (NULL: all)
SELECT id, priority, created, updated, heartbeat, execute_after, status::text AS status,
       entrypoint, payload, attempts, queue_manager_id, slot, headers
FROM /*@queue_table*/pgqueuer
WHERE status = 'failed' AND ($3::text IS NULL OR entrypoint = $3)
ORDER BY id + 0
LIMIT $1 OFFSET $2;
