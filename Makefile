# Everything a fresh Debian machine with Python 3.11+ and make needs: no manual step.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck unit bench bench-backup bench-restore bench-capture lambda-package clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_DEMO): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(STAMP_DEMO)

demo: $(STAMP_DEMO)
	$(BIN)/cognito-backup demo

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench deploy
	$(BIN)/ruff format --check src tests bench deploy

typecheck: $(STAMP_DEV)
	$(BIN)/mypy
	$(BIN)/mypy --strict deploy/build_lambda.py

unit: $(STAMP_DEV)
	$(BIN)/python -m pytest -n 2

test: lint typecheck unit
	$(BIN)/cfn-lint deploy/template.yaml

bench: bench-backup bench-restore bench-capture

bench-backup: $(STAMP_DEV)
	$(BIN)/python bench/bench_backup.py --users 10000 --users 100000

bench-restore: $(STAMP_DEV)
	$(BIN)/python bench/bench_restore.py --users 10000

bench-capture: $(STAMP_DEV)
	$(BIN)/python bench/bench_capture.py --events 2000

lambda-package: $(STAMP_DEV)
	$(BIN)/python deploy/build_lambda.py --out dist/lambda.zip

clean:
	rm -rf $(VENV) dist build .mypy_cache .pytest_cache .ruff_cache cognito-backup-demo
