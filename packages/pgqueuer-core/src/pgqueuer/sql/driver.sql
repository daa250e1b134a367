-- Statements the drivers run on their own connection (not on the queue's tables).

-- name: generic_plans
-- Reuse generic plans and switch JIT off on this connection (the worker's hot statement: see
-- AsyncpgDriver.use_generic_plans). Two statements: sent without parameters.
SET plan_cache_mode = force_generic_plan; SET jit = off

-- name: plan_settings
-- The settings generic_plans changes, to put them back afterwards.
SELECT current_setting('plan_cache_mode') AS plans, current_setting('jit') AS jit

-- name: restore_plan_settings
-- $1 text plan_cache_mode to restore
-- $2 text jit to restore
SELECT set_config('plan_cache_mode', $1, false), set_config('jit', $2, false)

-- name: notify
-- $1 text channel
-- $2 text payload
SELECT pg_notify($1, $2)

-- name: ping
-- Whether the connection still answers.
SELECT 1

-- name: backend_pid
-- The server process this connection's statements run on (pgqueuer.pooler compares it with the
-- pid the login announced, and across two connections, to tell a pooler is in between).
SELECT pg_backend_pid() AS pid
