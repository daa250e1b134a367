"""Factories for ``pgq run``: find them by name and turn what they return into managers.

A factory is a callable that builds the thing to run. Every shape people write works:

* an ``async def`` returning a ``PgQueuer``, ``QueueManager`` or ``SchedulerManager``;
* an ``@asynccontextmanager`` yielding one (code after ``yield`` runs at shutdown);
* a sync ``@contextmanager`` (or any object with ``__enter__``/``__exit__``) yielding one;
* a plain function returning one, a ``functools.partial``, a lambda, a class.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from pgqueuer.errors import PgQueuerError

__all__ = [
    "FactoryError",
    "FactoryResultError",
    "check_runnable",
    "enter",
    "load_factory",
    "validate_factory_result",
]


class FactoryError(PgQueuerError, ValueError):
    """The factory named on the command line cannot be found or called."""


class FactoryResultError(PgQueuerError, TypeError, NotImplementedError):
    """The factory built something that cannot be run.

    PgQueuer raises TypeError for a factory result it cannot enter and NotImplementedError for
    a yielded object that is not a manager; this error is both, so either ``except`` works.
    """


RUNNABLE = "a PgQueuer, QueueManager or SchedulerManager"


def load_factory(factory: str | Callable[..., Any]) -> Callable[..., Any]:
    """``"module:attr"`` (or ``"module.attr"``) to the callable it names; a callable as is.

    The current directory is put on ``sys.path`` first, as ``python -m`` would, so a factory in
    the project being worked on is found without installing it.
    """
    if callable(factory):
        return factory
    path = factory
    if not isinstance(path, str) or not path.strip():
        raise FactoryError("give the factory as module:function, e.g. myapp.worker:main")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise FactoryError(f"factory {path!r} is not module:function (e.g. myapp.worker:main)")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise FactoryError(
                f"cannot import module {module_name!r} for factory {path!r}: no such module "
                f"(is it on PYTHONPATH, or in the current directory {cwd}?)"
            ) from exc
        raise FactoryError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        raise FactoryError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise FactoryError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(target):
        raise FactoryError(f"{path!r} is a {type(target).__name__}, not a callable factory")
    return target  # type: ignore[no-any-return]


def _runnable_types() -> tuple[type, ...]:
    from pgqueuer.applications import PgQueuer
    from pgqueuer.qm import QueueManager
    from pgqueuer.sm import SchedulerManager

    return (PgQueuer, QueueManager, SchedulerManager)


def check_runnable(obj: object) -> Any:
    """Return ``obj`` when it can be run, else raise FactoryResultError saying what it got."""
    if isinstance(obj, _runnable_types()):
        return obj
    got = "None (did the factory forget to return it?)" if obj is None else type(obj).__name__
    raise FactoryResultError(f"the factory must return or yield {RUNNABLE}, got {got}")


@contextlib.asynccontextmanager
async def _entered(result: object) -> AsyncIterator[Any]:
    produced = await result if inspect.isawaitable(result) else result
    if isinstance(produced, contextlib.AbstractAsyncContextManager):
        async with produced as value:
            yield value
    elif isinstance(produced, contextlib.AbstractContextManager):
        with produced as value:
            yield value
    else:
        yield produced


def validate_factory_result(result: object) -> contextlib.AbstractAsyncContextManager[Any]:
    """What a factory call returned, as an async context manager to ``async with``.

    An async context manager is returned as is. The other shapes this project accepts on
    purpose (an awaitable, a sync context manager, a manager returned directly) are wrapped in
    one. Anything else raises FactoryResultError (a TypeError, as in PgQueuer). The value the
    context manager yields is checked by :func:`enter`.
    """
    if isinstance(result, contextlib.AbstractAsyncContextManager):
        return result
    if (
        inspect.isawaitable(result)
        or isinstance(result, contextlib.AbstractContextManager)
        or isinstance(result, _runnable_types())
    ):
        return _entered(result)
    got = "None (did the factory forget to return it?)" if result is None else type(result).__name__
    raise FactoryResultError(
        f"the factory must return an async context manager (e.g. @asynccontextmanager) or "
        f"{RUNNABLE}, got {got}"
    )


@contextlib.asynccontextmanager
async def enter(
    factory: Callable[..., Any], args: Sequence[str] | None = None
) -> AsyncIterator[Any]:
    """Call the factory and enter what it returns, whatever its shape; yield the manager."""
    produced = factory(list(args)) if args else factory()
    async with validate_factory_result(produced) as value:
        yield check_runnable(value)
