"""params.yaml -> Config: the YAML files, the profiles and variants, `--set` overrides, and the
list of keys they can set (with each key's comment in config.py as its description).

`load_config(profile, path, track=..., variant=..., radius=..., seed=...)` is the Config of one
run; `read_yaml` reads any of the project's params files (params.yaml, convergence/params.yaml,
ablations/params.yaml) with one error format: file, line and column of a YAML syntax error.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from pathlib import Path
from typing import Any

import yaml

from .config import DEFAULT_VARIANTS, Config
from .config_fields import apply_fields, from_dict
from .errors import ConfigError


def read_yaml(path: str | Path) -> Any:
    """The YAML document of the params file `path`; ConfigError naming the file (and the line and
    column of a syntax error) when it is missing, unreadable or not YAML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}{_yaml_position(e)}: not valid YAML "
                          f"({_yaml_problem(e)})") from None


def read_params(path: str | Path = "params.yaml") -> dict:
    """The raw params.yaml mapping; ConfigError if missing or not YAML."""
    params = read_yaml(path)
    if not isinstance(params, dict) or "profiles" not in params:
        raise ConfigError(f"{path}: expected a mapping with a 'profiles' section")
    return params


def _yaml_position(error: yaml.YAMLError) -> str:
    """', line L, column C' (1-based) of a YAML error's problem mark, or '' without one."""
    mark = getattr(error, "problem_mark", None)
    return f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _yaml_problem(error: yaml.YAMLError) -> str:
    """The YAML error's one-line problem (e.g. 'expected ',' or ']', but got ...')."""
    problem = getattr(error, "problem", None) or error.__class__.__name__
    return " ".join(str(problem).split())


def load_config(profile: str | None = None, path: str | Path = "params.yaml", *,
                track: str | None = None, variant: str | None = None,
                radius: float | None = None, seed: int | None = None) -> Config:
    """The Config of `profile` (default: params.yaml's `profile`), set up for one run."""
    params = read_params(path)
    profiles = params["profiles"]
    profile = profile or params.get("profile", "cpu")
    if profile not in profiles:
        raise ConfigError(f"profile: {profile!r} is not one of {sorted(profiles)} in {path}")
    cfg = from_dict(Config, {k: v for k, v in (profiles[profile] or {}).items()},
                     f"profiles.{profile}")
    cfg.profile = profile
    variants = dict(DEFAULT_VARIANTS)
    variants.update(params.get("variants") or {})
    return cfg.with_run(track=track, variant=variant or "baseline", radius=radius, seed=seed,
                        variants=variants)


def project_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: cwd) holding params.yaml, so that a
    notebook opened from notebooks/ finds the project's relative paths."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "params.yaml").is_file():
            return folder
    raise ConfigError(f"no params.yaml in {here} or any folder above it")


SECTIONS = ("model", "data", "loss", "train", "eval")  # the settable sections of a Config


def settable_keys(cfg: Config) -> list[tuple[str, Any, str]]:
    """(dotted key, current value, description) of every key that params.yaml (under
    `profiles.<profile>.<section>`) and `--set KEY=VALUE` can set, in declaration order, e.g.
    ('data.train_ann', '', '"" = <root>/<track>_train.json'). Tuples are given as lists; the
    description is the field's comment in config.py ('' where it has none)."""
    rows: list[tuple[str, Any, str]] = []
    for section in SECTIONS:
        _collect_keys(getattr(cfg, section), section, rows)
    return rows


def _collect_keys(obj, prefix: str, rows: list) -> None:
    comments = _field_comments(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _collect_keys(value, f"{prefix}.{f.name}", rows)
        else:
            rows.append((f"{prefix}.{f.name}", list(value) if isinstance(value, tuple) else value,
                         comments.get(f.name, "")))


@functools.lru_cache(maxsize=None)
def _field_comments(cls) -> dict[str, str]:
    """field name -> the comment on its line in the dataclass source (the fields' documentation)."""
    names = {f.name for f in dataclasses.fields(cls)}
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+): [^#]*#\s*(.*)$", line)
        if match and match.group(1) in names:
            comments.setdefault(match.group(1), match.group(2).strip())
    return comments


def apply_overrides(cfg: Config, assignments: list[str]) -> Config:
    """Apply `section.key=value` strings (values parsed as YAML), with the same checks as
    params.yaml: an unknown key or a bad value is a ConfigError naming it."""
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.bf16=true")
        key, text = item.split("=", 1)
        nested: dict = {}
        node = nested
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        try:
            node[leaf] = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML "
                              f"({_yaml_problem(e)})") from None
        apply_fields(cfg, nested, "--set")
    return cfg.validate()
