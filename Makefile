# `make demo` and `make test` set up everything they need on a bare machine with Python 3.11
# (uv, the locked environment, Chromium, PostgreSQL for the tests) and then run.
SHELL := bash
export UV_PYTHON_DOWNLOADS := never
export UV_COMPILE_BYTECODE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
# Recursively expanded, so it is looked up after bootstrap installed uv.
UV = $(shell command -v uv 2>/dev/null || echo python3 -m uv)

.PHONY: demo test lint typecheck check setup

demo:
	@scripts/bootstrap.sh
	@$(UV) run --no-sync agentctl demo

test:
	@scripts/bootstrap.sh --postgres
	@$(MAKE) --no-print-directory check
	$(UV) run --no-sync pytest

check: lint typecheck

lint:
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .

typecheck:
	$(UV) run --no-sync mypy

setup:
	@scripts/bootstrap.sh --postgres
