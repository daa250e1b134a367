"""pgqueuer-cli: the ``pgq`` command line, composing pgqueuer, pgqueuer-schema and the dashboard."""

from __future__ import annotations
