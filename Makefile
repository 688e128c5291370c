# mcpmesh: `make run` starts the mesh, `make test` runs every test. Both install what
# they need on a machine that has only Python 3.11+ and npm.

PYTHON     ?= python3
UV_VERSION := 0.13.8
TOOLS      := .cache/tools
UV         := $(TOOLS)/bin/uv
VENV       := .venv
BIN        := $(VENV)/bin
CONF_DIR   := tools/conformance
NODE22     := $(CONF_DIR)/node_modules/.bin/node
AUTH_DIR   := tools/authserver
AUTH_DEPS  := $(AUTH_DIR)/node_modules/.package-lock.json

export UV_PROJECT_ENVIRONMENT := $(VENV)

.DEFAULT_GOAL := help
.PHONY: help setup lock-check run test lint format bench conformance clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Byte-compiled at install, as the image is (Dockerfile: UV_COMPILE_BYTECODE=1): otherwise
# every `mcpmesh serve` compiles its ~650 modules again whenever bytecode is not written
# (PYTHONDONTWRITEBYTECODE, a read-only tree), ~0.5 s of CPU and ~4 MB of RSS per start.
# The workspace's own sources too; an edited module is simply compiled again on import.
$(VENV)/.synced: $(UV) Makefile pyproject.toml uv.lock $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
	$(UV) sync --all-packages --locked --compile-bytecode
	$(BIN)/python -m compileall -q $(wildcard libs/*/src services/*/src)
	@touch $@

# uv.lock must be exactly what `uv lock` writes (so a new service adds only its own
# lines). Re-resolving it also fills uv's index cache, which the new-service test's
# offline `uv lock` reads: `uv sync` alone never does, so an empty cache would fail it.
lock-check: $(UV)
	@$(UV) lock --check --refresh --quiet \
	  || (echo "uv.lock is not what \`uv lock\` writes: run $(UV) lock and commit it" && exit 1)

$(NODE22): $(CONF_DIR)/package.json $(CONF_DIR)/package-lock.json
	cd $(CONF_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The development authorization server (npm oidc-provider), run on the Node 22 above.
$(AUTH_DEPS): $(AUTH_DIR)/package.json $(AUTH_DIR)/package-lock.json
	cd $(AUTH_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.synced $(NODE22) $(AUTH_DEPS) lock-check ## install Python deps (uv, byte-compiled), the conformance CLIs with Node 22, the dev authorization server

run: $(VENV)/.synced $(NODE22) $(AUTH_DEPS) ## run the mesh on loopback (mcpmesh up), the authorization server included
	$(BIN)/mcpmesh up

test: setup ## lint and type-check, then every test, the official conformance suite included
	$(BIN)/ruff check libs services tests bench
	$(BIN)/ruff format --check libs services tests bench
	$(BIN)/mypy
	$(BIN)/pytest

conformance: setup ## only the official MCP conformance suite against the fixture service
	$(BIN)/pytest tests/conformance -v

lint: $(VENV)/.synced ## ruff lint and format check, mypy
	$(BIN)/ruff check libs services tests bench
	$(BIN)/ruff format --check libs services tests bench
	$(BIN)/mypy

format: $(VENV)/.synced ## ruff format and autofix
	$(BIN)/ruff format libs services tests bench
	$(BIN)/ruff check --fix libs services tests bench

bench: $(VENV)/.synced $(AUTH_DEPS) ## benchmarks (bench/README.md): tools/call under wrk, the mesh as deployed (and on the 2026-07-28 wire) vs the floor, FastMCP and the TypeScript SDK; audit (3 replicas, 0 lost; --long for a minute); postgres/filesystem vs the reference servers, github, bus, auth, observability, startup, instructions per call (callgrind)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) \
	  || (echo "make bench needs wrk: apt-get install wrk" && exit 1)
	$(BIN)/python -m bench

clean: ## remove the virtualenv, caches and installed tools
	rm -rf $(VENV) .cache $(CONF_DIR)/node_modules $(AUTH_DIR)/node_modules .pytest_cache .ruff_cache
