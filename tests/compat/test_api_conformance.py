"""PgQueuer 1.6's public API, row by row: every name exists here and accepts the same calls.

The facts come from ``pgqueuer-1.6-api.tsv`` beside this file (a vendored copy of
``inspect.signature`` output taken from PgQueuer 1.6.0: names and signatures, no code). One test
per row, so a failure names the row and the count of failures is the count of gaps.

A PgQueuer call must work unchanged, so for every callable:

* positional parameters: the same names at the same positions;
* keyword-only parameters: accepted by name (ours may also take them positionally);
* a parameter PgQueuer lets callers omit must be omittable here too; where its default is a
  plain value (number, string, None, bool, timedelta, enum member) it must be the same value;
* our extra parameters need a default (a PgQueuer call never passes them);
* ``async def`` stays a coroutine function, ``def`` does not become one, an async generator
  stays one, a property stays an attribute of the class;
* ``fields:`` rows: the model has those fields (dataclass fields or ``model_fields``).
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import enum
import functools
import importlib
import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TSV = Path(__file__).with_name("pgqueuer-1.6-api.tsv")

IN_SCOPE = {
    "pgqueuer",
    "pgqueuer.applications",
    "pgqueuer.db",
    "pgqueuer.errors",
    "pgqueuer.executors",
    "pgqueuer.factories",
    "pgqueuer.models",
    "pgqueuer.qm",
    "pgqueuer.queries",
    "pgqueuer.sm",
    "pgqueuer.types",
    "pgqueuer.core.logconfig",
    "pgqueuer.adapters.connections",
    "pgqueuer.web",
    "pgqueuer.ports.tracing",
    "pgqueuer.adapters.tracing.opentelemetry",
    "pgqueuer.adapters.tracing.logfire",
    "pgqueuer.adapters.tracing.sentry",
    "pgqueuer.metrics.prometheus",
    "pgqueuer.metrics.fastapi",
}
# Every module of the listing is in scope now; anything the listing gains must be placed.
OUT_OF_SCOPE: set[str] = set()

NO_SIGNATURE = "(*args, **kwargs)"  # a Protocol's (or an untyped class's) constructor: no facts


# -- parsing the tsv --------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    kind: inspect._ParameterKind
    default: str | None  # the default's repr text, None when there is none


@dataclass(frozen=True)
class Row:
    module: str
    name: str
    kind: str  # "class", "def", "async def", "async gen", "classmethod", "property", "fields", ...
    params: tuple[Param, ...] | None  # None: no call signature to compare
    fields: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        suffix = "[fields]" if self.kind == "fields" else ""
        return f"{self.module}:{self.name}{suffix}"


_OPEN = {"(": ")", "[": "]", "{": "}"}


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is outside brackets and quotes."""
    parts: list[str] = []
    depth: list[str] = []
    quote: str | None = None
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth.append(_OPEN[ch])
        elif depth and ch == depth[-1]:
            depth.pop()
        elif not depth and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _close_paren(text: str, open_at: int) -> int:
    """Index of the parenthesis closing the one at ``open_at``."""
    depth = 0
    quote: str | None = None
    for i in range(open_at, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced signature: {text!r}")


def parse_params(inner: str) -> tuple[Param, ...]:
    params: list[Param] = []
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    for raw in _split_top(inner, ","):
        item = raw.strip()
        if not item:
            continue
        if item == "/":
            params = [
                dataclasses.replace(p, kind=inspect.Parameter.POSITIONAL_ONLY) for p in params
            ]
            continue
        if item == "*":
            kind = inspect.Parameter.KEYWORD_ONLY
            continue
        head_default = _split_top(item, "=")
        head = head_default[0]
        default = "=".join(head_default[1:]).strip() if len(head_default) > 1 else None
        if default == "PydanticUndefined":  # pydantic's marker for "required"
            default = None
        name = _split_top(head, ":")[0].strip()
        if name.startswith("**"):
            params.append(Param(name[2:], inspect.Parameter.VAR_KEYWORD, None))
        elif name.startswith("*"):
            params.append(Param(name[1:], inspect.Parameter.VAR_POSITIONAL, None))
            kind = inspect.Parameter.KEYWORD_ONLY
        else:
            params.append(Param(name, kind, default))
    return tuple(params)


def parse_row(module: str, name: str, text: str) -> Row:
    if text.startswith("fields:"):
        fields = tuple(f.strip() for f in text.removeprefix("fields:").split(",") if f.strip())
        return Row(module, name, "fields", None, fields)
    paren = text.find("(")
    if paren == -1:
        return Row(module, name, text.strip(), None)
    kind = text[:paren].strip()
    inner = text[paren + 1 : _close_paren(text, paren)]
    if f"({inner})" == NO_SIGNATURE or kind not in {
        "class",
        "def",
        "async def",
        "async gen",
        "classmethod",
    }:
        return Row(module, name, kind, None)
    params = parse_params(inner)
    if kind != "class" and "." in name and params and params[0].name in {"self", "cls"}:
        params = params[1:]
    return Row(module, name, kind, params)


def load_rows() -> list[Row]:
    rows = []
    for line in TSV.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        module, name, text = line.split("\t", 2)
        rows.append(parse_row(module, name, text))
    return rows


ROWS = load_rows()
FIELDS = {(r.module, r.name): r.fields for r in ROWS if r.kind == "fields"}


# -- resolving and comparing ------------------------------------------------------------------


class Missing(Exception):
    pass


def resolve(module: str, dotted: str) -> tuple[Any, Any, Any]:
    """(owner class or None, the static attribute, the attribute as accessed)."""
    try:
        target: Any = importlib.import_module(module)
    except ImportError as exc:
        raise Missing(f"module {module} does not import: {exc}") from None
    owner: Any = None
    static: Any = target
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        owner = target
        try:
            static = inspect.getattr_static(target, part)
        except AttributeError:
            where = ".".join([module, *parts[:i]])
            raise Missing(f"{where} has no {part!r}") from None
        target = getattr(target, part)
    return (owner if len(parts) > 1 else None), static, target


def _unwrap(func: Any) -> Any:
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.unwrap(func)


def our_params(static: Any, accessed: Any, is_method: bool) -> list[inspect.Parameter]:
    if isinstance(static, staticmethod):
        return list(inspect.signature(static.__func__).parameters.values())
    if isinstance(static, classmethod):
        return list(inspect.signature(static.__func__).parameters.values())[1:]
    if inspect.isclass(accessed):
        return list(inspect.signature(accessed).parameters.values())
    params = list(inspect.signature(static if is_method else accessed).parameters.values())
    return params[1:] if is_method and params else params


_SAFE = {"datetime": datetime, "timedelta": datetime.timedelta}


def _plain_value(text: str) -> tuple[bool, Any]:
    """(True, value) when the default's text is a plain value worth comparing."""
    try:
        return True, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    if text.startswith(("datetime.timedelta(", "timedelta(")):
        return True, eval(text, {"__builtins__": {}}, _SAFE)  # a repr from the tsv, no names
    if text.startswith("<") and ": " in text and text.endswith(">"):  # <Enum.member: 'value'>
        ok, value = _plain_value(text[text.index(": ") + 2 : -1])
        return ok, value
    return False, None


def _same_default(theirs: str, ours: Any) -> bool:
    ok, value = _plain_value(theirs)
    if not ok:
        return True  # <factory>, PydanticUndefined, objects: only "has a default" matters
    if isinstance(ours, enum.Enum):
        ours = ours.value
    return bool(ours == value)


def compare(row: Row, ours: list[inspect.Parameter], field_names: tuple[str, ...]) -> list[str]:
    problems: list[str] = []
    P = inspect.Parameter
    by_name = {p.name: p for p in ours}
    our_positional = [p for p in ours if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    our_var_pos = any(p.kind is P.VAR_POSITIONAL for p in ours)
    our_var_kw = any(p.kind is P.VAR_KEYWORD for p in ours)
    matched: set[str] = set()
    theirs_positional = [
        p for p in row.params or () if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)
    ]
    for index, theirs in enumerate(theirs_positional):
        if index >= len(our_positional):
            problems.append(f"positional parameter {index} {theirs.name!r} is missing")
            continue
        mine = our_positional[index]
        matched.add(mine.name)
        if mine.name != theirs.name and theirs.kind is not P.POSITIONAL_ONLY:
            problems.append(
                f"positional parameter {index} is {mine.name!r}, PgQueuer's is {theirs.name!r}"
            )
        elif mine.kind is P.POSITIONAL_ONLY and theirs.kind is not P.POSITIONAL_ONLY:
            problems.append(f"{theirs.name!r} must also be accepted by keyword")
    for theirs in row.params or ():
        if theirs.kind is P.KEYWORD_ONLY:
            mine_kw = by_name.get(theirs.name)
            if mine_kw is None or mine_kw.kind in (P.POSITIONAL_ONLY, P.VAR_POSITIONAL):
                if not our_var_kw:
                    problems.append(f"keyword parameter {theirs.name!r} is missing")
                continue
            matched.add(mine_kw.name)
        elif theirs.kind is P.VAR_POSITIONAL and not our_var_pos:
            problems.append(f"*{theirs.name} is missing")
        elif theirs.kind is P.VAR_KEYWORD and not our_var_kw:
            # A model built from **data: every field must be accepted by name instead.
            absent = [f for f in field_names if f not in by_name]
            if not field_names or absent:
                problems.append(f"**{theirs.name} is missing (fields not accepted: {absent})")
            matched.update(field_names)
        if theirs.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD) or theirs.default is None:
            continue
        mine = by_name.get(theirs.name)
        if mine is None:
            continue  # already reported, or absorbed by **kwargs
        if mine.default is P.empty:
            problems.append(f"{theirs.name!r} has no default (PgQueuer's: {theirs.default})")
        elif not _same_default(theirs.default, mine.default):
            problems.append(
                f"{theirs.name!r} defaults to {mine.default!r}, PgQueuer's to {theirs.default}"
            )
    for extra in ours:
        if extra.name in matched or extra.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
            continue
        if extra.default is P.empty:
            problems.append(f"extra parameter {extra.name!r} has no default")
    return problems


def check(row: Row) -> list[str]:
    owner, static, accessed = resolve(row.module, row.name)
    if row.kind == "fields":
        have = _field_names(accessed)
        absent = [f for f in row.fields if f not in have]
        return [f"fields missing: {absent}"] if absent else []
    if row.kind == "property":
        return [] if owner is not None else [f"{row.name} is not a class attribute"]
    if row.kind == "TypeVar":
        return [] if isinstance(accessed, typing.TypeVar) else ["is not a TypeVar"]
    if row.kind == "class" and not inspect.isclass(accessed):
        return [f"is a {type(accessed).__name__}, not a class"]
    is_method = owner is not None and inspect.isclass(owner) and not inspect.isclass(accessed)
    if row.kind in {"def", "async def", "async gen", "classmethod"}:
        if not callable(accessed):
            return [f"is a {type(accessed).__name__}, not callable"]
        func = _unwrap(
            static.__func__ if isinstance(static, classmethod | staticmethod) else static
        )
        if row.kind == "async def" and not inspect.iscoroutinefunction(func):
            return ["must be 'async def' (PgQueuer's callers await it)"]
        if row.kind == "async gen" and not inspect.isasyncgenfunction(func):
            return ["must be an async generator (PgQueuer's callers use 'async for')"]
        if row.kind == "def" and inspect.iscoroutinefunction(func):
            return ["must not be 'async def' (PgQueuer's callers do not await it)"]
        if row.kind == "classmethod" and not isinstance(static, classmethod):
            return ["must be a classmethod"]
    if row.params is None:
        return []
    params = our_params(static, accessed, is_method)
    return compare(row, params, FIELDS.get((row.module, row.name), ()))


def _field_names(obj: Any) -> set[str]:
    names: set[str] = set()
    if dataclasses.is_dataclass(obj):
        names.update(f.name for f in dataclasses.fields(obj))
    model_fields = getattr(obj, "model_fields", None)
    if isinstance(model_fields, typing.Mapping):
        names.update(model_fields)
    return names


# -- the tests --------------------------------------------------------------------------------


def test_every_module_of_the_listing_is_in_or_out_of_scope() -> None:
    modules = {r.module for r in ROWS}
    assert modules - IN_SCOPE - OUT_OF_SCOPE == set()
    assert IN_SCOPE <= modules


def test_the_listing_parses() -> None:
    """Guards the parser itself: rows that carry a signature yield their parameters."""
    run = next(r for r in ROWS if r.module == "pgqueuer" and r.name == "PgQueuer.run")
    assert run.params is not None
    assert [p.name for p in run.params][:3] == ["dequeue_timeout", "batch_size", "mode"]
    assert _plain_value(run.params[0].default or "") == (True, datetime.timedelta(seconds=30))
    assert _plain_value(run.params[2].default or "") == (True, "continuous")
    job = next(r for r in ROWS if r.module == "pgqueuer.models" and r.name == "Job" and r.params)
    assert job.params is not None
    assert {p.kind for p in job.params} == {inspect.Parameter.KEYWORD_ONLY}
    assert [p.name for p in job.params][-1] == "headers"  # past the lambda's repr in an annotation
    enqueue = next(
        r for r in ROWS if r.module == "pgqueuer.queries" and r.name == "Queries.enqueue"
    )
    assert enqueue.params is not None
    assert enqueue.params[-1] == Param("on_conflict", inspect.Parameter.KEYWORD_ONLY, "'raise'")


def test_compare_reports_incompatible_signatures() -> None:
    """The comparison fails on the mistakes it exists to catch."""
    row = parse_row("m", "f", "def(a: 'int', b: 'int' = 1, *, c: 'str' = 'x') -> None")

    def sig(text: str) -> list[inspect.Parameter]:
        scope: dict[str, Any] = {}
        exec(f"def f{text}: pass", scope)
        return list(inspect.signature(scope["f"]).parameters.values())

    assert compare(row, sig("(a, b=1, *, c='x', d=None)"), ()) == []
    assert compare(row, sig("(a, b=1, c='x', d=None)"), ()) == []
    assert compare(row, sig("(b, a=1, *, c='x')"), ())  # swapped positions
    assert compare(row, sig("(a, b, *, c='x')"), ())  # lost a default
    assert compare(row, sig("(a, b=2, *, c='x')"), ())  # another default value
    assert compare(row, sig("(a, b=1)"), ())  # keyword missing
    assert compare(row, sig("(a, b=1, *, c='x', d)"), ())  # extra without default
    assert compare(row, sig("(a, /, b=1, *, c='x')"), ())  # no longer by keyword


@pytest.mark.parametrize("row", [r for r in ROWS if r.module in IN_SCOPE], ids=lambda r: r.id)
def test_pgqueuer_name_is_compatible(row: Row) -> None:
    try:
        problems = check(row)
    except Missing as exc:
        problems = [f"missing: {exc}"]
    if problems:
        pytest.fail(f"{row.id}: " + "; ".join(problems), pytrace=False)
