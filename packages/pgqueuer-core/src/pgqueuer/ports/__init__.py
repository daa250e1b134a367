"""PgQueuer's ``pgqueuer.ports`` package: the protocols pluggable parts implement."""
