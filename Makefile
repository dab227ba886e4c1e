# Two commands: `make lab` (student workspace) and `make test` (the whole suite).
# `make lock` re-resolves pyproject.toml's ranges into requirements/ (exact versions, hashes).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8888
# nbgrader runs `alembic` from PATH: keep the venv's bin first.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup lock lab test bench clean

# .venv from requirements/lock.txt (uv, or pip where uv can't be installed); does nothing when nothing changed.
setup:
	@tools/setup_env.sh

# After changing a range in pyproject.toml; `make lock LOCK_ARGS=--upgrade` moves every package to
# the newest version its range allows (or LOCK_ARGS='--upgrade-package NAME' for one).
lock:
	@LOCK_ARGS='$(LOCK_ARGS)' tools/lock.sh

lab: setup
	@$(BIN)/python -m autograder.classroom.workspace --port $(PORT)

# Two pytest workers (half the cores on a bigger machine): much of the suite waits on servers,
# timeouts and browsers rather than computing. Each module runs whole in one worker, longest first (tests/conftest.py).
# `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 4 ? 2 : n / 2 )))

test: setup
	@tools/test_setup.sh
	@$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 $(PYTEST_ARGS)

bench: setup
	@$(BIN)/python bench/run.py

clean:
	rm -rf workspace release submitted autograded feedback gradebook.db bench/out .pytest_cache
