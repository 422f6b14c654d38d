# Everything a fresh Debian machine with Python 3.11+ and make needs: no manual step.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck unit cognito-local bench bench-backup bench-restore bench-capture bench-throttle bench-scale bench-standby bench-memory lambda-package clean

# Debian's python3 lacks the venv module until python3-venv is installed: install it when we can (root
# with apt-get), otherwise say exactly what is missing.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed"' || \
		{ echo "cognito-backup needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		rm -rf $(VENV); \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing python3-venv (Debian splits it from python3)"; \
			apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); \
		else \
			echo "python3 -m venv failed: install python3-venv (sudo apt-get install python3-venv)"; exit 1; \
		fi; }
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

# cognito-local (npm), the second Cognito implementation the tests run against (tests/test_cognito_local.py),
# pinned by tests/cognito-local/package-lock.json. --ignore-scripts: it needs no install script. Without
# npm (and no root with apt-get to install it) the tests say why they are skipped (on CI, where CI is set,
# they fail instead).
COGNITO_LOCAL := tests/cognito-local/node_modules/cognito-local/package.json

$(COGNITO_LOCAL): tests/cognito-local/package.json tests/cognito-local/package-lock.json
	@if ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing nodejs and npm (for cognito-local)"; \
		apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; \
	fi
	@if command -v npm >/dev/null; then \
		cd tests/cognito-local && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch $(CURDIR)/$@; \
	else \
		echo "npm not found: the cognito-local tests will be skipped (install Node.js 18+ with npm)"; \
	fi

cognito-local: $(COGNITO_LOCAL)

unit: $(STAMP_DEV) $(COGNITO_LOCAL)
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

# Peak RSS of diff and a restore --dry-run plan at 100k and 1M users (two snapshots on disk; flat memory).
bench-memory: $(STAMP_DEV)
	$(BIN)/python bench/bench_memory.py --users 100000 1000000

# Backup and restore while another application uses half of every quota and 30% of calls are throttled
# at random (bench/quota_double.py in front of the emulator): nothing missing, attempts per success.
bench-throttle: $(STAMP_DEV)
	$(BIN)/python bench/bench_throttle.py --users 1000

# Every command at 100,000 and 1,000,000 users (and as many memberships) against bench/standin.py, a
# stand-in Cognito endpoint in its own process: peak RSS, CPU seconds and wall time of each command as its
# own process. Quick mode: $(BIN)/python bench/bench_scale.py --sizes 2000,20000
bench-scale: $(STAMP_DEV)
	$(BIN)/python bench/bench_scale.py --sizes 100000,1000000

# A standby round's full comparison at 1M users as the Lambda runs it: bounded calls of 840 s, each its
# own process, against bench/standin.py (docs/design.md "Standby rounds").
bench-standby: $(STAMP_DEV)
	$(BIN)/python bench/bench_standby_calls.py --users 1000000

lambda-package: $(STAMP_DEV)
	$(BIN)/python deploy/build_lambda.py --out dist/lambda.zip

clean:
	rm -rf $(VENV) dist build .mypy_cache .pytest_cache .ruff_cache cognito-backup-demo tests/cognito-local/node_modules
