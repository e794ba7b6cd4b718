# dip-lightning: `make run` (the main job) and `make test` (the tests) do all the set-up themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install run test test-slow lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## make .venv with the locked dependencies and the project (editable)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

run: install ## the main job: denoise an embedded photo (about 3 minutes on 2 CPU cores)
	$(BIN)/python -m dip_lightning experiment=quick

test: install ## the fast tests (about 2 minutes on 2 CPU cores)
	$(BIN)/python -m pytest -m "not slow and not gpu"

test-slow: install ## the slow tests: the paper's images from ../shared/data (skipped where absent)
	$(BIN)/python -m pytest -m "slow"

bench: install ## the benchmarks in experiments/benchmarks (results beside each script)
	$(BIN)/python experiments/benchmarks/framework_overhead.py

lint: install ## ruff check and format check
	$(BIN)/ruff check src tests experiments
	$(BIN)/ruff format --check src tests experiments

format: install ## ruff format and safe fixes
	$(BIN)/ruff format src tests experiments
	$(BIN)/ruff check --fix src tests experiments

clean: ## remove the virtual environment and run outputs
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache
