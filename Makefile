# citywatch: `make demo` and `make test` are the two commands a fresh machine needs.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
# pytest workers for make test/unit: one per core, at most 4 (each loads the models and may
# start an RTSP server, a Ray cluster or Chromium); TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= auto
PYTEST  = $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --maxprocesses 4 --dist worksteal
STAMP   = $(VENV)/.installed-stamp

.PHONY: install demo demo-once test lint typecheck unit bench mutants clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "citywatch needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel "setuptools>=68"
	@# face-recognition-models is a 100 MB sdist: pip's wheel cache keeps the built wheel.
	$(PY) -m pip install -q -e '.[dev]'
	@# into models.cache_dir: ~/.local/share/citywatch/models unless $$CITYWATCH_MODELS_DIR says
	$(VENV)/bin/citywatch models prepare
	@touch $(STAMP)

install: $(STAMP)

## Build demo footage, enrol the demo subject, hotlist the demo plate, run three cameras.
demo: install
	$(VENV)/bin/citywatch demo

## The same scenario once, then exit with a summary.
demo-once: install
	$(VENV)/bin/citywatch demo --no-serve

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(PYTEST) -m "not integration"

test: lint typecheck
	$(PYTEST)

bench: install
	$(PY) bench/pipeline.py

## Mutation testing of the safeguards (slow: not part of `make test`).  Report: bench/out/mutants.md
## SCOPES=policy audit ... picks scopes (all by default); MUTANTS_CAP: seconds per scope.
MUTANTS_CAP ?= 3600
mutants: install
	$(PY) bench/mutants.py $(SCOPES) --time-cap $(MUTANTS_CAP)

clean:
	rm -rf var/ bench/out/ .pytest_cache .mypy_cache .ruff_cache
