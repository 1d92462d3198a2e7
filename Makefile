# Gridwork: the two commands of the README quick start, and the developer's checks.
#   make demo   creates .venv, installs, migrates, seeds the demo community, serves it
#   make test   creates .venv, installs with the test extra, runs the whole suite
#               (and again on PostgreSQL when GRIDWORK_TEST_POSTGRES_URL names a database)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_DIR ?= instance
FIELD := frontend/field

.PHONY: demo test install install-test lint typecheck test-sqlite test-postgres clean field-app

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python $(FIELD)/node_modules/.package-lock.json
	$(BIN)/pip install --quiet -e '.[test]'

# The field app (/field/): its npm packages, and its build into server/field/static/app
# (committed, so serving needs no Node; tests/field/test_shell.py checks it is current).
$(FIELD)/node_modules/.package-lock.json: $(FIELD)/package-lock.json
	cd $(FIELD) && npm ci --no-audit --no-fund --loglevel=error

field-app: $(FIELD)/node_modules/.package-lock.json
	cd $(FIELD) && node build.mjs

DEMO_ENV = GRIDWORK_DEMO=1 GRIDWORK_INSTANCE_DIR=$(abspath $(DEMO_DIR))

# Quiet: the migrations' log goes to $(DEMO_DIR)/migrate.log (shown when they fail), so the
# demo prints its logins and the address it serves. PORT=5001 when 5000 is taken.
demo: install
	@mkdir -p $(DEMO_DIR)
	@$(DEMO_ENV) $(BIN)/gridwork db upgrade >$(DEMO_DIR)/migrate.log 2>&1 \
		|| { cat $(DEMO_DIR)/migrate.log; exit 1; }
	@$(DEMO_ENV) $(BIN)/gridwork seed-demo
	@echo "Field app for grid workers' phones: http://$(HOST):$(PORT)/field/ (log in as wangge1;" \
		"from a phone on the same network see README, 'The field app on a phone')"
	@$(DEMO_ENV) $(BIN)/gridwork serve --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/python tests/run_suite.py

lint: install-test
	$(BIN)/ruff check server client_sync schemas tests bench
	$(BIN)/mypy server client_sync schemas

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
