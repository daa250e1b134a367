"""PgQueuer's ``pgqueuer.adapters`` package: optional integrations."""
