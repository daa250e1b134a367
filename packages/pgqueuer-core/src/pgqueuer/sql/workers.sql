-- The worker registry (pgqueuer.registry): one row per running worker, so that `pgq workers`
-- and the dashboards can say which host and process each one is. Written when a worker starts
-- and by its maintenance loop (every heartbeat_timeout / 2), never per claim. Object names
-- follow /*@field*/ markers, substituted by pgqueuer.names.Names.substitute.

-- name: register_worker
-- Add this worker's row, or refresh it (also when a prune removed it meanwhile); the first
-- start time is kept. The row expires $6 after now unless refreshed again.
-- $1 uuid     queue manager id
-- $2 text     host
-- $3 int      pid
-- $4 text[]   entrypoints
-- $5 text     version of pgqueuer-core
-- $6 interval time to live
INSERT INTO /*@workers_table*/pgqueuer_workers AS w
    (queue_manager_id, host, pid, entrypoints, version, started_at, last_seen, expires_at)
VALUES ($1, $2, $3, $4, $5, now(), now(), now() + $6::interval)
ON CONFLICT (queue_manager_id) DO UPDATE
SET host = excluded.host, pid = excluded.pid, entrypoints = excluded.entrypoints,
    version = excluded.version, last_seen = excluded.last_seen,
    expires_at = excluded.expires_at;

-- name: unregister_worker
-- Remove this worker's row (a clean shutdown).
-- $1 uuid queue manager id
DELETE FROM /*@workers_table*/pgqueuer_workers WHERE queue_manager_id = $1;

-- name: prune_workers
-- Remove the rows of workers that died without saying so: expired for longer than $1.
-- $1 interval grace after expiry (the views still show an expired worker holding jobs)
DELETE FROM /*@workers_table*/pgqueuer_workers WHERE expires_at < now() - $1::interval;
