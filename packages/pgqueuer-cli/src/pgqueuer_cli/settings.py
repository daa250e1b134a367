"""What the root group resolves once and hands to every command through ``ctx.obj``."""

from __future__ import annotations

from dataclasses import dataclass

from pgqueuer.names import Names


@dataclass
class Settings:
    dsn: str | None  # --pg-dsn / PGDSN; None lets PGQUEUER_DSN and libpq variables decide
    names: Names  # replaced by the factory's Queries' names while a --factory command runs
    factory: str | None = None  # --factory module:fn, yielding the Queries commands use
