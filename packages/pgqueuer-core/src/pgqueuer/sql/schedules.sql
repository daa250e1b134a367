-- Scheduler queries. Object names follow /*@field*/ markers, substituted by Names.substitute.

-- name: insert_schedules
-- Register (expression, entrypoint) pairs; existing pairs keep their next and last run.
-- $1 text[]        expressions
-- $2 text[]        entrypoints
-- $3 timestamptz[] first run of each
INSERT INTO /*@schedules_table*/pgqueuer_schedules (expression, entrypoint, next_run, status)
SELECT s.expression, s.entrypoint, s.next_run, 'queued'
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS s (expression, entrypoint, next_run)
ON CONFLICT (expression, entrypoint) DO NOTHING;

-- name: delete_entrypoints
-- Remove every schedule of these entrypoints (clean_old, pgq schedules --remove NAME).
-- $1 text[] entrypoints
DELETE FROM /*@schedules_table*/pgqueuer_schedules
WHERE entrypoint = ANY($1)
RETURNING id;

-- name: delete_ids
-- Remove schedules by id.
-- $1 bigint[] ids
DELETE FROM /*@schedules_table*/pgqueuer_schedules
WHERE id = ANY($1)
RETURNING id;

-- name: heartbeat
-- The scheduler is still running these schedules.
-- $1 bigint[] ids
UPDATE /*@schedules_table*/pgqueuer_schedules
SET heartbeat = now()
WHERE id = ANY($1);

-- name: next_wake
-- Seconds until a registered schedule is due or a picked one goes stale (NULL: none).
-- $1 text[]   expressions
-- $2 text[]   entrypoints
-- $3 interval stale threshold
SELECT extract(epoch FROM min(CASE WHEN s.status = 'queued' THEN s.next_run
                                   ELSE s.heartbeat + $3::interval END) - now())::float8 AS wait
FROM /*@schedules_table*/pgqueuer_schedules AS s
JOIN unnest($1::text[], $2::text[]) AS r (expression, entrypoint)
    ON r.expression = s.expression AND r.entrypoint = s.entrypoint;

-- name: list_schedules
-- Every schedule, by id.
SELECT id, expression, entrypoint, heartbeat, created, updated, next_run, last_run,
       status::text AS status
FROM /*@schedules_table*/pgqueuer_schedules
ORDER BY id;

-- name: db_now
-- The database's clock (cron times are computed from it, not from this host's).
SELECT now() AS now;

-- name: insert_schedule
-- Register pairs due after a delay (PgQueuer's insert_schedule); existing pairs are kept.
-- $1 text[]     expressions
-- $2 text[]     entrypoints
-- $3 interval[] time until each one's first run
INSERT INTO /*@schedules_table*/pgqueuer_schedules (expression, entrypoint, next_run, status)
SELECT s.expression, s.entrypoint, date_trunc('seconds', now() + s.delay), 'queued'
FROM unnest($1::text[], $2::text[], $3::interval[]) AS s (expression, entrypoint, delay)
ON CONFLICT (expression, entrypoint) DO NOTHING;

-- name: fetch_schedule
-- Take the registered schedules that are due (or whose scheduler stopped beating for $4) and
-- mark them picked. The row lock (SKIP LOCKED) and the status change in one statement mean
-- that, across any number of schedulers, exactly one of them fires each tick. Each claimed
-- row's next run moves to now + its delay (the next tick; the scheduler sets it again, from
-- the database's clock, when the run ends).
-- $1 text[]     expressions
-- $2 text[]     entrypoints (pairs with $1)
-- $3 interval[] time until each pair's next tick
-- $4 interval   a picked schedule without a heartbeat for this long is taken over
WITH due AS (
    SELECT s.id, r.delay
    FROM /*@schedules_table*/pgqueuer_schedules AS s
    JOIN unnest($1::text[], $2::text[], $3::interval[]) AS r (expression, entrypoint, delay)
        ON r.expression = s.expression AND r.entrypoint = s.entrypoint
    WHERE (s.status = 'queued' AND s.next_run <= now())
       OR (s.status = 'picked' AND s.heartbeat < now() - $4::interval)
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE /*@schedules_table*/pgqueuer_schedules AS s
SET status = 'picked', heartbeat = now(), updated = now(),
    next_run = date_trunc('seconds', now() + due.delay)
FROM due
WHERE s.id = due.id
RETURNING s.id, s.expression, s.entrypoint, s.heartbeat, s.created, s.updated, s.next_run,
          s.last_run, s.status::text AS status;

-- name: set_schedule_queued
-- Runs ended (well or not): back to queued, last run now, next run as given (NULL: keep).
-- $1 bigint[]      ids
-- $2 timestamptz[] next runs (pairs with $1)
UPDATE /*@schedules_table*/pgqueuer_schedules AS s
SET status = 'queued', last_run = now(), updated = now(),
    next_run = coalesce(r.next_run, s.next_run)
FROM unnest($1::bigint[], $2::timestamptz[]) AS r (id, next_run)
WHERE s.id = r.id;

-- name: clear_schedules
-- Remove every schedule.
DELETE FROM /*@schedules_table*/pgqueuer_schedules;
