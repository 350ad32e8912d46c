"""Dataclasses filled from plain mappings (YAML, JSON, `--set`), each value coerced to its field's
annotated type.

`from_dict(cls, values, where)` builds a dataclass; `apply_fields(obj, values, where)` sets the
named fields of one, recursing into nested dataclasses. An unknown key or a value of the wrong
type raises ConfigError naming the key by its dotted path (`where`), e.g.
`profiles.cpu.train.epochs: 'ten' is not a valid int`. `check_entry` does the same for a plain
mapping of the params files (convergence and ablation matrices): required and optional keys, each
coerced to its type.

Sizes (`tuple[int, int]`) are a list [width, height] or a text HEIGHTxWIDTH (e.g. '256x192', the
field's convention, as `sgpose info --input`): `height_width` is that one reading.
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
            setattr(obj, key, coerce(value, types[key], f"{where}.{key}"))


def height_width(text: str) -> tuple[int, int]:
    """'256x192' (HEIGHTxWIDTH, the field's convention) -> (width, height); ValueError if the
    text is not two integers joined by an x."""
    h, w = (int(v) for v in text.lower().split("x"))
    return (w, h)


def check_entry(values, where: str, required: dict[str, Any],
                optional: dict[str, Any] | None = None) -> dict:
    """`values` (a mapping of a params file) with each key coerced to its type in `required` or
    `optional` (the types of dataclass fields: int, float, str, dict, tuple[...]); ConfigError
    naming `where.key` for a missing key, an unknown key or a value of the wrong type."""
    optional = optional or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where.rstrip(':')}: expected a mapping, got {type(values).__name__}")
    types = {**required, **optional}
    unknown = [k for k in values if k not in types]
    if unknown:
        raise ConfigError(f"{_key(where, unknown[0])}: unknown key (expected one of "
                          f"{sorted(types)})")
    missing = [k for k in required if k not in values]
    if missing:
        raise ConfigError(f"{_key(where, missing[0])}: missing (required keys: "
                          f"{', '.join(required)})")
    out = {}
    for key, value in values.items():
        name = _key(where, key)
        if types[key] is dict:
            if not isinstance(value, dict):
                raise ConfigError(f"{name}: expected a mapping, got {type(value).__name__}")
            out[key] = value
        else:
            out[key] = coerce(value, types[key], name)
    return out


def _key(where: str, key) -> str:
    """'file: section.key' from `where` ('file: section', or 'file:' at the top) and `key`."""
    return f"{where} {key}" if where.endswith(":") else f"{where}.{key}"


def coerce(value, kind, where: str):
    """`value` as the field type `kind`: bool (only a bool), int (not a bool, nor a float with a
    fraction), float (not a bool), str (only a str), tuple[T, ...] (a list, each item made a T)
    or tuple[T, T] (a list of exactly two; for int pairs also a text HEIGHTxWIDTH, see
    `height_width`); ConfigError if impossible."""
    origin = typing.get_origin(kind) or kind
    if origin is tuple:
        return _coerce_tuple(value, kind, where)
    try:
        if origin is bool:
            if not isinstance(value, bool):
                raise TypeError
            return value
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
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{where}: {value!r} is not a valid {origin.__name__}") from None
    return value


def _coerce_tuple(value, kind, where: str) -> tuple:
    """`value` as `tuple[T, ...]` or `tuple[T, T]` (see `coerce`), each item checked as a T
    and named by its position (`where[1]`)."""
    args = typing.get_args(kind)
    pair = len(args) == 2 and args[1] is not Ellipsis
    if isinstance(value, str) and pair and args == (int, int):
        try:
            value = list(height_width(value))
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not HEIGHTxWIDTH (e.g. 256x192) nor a "
                              "list [width, height]") from None
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: {value!r} is not a list")
    if pair and len(value) != 2:
        what = " [width, height]" if args == (int, int) else ""
        raise ConfigError(f"{where}: {list(value)!r} must have exactly 2 entries{what}")
    return tuple(coerce(v, args[i] if pair else args[0], f"{where}[{i}]")
                 for i, v in enumerate(value))
