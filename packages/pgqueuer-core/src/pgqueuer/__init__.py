"""pgqueuer: a PostgreSQL-backed job queue for Python, a drop-in for PgQueuer."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from pgqueuer.errors import PgQueuerError
from pgqueuer.names import Names

try:
    __version__ = version("pgqueuer-core")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["Names", "PgQueuerError", "__version__"]
