-- Read-only insight queries of pgqueuer-core (Queries' insight methods). Object names follow
-- /*@field*/ markers, substituted by pgqueuer.names.Names.substitute. Each query reads through
-- an index and is bounded: a LIMIT on what it returns and on the rows it counts or aggregates.

-- name: stale_jobs
-- Picked jobs whose heartbeat is older than $1, stalest first (read only).
-- $1 interval threshold
-- $2 int      at most this many
SELECT id, entrypoint, queue_manager_id, heartbeat, attempts,
       extract(epoch FROM now() - heartbeat)::float8 AS seconds
FROM /*@queue_table*/pgqueuer
WHERE status = 'picked' AND heartbeat < now() - $1::interval
ORDER BY heartbeat
LIMIT $2;

-- name: active_workers
-- Workers holding picked jobs: how many, their heartbeats, which entrypoints.
SELECT queue_manager_id, count(*) AS jobs, min(heartbeat) AS oldest_heartbeat,
       max(heartbeat) AS newest_heartbeat, array_agg(DISTINCT entrypoint) AS entrypoints
FROM /*@queue_table*/pgqueuer
WHERE status = 'picked'
GROUP BY queue_manager_id
ORDER BY jobs DESC, queue_manager_id;

-- name: backlog
-- Queued jobs per entrypoint: how many, how many are due, how old.
SELECT entrypoint, count(*) AS queued,
       count(*) FILTER (WHERE execute_after <= now()) AS due,
       min(created) AS oldest_created,
       extract(epoch FROM now() - min(created))::float8 AS oldest_age,
       extract(epoch FROM avg(now() - created))::float8 AS average_age
FROM /*@queue_table*/pgqueuer
WHERE status = 'queued'
GROUP BY entrypoint
ORDER BY queued DESC, entrypoint;

-- name: queue_age
-- Per entrypoint with queued jobs: how many (each count stops at $1), how many are due, the
-- earliest due time. Entrypoints are found by a loose index scan of the due-time index (one
-- probe per distinct entrypoint), at most $2 of them.
-- $1 int at most this many rows counted per count
-- $2 int at most this many entrypoints
WITH RECURSIVE eps AS (
    (SELECT q.entrypoint FROM /*@queue_table*/pgqueuer AS q
     WHERE q.status = 'queued' ORDER BY q.entrypoint LIMIT 1)
    UNION ALL
    SELECT (SELECT q.entrypoint FROM /*@queue_table*/pgqueuer AS q
            WHERE q.status = 'queued' AND q.entrypoint > e.entrypoint
            ORDER BY q.entrypoint LIMIT 1)
    FROM eps AS e
    WHERE e.entrypoint IS NOT NULL
)
SELECT e.entrypoint,
       (SELECT count(*) FROM (
            SELECT 1 FROM /*@queue_table*/pgqueuer AS q
            WHERE q.entrypoint = e.entrypoint AND q.status = 'queued' LIMIT $1) AS c) AS queued,
       (SELECT count(*) FROM (
            SELECT 1 FROM /*@queue_table*/pgqueuer AS q
            WHERE q.entrypoint = e.entrypoint AND q.status = 'queued'
              AND q.execute_after <= now() LIMIT $1) AS c) AS due,
       (SELECT q.execute_after FROM /*@queue_table*/pgqueuer AS q
        WHERE q.entrypoint = e.entrypoint AND q.status = 'queued'
        ORDER BY q.execute_after LIMIT 1) AS oldest_due,
       now() AS db_now
FROM (SELECT entrypoint FROM eps WHERE entrypoint IS NOT NULL LIMIT $2) AS e
ORDER BY e.entrypoint;

-- name: job_durations
-- Per entrypoint, over the log rows of the last $1 (at most the $2 newest, read backwards
-- through the created index) of attempts that ran: run time (created - picked_at) p50, p95,
-- p99 and max, and time in queue (picked_at - execute_after) p50 and p95, in seconds.
-- $1 interval window
-- $2 int      at most this many log rows
SELECT r.entrypoint, count(*) AS count,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[]) WITHIN GROUP (
           ORDER BY date_part('epoch', r.created - r.picked_at)) AS run,
       max(date_part('epoch', r.created - r.picked_at)) AS run_max,
       percentile_cont(ARRAY[0.5, 0.95]::float8[]) WITHIN GROUP (
           ORDER BY date_part('epoch', r.picked_at - r.execute_after)) AS wait
FROM (
    SELECT l.created, l.entrypoint, l.picked_at, l.execute_after
    FROM /*@queue_table_log*/pgqueuer_log AS l
    WHERE l.created > now() - $1::interval
    ORDER BY l.created DESC
    LIMIT $2
) AS r
WHERE r.picked_at IS NOT NULL
GROUP BY r.entrypoint
ORDER BY r.entrypoint;

-- name: throughput_summary
-- Jobs per entrypoint and status over the log rows of the last $1 (NULL: all the log keeps),
-- at most the $2 newest. window_seconds is the span counted: $1, or, when the $2 rows came
-- sooner (or $1 is NULL), from the oldest row read to now.
-- $1 interval window (NULL: no limit)
-- $2 int      at most this many log rows
SELECT g.entrypoint, g.status, g.count,
       CASE WHEN $1::interval IS NULL OR sum(g.count) OVER () >= $2
            THEN greatest(date_part('epoch', now() - min(g.oldest) OVER ()), 1)
            ELSE date_part('epoch', $1::interval) END AS window_seconds
FROM (
    SELECT r.entrypoint, r.status::text AS status, count(*) AS count, min(r.created) AS oldest
    FROM (
        SELECT l.created, l.entrypoint, l.status
        FROM /*@queue_table_log*/pgqueuer_log AS l
        WHERE $1::interval IS NULL OR l.created > now() - $1::interval
        ORDER BY l.created DESC
        LIMIT $2
    ) AS r
    GROUP BY r.entrypoint, r.status
) AS g
ORDER BY g.entrypoint, g.status;

-- name: throughput_timeseries
-- Jobs per time bucket of $3 seconds, entrypoint and status, over the log rows of the last $1
-- (at most the $2 newest), oldest bucket first. Buckets are aligned to the epoch.
-- $1 interval window
-- $2 int      at most this many log rows
-- $3 float8   bucket width in seconds
SELECT to_timestamp(floor(date_part('epoch', r.created) / $3) * $3) AS start,
       r.entrypoint, r.status::text AS status, count(*) AS count
FROM (
    SELECT l.created, l.entrypoint, l.status
    FROM /*@queue_table_log*/pgqueuer_log AS l
    WHERE l.created > now() - $1::interval
    ORDER BY l.created DESC
    LIMIT $2
) AS r
GROUP BY 1, r.entrypoint, r.status
ORDER BY 1, r.entrypoint, r.status;

-- name: exception_logs
-- The newest $1 log rows of jobs that raised, among the newest $2 log rows (read backwards
-- through the created index).
-- $1 int at most this many
-- $2 int at most this many log rows searched
SELECT r.created, r.job_id, r.status::text AS status, r.priority, r.entrypoint, r.traceback,
       r.aggregated, r.picked_at, r.execute_after
FROM (
    SELECT l.id, l.created, l.job_id, l.status, l.priority, l.entrypoint, l.traceback,
           l.aggregated, l.picked_at, l.execute_after
    FROM /*@queue_table_log*/pgqueuer_log AS l
    ORDER BY l.created DESC
    LIMIT $2
) AS r
WHERE r.status = 'exception'
ORDER BY r.created DESC, r.id DESC
LIMIT $1;

-- name: job_log_history
-- The newest $2 log rows of one job (through the job_id index), oldest first.
-- $1 bigint job id
-- $2 int    at most this many
SELECT r.created, r.job_id, r.status::text AS status, r.priority, r.entrypoint, r.traceback,
       r.aggregated, r.picked_at, r.execute_after
FROM (
    SELECT l.id, l.created, l.job_id, l.status, l.priority, l.entrypoint, l.traceback,
           l.aggregated, l.picked_at, l.execute_after
    FROM /*@queue_table_log*/pgqueuer_log AS l
    WHERE l.job_id = $1
    ORDER BY l.created DESC
    LIMIT $2
) AS r
ORDER BY r.created, r.id;

-- name: browse_queue
-- A page of the queue table by id, optionally only some statuses and entrypoints.
-- $1 int    page size
-- $2 int    rows to skip
-- $3 text[] statuses (NULL: all)
-- $4 text[] entrypoints (NULL: all)
SELECT id, priority, created, updated, heartbeat, execute_after, status::text AS status,
       entrypoint, payload, attempts, queue_manager_id, slot, headers
FROM /*@queue_table*/pgqueuer
WHERE ($3::text[] IS NULL OR status::text = ANY($3))
  AND ($4::text[] IS NULL OR entrypoint = ANY($4))
ORDER BY id
LIMIT $1 OFFSET $2;

-- name: queue_job_by_id
-- One row of the queue table (none when the job is gone or never existed).
-- $1 bigint job id
SELECT id, priority, created, updated, heartbeat, execute_after, status::text AS status,
       entrypoint, payload, attempts, queue_manager_id, slot, headers
FROM /*@queue_table*/pgqueuer
WHERE id = $1;

-- name: unaggregated_log_count
-- Log rows not folded into statistics yet (through the partial index), counted up to $1.
-- $1 int at most this many
SELECT count(*) AS n
FROM (SELECT 1 FROM /*@queue_table_log*/pgqueuer_log WHERE NOT aggregated LIMIT $1) AS c;

-- name: schema_info
-- The installation's tables: persistence, estimated rows (planner statistics, -1 when never
-- analysed) and total size with indexes and TOAST.
-- $1 text[] the tables' qualified names
SELECT c.relname AS name, n.nspname AS schema, c.relpersistence = 'p' AS logged,
       c.reltuples::bigint AS estimated_rows, pg_total_relation_size(c.oid) AS total_bytes
FROM unnest($1::text[]) WITH ORDINALITY AS t (name, ord)
JOIN pg_catalog.pg_class AS c ON c.oid = to_regclass(t.name)
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
ORDER BY t.ord;
