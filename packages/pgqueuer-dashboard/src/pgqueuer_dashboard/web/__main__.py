"""``python -m pgqueuer_dashboard.web``: ``pgq web`` with its settings from the environment."""

from __future__ import annotations

from pgqueuer_dashboard.web.serve import main

if __name__ == "__main__":
    main()
