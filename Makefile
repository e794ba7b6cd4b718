# dip-lightning: `make run` (the main job) and `make test` (the tests) do all the set-up themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install run test test-cli test-slow test-sweeps test-cluster lint format bench bench-stopping paper-mini wandb-sync clean docs docs-serve test-docs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## make .venv with the locked dependencies and the project (editable)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

run: install ## the main job: denoise an embedded photo (1 to 3 minutes on 2 CPU cores)
	$(BIN)/python -m dip_lightning experiment=quick

test: install ## the fast tests, a process per core (2 min 32 s on 2 CPU cores on 2026-12-03, after the install)
	$(BIN)/python -m pytest -n auto --maxprocesses 4 -m "not slow and not gpu and not cluster and not sweeps and not cli and not docs" --durations=15

test-cli: install ## the command line end to end in real processes: bad input, signals, loggers, --cfg (about 4 minutes; CI runs them)
	$(BIN)/python -m pytest -m "cli and not slow and not sweeps" --durations=10

test-sweeps: install ## whole sweeps, concurrent runs and a killed run, in real processes (about 2 minutes; CI runs them)
	$(BIN)/python -m pytest -m "sweeps and not slow"

test-slow: install ## the slow tests: the paper's images from ../shared/data (skipped where absent)
	$(BIN)/python -m pytest -m "slow"

test-cluster: install ## sweeps on a real SLURM and Ray cluster started here (root; apt-get install slurm-wlm munge)
	$(BIN)/python -m pytest -m "cluster and not slow" tests/cluster

bench: install ## the benchmark suite: speed, precision, FLOPs, memory (experiments/benchmarks/suite.md; about 80 minutes)
	$(BIN)/python experiments/benchmarks/suite.py

bench-stopping: install ## the stopping rules against the fixed budget and the all-pixel fit's peak on ../shared/data (experiments/stopping_benchmark.md, stopping_all_pixels.md, fixed_budget_spread.md; about 8 hours alone)
	$(BIN)/python experiments/stopping_benchmark.py
	$(BIN)/python experiments/stopping_all_pixels.py
	$(BIN)/python experiments/stopping_all_pixels.py --fraction 0.02
	$(BIN)/python experiments/stopping_all_pixels.py --fraction auto
	$(BIN)/python experiments/stopping_all_pixels.py --refit
	$(BIN)/python experiments/stopping_all_pixels.py --hand-back
	$(BIN)/python experiments/stopping_all_pixels.py --seeds
	$(BIN)/python experiments/stopping_all_pixels.py --seed 1
	$(BIN)/python experiments/stopping_all_pixels.py --seed 2
	$(BIN)/python experiments/stopping_all_pixels.py --fraction auto-R300
	$(BIN)/python experiments/stopping_all_pixels.py --seed 1 --fraction auto-R300
	$(BIN)/python experiments/stopping_all_pixels.py --seed 2 --fraction auto-R300
	$(BIN)/python experiments/fixed_budget_spread.py

paper-mini: install ## the paper presets on 128 px crops, the noisy ones to their stopping rule: about 90 minutes on 2 cores alone (experiments/RESULTS.md, experiments/figures/)
	$(BIN)/python experiments/paper_mini.py

wandb-sync: install ## upload the offline W&B runs of outputs/ and multirun/
	find outputs multirun -type d -name 'offline-run-*' -prune -exec $(BIN)/wandb sync {} + 2>/dev/null || true

lint: install ## ruff check and format check, the import layers (lint-imports)
	$(BIN)/ruff check src tests experiments
	$(BIN)/ruff format --check src tests experiments
	$(BIN)/lint-imports

format: install ## ruff format and safe fixes
	$(BIN)/ruff format src tests experiments
	$(BIN)/ruff check --fix src tests experiments

clean: ## remove the virtual environment and run outputs
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache

docs: install ## build the documentation site (strict)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

test-docs: install ## every shell example run with tiny settings, the built site in headless Chromium (apt-get install chromium; about 6 minutes)
	$(BIN)/python -m pytest -n 2 -m docs tests/docs/

docs-serve: install ## serve the site at http://127.0.0.1:8000
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000
