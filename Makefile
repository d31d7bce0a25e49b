# riskcontrol — the two commands (`make run`, `make test`) and their helpers.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := run

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# Where `make test` runs the integration suite a second time (any PostgreSQL and Redis will do).
RISKCONTROL_TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/riskcontrol_test
RISKCONTROL_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
export RISKCONTROL_TEST_PG_URL RISKCONTROL_TEST_REDIS_URL

# Debian packages: CJK fonts for pages and PDF reports; Chromium and the services for tests.
APT_RUN := fonts-noto-cjk fonts-wqy-microhei libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
APT_TEST := chromium postgresql redis-server poppler-utils

# The installer's version comes from the lock, like every other package's.
UV_VERSION := $(shell awk '/^name = "uv"$$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' uv.lock)
# A prefix for the test runs (`make test-future` sets it); the 25 slowest tests close each pass.
TEST_WRAPPER ?=
PYTEST := $(TEST_WRAPPER) $(BIN)/python -m pytest --durations=25

.PHONY: run test lint unit test-sqlite test-postgres test-future fuzz faults bench setup services clean lock upgrade

run: setup
	$(call apt_ensure,$(APT_RUN))
	$(BIN)/riskcontrol demo --host $(HOST) --port $(PORT)

test: setup
	$(call apt_ensure,$(APT_RUN) $(APT_TEST))
	$(MAKE) --no-print-directory services lint test-sqlite test-postgres faults

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The whole suite on SQLite (unit, integration, HTTP and browser tests).
test-sqlite: setup
	env -u RISKCONTROL_TEST_DATABASE_URL -u RISKCONTROL_TEST_REDIS_URL $(PYTEST) tests

# The integration suite again on PostgreSQL, with the live bus over Redis.
test-postgres: setup services
	RISKCONTROL_TEST_DATABASE_URL=$(RISKCONTROL_TEST_PG_URL) $(PYTEST) tests/integration

# Both passes with the clock of pytest and of everything it starts (servers, Chromium: libfaketime
# rides along in LD_PRELOAD) 400 days ahead: no test may depend on today's date.
test-future: setup
	$(call apt_ensure,$(APT_RUN) $(APT_TEST) faketime)
	$(MAKE) --no-print-directory services test-sqlite test-postgres TEST_WRAPPER="faketime -f +400d"

# Before a release: the schema fuzzer with random seeds and 300 requests per operation, on SQLite and
# on PostgreSQL; each failure found is written to tests/fuzz-examples/ (commit it with its fix), and
# every later `make test` replays it.
FUZZ := RISKCONTROL_FUZZ_EXAMPLES=300 RISKCONTROL_FUZZ_SEED=random $(PYTEST) tests/integration/test_api_fuzz.py
fuzz: setup services
	env -u RISKCONTROL_TEST_DATABASE_URL $(FUZZ)
	RISKCONTROL_TEST_DATABASE_URL=$(RISKCONTROL_TEST_PG_URL) $(FUZZ)

# Real processes on their own PostgreSQL, Redis and fake SMS provider, each fault injected in turn;
# prints what was filed, told, sent, fired, dropped, lost and doubled, and fails unless lost and
# doubled are 0 (about 2.5 minutes; part of `make test`).
faults: setup
	$(call apt_ensure,postgresql redis-server)
	$(BIN)/python -m tests.faults

bench: setup services
	$(BIN)/python -m bench

setup: $(VENV)/.installed

# Exactly the locked versions, and nothing else; refused when pyproject.toml has moved on from
# uv.lock (then run `make lock` and commit both). Compiled to bytecode as installed: where
# PYTHONDONTWRITEBYTECODE is set (this machine, CI) every process would otherwise compile each
# library it imports, twice as slow to start, and a lazy import inside the first text sent (Twilio's
# REST modules) would hold the interpreter for a second mid-flood.
$(VENV)/.installed: pyproject.toml uv.lock Makefile | setup-uv
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --quiet --locked --extra dev --compile-bytecode --python $(BIN)/python
	touch $@

# Re-resolve after changing dependencies in pyproject.toml (keeps every other pin as it is).
lock: setup-uv
	$(BIN)/uv lock

# Take the newest releases the ranges in pyproject.toml allow, on purpose; then run `make test`.
upgrade: setup-uv
	$(BIN)/uv lock --upgrade

# The venv and, in it, the locked version of uv (the one thing installed before the lock is read).
.PHONY: setup-uv
setup-uv:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test "$$($(BIN)/uv --version 2>/dev/null | cut -d' ' -f2)" = "$(UV_VERSION)" || \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Start PostgreSQL and Redis on this machine when they are not answering.
services:
	@if ! pg_isready -q -h 127.0.0.1 -p 5432; then \
	  echo "starting PostgreSQL"; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -1) main start; \
	  for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi
	@if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then \
	  echo "starting Redis"; mkdir -p /var/lib/redis /var/log/redis; \
	  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
	    --dir /var/lib/redis --logfile /var/log/redis/ci.log; \
	  for i in $$(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done; \
	fi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache

# apt_ensure: install the Debian packages that are missing (needs root or sudo).
define apt_ensure
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef
