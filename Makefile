# almo — set-up, demo, lint and tests.  Each target creates .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch: an open version range would pull a CUDA build of several GB.
# Override on GPU machines, e.g. `make test TORCH_SPEC="torch==2.13.0 --index-url ..."`.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install demo test lint format bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# The main job at its defaults: ALMO against fixed-weight ensembles on digits (about a minute).
demo: install
	$(VENV)/bin/almo compare --out results/compare

test: install
	$(PY) -m pytest -q

# Lint as CI does: ruff's rules, ruff's formatting (checked, not applied) and mypy on src.
lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

# Apply ruff's formatting and its safe fixes.
format: install
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

# The peers measured side by side are optional; --no-deps keeps the CPU torch in place.
bench: install
	$(PY) -m pip install --quiet --no-deps "POT>=0.9" "dro==0.4.3"
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache .mypy_cache
