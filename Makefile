# The two commands of the README. Each sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-cards lint bench clean

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
	@# The browser tests drive Debian's Chromium (Playwright never downloads a browser).
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	$(BIN)/ruff check .
	$(MAKE) test-cards
	$(BIN)/python -m pytest -q

## test-cards: the HubSpot app card's Node tests (vitest), when Node is installed
CARDS := hubspot-app/src/app/cards
test-cards:
	@if command -v npm >/dev/null 2>&1; then \
		cd $(CARDS) && npm ci --no-audit --no-fund --loglevel=error && npm test; \
	else echo "npm not found: the HubSpot card's Node tests were not run"; fi

bench: $(STAMP)
	$(BIN)/python bench/sync_bench.py

clean:
	rm -rf $(VENV) dunning-demo.sqlite*
