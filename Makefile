# Kiro Stack — two commands: `make run` and `make test`. Everything installs itself when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-dev.lock 2>/dev/null | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: install lock system-deps run demo test test-fast chaos bytecode lint format bench clean

$(STAMP): pyproject.toml requirements-dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python dependencies into $(VENV) (pinned by requirements-dev.lock) ..."
	@$(PY) -m pip install -q --disable-pip-version-check uv
	@# uv installs in seconds what pip takes a minute for; pip stays the fallback. Unlike pip, uv writes no
	@# bytecode unless asked: without it every process the tests start compiles its imports again
	@# (PYTHONDONTWRITEBYTECODE keeps Python from caching them), about a second of CPU each
	@$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -r requirements-dev.lock \
		|| $(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.lock
	@$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e . \
		|| $(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

## Re-pin every dependency (run after changing the ranges in pyproject.toml; needs the package index).
lock: $(STAMP)
	@$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 -q \
		--custom-compile-command "make lock" -o requirements.lock
	@$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 -q \
		--custom-compile-command "make lock" -o requirements-dev.lock

## Debian packages the tests use (redis-server, chromium, promtool, ...); idempotent, needs root.
system-deps:
	@bash scripts/system-deps.sh

## Start router (:8088), gateway (:8000) and refresher with one launcher; Ctrl-C stops all.
run: install
	@$(PY) -m services.stack run

## The stack against the built-in Kiro emulator, with a demo account and one streamed request.
demo: install
	@$(PY) -m services.stack demo

## The whole suite against a real Redis (started if none answers).
test: install bytecode
	@bash scripts/system-deps.sh --quiet || echo "warning: some system packages are missing; see above"
	@REDIS_URL="$$($(PY) -m services.stack ensure-redis --real)" && export REDIS_URL && \
		CHAOS_PAUSE_SECONDS=$${CHAOS_PAUSE_SECONDS:-10} $(PY) -m pytest --durations=25 $(PYTEST_ARGS)

## The unit tier alone: tests that start no process (they may use Redis; one is started if none answers).
test-fast: install
	@REDIS_URL="$$($(PY) -m services.stack ensure-redis --real)" && export REDIS_URL && \
		$(PY) -m pytest -m unit -q $(PYTEST_ARGS)

## The fault suite alone (also part of `make test`), figures printed and kept in .stack/chaos-figures.jsonl.
chaos: install bytecode
	@bash scripts/system-deps.sh --quiet || echo "warning: some system packages are missing; see above"
	@rm -f .stack/chaos-figures.jsonl
	@REDIS_URL="$$($(PY) -m services.stack ensure-redis --real)" && export REDIS_URL && \
		$(PY) -m pytest -m chaos -s $(PYTEST_ARGS)

## Our own modules compiled once (Python caches none under PYTHONDONTWRITEBYTECODE): each service process
## the tests start imports them from bytecode instead of compiling them again.
bytecode: install
	@$(PY) -m compileall -q shared services bench

lint: install
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy
	@$(VENV)/bin/lint-imports --no-cache --no-logo

format: install
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

bench: install
	@REDIS_URL="$$($(PY) -m services.stack ensure-redis --real)" && export REDIS_URL && \
		$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .stack
