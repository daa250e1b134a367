"""PgQueuer's ``pgqueuer.adapters`` package: connection helpers and optional integrations."""
