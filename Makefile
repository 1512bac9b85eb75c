# The two commands of the README. Each sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## demo: sample Stripe events through the real webhook endpoint, then the dashboard on :8000
demo: $(STAMP)
	$(BIN)/dunning-connector demo

## test: the whole suite (SQLite; PostgreSQL too when TEST_DATABASE_URL is set, as .ci/run does)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/sync_bench.py

clean:
	rm -rf $(VENV) dunning-demo.sqlite*
