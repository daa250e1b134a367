-- Read-only queries of the Prometheus exporter (pgqueuer_dashboard.exporter). Object names
-- follow /*@field*/ markers, substituted by pgqueuer.names.Names.substitute.

-- name: log_last_id
-- The newest log id, one probe backwards through the primary key: counters start after it.
SELECT coalesce((SELECT l.id FROM /*@queue_table_log*/pgqueuer_log AS l
                 ORDER BY l.id DESC LIMIT 1), 0) AS id;

-- name: log_since
-- Log rows after id $1, in id order through the primary key, at most $2: the exporter's
-- counters and histograms advance by them. settled is false for rows younger than $3: a
-- transaction that took a smaller id may still be about to commit, so counting stops at the
-- first unsettled row and resumes there on the next scrape.
-- $1 bigint   the last id already counted
-- $2 int      at most this many rows
-- $3 interval how old a row must be to be counted
SELECT l.id, l.entrypoint, l.status::text AS status, l.created < now() - $3::interval AS settled,
       date_part('epoch', l.picked_at - l.execute_after) AS queue_seconds,
       date_part('epoch', l.created - l.picked_at) AS run_seconds
FROM /*@queue_table_log*/pgqueuer_log AS l
WHERE l.id > $1
ORDER BY l.id
LIMIT $2;
