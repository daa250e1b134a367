"""``pgq web``: the queue in a browser, live, read-only unless credentials are configured.

``create_web_app(dsn)`` returns a FastAPI app that owns its pool and its LISTEN connection;
``create_web_router()`` returns the routes alone, to mount on an app of your own (which then
sets ``app.state.pgq_pool`` to an asyncpg pool, or ``app.state.pgq_queries`` to a Queries).
Needs the ``web`` extra: ``pip install 'pgqueuer-dashboard[web]'``.
"""

from __future__ import annotations

MISSING_EXTRA = "pgq web needs the web extra: pip install 'pgqueuer-dashboard[web]'"

try:
    import fastapi  # noqa: F401
    import jinja2  # noqa: F401
except ImportError as exc:  # one clear line, whichever piece is missing
    raise ImportError(f"{MISSING_EXTRA} ({exc.name} is not installed)") from exc

from pgqueuer_dashboard.web.app import create_web_app, create_web_router  # noqa: E402
from pgqueuer_dashboard.web.auth import WebAuth  # noqa: E402

__all__ = ["MISSING_EXTRA", "WebAuth", "create_web_app", "create_web_router"]
