"""Logging helpers PgQueuer's examples import (``from pgqueuer.core.logconfig import logger``).

The library only logs to the ``pgqueuer`` logger and never configures logging by itself;
``setup_fancy_logger`` is for programs that want a ready-made setup.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum

__all__ = ["ISOFormatter", "LogLevel", "MaxLevelFilter", "logger", "setup_fancy_logger"]

logger = logging.getLogger("pgqueuer")


class LogLevel(StrEnum):
    """The standard level names; ``LogLevel.INFO.level`` is logging's number."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"

    @property
    def level(self) -> int:
        return logging.getLevelNamesMapping()[self.value]


class ISOFormatter(logging.Formatter):
    """A formatter whose ``%(asctime)s`` is an ISO 8601 UTC timestamp."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.strftime(datefmt) if datefmt else moment.isoformat()


class MaxLevelFilter(logging.Filter):
    """Lets through records up to ``max_level`` (e.g. INFO and below to stdout)."""

    def __init__(self, max_level: int) -> None:
        super().__init__()
        self.max_level = max_level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno <= self.max_level


_MARK = "_pgqueuer_fancy"


def setup_fancy_logger(level: LogLevel | str | int) -> None:
    """Log ``pgqueuer`` records at ``level`` and above: up to INFO on stdout, the rest on
    stderr, with ISO timestamps. Calling it again only changes the level."""
    if isinstance(level, str):
        level = LogLevel(level.upper()).level
    logger.setLevel(level)
    if any(getattr(h, _MARK, False) for h in logger.handlers):
        return
    formatter = ISOFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    low = logging.StreamHandler(sys.stdout)
    low.addFilter(MaxLevelFilter(logging.INFO))
    high = logging.StreamHandler(sys.stderr)
    high.setLevel(logging.WARNING)
    for handler in (low, high):
        handler.setFormatter(formatter)
        setattr(handler, _MARK, True)
        logger.addHandler(handler)
