"""PgQueuer's deeper import paths, as aliases of ours, kept in this one table.

PgQueuer's docs and examples import from its internal layout (``pgqueuer.core.logconfig``,
``pgqueuer.domain.models``, ...). Those names resolve to the same module objects as the public
paths here, through an import hook that only answers for the names below (and their parent
packages), after every real module has had its chance.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

ALIASES: dict[str, str] = {
    "pgqueuer.core.applications": "pgqueuer.applications",
    "pgqueuer.core.completion": "pgqueuer.completion",
    "pgqueuer.core.executors": "pgqueuer.executors",
    "pgqueuer.core.logconfig": "pgqueuer.logconfig",
    "pgqueuer.core.qm": "pgqueuer.qm",
    "pgqueuer.core.sm": "pgqueuer.sm",
    "pgqueuer.core.runner": "pgqueuer.supervisor",
    "pgqueuer.core.factories": "pgqueuer.factories",
    "pgqueuer.domain.errors": "pgqueuer.errors",
    "pgqueuer.domain.models": "pgqueuer.models",
    "pgqueuer.domain.types": "pgqueuer.types",
    "pgqueuer.ports.driver": "pgqueuer.db",
}
PACKAGES = {name.rpartition(".")[0] for name in ALIASES}


class _AliasLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if spec.name in PACKAGES:
            package = types.ModuleType(spec.name, f"PgQueuer's {spec.name} import path.")
            package.__path__ = []
            return package
        return importlib.import_module(ALIASES[spec.name])

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class AliasFinder(importlib.abc.MetaPathFinder):
    """Finds only the alias names above; everything else is left to the regular finders."""

    loader = _AliasLoader()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in ALIASES:
            return importlib.machinery.ModuleSpec(fullname, self.loader)
        if fullname in PACKAGES:
            return importlib.machinery.ModuleSpec(fullname, self.loader, is_package=True)
        return None


def install() -> None:
    """Add the finder once, after the regular ones (a real module always wins)."""
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(AliasFinder())
