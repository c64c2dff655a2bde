# OneWindow: `make run` starts the whole system, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test install lint fmt migrate revision events bench mint-token dlq-replay clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create the virtual environment and install pinned dependencies

run: $(STAMP) ## database + broker (embedded unless configured), migrations, demo catalogue, five services
	$(PY) -m shared run

test: $(STAMP) ## the whole suite against real PostgreSQL and a real Kafka-protocol broker
	$(PY) -m pytest $(PYTEST_ARGS)

migrate: $(STAMP) ## apply every service's migrations to the configured databases
	$(PY) -m shared migrate

revision: $(STAMP) ## autogenerate a migration: make revision SVC=forms MSG="add profiles"
	$(PY) -m shared revision $(SVC) -m "$(MSG)"

events: $(STAMP) ## export the AsyncAPI document of every event to docs/asyncapi.json
	$(PY) -m shared export-events

bench: $(STAMP) ## benchmarks that print figures (not part of make test)
	$(PY) -m benchmarks.run

mint-token: $(STAMP) ## a dev token: make mint-token ARGS="--role clerk --hall ZS-CITY"
	$(PY) -m shared mint-token $(ARGS)

dlq-replay: $(STAMP) ## replay a dead-letter topic: make dlq-replay GROUP=approval
	$(PY) -m shared dlq replay $(GROUP)

lint: $(STAMP) ## ruff over the code (not part of make test)
	$(VENV)/bin/ruff check shared services

clean:
	rm -rf $(VENV) var .pytest_cache
