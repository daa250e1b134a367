"""Jinja filters: numbers, durations, times and sizes as a person reads them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

NONE = "\u2013"  # an en dash: no value


def number(value: int | float | None, cap: int | None = None) -> str:
    if value is None:
        return NONE
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
    return text + ("+" if cap is not None and value >= cap else "")


def seconds(value: float | None) -> str:
    """A duration: 850 ms, 12.3 s, 4m 05s, 3h 02m, 2d 04h."""
    if value is None:
        return NONE
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    whole = int(value)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600:02d}h"


def when(value: datetime | None) -> str:
    return NONE if value is None else value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def size(value: int | None) -> str:
    if value is None:
        return NONE
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"


def percent(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:.1f}%"


FILTERS: dict[str, Callable[..., Any]] = {
    "number": number,
    "seconds": seconds,
    "when": when,
    "size": size,
    "percent": percent,
}
