"""How handlers are called: the entrypoint executors (default, retrying) and the schedule ones."""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, Union

from pgqueuer.cron import next_tick
from pgqueuer.errors import RetryRequested
from pgqueuer.models import Context, Job, Schedule, ScheduleContext
from pgqueuer.types import OnFailure

__all__ = [
    "AbstractEntrypointExecutor",
    "AbstractScheduleExecutor",
    "AsyncContextCrontab",
    "AsyncContextEntrypoint",
    "AsyncCrontab",
    "AsyncEntrypoint",
    "DatabaseRetryEntrypointExecutor",
    "Entrypoint",
    "EntrypointExecutor",
    "EntrypointExecutorParameters",
    "EntrypointTypeVar",
    "ScheduleCrontab",
    "ScheduleExecutor",
    "ScheduleExecutorFactoryParameters",
    "is_async_callable",
    "wants_context",
]

# The handler shapes, as PgQueuer names them: f(job), f(job, context), f(schedule), ...
AsyncEntrypoint = Callable[[Job], Awaitable[None]]
AsyncContextEntrypoint = Callable[[Job, Context], Awaitable[None]]
Entrypoint = Union[AsyncEntrypoint, AsyncContextEntrypoint]  # noqa: UP007 - a runtime alias
EntrypointTypeVar = TypeVar("EntrypointTypeVar", bound=Entrypoint)
AsyncCrontab = Callable[[Schedule], Awaitable[None]]
AsyncContextCrontab = Callable[[Schedule, ScheduleContext], Awaitable[None]]
ScheduleCrontab = Union[AsyncCrontab, AsyncContextCrontab]  # noqa: UP007 - a runtime alias
AnyHandler = Callable[..., Awaitable[Any]]  # what the executors call (either shape)


def is_async_callable(obj: object) -> bool:
    """True for ``async def`` functions, async ``__call__`` objects and partials of them."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - an object with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def wants_context(func: Callable[..., Any], context_type: type = Context) -> bool:
    """True when a positional parameter is annotated with ``context_type`` (PgQueuer's rule)."""
    try:
        sig = inspect.signature(func, eval_str=True)
    except (NameError, TypeError, ValueError):
        try:
            sig = inspect.signature(func)
        except (TypeError, ValueError):
            return False
    for param in sig.parameters.values():
        if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            continue
        ann = param.annotation
        if ann is context_type or ann == context_type.__name__:
            return True
    return False


def check_handler(func: object, what: str) -> None:
    if not callable(func):
        raise TypeError(f"{what}: the handler must be an async function, got {func!r}")
    if not is_async_callable(func):
        name = getattr(func, "__name__", repr(func))
        raise TypeError(
            f"{what}: handler {name!r} is not async: declare it 'async def' "
            "(run blocking code with 'await asyncio.to_thread(...)' inside it)"
        )


@dataclass
class EntrypointExecutorParameters:
    """What every entrypoint executor is built from."""

    concurrency_limit: int
    func: AnyHandler
    accepts_context: bool = False
    on_failure: OnFailure = "delete"


@dataclass
class AbstractEntrypointExecutor(ABC):
    """Runs one job; raise to fail it, raise RetryRequested to run it again later."""

    parameters: EntrypointExecutorParameters

    @abstractmethod
    async def execute(self, job: Job, context: Context) -> Any: ...


@dataclass
class EntrypointExecutor(AbstractEntrypointExecutor):
    """Calls the handler as ``f(job)`` or ``f(job, context)``."""

    def __post_init__(self) -> None:
        check_handler(self.parameters.func, "entrypoint")

    async def execute(self, job: Job, context: Context) -> Any:
        if self.parameters.accepts_context:
            return await self.parameters.func(job, context)
        return await self.parameters.func(job)


@dataclass
class DatabaseRetryEntrypointExecutor(EntrypointExecutor):
    """Turns a failure into a retry through the database, with exponential backoff.

    While ``job.attempts < max_attempts`` an exception becomes ``RetryRequested`` with a delay
    of ``initial_delay * backoff_multiplier ** attempts`` (at most ``max_delay``), spread by
    ``jitter`` (a fraction, 0 for none) so failed jobs do not all come back at once. After
    that the exception is final (``exception``, or ``failed`` with ``on_failure="hold"``).
    """

    max_attempts: int = 5
    initial_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=5)
    backoff_multiplier: float = 2.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_attempts < 0:
            raise ValueError("max_attempts must be 0 or more")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def delay_for(self, attempts: int) -> timedelta:
        base = self.initial_delay.total_seconds() * self.backoff_multiplier**attempts
        base = min(base, self.max_delay.total_seconds())
        if self.jitter:
            base *= random.uniform(1 - self.jitter, 1 + self.jitter)
        return timedelta(seconds=min(base, self.max_delay.total_seconds()))

    async def execute(self, job: Job, context: Context) -> Any:
        try:
            return await super().execute(job, context)
        except RetryRequested:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if job.attempts >= self.max_attempts:
                raise
            raise RetryRequested(delay=self.delay_for(job.attempts), reason=str(exc)) from exc


@dataclass
class ScheduleExecutorFactoryParameters:
    """What a schedule executor is built from (the scheduler arrives with `pgq run`)."""

    entrypoint: str
    expression: str
    func: Callable[..., Awaitable[Any]]
    clean_old: bool = False
    accepts_context: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AbstractScheduleExecutor(ABC):
    """Runs one tick of a schedule; ``get_next``/``next_in`` tell when the next one is."""

    parameters: ScheduleExecutorFactoryParameters

    @abstractmethod
    async def execute(self, schedule: Schedule, context: ScheduleContext) -> Any: ...

    def get_next(self, after: datetime | None = None) -> datetime:
        """The next tick (UTC) after ``after`` (default: now)."""
        return next_tick(self.parameters.expression, after or datetime.now(UTC))

    def next_in(self) -> timedelta:
        """How long until the next tick."""
        return self.get_next() - datetime.now(UTC)


@dataclass
class ScheduleExecutor(AbstractScheduleExecutor):
    """Calls the scheduled function as ``f(schedule)`` or ``f(schedule, context)``."""

    async def execute(self, schedule: Schedule, context: ScheduleContext) -> Any:
        if self.parameters.accepts_context:
            return await self.parameters.func(schedule, context)
        return await self.parameters.func(schedule)
