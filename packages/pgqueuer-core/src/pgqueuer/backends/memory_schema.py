"""The in-memory repository's schema methods: nothing to create, every probe answers yes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pgqueuer.backends.memory_base import MemoryBase, State


class MemorySchema(MemoryBase):
    """DDL methods are no-ops (there are no tables); ``uninstall`` empties the queue."""

    @asynccontextmanager
    async def schema_lock(self) -> AsyncIterator[None]:
        yield  # one process, one event loop: nothing to serialise against

    async def install(self, create_schema: bool = True, *, durability: Any = None) -> None:
        return None

    async def uninstall(self) -> None:
        self._state = State()

    async def upgrade(self) -> None:
        return None

    async def apply_upgrade(self) -> None:
        return None

    async def plan_upgrade(self) -> None:
        return None

    async def alter_durability(self, durability: Any = None) -> None:
        return None  # nothing in memory survives a restart, whatever the level

    async def optimize_autovacuum(self) -> None:
        return None

    async def optimize_autovacuum_rollback(self) -> None:
        return None

    async def schema_is_installed(self) -> bool:
        return True

    async def table_schema(self) -> str | None:
        return "memory"

    async def has_table(self, table: str) -> bool:
        return True

    async def table_has_column(self, table: str, column: str) -> bool:
        return True

    async def table_has_index(self, table: str, index: str) -> bool:
        return True

    async def has_user_defined_enum(self, key: str, enum: str) -> bool:
        return True

    async def has_function(self, function: str) -> bool:
        return True

    async def has_trigger(self, trigger: str) -> bool:
        return True
