"""The environment files agree: requirements.lock (what `make setup` installs) pins every package
of pyproject.toml's dependencies and study/test extras with hashes, torch at 2.13.0, and
environment.yml (GPU machines) asks for the same versions of the packages it names."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11 (the lock's Python)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of requirements.lock."""
    text = (ROOT / "requirements.lock").read_text()
    out = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if m:
            out[_norm(m.group(1))] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return out


def _study_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in ("study", "test")
                                      for r in project["optional-dependencies"][extra]]
    return {_norm(re.match(r"[A-Za-z0-9_.-]+", r).group(0)) for r in reqs}


def _conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pins = {}
    for line in pip:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def test_lock_pins_every_package_with_hashes():
    lock = _lock()
    assert len(lock) > 100
    missing = _study_requirements() - set(lock)
    assert not missing, f"pyproject.toml requirements not in requirements.lock: {missing}"
    unhashed = [name for name, (_, hashes) in lock.items() if not hashes]
    assert not unhashed, f"no hash in requirements.lock for {unhashed}"
    assert "jupyterlab" in lock


def test_lock_torch_is_the_cpu_build_of_2_13_0():
    version, hashes = _lock()["torch"]
    assert version == "2.13.0+cpu" and len(hashes) == 1


def test_environment_yml_matches_the_lock():
    lock, pins = _lock(), _conda_pins()
    assert pins.pop("torch") == lock["torch"][0].split("+")[0]
    assert _study_requirements() - {"torch"} <= set(pins), \
        f"environment.yml lacks {_study_requirements() - set(pins) - {'torch'}}"
    differ = {n: (v, lock.get(n, (None,))[0]) for n, v in pins.items() if lock.get(n, (None,))[0] != v}
    assert not differ, f"environment.yml vs requirements.lock: {differ}"
