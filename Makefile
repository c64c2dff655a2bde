# OneWindow: `make run` starts the whole system, `make test` runs every test.
#
# Another Python: `make test PYTHON=python3.12` builds and uses its own venv (.venv-3.12); the default
# interpreter (python3) keeps .venv. Installs come from requirements.lock (hashed, universal for
# Python 3.11-3.13); `make lock` regenerates it after a pin in pyproject.toml changes.
PYTHON ?= python3
# The interpreter itself: $(PYTHON) if it runs, else pyenv's newest matching version (a pyenv shim such
# as python3.12 only runs when that version is selected).
PYTHON_EXE := $(shell $(PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null \
	|| ls -d $$(pyenv root 2>/dev/null)/versions/$(patsubst python%,%,$(notdir $(PYTHON))).*/bin/$(notdir $(PYTHON)) \
	   2>/dev/null | sort -V | tail -n 1)
PYVER  := $(if $(PYTHON_EXE),$(shell $(PYTHON_EXE) -c 'import sys; print("%d.%d" % sys.version_info[:2])'))
VENV   ?= $(if $(filter python3,$(PYTHON)),.venv,.venv-$(PYVER))
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
LINT_PATHS := shared services tests benchmarks

.PHONY: run test test-fast install lock lint fmt migrate revision events bench mint-token dlq-replay dlq-list clean python

# A changed pyproject.toml or lock reinstalls; the interpreter's own pip installs exactly the lock.
$(STAMP): pyproject.toml $(LOCK)
	@test -n "$(PYVER)" || { echo "$(PYTHON) not found: set PYTHON=python3.x" >&2; exit 1; }
	$(PYTHON_EXE) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	echo '*' > $(VENV)/.gitignore
	touch $(STAMP)

install: $(STAMP) ## create the virtual environment and install the locked dependencies

lock: $(STAMP) ## regenerate requirements.lock from pyproject.toml (pins + dev extras, hashes, Python 3.11-3.13)
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --universal \
		--python-version 3.11 --quiet -o $(LOCK)

run: $(STAMP) ## database + broker (embedded unless configured), migrations, demo catalogue, five services
	$(PY) -m shared run

test: $(STAMP) ## the whole suite against real PostgreSQL and a real Kafka-protocol broker
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## unit and service tests only (no e2e, no chaos)
	$(PY) -m pytest -m "unit or service" $(PYTEST_ARGS)

migrate: $(STAMP) ## apply every service's migrations to the configured databases
	$(PY) -m shared migrate

revision: $(STAMP) ## autogenerate a migration: make revision SVC=forms MSG="add profiles"
	$(PY) -m shared revision $(SVC) -m "$(MSG)"

events: $(STAMP) ## export the AsyncAPI document of every event to docs/asyncapi.json
	$(PY) -m shared export-events

bench: $(STAMP) ## hot paths beside a bare reference, one table (docs/performance.md); QUICK=1: about 3 minutes
	$(PY) -m benchmarks.run $(if $(QUICK),--quick)

mint-token: $(STAMP) ## a dev token: make mint-token ARGS="--role clerk --hall ZS-CITY"
	$(PY) -m shared mint-token $(ARGS)

dlq-replay: $(STAMP) ## replay one group's dead letters to that group only: make dlq-replay GROUP=approval
	@test -n "$(GROUP)" || { echo "usage: make dlq-replay GROUP=<consumer group> (make dlq-list names them)" >&2; exit 2; }
	$(PY) -m shared dlq replay $(GROUP)

dlq-list: $(STAMP) ## every consumer group's dead letters; one group's newest: make dlq-list GROUP=approval
	$(PY) -m shared dlq $(if $(GROUP),show $(GROUP),list)

lint: $(STAMP) ## ruff over the code and tests, mypy over shared, services and benchmarks (not part of make test)
	@status=0; \
	echo "ruff check $(LINT_PATHS)"; $(VENV)/bin/ruff check $(LINT_PATHS) || status=1; \
	echo "mypy shared services benchmarks"; $(VENV)/bin/mypy shared services benchmarks || status=1; \
	exit $$status

fmt: $(STAMP) ## ruff format, then ruff's safe fixes
	$(VENV)/bin/ruff format $(LINT_PATHS)
	$(VENV)/bin/ruff check --fix $(LINT_PATHS)

python: ## print the interpreter and venv that PYTHON=... selects (fails if there is none)
	@test -n "$(PYVER)" || { echo "$(PYTHON) not found" >&2; exit 1; }
	@echo "$(PYTHON_EXE) (Python $(PYVER)) -> $(VENV)"

clean:
	rm -rf .venv .venv-3.* var .pytest_cache .mypy_cache .ruff_cache
