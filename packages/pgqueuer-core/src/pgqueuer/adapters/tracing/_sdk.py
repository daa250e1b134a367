"""Import an optional tracing SDK by name: the module, or None when it is not installed."""

from __future__ import annotations

import importlib
from typing import Any


def optional_sdk(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
