-- name: notify_function_body
-- Body of the trigger function on the queue table. It tells listening workers that jobs became
-- claimable, and for which entrypoints, so a worker that does not serve them stays asleep.
--   * INSERT (statement trigger with the transition table new_jobs): one notification per
--     statement, with {entrypoint: number of rows inserted as queued}; none when no row was
--     queued (a dedupe-skipped insert wakes nobody).
--   * UPDATE (row trigger): a job became queued again (retry, requeue, release at shutdown) or
--     gave up a concurrency seat. DELETE (row trigger): a job holding a seat finished.
--     Identical payloads in one transaction are folded into one notification by PostgreSQL,
--     so the count of a row event is a lower bound (1).
--   * Anything else (e.g. an older statement-level trigger still attached during an upgrade):
--     a notification without entrypoints, which workers treat as "look at everything".
-- The keys channel/operation/sent_at/table/type match PgQueuer's table_changed_event. The
-- channel is PgQueuer's ({prefix}ch_pgqueuer, not schema-qualified, so mixed fleets hear each
-- other); 'schema' lets a worker ignore installs of the same prefix in other schemas.
DECLARE
    counts jsonb;
    payload text;
BEGIN
    IF TG_LEVEL = 'STATEMENT' AND TG_OP = 'INSERT' THEN
        SELECT jsonb_object_agg(c.entrypoint, c.n) INTO counts
        FROM (
            SELECT entrypoint, count(*) AS n
            FROM new_jobs
            WHERE status = 'queued'
            GROUP BY entrypoint
        ) AS c;
        IF counts IS NULL THEN
            RETURN NULL;
        END IF;
    ELSIF TG_LEVEL = 'ROW' AND TG_OP = 'DELETE' THEN
        counts := jsonb_build_object(OLD.entrypoint, 1);
    ELSIF TG_LEVEL = 'ROW' AND TG_OP = 'UPDATE' THEN
        counts := jsonb_build_object(NEW.entrypoint, 1);
    END IF;
    payload := json_build_object(
        'channel', /*@channel*/'ch_pgqueuer',
        'operation', lower(TG_OP),
        'sent_at', statement_timestamp(),
        'table', TG_TABLE_NAME,
        'schema', TG_TABLE_SCHEMA,
        'type', 'table_changed_event',
        'entrypoints', counts
    )::text;
    IF octet_length(payload) > 7900 THEN
        -- NOTIFY payloads are limited to 8000 bytes: fall back to "look at everything".
        payload := json_build_object(
            'channel', /*@channel*/'ch_pgqueuer',
            'operation', lower(TG_OP),
            'sent_at', statement_timestamp(),
            'table', TG_TABLE_NAME,
            'type', 'table_changed_event',
            'entrypoints', NULL
        )::text;
    END IF;
    PERFORM pg_notify(/*@channel*/'ch_pgqueuer', payload);
    RETURN NULL;
END;
