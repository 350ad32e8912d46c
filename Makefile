# Two entry points (see README): `make repro` runs the study, `make test` runs the tests.
# Both create .venv, install torch==2.13.0 (CPU build) when no torch is present, then the package.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DVC_NO_ANALYTICS := 1

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

.PHONY: setup repro test
setup: $(BIN)/.installed

repro: setup
	$(BIN)/dvc config core.analytics false
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/dvc repro

test: setup
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest tests
