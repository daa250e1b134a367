"""PgQueuer's ``python -m pgqueuer.adapters.web``: ``pgq web`` with its settings from the
environment (PGQUEUER_WEB_HOST, PGQUEUER_WEB_PORT, the connection variables).

Served by pgqueuer-dashboard (``pip install 'pgqueuer-dashboard[web]'``), imported when called:
core never imports the dashboard. ``create_web_app``/``create_web_router`` are those of
:mod:`pgqueuer.web`.
"""

from __future__ import annotations

import importlib
import sys

from pgqueuer.web import MISSING, create_web_app, create_web_router

__all__ = ["create_web_app", "create_web_router", "main"]


def main() -> None:
    """Serve the pages until interrupted; one line and exit 1 without the web extra."""
    try:
        serve = importlib.import_module("pgqueuer_dashboard.web.serve")
    except ImportError:
        sys.exit(MISSING)
    serve.main()


if __name__ == "__main__":
    main()
