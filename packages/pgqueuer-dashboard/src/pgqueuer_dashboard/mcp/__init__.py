"""A read-only MCP server over one queue (extra ``mcp``): ``python -m pgqueuer_dashboard.mcp``.

``create_mcp_server(dsn=None, names=None)`` returns the server (tools of PgQueuer's MCP server,
each run in a read-only transaction); ``main()`` serves it over stdio.
"""

from __future__ import annotations

from pgqueuer_dashboard.mcp.durations import InvalidDurationError, parse_duration
from pgqueuer_dashboard.mcp.server import create_mcp_server, main

__all__ = ["InvalidDurationError", "create_mcp_server", "main", "parse_duration"]
