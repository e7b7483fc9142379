# `make demo` and `make test` set up everything they need on a bare machine with Python 3.11
# (uv, the locked environment, Chromium, PostgreSQL for the tests) and then run.
SHELL := bash
export UV_PYTHON_DOWNLOADS := never
export UV_COMPILE_BYTECODE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
# Recursively expanded, so it is looked up after bootstrap installed uv.
UV = $(shell command -v uv 2>/dev/null || echo python3 -m uv)

.PHONY: demo test test-slow bench lint typecheck check setup

demo:
	@scripts/bootstrap.sh
	@$(UV) run --no-sync agentctl demo

# The suite CI runs (9-14 minutes on 2 cores from a fresh clone, set-up included; see README):
# everything but the long end-to-end scenarios.
test:
	@scripts/bootstrap.sh --postgres
	@$(MAKE) --no-print-directory check
	$(UV) run --no-sync pytest -m "not slow"

# The long scenarios (`slow`: crashes, secrets in every mode, load, scale-out, fuzzing; about
# 6 minutes more): run them before a release and after touching the engine, the store or the dashboard.
test-slow:
	@scripts/bootstrap.sh --postgres
	$(UV) run --no-sync pytest -m slow

# The benchmarks of docs/performance.md, one after another (about 8 minutes on 2 cores); each prints
# its table and writes bench/results/<name>.json.
bench:
	@scripts/bootstrap.sh --postgres
	$(UV) run --no-sync python -m bench.engine
	$(UV) run --no-sync python -m bench.session_save
	$(UV) run --no-sync python -m bench.cold_start
	$(UV) run --no-sync python -m bench.concurrency
	$(UV) run --no-sync python -m bench.store
	$(UV) run --no-sync python -m bench.dashboard
	$(UV) run --no-sync python -m bench.report

check: lint typecheck

lint:
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .

typecheck:
	$(UV) run --no-sync mypy

setup:
	@scripts/bootstrap.sh --postgres
