"""Prometheus metrics (optional extra ``metrics``: prometheus-client).

* :mod:`pgqueuer.metrics.worker`: a worker's own instruments (no database round trip).
* :mod:`pgqueuer.metrics.prometheus` and :mod:`pgqueuer.metrics.fastapi`: PgQueuer's
  database-wide helpers, served by pgqueuer-dashboard (imported when first used).

Importing this package imports nothing beyond it.
"""
