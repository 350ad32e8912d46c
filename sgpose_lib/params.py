"""params.yaml -> Config: the YAML files, the profiles and variants, `--set` overrides, and the
list of keys they can set (with each key's comment in config.py as its description).

`load_config(profile, path, track=..., variant=..., radius=..., seed=...)` is the Config of one
run; `read_yaml` reads any of the project's params files (params.yaml, convergence/params.yaml,
ablations/params.yaml) with one error format: file, line and column of a YAML syntax error or of
a key repeated in one mapping (YAML would silently keep the last). `check_runs` and
`read_ablation_runs` check the study's and the ablations' run matrices, `check_train_pairs` their
pairs (`train_pairs`, `ablation_pairs`: the runs that train side by side), which
`study_matrix` and `ablation_matrix` return with the runs.
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
from .config_fields import apply_fields, check_entry, from_dict
from .errors import ConfigError


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key repeated in one mapping (a second `train:` under a
    profile would otherwise replace the first without a word)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor`: its keys may be overridden, as YAML allows
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} in one mapping", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """The YAML document `text` (safe types only); yaml.YAMLError for a syntax error or a key
    repeated in one mapping."""
    return yaml.load(text, Loader=UniqueKeyLoader)


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
        return load_yaml(text)
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
    return config_of(read_params(path), path, profile, track=track, variant=variant,
                     radius=radius, seed=seed)


def config_of(params: dict, path: str | Path, profile: str | None = None, **run) -> Config:
    """`load_config` from the mapping `params` read from `path` (named in messages); `run`:
    track, variant, radius, seed."""
    profiles = params["profiles"]
    profile = profile or params.get("profile", "cpu")
    if profile not in profiles:
        raise ConfigError(f"profile: {profile!r} is not one of {sorted(profiles)} in {path}")
    cfg = from_dict(Config, {k: v for k, v in (profiles[profile] or {}).items()},
                     f"profiles.{profile}")
    cfg.profile = profile
    variants = dict(DEFAULT_VARIANTS)
    variants.update(params.get("variants") or {})
    return cfg.with_run(track=run.get("track"), variant=run.get("variant") or "baseline",
                        radius=run.get("radius"), seed=run.get("seed"), variants=variants)


RUN_KEYS = {"track": str, "variant": str, "radius": float, "seed": int}  # an entry of `runs`


def check_runs(params: dict, path: str | Path) -> dict[str, dict]:
    """The study matrix (`runs` of params.yaml: name -> track, variant, radius, seed), each entry
    checked as the Config it makes; ConfigError naming the file and the key (e.g.
    `params.yaml: runs.mpii_sg_r5_s0.radius: 'abc' is not a valid float`), also for
    `train_pairs` that leave a run out (study_matrix)."""
    return study_matrix(params, path)[0]


Pairs = dict[str, tuple[str, str]]  # pair name -> (run a, run b): the runs that train side by side


def study_matrix(params: dict, path: str | Path) -> tuple[dict[str, dict], Pairs]:
    """(runs, pairs) of params.yaml: `check_runs`' runs and its `train_pairs` checked by
    check_train_pairs (pair name -> (a, b); empty where the file has no train_pairs)."""
    runs = params.get("runs") or {}
    if not isinstance(runs, dict):
        raise ConfigError(f"{path}: runs: expected a mapping of run names to entries")
    checked = {}
    for name, entry in runs.items():
        where = f"{path}: runs.{name}"
        checked[name] = check_entry(entry, where, RUN_KEYS)
        try:
            config_of(params, path, **checked[name])
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
    pairs = {}
    if "train_pairs" in params:
        pairs = check_train_pairs(params["train_pairs"], f"{path}: train_pairs", checked)
    return checked, pairs


def check_train_pairs(pairs, where: str, runs: dict) -> Pairs:
    """The pairs of runs that train side by side (pair name -> {a: run, b: run}; params.yaml's
    `train_pairs`, ablations/params.yaml's `ablation_pairs`, named `where` in messages) as pair
    name -> (a, b); ConfigError naming the key unless every run of `runs` is in exactly one pair."""
    if not isinstance(pairs, dict):
        raise ConfigError(f"{where}: expected a mapping of pair names to {{a: run, b: run}}")
    checked, seen = {}, {}
    for name, entry in pairs.items():
        entry = check_entry(entry, f"{where}.{name}", {"a": str, "b": str})
        for side in ("a", "b"):
            run, key = entry[side], f"{where}.{name}.{side}"
            if run not in runs:
                raise ConfigError(f"{key}: {run!r} is not one of the runs")
            if run in seen:
                raise ConfigError(f"{key}: {run!r} is already in {where.split(': ')[-1]}."
                                  f"{seen[run]}: each run trains in one pair")
            seen[run] = name
        checked[name] = (entry["a"], entry["b"])
    alone = [run for run in runs if run not in seen]
    if alone:
        raise ConfigError(f"{where}: runs {alone} are in no pair; the pipeline trains its runs "
                          "pair by pair, so add each to one (a: run, b: run)")
    return checked


def train_stage(run: str, params_file: str | Path = "params.yaml") -> str:
    """The dvc.yaml stage that trains the study's `run`: train@<the train_pairs entry holding it>;
    ConfigError when no entry holds it."""
    _, pairs = study_matrix(read_params(params_file), params_file)
    for name, members in pairs.items():
        if run in members:
            return f"train@{name}"
    raise ConfigError(f"{params_file}: run {run!r} is in no train_pairs entry")


def read_ablation_runs(path: str | Path = "ablations/params.yaml") -> dict[str, dict]:
    """The ablation matrix (`ablation_runs` of ablations/params.yaml: name -> seed and `set`, the
    `sgpose train --set` assignments, shell-quoted); ConfigError naming the file and the key for
    an unknown or missing key or a bad value, or for `ablation_pairs` (check_train_pairs) that
    leave a run out."""
    return ablation_matrix(path)[0]


def ablation_matrix(path: str | Path = "ablations/params.yaml") -> tuple[dict[str, dict], Pairs]:
    """(runs, pairs) of ablations/params.yaml: `read_ablation_runs`' runs and its
    `ablation_pairs` (pair name -> (a, b); empty where the file has none)."""
    doc = check_entry(read_yaml(path), f"{path}:", {"ablation_runs": dict},
                      {"ablation_pairs": dict})
    runs = {}
    for name, entry in doc["ablation_runs"].items():
        runs[name] = check_entry(entry, f"{path}: ablation_runs.{name}", {"seed": int, "set": str})
        if runs[name]["seed"] < 0:
            raise ConfigError(f"{path}: ablation_runs.{name}.seed: {runs[name]['seed']} must "
                              "be >= 0")
    pairs = {}
    if "ablation_pairs" in doc:
        pairs = check_train_pairs(doc["ablation_pairs"], f"{path}: ablation_pairs", runs)
    return runs, pairs


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
            node[leaf] = load_yaml(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML "
                              f"({_yaml_problem(e)})") from None
        apply_fields(cfg, nested, "--set")
    return cfg.validate()
