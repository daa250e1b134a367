"""``python -m pgqueuer_dashboard.mcp``: the read-only MCP server over stdio."""

from __future__ import annotations

from pgqueuer_dashboard.mcp.server import main

if __name__ == "__main__":
    main()
