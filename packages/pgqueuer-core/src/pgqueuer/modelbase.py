"""The pydantic calls PgQueuer users make on its models, for our slots dataclasses.

``class Job(ModelMixin)`` under ``@dataclass(slots=True)`` gives a model ``model_dump``,
``model_dump_json``, ``model_validate``, ``model_validate_json``, ``model_copy``,
``model_construct`` and a class-level ``model_fields``, with pydantic v2's meaning for the
arguments people pass. Building a model stays a plain dataclass ``__init__`` (no validation on
the hot path); ``model_validate`` is where input is coerced: ISO strings to datetimes, JSON text
to dicts, strings to UUIDs and bytes, nested dicts to nested models, and it checks literals.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import types
import typing
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, ClassVar, Literal, Self, Union

from pgqueuer.errors import PgQueuerError

__all__ = ["FieldInfo", "ModelMixin", "ModelValidationError"]

IncEx = set[str] | Mapping[str, Any] | None


class ModelValidationError(PgQueuerError, ValueError):
    """Input that cannot become the model (pydantic raises ValidationError, also a ValueError)."""


@dataclasses.dataclass(frozen=True, slots=True)
class FieldInfo:
    """What ``Model.model_fields[name]`` describes: the annotation and the default."""

    annotation: Any
    default: Any = dataclasses.MISSING
    default_factory: Any = None

    def is_required(self) -> bool:
        return self.default is dataclasses.MISSING and self.default_factory is None


_FIELDS: dict[type, dict[str, FieldInfo]] = {}


def _fields(cls: type) -> dict[str, FieldInfo]:
    found = _FIELDS.get(cls)
    if found is None:
        try:
            hints = typing.get_type_hints(cls)
        except NameError:  # an annotation imported only for type checkers: keep the text
            hints = {f.name: f.type for f in dataclasses.fields(cls)}
        found = {}
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            factory = None if f.default_factory is dataclasses.MISSING else f.default_factory
            found[f.name] = FieldInfo(hints.get(f.name, Any), f.default, factory)
        _FIELDS[cls] = found
    return found


class _ModelFields:
    """``Model.model_fields``: a mapping from field name to FieldInfo, on the class."""

    def __get__(self, obj: object, owner: type) -> dict[str, FieldInfo]:
        return dict(_fields(owner))


class ModelMixin:
    """pydantic v2's model methods for a dataclass (see the module docstring)."""

    __slots__ = ()
    model_fields: ClassVar[Any] = _ModelFields()

    # -- output ---------------------------------------------------------------------------

    def model_dump(
        self,
        *,
        mode: Literal["python", "json"] | str = "python",
        include: IncEx = None,
        exclude: IncEx = None,
        context: Any = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        round_trip: bool = False,
        warnings: bool | str = True,
    ) -> dict[str, Any]:
        """The fields as a dict; nested models become dicts; ``mode="json"`` gives JSON types."""
        if mode not in ("python", "json"):
            raise ValueError(f"mode must be 'python' or 'json', got {mode!r}")
        out: dict[str, Any] = {}
        for name, info in _fields(type(self)).items():
            if include is not None and name not in include:
                continue
            if exclude is not None and name in exclude and _whole(exclude, name):
                continue
            value = getattr(self, name)
            if exclude_none and value is None:
                continue
            if exclude_defaults and info.default is not dataclasses.MISSING:
                if value == info.default:
                    continue
            out[name] = _dump(value, mode, _sub(include, name), _sub(exclude, name), exclude_none)
        return out

    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        include: IncEx = None,
        exclude: IncEx = None,
        context: Any = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        round_trip: bool = False,
        warnings: bool | str = True,
    ) -> str:
        """The model as JSON text (compact unless ``indent`` is given, as pydantic writes it)."""
        data = self.model_dump(
            mode="json",
            include=include,
            exclude=exclude,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
        )
        separators = (",", ":") if indent is None else (",", ": ")
        return json.dumps(data, indent=indent, separators=separators, ensure_ascii=False)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, with ``update`` applied unvalidated (as pydantic does)."""
        clone = copy.deepcopy(self) if deep else copy.copy(self)
        for name, value in (update or {}).items():
            object.__setattr__(clone, name, value)
        return clone

    # -- input ----------------------------------------------------------------------------

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        from_attributes: bool | None = None,
        context: Any = None,
    ) -> Self:
        """Build from a mapping or an object with the fields as attributes, coercing values."""
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, (str, bytes, int, float, list, tuple)) or obj is None:
            raise ModelValidationError(
                f"{cls.__name__}: expected a mapping or an object with attributes, got "
                f"{type(obj).__name__}"
            )
        mapping = obj if isinstance(obj, Mapping) else None

        def get(key: str) -> Any:
            return mapping[key] if mapping is not None else getattr(obj, key)

        def has(key: str) -> bool:
            return key in mapping if mapping is not None else hasattr(obj, key)

        values: dict[str, Any] = {}
        for name, info in _fields(cls).items():
            if not has(name):
                if info.is_required():
                    raise ModelValidationError(f"{cls.__name__}.{name}: field required")
                continue
            try:
                values[name] = coerce(get(name), info.annotation)
            except (TypeError, ValueError) as exc:
                raise ModelValidationError(f"{cls.__name__}.{name}: {exc}") from None
        return cls(**values)

    @classmethod
    def model_validate_json(
        cls, json_data: str | bytes | bytearray, *, strict: bool | None = None, context: Any = None
    ) -> Self:
        """Build from JSON text (see :meth:`model_validate`)."""
        try:
            data = json.loads(json_data)
        except ValueError as exc:
            raise ModelValidationError(f"{cls.__name__}: invalid JSON: {exc}") from None
        return cls.model_validate(data)

    @classmethod
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any) -> Self:
        """Build without coercion; missing fields take their defaults."""
        for name, info in _fields(cls).items():
            if name not in values:
                if info.default_factory is not None:
                    values[name] = info.default_factory()
                elif info.default is not dataclasses.MISSING:
                    values[name] = info.default
        return cls(**values)


# -- dumping helpers ----------------------------------------------------------------------------


def _whole(spec: IncEx, name: str) -> bool:
    """True when ``exclude`` drops the whole field (a set entry, or a mapping value of True)."""
    if isinstance(spec, Mapping):
        return spec[name] is True or spec[name] is ...
    return True


def _sub(spec: IncEx, name: str) -> IncEx:
    if isinstance(spec, Mapping):
        nested = spec.get(name)
        if isinstance(nested, set | Mapping):
            return nested
    return None


def _dump(value: Any, mode: str, include: IncEx, exclude: IncEx, exclude_none: bool) -> Any:
    if isinstance(value, ModelMixin):
        return value.model_dump(
            mode=mode, include=include, exclude=exclude, exclude_none=exclude_none
        )
    if isinstance(value, Mapping):
        return {
            (str(k) if mode == "json" else k): _dump(v, mode, None, None, exclude_none)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = [_dump(v, mode, None, None, exclude_none) for v in value]
        return items if mode == "json" or isinstance(value, list) else type(value)(items)
    if mode == "python":
        return value
    return _json_scalar(value)


def _json_scalar(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, timedelta):
        return _iso_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(
                "bytes that are not UTF-8 cannot be written as JSON (as in pydantic)"
            ) from None
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _iso_duration(value: timedelta) -> str:
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    seconds = value.seconds + value.microseconds / 1_000_000
    text = f"{seconds:f}".rstrip("0").rstrip(".") if seconds else "0"
    days = f"{value.days}D" if value.days else ""
    return f"{sign}P{days}T{text}S"


# -- coercion -----------------------------------------------------------------------------------


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        text = value.strip()
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    else:
        raise TypeError(f"expected a datetime or an ISO 8601 string, got {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _scalar(value: Any, target: type) -> Any:
    if isinstance(value, target) and not (target is int and isinstance(value, bool)):
        return value
    if target is datetime:
        return _parse_datetime(value)
    if target is timedelta:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return timedelta(seconds=value)
        raise TypeError(f"expected a timedelta or seconds, got {value!r}")
    if target is uuid.UUID:
        return uuid.UUID(str(value))
    if target is bytes:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        if isinstance(value, list):
            return bytes(value)
    if target is int and isinstance(value, str | float) and not isinstance(value, bool):
        number = float(value)
        if number != int(number):
            raise ValueError(f"expected an integer, got {value!r}")
        return int(number)
    if target is float and isinstance(value, int | str) and not isinstance(value, bool):
        return float(value)
    if target is str and isinstance(value, Enum):
        return str(value.value)
    if target is bool and isinstance(value, str):
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
    if isinstance(target, type) and issubclass(target, Enum):
        return target(value)
    if isinstance(target, type) and issubclass(target, ModelMixin):
        if isinstance(value, str | bytes):
            return target.model_validate_json(value)
        return target.model_validate(value)
    raise TypeError(f"expected {target.__name__}, got {type(value).__name__} {value!r}")


def coerce(value: Any, annotation: Any) -> Any:
    """``value`` as the ``annotation`` describes it (the subset of pydantic's lax mode we need)."""
    while hasattr(annotation, "__supertype__"):  # NewType
        annotation = annotation.__supertype__
    if annotation is Any or annotation is object:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        if value in args:
            return value
        raise ValueError(f"expected one of {list(args)}, got {value!r}")
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg)
            except (TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors) or f"unexpected {value!r}")
    if origin is typing.Annotated:
        return coerce(value, args[0])
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if isinstance(value, str | bytes):
            value = json.loads(value)
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a dict or a JSON object, got {value!r}")
        if len(args) == 2:
            return {coerce(k, args[0]): coerce(v, args[1]) for k, v in value.items()}
        return dict(value)
    if origin in (list, set, tuple, frozenset) or annotation in (list, set, tuple):
        kind = origin or annotation
        if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
            raise TypeError(f"expected a {kind.__name__}, got {value!r}")
        inner = args[0] if args else Any
        return kind(coerce(v, inner) for v in value)
    if isinstance(annotation, type):
        return _scalar(value, annotation)
    return value
