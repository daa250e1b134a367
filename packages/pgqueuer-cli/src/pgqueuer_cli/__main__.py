"""``python -m pgqueuer_cli``."""

from __future__ import annotations

from pgqueuer_cli.main import main

main()
