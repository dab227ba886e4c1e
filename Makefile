# Two commands: `make lab` (student workspace) and `make test` (the whole suite).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8888
# nbgrader runs `alembic` from PATH: keep the venv's bin first.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup lab test bench clean

setup:
	@tools/setup_env.sh

lab: setup
	@$(BIN)/python -m autograder.classroom.workspace --port $(PORT)

test: setup
	@tools/test_setup.sh
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	@$(BIN)/python bench/run.py

clean:
	rm -rf workspace release submitted autograded feedback gradebook.db bench/out .pytest_cache
