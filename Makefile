# Developer entry points. `make test` works from a fresh clone: it builds .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Stamps make installs idempotent; they are redone when pyproject.toml changes.
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: venv test lint bench run images

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[lab,test,embedded,dev]'
	touch $@

test: venv
	$(BIN)/pytest -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy system lab

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e '.[bench]'
	touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run

# The quickstart scenario on the embedded Redis; prints where its report is.
run: venv
	$(BIN)/lab run scenarios/quickstart.yaml

# The lab's docker images (Debian base by debootstrap + the project from host-built
# wheels), in the engine at DOCKER_HOST; a no-op when they are up to date. No engine:
#   eval "$$($(BIN)/python -m lab.backends.docker.engine start)"
images: venv
	$(BIN)/lab images build
