"""pgqueuer-schema: install, uninstall, upgrade, verify and tune the pgqueuer tables.

Every operation is an async function over a connection (asyncpg, or any
``pgqueuer.session.Session``) and a :class:`pgqueuer.names.Names`; the ``*_sql`` functions
render the same SQL without connecting.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pgqueuer-schema")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

from pgqueuer_schema.converge import upgrade_sql
from pgqueuer_schema.operations import (
    autovac,
    durability_changes,
    inspect,
    install,
    is_installed,
    plan,
    schema_lock,
    set_durability,
    uninstall,
    upgrade,
    verify,
)
from pgqueuer_schema.plan import Plan, Step
from pgqueuer_schema.render import (
    autovac_sql,
    durability_sql,
    install_sql,
    uninstall_sql,
)

__all__ = [
    "Plan",
    "Step",
    "__version__",
    "autovac",
    "autovac_sql",
    "durability_changes",
    "durability_sql",
    "inspect",
    "install",
    "install_sql",
    "is_installed",
    "plan",
    "schema_lock",
    "set_durability",
    "uninstall",
    "uninstall_sql",
    "upgrade",
    "upgrade_sql",
    "verify",
]
