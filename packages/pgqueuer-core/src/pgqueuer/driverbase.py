"""What every driver shares: NOTIFY callbacks by channel, lost-connection callbacks, and the
driver's own statements (``sql/driver.sql``)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pgqueuer.sql import load_blocks
from pgqueuer.tasks import DriverLifecycle

logger = logging.getLogger("pgqueuer")

Listener = Callable[[str], object]

DRIVER_SQL = load_blocks("pgqueuer.sql", "driver.sql")
GENERIC_PLANS = DRIVER_SQL["generic_plans"]

# Why a driver with no way to open a connection cannot reconnect, and what to do about it.
NO_CONNECT = (
    "{driver} was built without connect=, so it cannot open a new connection; for in-place "
    "reconnect pass connect= (an async callable opening a new {kind} connection, e.g. "
    "connect=lambda: asyncpg.connect(dsn))"
)


class ListenerMixin(DriverLifecycle):
    """Callbacks per channel and for a lost connection; the driver routes NOTIFYs here."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        self._on_lost: list[Callable[[], object]] = []

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        for callback in list(self._listeners.get(channel, ())):
            try:
                callback(str(payload))
            except Exception:  # a broken callback must not stop the others
                logger.exception("NOTIFY listener on %r failed", channel)

    def _terminated(self, _conn: object) -> None:
        for callback in list(self._on_lost):
            callback()

    def on_connection_lost(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (no arguments) when the LISTEN connection is lost."""
        self._on_lost.append(callback)


_ListenerMixin = ListenerMixin  # the name psycopg_driver and older code import
