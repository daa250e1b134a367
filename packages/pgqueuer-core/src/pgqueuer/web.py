"""PgQueuer's ``pgqueuer.web``: the browser dashboard, which lives in pgqueuer-dashboard.

A thin alias: nothing of the web stack is imported until one of these is called, so a worker
that never serves pages never installs it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["create_web_app", "create_web_router"]

MISSING = "pgqueuer.web needs the web extra: pip install 'pgqueuer-dashboard[web]'"


def _web() -> ModuleType:
    try:
        return importlib.import_module("pgqueuer_dashboard.web")
    except ImportError as exc:
        raise ImportError(MISSING) from exc


def create_web_app(dsn: str | None = None, connection_settings: Any | None = None) -> Any:
    """A FastAPI app serving the queue's pages (see ``pgqueuer_dashboard.web``)."""
    return _web().create_web_app(dsn, connection_settings)


def create_web_router(*, dependencies: Any | None = None, include_sse: bool = True) -> Any:
    """The pages as a FastAPI ``APIRouter`` to mount on your own app."""
    return _web().create_web_router(dependencies=dependencies, include_sse=include_sse)
