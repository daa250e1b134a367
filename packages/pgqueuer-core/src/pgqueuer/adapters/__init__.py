"""Adapters to the outside world (PgQueuer's ``pgqueuer.adapters`` paths): connection helpers."""
