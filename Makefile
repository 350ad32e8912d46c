# Two entry points (see README): `make repro` runs the study, `make test` runs the tests.
# Both create .venv and install every package from requirements.lock (exact versions, hashes
# checked; torch 2.13.0 CPU build) with uv, then the package itself without resolving anything.
# `make lock` refreshes the lock, `make notebooks` opens the notebooks in JupyterLab.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
export DVC_NO_ANALYTICS := 1

# uv installs the lock in seconds where pip takes minutes (same files: every hash is checked).
# The torch CPU wheel lies in pip's find-links folder (PIP_FIND_LINKS or pip's config), which uv
# does not read: it is passed on. Should uv fail (e.g. no index it can reach), pip installs.
# --compile-bytecode writes every package's .pyc once, at install (pip does so by default, uv
# does not): without them each new interpreter compiles torch, sympy, DVC... from source, ~5 s
# per process, and where PYTHONDONTWRITEBYTECODE is set it never stops paying that.
UV_VERSION := 0.13.9
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell $(PY) -m pip config get global.find-links 2>/dev/null))

$(BIN)/.installed: pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv==$(UV_VERSION) && $(BIN)/uv pip install -q -p $(BIN)/python --require-hashes --compile-bytecode \
	  $(addprefix --find-links ,$(FIND_LINKS)) -r $(LOCK) \
	  || { echo "uv failed: installing with pip"; $(BIN)/pip install --require-hashes -r $(LOCK); }
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

.PHONY: setup repro test lock notebooks
setup: $(BIN)/.installed

repro: setup
	$(BIN)/dvc config core.analytics false
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/dvc repro

# two pytest-xdist workers, one test file each at a time, in the order of tests/conftest.py (the
# end-to-end pipeline test first: it builds the smoke study that the other pipeline tests copy)
test: setup
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest tests -n 2 --dist loadfile --no-loadscope-reorder --durations=12

# Refresh requirements.lock from pyproject.toml (dependencies + extras study and test) with uv in
# its own venv. Existing pins are kept unless pyproject.toml needs otherwise; LOCK_ARGS=--upgrade
# moves every package to its newest version. torch is held at 2.13.0 by pyproject's [tool.uv]
# constraint; its CPU wheel (torch-2.13.0+cpu) is found in TORCH_WHEELS (a folder or a
# find-links page). The lock is for CPython 3.11 (>= LOCK_PYTHON) on Linux x86_64.
LOCK_VENV := .venv-lock
TORCH_WHEELS ?= /opt/wheels
LOCK_PYTHON ?= 3.11.7
LOCK_ARGS ?=
lock:
	test -x $(LOCK_VENV)/bin/uv || { $(PY) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install -q uv==$(UV_VERSION); }
	$(LOCK_VENV)/bin/uv pip compile -q pyproject.toml --extra study --extra test --generate-hashes \
	  --find-links $(TORCH_WHEELS) --python-version $(LOCK_PYTHON) --custom-compile-command "make lock" \
	  $(LOCK_ARGS) -o $(LOCK)

# JupyterLab on notebooks/ with the project's kernel (python3 of .venv); JUPYTER_ARGS adds
# options (e.g. --no-browser --port 8890). Jupyter refuses root unless told (--allow-root).
JUPYTER_ARGS ?=
notebooks: setup
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/jupyter lab --notebook-dir=notebooks \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(JUPYTER_ARGS)
