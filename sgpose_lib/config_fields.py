"""Dataclasses filled from plain mappings (YAML, JSON, `--set`), each value coerced to its field's
annotated type.

`from_dict(cls, values, where)` builds a dataclass; `apply_fields(obj, values, where)` sets the
named fields of one, recursing into nested dataclasses. An unknown key or a value of the wrong
type raises ConfigError naming the key by its dotted path (`where`), e.g.
`profiles.cpu.train.epochs: 'ten' is not a valid int`.
"""
from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any

from .errors import ConfigError


def from_dict(cls, values: dict, where: str):
    """Build dataclass `cls` from `values`, rejecting unknown keys and coercing tuples."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
    obj = cls()
    apply_fields(obj, values, where)
    return obj


@functools.lru_cache(maxsize=None)
def _field_types(cls) -> dict[str, Any]:
    """field name -> its annotated type (e.g. `tuple[str, ...]`, `AugmentConfig`)."""
    return typing.get_type_hints(cls)


def apply_fields(obj, values: dict, where: str) -> None:
    """Set the fields of dataclass `obj` named in `values`, recursing into nested dataclasses;
    ConfigError naming the key for an unknown key or a value of the wrong type."""
    types = _field_types(type(obj))
    for key, value in values.items():
        if key not in types:
            raise ConfigError(f"{where}.{key}: unknown key (expected one of {sorted(types)})")
        if dataclasses.is_dataclass(types[key]):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a mapping")
            apply_fields(getattr(obj, key), value, f"{where}.{key}")
        else:
            setattr(obj, key, _coerce(value, types[key], f"{where}.{key}"))


def _coerce(value, kind, where: str):
    """`value` as the field type `kind`: bool (only a bool), int (not a bool, nor a float with a
    fraction), float (not a bool), str (only a str) or tuple[T, ...] / tuple[T, T] (a list, or a
    text 'AxB' read as integers, each item made a T); ConfigError if impossible."""
    origin = typing.get_origin(kind) or kind
    try:
        if origin is bool:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if origin is tuple:
            if isinstance(value, str):
                value = [int(v) for v in value.lower().split("x")]
            if not isinstance(value, (list, tuple)):
                raise TypeError
            item_type = typing.get_args(kind)[0]
            return tuple(item_type(v) for v in value)
        if origin is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if origin is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if origin is str:
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a valid {origin.__name__}") from None
    return value
