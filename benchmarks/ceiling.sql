-- PostgreSQL's own limit for the worker's claim/finish cycle, without Python (pgbench).
-- Each pgbench transaction claims up to 10 queued jobs for this client (status picked, with a
-- heartbeat and a per-client worker id), then deletes them and writes one log row each: the
-- same rows and indexes the worker's finish_and_claim touches, in two statements per batch.
-- Both statements run in one transaction (one commit per batch, as the worker's one statement).
-- Run by compare.py: pgbench -n -f ceiling.sql -D schema=<schema> -c 5 -j 2 -T <seconds>
BEGIN;
UPDATE :schema.pgqueuer
SET status = 'picked', queue_manager_id = md5(:client_id::text)::uuid,
    heartbeat = now(), updated = now()
WHERE id IN (
    SELECT id FROM :schema.pgqueuer
    WHERE entrypoint = 'bench' AND status = 'queued' AND execute_after <= now()
    ORDER BY priority DESC, id
    LIMIT 10
    FOR UPDATE SKIP LOCKED
);
WITH gone AS (
    DELETE FROM :schema.pgqueuer
    WHERE status = 'picked' AND queue_manager_id = md5(:client_id::text)::uuid
    RETURNING id, priority, entrypoint
)
INSERT INTO :schema.pgqueuer_log (job_id, status, priority, entrypoint)
SELECT id, 'successful', priority, entrypoint FROM gone;
COMMIT;
