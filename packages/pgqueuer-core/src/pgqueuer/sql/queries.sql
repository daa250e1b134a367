-- Runtime queries of pgqueuer-core. Object names are written with their defaults after a
-- /*@field*/ marker; pgqueuer.names.Names.substitute puts the configured names in.
-- Every block is one statement (one round trip, one implicit transaction).

-- name: enqueue
-- Queue a batch of jobs in one statement; a repeated active dedupe key fails with 23505.
-- Rows are inserted in input order, so the returned ids, sorted, follow that order.
-- $1 int[]      priorities
-- $2 text[]     entrypoints
-- $3 bytea[]    payloads
-- $4 interval[] delays from now (negative means already due)
-- $5 text[]     dedupe keys (NULL for none)
-- $6 jsonb[]    headers (NULL for none)
INSERT INTO /*@queue_table*/pgqueuer
    (priority, entrypoint, payload, execute_after, dedupe_key, headers, status)
SELECT i.priority, i.entrypoint, i.payload, now() + i.delay, i.dedupe_key, i.headers, 'queued'
FROM unnest($1::int[], $2::text[], $3::bytea[], $4::interval[], $5::text[], $6::jsonb[])
    WITH ORDINALITY AS i (priority, entrypoint, payload, delay, dedupe_key, headers, ord)
ORDER BY i.ord
RETURNING id, dedupe_key, true AS inserted;

-- name: enqueue_skip
-- As enqueue, but a job whose dedupe key is already queued or running is skipped.
-- $1..$6 as enqueue
INSERT INTO /*@queue_table*/pgqueuer
    (priority, entrypoint, payload, execute_after, dedupe_key, headers, status)
SELECT i.priority, i.entrypoint, i.payload, now() + i.delay, i.dedupe_key, i.headers, 'queued'
FROM unnest($1::int[], $2::text[], $3::bytea[], $4::interval[], $5::text[], $6::jsonb[])
    WITH ORDINALITY AS i (priority, entrypoint, payload, delay, dedupe_key, headers, ord)
ORDER BY i.ord
ON CONFLICT (dedupe_key) WHERE status IN ('queued', 'picked') AND dedupe_key IS NOT NULL
DO NOTHING
RETURNING id, dedupe_key, true AS inserted;

-- name: enqueue_update_priority
-- As enqueue, but an active job with the same dedupe key keeps its id and gets the higher
-- of the two priorities (keys must be unique within the batch).
-- $1..$6 as enqueue
INSERT INTO /*@queue_table*/pgqueuer AS q
    (priority, entrypoint, payload, execute_after, dedupe_key, headers, status)
SELECT i.priority, i.entrypoint, i.payload, now() + i.delay, i.dedupe_key, i.headers, 'queued'
FROM unnest($1::int[], $2::text[], $3::bytea[], $4::interval[], $5::text[], $6::jsonb[])
    WITH ORDINALITY AS i (priority, entrypoint, payload, delay, dedupe_key, headers, ord)
ORDER BY i.ord
ON CONFLICT (dedupe_key) WHERE status IN ('queued', 'picked') AND dedupe_key IS NOT NULL
-- A running job keeps its updated: it is the pick time its log row will record.
DO UPDATE SET priority = greatest(q.priority, EXCLUDED.priority),
    updated = CASE WHEN q.status = 'picked' THEN q.updated ELSE now() END
RETURNING id, dedupe_key, (xmax = 0) AS inserted;

-- name: finish_and_claim
-- The worker's only hot statement: record what it finished and claim what it can start next.
-- Finishing: rows still held by this worker are deleted (successful, exception, canceled),
-- held (failed), sent back for a retry (queued, attempts + 1) or released unchanged
-- (release, at shutdown). One log row per terminal job or retry; none for a release, none
-- for a row that is gone (cancelled meanwhile) or was rescued by another worker.
-- Never waits on a row lock: the finished rows are locked first with SKIP LOCKED, and only
-- those are written. A finished row this worker still holds but another transaction has
-- locked is returned as a `skipped` row (nothing written, nothing logged); the worker sends
-- it again in a later round trip. Claimed rows come back with skipped = false.
-- Each log row carries when that attempt was claimed (the row's updated, which only the claim
-- sets while a row is picked) and when the job had become due, for the dashboard's
-- time-in-queue and run-time figures.
-- Claiming: per entrypoint, the best queued and due rows (priority DESC, id) through the
-- partial index, locked with SKIP LOCKED so concurrent workers never wait on each other.
-- An entrypoint with a concurrency limit only gets as many rows as it has free seats; each
-- claimed row takes a seat number, and the unique index on (entrypoint, slot) of picked rows
-- makes two workers racing for the same seat fail with 23505 instead of overshooting.
-- Seats freed by this statement's own deletes are not visible to its claim (one snapshot);
-- their delete trigger wakes the workers to claim them.
-- $1 bigint[]   finished job ids
-- $2 text[]     outcomes: successful, exception, canceled, failed, queued, release
-- $3 jsonb[]    traceback records (NULL for none; the whole array NULL when none has one)
-- $4 interval[] retry delays (NULL unless queued; the whole array NULL when none has one)
-- $5 uuid       this worker's id
-- $6 text[]     entrypoints to claim from
-- $7 int[]      their concurrency limits (0 = unlimited)
-- Commit: a statement that only claims may commit without waiting for its WAL flush ($9). A
-- claim lost in a server crash leaves its jobs queued, as they were, to be claimed again: the
-- same outcome as a worker crash (at least once). A statement that finishes jobs always waits
-- (its flush also covers the asynchronous claims before it), so a recorded outcome is durable.
-- $8 int        how many jobs to claim at most (0 = only finish)
-- $9 boolean    claim-only statements commit asynchronously
WITH locked AS MATERIALIZED (
    -- The finished rows still held by this worker that no other transaction has locked, now
    -- locked by this one, so the DELETE and UPDATE below cannot wait. Through the primary key.
    SELECT q.id
    FROM /*@queue_table*/pgqueuer AS q
    WHERE q.id = ANY ($1::bigint[]) AND q.queue_manager_id = $5
    FOR UPDATE OF q SKIP LOCKED
),
done AS (
    SELECT d.id, d.outcome, d.traceback, d.delay
    FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::interval[])
        AS d (id, outcome, traceback, delay)
    WHERE d.id IN (SELECT id FROM locked)
),
skipped AS (
    -- Finished rows this worker held when the statement began that `locked` did not get:
    -- another transaction holds their lock (or took them since, e.g. a rescue or a cancel;
    -- the next attempt then finds them gone and drops them). The scan only runs when some
    -- row was not locked (a one-time filter), so the usual round trip does not pay for it.
    SELECT q.id
    FROM /*@queue_table*/pgqueuer AS q
    WHERE (SELECT count(*) FROM locked) < cardinality($1::bigint[])
      AND q.id = ANY ($1::bigint[]) AND q.queue_manager_id = $5
      AND q.id NOT IN (SELECT id FROM locked)
),
finished AS (
    -- Rows are found through the primary key (id = ANY(array)): a join against the CTE
    -- would let a generic plan pick a hash join over the whole table. A row carries a worker
    -- id only while it is picked (every other transition clears it), so "held by me" needs
    -- no status test, and without one the planner cannot prefer the picked-rows index, whose
    -- dead entries (every finished job leaves one) it would walk on every call.
    DELETE FROM /*@queue_table*/pgqueuer AS q
    WHERE q.id = ANY (ARRAY(
            SELECT id FROM done WHERE outcome IN ('successful', 'exception', 'canceled')))
      AND q.queue_manager_id = $5
    RETURNING q.id, q.priority, q.entrypoint, q.updated, q.execute_after
),
kept AS (
    UPDATE /*@queue_table*/pgqueuer AS q
    SET status = CASE done.outcome
            WHEN 'failed' THEN 'failed'::/*@queue_status_type*/pgqueuer_status
            ELSE 'queued'::/*@queue_status_type*/pgqueuer_status
        END,
        execute_after = CASE done.outcome
            WHEN 'queued' THEN now() + coalesce(done.delay, interval '0')
            WHEN 'release' THEN least(q.execute_after, now())
            ELSE q.execute_after
        END,
        attempts = q.attempts + (done.outcome = 'queued')::int,
        queue_manager_id = NULL,
        slot = NULL,
        updated = now()
    FROM done
    WHERE q.id = ANY (ARRAY(SELECT id FROM done WHERE outcome IN ('failed', 'queued', 'release')))
      AND q.id = done.id
      AND q.queue_manager_id = $5
    -- The statement's snapshot still sees the row as it was before this UPDATE: the pick
    -- time and due time of the attempt that just ended (one primary-key probe per kept row;
    -- successful jobs take the DELETE above and need none).
    RETURNING q.id, q.priority, q.entrypoint, done.outcome, done.traceback,
              (SELECT was.updated FROM /*@queue_table*/pgqueuer AS was WHERE was.id = q.id)
                  AS picked_at,
              (SELECT was.execute_after FROM /*@queue_table*/pgqueuer AS was WHERE was.id = q.id)
                  AS execute_after
),
logged AS (
    INSERT INTO /*@queue_table_log*/pgqueuer_log
        (job_id, status, priority, entrypoint, traceback, picked_at, execute_after)
    SELECT f.id, d.outcome::/*@queue_status_type*/pgqueuer_status, f.priority, f.entrypoint,
           d.traceback, f.updated, f.execute_after
    FROM finished AS f
    JOIN done AS d ON d.id = f.id
    UNION ALL
    SELECT id, outcome::/*@queue_status_type*/pgqueuer_status, priority, entrypoint, traceback,
           picked_at, execute_after
    FROM kept
    WHERE outcome <> 'release'
),
commit_mode AS MATERIALIZED (
    -- Transaction-local, read at commit: this statement is its own transaction.
    SELECT set_config('synchronous_commit', 'off', true) AS mode
    WHERE $9::boolean AND cardinality($1::bigint[]) = 0
),
wanted AS (
    SELECT w.entrypoint, w.lim, commit_mode.mode
    FROM unnest($6::text[], $7::int[]) AS w (entrypoint, lim)
    LEFT JOIN commit_mode ON true
    WHERE $8 > 0
),
free_seats AS (
    SELECT wanted.entrypoint, s.seat,
           row_number() OVER (PARTITION BY wanted.entrypoint ORDER BY s.seat) AS rank
    FROM wanted
    CROSS JOIN LATERAL generate_series(0, wanted.lim - 1) AS s (seat)
    WHERE wanted.lim > 0
      AND NOT EXISTS (
        SELECT 1 FROM /*@queue_table*/pgqueuer AS held
        WHERE held.entrypoint = wanted.entrypoint AND held.status = 'picked'
          AND held.slot = s.seat
      )
),
candidates AS (
    SELECT c.id, c.priority, wanted.entrypoint, wanted.lim
    FROM wanted
    CROSS JOIN LATERAL (
        SELECT q.id, q.priority
        FROM /*@queue_table*/pgqueuer AS q
        WHERE q.entrypoint = wanted.entrypoint AND q.status = 'queued'
          AND q.execute_after <= now()
        ORDER BY q.priority DESC, q.id
        LIMIT CASE WHEN wanted.lim > 0
            THEN least($8, (SELECT count(*) FROM free_seats f WHERE f.entrypoint = wanted.entrypoint))
            ELSE $8 END
        FOR UPDATE OF q SKIP LOCKED
    ) AS c
),
chosen AS (
    SELECT id, priority, entrypoint, lim
    FROM candidates
    ORDER BY priority DESC, id
    LIMIT $8
),
seated AS (
    SELECT r.id, f.seat
    FROM (
        SELECT id, entrypoint,
               row_number() OVER (PARTITION BY entrypoint ORDER BY priority DESC, id) AS rank
        FROM chosen
        WHERE lim > 0
    ) AS r
    JOIN free_seats AS f ON f.entrypoint = r.entrypoint AND f.rank = r.rank
),
claimed AS (
    UPDATE /*@queue_table*/pgqueuer AS q
    SET status = 'picked', queue_manager_id = $5, updated = now(), heartbeat = now(),
        slot = (SELECT seated.seat FROM seated WHERE seated.id = q.id)
    WHERE q.id = ANY (ARRAY(
            SELECT chosen.id FROM chosen
            WHERE chosen.lim = 0 OR chosen.id IN (SELECT seated.id FROM seated)))
    RETURNING q.id, q.priority, q.created, q.updated, q.heartbeat, q.execute_after, q.status,
              q.entrypoint, q.payload, q.attempts, q.queue_manager_id, q.slot, q.headers
)
SELECT id, priority, created, updated, heartbeat, execute_after, status, entrypoint, payload,
       attempts, queue_manager_id, slot, headers, false AS skipped
FROM claimed
UNION ALL
SELECT id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true
FROM skipped
ORDER BY skipped, priority DESC, id;

-- name: heartbeat
-- Keep this worker's jobs from being taken for stale (runs from the heartbeat thread); returns
-- the ids it still holds (the worker asks when a claim's answer was read late).
-- A row another transaction has locked is not waited for: it keeps its heartbeat until the
-- next beat (every heartbeat_timeout / 4, so up to three beats in a row can be missed before
-- it looks stale; rescue_stale skips locked rows too), and is returned as still held.
-- $1 bigint[] job ids
-- $2 uuid     this worker's id
WITH mine AS MATERIALIZED (
    SELECT q.id
    FROM /*@queue_table*/pgqueuer AS q
    WHERE q.id = ANY ($1::bigint[]) AND q.queue_manager_id = $2
    FOR NO KEY UPDATE OF q SKIP LOCKED
),
beaten AS (
    UPDATE /*@queue_table*/pgqueuer AS q
    SET heartbeat = now()
    WHERE q.id = ANY (ARRAY(SELECT id FROM mine)) AND q.queue_manager_id = $2
    RETURNING q.id
)
SELECT id FROM beaten
UNION ALL
SELECT q.id
FROM /*@queue_table*/pgqueuer AS q
WHERE (SELECT count(*) FROM mine) < cardinality($1::bigint[])
  AND q.id = ANY ($1::bigint[]) AND q.queue_manager_id = $2
  AND q.id NOT IN (SELECT id FROM mine);

-- name: update_heartbeat
-- Refresh the heartbeat of the given picked jobs, whoever holds them (PgQueuer's API).
-- $1 bigint[] job ids
UPDATE /*@queue_table*/pgqueuer
SET heartbeat = now()
WHERE id = ANY($1) AND status = 'picked';

-- name: rescue_stale
-- Jobs whose worker stopped beating for $2 are given back to the queue with one more attempt
-- (the trigger wakes the workers), or held as failed once they have used $4 attempts, so a
-- job that kills its worker cannot loop forever. Each gets a log row saying so.
-- $1 text[]   entrypoints
-- $2 interval heartbeat timeout
-- $3 int      at most this many rows
-- $4 int      attempts after which a stale job is held as failed
WITH stale AS (
    SELECT id, updated AS picked_at, execute_after
    FROM /*@queue_table*/pgqueuer
    WHERE status = 'picked' AND heartbeat < now() - $2::interval AND entrypoint = ANY($1)
    ORDER BY heartbeat
    LIMIT $3
    FOR UPDATE SKIP LOCKED
),
rescued AS (
    UPDATE /*@queue_table*/pgqueuer AS q
    SET status = CASE WHEN q.attempts + 1 >= $4
            THEN 'failed'::/*@queue_status_type*/pgqueuer_status
            ELSE 'queued'::/*@queue_status_type*/pgqueuer_status
        END,
        attempts = q.attempts + 1,
        queue_manager_id = NULL,
        slot = NULL,
        updated = now()
    FROM stale
    WHERE q.id = stale.id
    RETURNING q.id, q.status, q.priority, q.entrypoint, q.attempts, q.heartbeat,
              stale.picked_at, stale.execute_after
),
logged AS (
    INSERT INTO /*@queue_table_log*/pgqueuer_log
        (job_id, status, priority, entrypoint, picked_at, execute_after, traceback)
    SELECT id, status, priority, entrypoint, picked_at, execute_after, jsonb_build_object(
        'job_id', id,
        'timestamp', now(),
        'exception_type', 'WorkerLost',
        'exception_message', format(
            'no heartbeat since %s; %s', heartbeat,
            CASE WHEN status = 'failed' THEN format('held as failed after %s attempts', attempts)
                 ELSE format('queued again (attempt %s)', attempts) END),
        'traceback', '',
        'additional_context', jsonb_build_object('attempt', attempts, 'entrypoint', entrypoint)
    )
    FROM rescued
)
SELECT id, status::text AS status, entrypoint, attempts FROM rescued;

-- name: next_due
-- How long until the soonest deferred job of these entrypoints is due (NULL: none deferred).
-- $1 text[] entrypoints
SELECT min(due) - now() AS wait
FROM (
    SELECT (
        SELECT q.execute_after
        FROM /*@queue_table*/pgqueuer AS q
        WHERE q.entrypoint = e.entrypoint AND q.status = 'queued'
        ORDER BY q.execute_after
        LIMIT 1
    ) AS due
    FROM unnest($1::text[]) AS e (entrypoint)
) AS per_entrypoint;

-- name: queued_work
-- How many jobs of these entrypoints are queued (due or not).
-- $1 text[] entrypoints
SELECT count(*) AS n
FROM /*@queue_table*/pgqueuer
WHERE entrypoint = ANY($1) AND status = 'queued';

-- name: eligible_queued_work
-- How many jobs of these entrypoints are queued and due now.
-- $1 text[] entrypoints
SELECT count(*) AS n
FROM /*@queue_table*/pgqueuer
WHERE entrypoint = ANY($1) AND status = 'queued' AND execute_after <= now();

-- name: queue_size
-- Jobs in the queue table by entrypoint, priority and status.
SELECT count(*) AS count, entrypoint, priority, status::text AS status
FROM /*@queue_table*/pgqueuer
GROUP BY entrypoint, priority, status
ORDER BY count DESC, entrypoint, priority, status;

-- name: cancel_jobs
-- Cancel queued or running jobs: delete them, log 'canceled', and tell the workers running
-- them (they interrupt handlers that run under ctx.cancellation). Held jobs are left alone.
-- The notification names the queue table's schema, as the trigger's do: job ids are only
-- unique within one queue table, and queues in other schemas may share the channel.
-- $1 bigint[] job ids
-- $2 text     the channel
WITH gone AS (
    DELETE FROM /*@queue_table*/pgqueuer
    WHERE id = ANY($1) AND status IN ('queued', 'picked')
    RETURNING id, priority, entrypoint, status, updated, execute_after, tableoid
),
logged AS (
    -- A job cancelled while running records its pick time; one cancelled while queued never ran.
    INSERT INTO /*@queue_table_log*/pgqueuer_log
        (job_id, status, priority, entrypoint, picked_at, execute_after)
    SELECT id, 'canceled', priority, entrypoint,
           CASE WHEN status = 'picked' THEN updated END,
           CASE WHEN status = 'picked' THEN execute_after END
    FROM gone
),
told AS (
    SELECT pg_notify($2::text, json_build_object(
        'channel', $2::text,
        'type', 'cancellation_event',
        'sent_at', statement_timestamp(),
        'schema', (SELECT n.nspname
                   FROM pg_catalog.pg_class AS c
                   JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
                   WHERE c.oid = min(gone.tableoid)),
        'ids', array_agg(id)
    )::text)
    FROM gone
    WHERE status = 'picked'
    HAVING count(*) > 0
)
SELECT gone.id, (SELECT count(*) FROM told) AS notified FROM gone ORDER BY gone.id;

-- name: requeue_failed
-- Put held (failed) jobs back in the queue, due now, with their attempts reset.
-- $1 bigint[] job ids
WITH requeued AS (
    UPDATE /*@queue_table*/pgqueuer
    SET status = 'queued', attempts = 0, execute_after = now(), queue_manager_id = NULL,
        slot = NULL, updated = now()
    WHERE id = ANY($1) AND status = 'failed'
    RETURNING id, priority, entrypoint
),
logged AS (
    INSERT INTO /*@queue_table_log*/pgqueuer_log (job_id, status, priority, entrypoint)
    SELECT id, 'queued', priority, entrypoint FROM requeued
)
SELECT id FROM requeued ORDER BY id;

-- name: list_failed
-- Held (failed) jobs, newest first or oldest first.
-- $1 int  at most this many
-- $2 bool newest first
SELECT id, priority, created, updated, heartbeat, execute_after, status, entrypoint, payload,
       attempts, queue_manager_id, slot, headers
FROM /*@queue_table*/pgqueuer
WHERE status = 'failed'
ORDER BY CASE WHEN $2 THEN -id ELSE id END
LIMIT $1;

-- name: clear_entrypoints
-- Delete every job of these entrypoints, logging each as 'deleted'.
-- $1 text[] entrypoints
WITH gone AS (
    DELETE FROM /*@queue_table*/pgqueuer
    WHERE entrypoint = ANY($1)
    RETURNING id, priority, entrypoint
)
INSERT INTO /*@queue_table_log*/pgqueuer_log (job_id, status, priority, entrypoint)
SELECT id, 'deleted', priority, entrypoint FROM gone;

-- name: clear_all
-- Empty the queue table (no log rows, as PgQueuer).
TRUNCATE /*@queue_table*/pgqueuer;

-- name: job_status
-- The latest logged status of each job (jobs with no log row are left out).
-- $1 bigint[] job ids
SELECT DISTINCT ON (job_id) job_id, status::text AS status
FROM /*@queue_table_log*/pgqueuer_log
WHERE job_id = ANY($1)
ORDER BY job_id, created DESC, id DESC;

-- name: queue_log
-- The whole log, oldest first (PgQueuer's queue_log()).
SELECT created, job_id, status::text AS status, priority, entrypoint, traceback, aggregated,
       picked_at, execute_after
FROM /*@queue_table_log*/pgqueuer_log
ORDER BY id;

-- name: aggregate_log
-- Fold log rows into per-second statistics. The transaction-level advisory lock makes
-- concurrent runs (workers, dashboards) take turns, so no row is ever counted twice;
-- a run that does not get the lock does nothing. At most $2 rows per run.
-- $1 text lock key (the statistics table's name)
-- $2 int  at most this many log rows
WITH guard AS (
    SELECT pg_try_advisory_xact_lock(hashtext($1)) AS proceed
),
picked AS (
    SELECT l.id
    FROM /*@queue_table_log*/pgqueuer_log AS l
    WHERE NOT l.aggregated AND (SELECT proceed FROM guard)
    LIMIT $2
    FOR UPDATE SKIP LOCKED
),
marked AS (
    UPDATE /*@queue_table_log*/pgqueuer_log AS l
    SET aggregated = true
    FROM picked
    WHERE l.id = picked.id
    RETURNING l.created, l.status, l.priority, l.entrypoint
),
folded AS (
    INSERT INTO /*@statistics_table*/pgqueuer_statistics (created, count, priority, status, entrypoint)
    SELECT date_trunc('sec', created AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*), priority,
           status, entrypoint
    FROM marked
    GROUP BY 1, priority, status, entrypoint
    ON CONFLICT (priority, date_trunc('sec', created AT TIME ZONE 'UTC'), status, entrypoint)
    DO UPDATE SET count = /*@statistics_table*/pgqueuer_statistics.count + EXCLUDED.count
)
SELECT count(*) AS n FROM marked;

-- name: log_statistics
-- Per-second statistics, newest first.
-- $1 int         at most this many rows (NULL: all)
-- $2 interval    only this recent (NULL: all)
SELECT count, created, entrypoint, priority, status::text AS status
FROM /*@statistics_table*/pgqueuer_statistics
WHERE $2::interval IS NULL OR created > now() - $2::interval
ORDER BY created DESC, id DESC
LIMIT $1;

-- name: prune_log
-- Delete aggregated log rows older than $1 (at most $2 per call).
-- $1 interval retention
-- $2 int      at most this many rows
WITH old AS (
    SELECT id FROM /*@queue_table_log*/pgqueuer_log
    WHERE created < now() - $1::interval AND aggregated
    ORDER BY created
    LIMIT $2
)
DELETE FROM /*@queue_table_log*/pgqueuer_log AS l
USING old WHERE l.id = old.id;

-- name: prune_statistics
-- Delete statistics older than $1 (at most $2 per call).
-- $1 interval retention
-- $2 int      at most this many rows
WITH old AS (
    SELECT id FROM /*@statistics_table*/pgqueuer_statistics
    WHERE created < now() - $1::interval
    LIMIT $2
)
DELETE FROM /*@statistics_table*/pgqueuer_statistics AS s
USING old WHERE s.id = old.id;

-- name: clear_statistics
-- Delete the statistics of these entrypoints (NULL: all).
-- $1 text[] entrypoints
DELETE FROM /*@statistics_table*/pgqueuer_statistics
WHERE $1::text[] IS NULL OR entrypoint = ANY($1);

-- name: clear_log
-- Delete the log rows of these entrypoints (NULL: all).
-- $1 text[] entrypoints
DELETE FROM /*@queue_table_log*/pgqueuer_log
WHERE $1::text[] IS NULL OR entrypoint = ANY($1);

-- name: table_schema
-- Where the queue table really is (NULL when it does not exist): the schema the triggers
-- put in their payloads, so a worker ignores queues of the same prefix in other schemas.
-- $1 text the queue table's qualified name
SELECT n.nspname AS schema
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1);

-- name: queue_churn
-- The queue table's live and dead rows as the server's statistics count them (up to about a
-- second behind), the seconds since its last VACUUM by anyone (autovacuum included; NULL:
-- never), whether this role may vacuum it (a VACUUM of a table the role does not own only
-- warns), and whether a VACUUM of it is running now (one this role may see: a skipped
-- VACUUM (SKIP_LOCKED) writes a warning to the server's log), and whether the planner has
-- column statistics for it (those of execute_after; pg_stats shows only columns this role may
-- read, and the worker reads them all). No row when the table is not there.
-- $1 text the queue table's qualified name
SELECT s.n_live_tup AS live,
    s.n_dead_tup AS dead,
    extract(epoch FROM now() - greatest(s.last_vacuum, s.last_autovacuum))::float8 AS since_vacuum,
    pg_has_role(c.relowner, 'USAGE') AS may_vacuum,
    EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_vacuum AS p WHERE p.relid = s.relid)
        AS vacuuming,
    EXISTS (
        SELECT 1 FROM pg_catalog.pg_stats AS st
        WHERE st.schemaname = s.schemaname AND st.tablename = s.relname
          AND st.attname = 'execute_after'
    ) AS analyzed
FROM pg_catalog.pg_stat_user_tables AS s
JOIN pg_catalog.pg_class AS c ON c.oid = s.relid
WHERE s.relid = to_regclass($1);

-- name: vacuum_queue
-- Vacuum the queue table, unless another VACUUM (or DDL) holds it right now: then skip it
-- rather than wait. Outside a transaction block, without arguments.
VACUUM (SKIP_LOCKED) /*@queue_table*/pgqueuer;

-- name: analyze_queue
-- Gather the queue table's column statistics, unless a VACUUM (or DDL) holds it right now.
-- Without them the planner guesses that a few rows match the claim and may sort a whole
-- backlog on every claim (pgqueuer.worker.vacuum). Without arguments.
ANALYZE (SKIP_LOCKED) /*@queue_table*/pgqueuer;

-- name: notify
-- Send one notification.
-- $1 text channel
-- $2 text payload
SELECT pg_notify($1, $2);
