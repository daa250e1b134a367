-- Read-only queries of pgqueuer-dashboard. Object names follow /*@field*/ markers, substituted
-- by pgqueuer.names.Names.substitute. Every query reads through an index and is bounded: a
-- LIMIT on the rows it returns and on the rows it counts or aggregates, so one refresh stays
-- cheap however big the queue and the log are.

-- name: queue_counts
-- Per entrypoint: queued jobs (with the earliest due time), held jobs and running jobs.
-- Entrypoints with queued or held jobs are found by a loose index scan (one index probe per
-- distinct entrypoint, not one row per job); each count stops at $1. Running jobs are read
-- through the picked-rows index, at most $1 of them in all.
-- $1 int at most this many rows counted per count
-- $2 int at most this many entrypoints per status
WITH RECURSIVE queued_eps AS (
    (SELECT q.entrypoint FROM /*@queue_table*/pgqueuer AS q
     WHERE q.status = 'queued' ORDER BY q.entrypoint LIMIT 1)
    UNION ALL
    SELECT (SELECT q.entrypoint FROM /*@queue_table*/pgqueuer AS q
            WHERE q.status = 'queued' AND q.entrypoint > e.entrypoint
            ORDER BY q.entrypoint LIMIT 1)
    FROM queued_eps AS e
    WHERE e.entrypoint IS NOT NULL
),
held_eps AS (
    -- Held rows: the only rows left in any other status than queued or picked (failed).
    (SELECT q.entrypoint FROM /*@queue_table*/pgqueuer AS q
     WHERE q.status NOT IN ('queued', 'picked') ORDER BY q.entrypoint LIMIT 1)
    UNION ALL
    SELECT (SELECT q.entrypoint FROM /*@queue_table*/pgqueuer AS q
            WHERE q.status NOT IN ('queued', 'picked') AND q.entrypoint > e.entrypoint
            ORDER BY q.entrypoint LIMIT 1)
    FROM held_eps AS e
    WHERE e.entrypoint IS NOT NULL
)
SELECT e.entrypoint, 'queued' AS status,
       (SELECT count(*) FROM (
            SELECT 1 FROM /*@queue_table*/pgqueuer AS q
            WHERE q.entrypoint = e.entrypoint AND q.status = 'queued'
            LIMIT $1) AS c) AS n,
       (SELECT q.execute_after FROM /*@queue_table*/pgqueuer AS q
        WHERE q.entrypoint = e.entrypoint AND q.status = 'queued'
        ORDER BY q.execute_after LIMIT 1) AS first_due
FROM (SELECT entrypoint FROM queued_eps WHERE entrypoint IS NOT NULL LIMIT $2) AS e
UNION ALL
SELECT e.entrypoint, 'failed',
       (SELECT count(*) FROM (
            SELECT 1 FROM /*@queue_table*/pgqueuer AS q
            WHERE q.entrypoint = e.entrypoint AND q.status NOT IN ('queued', 'picked')
            LIMIT $1) AS c),
       NULL
FROM (SELECT entrypoint FROM held_eps WHERE entrypoint IS NOT NULL LIMIT $2) AS e
UNION ALL
SELECT p.entrypoint, 'picked', count(*), NULL
FROM (SELECT q.entrypoint FROM /*@queue_table*/pgqueuer AS q
      WHERE q.status = 'picked' LIMIT $1) AS p
GROUP BY p.entrypoint;

-- name: log_window
-- Per entrypoint, over the log rows of the last $1 (at most the $2 newest, read backwards
-- through the created index): completed and failed jobs, retried attempts, and p50/p95/p99 of
-- time in queue (picked_at - execute_after) and run time (created - picked_at) in seconds.
-- window_seconds is the span the rows cover: $1, or less when the $2 rows came sooner.
-- (date_part returns float8; extract would compute numeric, slower for every row.)
-- $1 interval window
-- $2 int      at most this many log rows
-- $3 int      at most this many entrypoints
SELECT g.entrypoint, g.completed, g.failed, g.retried, g.queue_seconds, g.run_seconds,
       sum(g.n) OVER ()::bigint AS sampled,
       CASE WHEN sum(g.n) OVER () >= $2 THEN date_part('epoch', now() - min(g.oldest) OVER ())
            ELSE date_part('epoch', $1::interval) END AS window_seconds
FROM (
    SELECT r.entrypoint, count(*) AS n, min(r.created) AS oldest,
           count(*) FILTER (WHERE r.status = 'successful') AS completed,
           count(*) FILTER (WHERE r.status IN ('exception', 'failed')) AS failed,
           count(*) FILTER (WHERE r.status = 'queued' AND r.picked_at IS NOT NULL) AS retried,
           percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[]) WITHIN GROUP (
               ORDER BY date_part('epoch', r.picked_at - r.execute_after))
               FILTER (WHERE r.picked_at IS NOT NULL) AS queue_seconds,
           percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[]) WITHIN GROUP (
               ORDER BY date_part('epoch', r.created - r.picked_at))
               FILTER (WHERE r.picked_at IS NOT NULL) AS run_seconds
    FROM (
        SELECT l.created, l.entrypoint, l.status, l.picked_at, l.execute_after
        FROM /*@queue_table_log*/pgqueuer_log AS l
        WHERE l.created > now() - $1::interval
        ORDER BY l.created DESC
        LIMIT $2
    ) AS r
    GROUP BY r.entrypoint
) AS g
ORDER BY g.entrypoint
LIMIT $3;

-- name: workers
-- Every worker worth showing: registered ones that are alive (their registry row has not
-- expired) or hold running jobs, and workers holding running jobs without a registry row
-- (PgQueuer 1.6's, or started before the upgrade added the table): host, pid, entrypoints,
-- running jobs, heartbeats, last seen. Reads at most $1 picked rows through the picked-rows
-- index, and the registry (one small row per worker).
-- $1 int at most this many picked rows
-- $2 int at most this many workers
WITH picked AS (
    SELECT p.queue_manager_id, count(*) AS jobs, max(p.heartbeat) AS last_heartbeat,
           min(p.heartbeat) AS oldest_heartbeat,
           array_agg(DISTINCT p.entrypoint ORDER BY p.entrypoint) AS entrypoints
    FROM (SELECT q.queue_manager_id, q.heartbeat, q.entrypoint
          FROM /*@queue_table*/pgqueuer AS q
          WHERE q.status = 'picked'
          LIMIT $1) AS p
    GROUP BY p.queue_manager_id
)
SELECT coalesce(w.queue_manager_id, k.queue_manager_id) AS queue_manager_id,
       w.host, w.pid, w.started_at, w.last_seen,
       coalesce(k.jobs, 0) AS jobs, k.last_heartbeat, k.oldest_heartbeat,
       coalesce(w.entrypoints, k.entrypoints) AS entrypoints
FROM /*@workers_table*/pgqueuer_workers AS w
FULL JOIN picked AS k ON k.queue_manager_id = w.queue_manager_id
WHERE w.expires_at > now() OR k.jobs IS NOT NULL
ORDER BY jobs DESC, w.host, w.pid, 1
LIMIT $2;

-- name: picked_workers
-- The workers section of a database without the registry table (PgQueuer 1.6's, before
-- 'pgq upgrade'): workers holding running jobs only, shaped like the workers block.
-- $1 int at most this many picked rows
-- $2 int at most this many workers
SELECT p.queue_manager_id, NULL::text AS host, NULL::int AS pid,
       NULL::timestamptz AS started_at, NULL::timestamptz AS last_seen,
       count(*) AS jobs, max(p.heartbeat) AS last_heartbeat,
       min(p.heartbeat) AS oldest_heartbeat,
       array_agg(DISTINCT p.entrypoint ORDER BY p.entrypoint) AS entrypoints
FROM (SELECT q.queue_manager_id, q.heartbeat, q.entrypoint
      FROM /*@queue_table*/pgqueuer AS q
      WHERE q.status = 'picked'
      LIMIT $1) AS p
GROUP BY p.queue_manager_id
ORDER BY jobs DESC, p.queue_manager_id
LIMIT $2;

-- name: has_registry
-- Whether the worker registry table exists (it does once 'pgq upgrade' or install made it).
-- $1 text the registry table's quoted, qualified name
SELECT to_regclass($1) IS NOT NULL AS ok;

-- name: schedules
-- Cron schedules, the next to run first (a small table: one row per registered schedule).
-- $1 int at most this many
SELECT s.id, s.expression, s.entrypoint, s.heartbeat, s.created, s.updated, s.next_run,
       s.last_run, s.status::text AS status
FROM /*@schedules_table*/pgqueuer_schedules AS s
ORDER BY s.next_run, s.id
LIMIT $1;

-- name: recent_log
-- The newest $1 log rows (backwards through the created index), with the first line of the
-- exception for rows that carry one, and the attempt's time in queue and run time.
-- $1 int at most this many
SELECT l.id, l.created, l.job_id, l.entrypoint, l.priority, l.status::text AS status,
       CASE WHEN l.traceback IS NOT NULL THEN left(concat_ws(': ',
           l.traceback->>'exception_type',
           nullif(split_part(l.traceback->>'exception_message', E'\n', 1), '')), 300)
       END AS exception,
       date_part('epoch', l.picked_at - l.execute_after) AS queue_seconds,
       date_part('epoch', l.created - l.picked_at) AS run_seconds
FROM /*@queue_table_log*/pgqueuer_log AS l
ORDER BY l.created DESC, l.id DESC
LIMIT $1;

-- name: db_now
-- The database's clock (ages are computed from it, not from this host's).
SELECT now() AS now;

-- name: jit_off
-- For the rest of this transaction: the counts' LIMITs give cost estimates above
-- jit_above_cost, and compiling them costs far more than the index scans it would speed up.
-- (Not SET LOCAL jit = off: asyncpg's type introspection, which may run inside this
-- transaction, saves the current jit value and sets it back at session level.)
SET LOCAL jit_above_cost = -1;
