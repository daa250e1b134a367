"""PgQueuer's ``python -m pgqueuer.adapters.mcp``: the read-only MCP server over stdio.

Served by pgqueuer-dashboard (``pip install 'pgqueuer-dashboard[mcp]'``), imported when called:
core never imports the dashboard.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["create_mcp_server", "main"]


def _server_module() -> Any:
    try:
        return importlib.import_module("pgqueuer_dashboard.mcp")
    except ImportError as exc:
        raise ImportError(
            f"the MCP server needs pip install 'pgqueuer-dashboard[mcp]' ({exc})"
        ) from exc


def create_mcp_server(dsn: str | None = None, *args: Any, **kwargs: Any) -> Any:
    """``pgqueuer_dashboard.mcp.create_mcp_server(dsn)`` (PgQueuer's other arguments are
    accepted and ignored: names come from PGQUEUER_PREFIX/PGQUEUER_SCHEMA)."""
    return _server_module().create_mcp_server(dsn)


def main() -> None:
    """Serve the MCP server over stdio."""
    _server_module().main()


if __name__ == "__main__":
    main()
