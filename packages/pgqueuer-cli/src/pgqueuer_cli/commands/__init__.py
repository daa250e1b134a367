"""One module per command or command group, attached to the root group in main.py."""

from __future__ import annotations
