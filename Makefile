# DataNexus developer commands. `make run` and `make test` work from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
REDIS_HOST ?= 127.0.0.1
REDIS_PORT ?= 6379
TYPED := app agents tables schemas

.DEFAULT_GOAL := help
.PHONY: help install install-test-tools run test test-unit test-integration lint format typecheck bench redis clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# TypeScript compiler for the codegen test (generated interfaces must pass tsc --noEmit).
TSC := .node/node_modules/.bin/tsc
$(TSC):
	@command -v npm >/dev/null 2>&1 || { echo "npm is needed for the TypeScript codegen test (apt-get install npm)"; exit 1; }
	npm install --silent --no-audit --no-fund --prefix .node typescript@7

install: $(STAMP) ## Create the venv and install DataNexus with dev tools

install-test-tools: $(TSC)

run: install ## Start the embedded broker, a worker and the web server (Ctrl-C stops all)
	$(BIN)/datanexus up

redis: ## Start redis-server on $(REDIS_HOST):$(REDIS_PORT) unless one answers there
	@bash scripts/ensure-redis.sh $(REDIS_HOST) $(REDIS_PORT)

lint: install ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED)

format: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install
	$(BIN)/mypy $(TYPED)

test: install install-test-tools redis lint ## Lint, type-check, then unit and integration tests (starts what is missing)
	DATANEXUS_REDIS_URL=redis://$(REDIS_HOST):$(REDIS_PORT)/0 $(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: install ## Unit tests only (no services)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: install redis ## Integration tests only (embedded broker + Redis)
	DATANEXUS_REDIS_URL=redis://$(REDIS_HOST):$(REDIS_PORT)/0 $(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

bench: install redis ## Benchmarks (each prints ratios measured in one run)
	@for b in bench/*.py; do echo "== $$b"; DATANEXUS_REDIS_URL=redis://$(REDIS_HOST):$(REDIS_PORT)/0 $(BIN)/python $$b || exit 1; done

clean: ## Remove local state (venv kept)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .hypothesis
