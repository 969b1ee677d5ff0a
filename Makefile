# CQOx — the two commands are `make demo` and `make test`; everything else is for developers.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen
export UV_PYTHON_DOWNLOADS := never
export PYTHONDONTWRITEBYTECODE :=

.PHONY: help setup demo test containers up down status lint format typecheck unit integration faults browser schemas asyncapi flows chart-schema migration clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup:  ## install uv if missing and the locked workspace into .venv
	@command -v uv >/dev/null 2>&1 || test -x $(HOME)/.local/bin/uv || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --python 3.11 --quiet

demo: setup  ## start the embedded stack, run the sample analysis live, print results, stop
	@$(RUN) python -m cqox_stack demo

test: setup lint typecheck  ## lint, type-check, unit and integration tests (real NATS + PostgreSQL)
	@$(RUN) pytest -q -n 2 --dist loadgroup  # one worker runs the real-stack group, the other the unit tests

containers: setup  ## build the image, run it, the Helm chart's pods and compose as containers (root + docker.io)
	@deploy/docker/ensure-engine.sh
	@CQOX_CONTAINERS=1 $(RUN) pytest -q --timeout 3600 tests/containers

up: setup  ## start the embedded stack in the background; URLs in .cqox/env
	@$(RUN) python -m cqox_stack up

down:  ## stop the stack started by `make up`
	@$(RUN) python -m cqox_stack down

status:  ## show the background stack
	@$(RUN) python -m cqox_stack status

lint:  ## ruff lint + format check
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .

format:  ## apply ruff fixes and formatting
	@$(RUN) ruff check --fix .
	@$(RUN) ruff format .

typecheck:  ## mypy over every package
	@$(RUN) mypy contracts/src libs/shared/src libs/stack/src services/*/src && $(RUN) mypy -p cqox  # libs/client/src by module: it ships py.typed

unit:  ## only the tests that need no servers
	@$(RUN) pytest -q -m "not integration"

integration:  ## only the tests against real NATS + PostgreSQL + service processes
	@$(RUN) pytest -q -m integration

faults: setup  ## fault injection on the real stack: kill -9, PostgreSQL and NATS restarts, poison (~10 min)
	@CQOX_FAULTS=1 $(RUN) pytest -q -m faults tests/faults tests/integration/test_postgres_outage.py tests/integration/test_timeout.py tests/integration/test_fair_pools.py

browser: setup  ## the HTML and PDF reports of the demo samples in headless Chromium (apt: chromium, poppler-utils, fonts-ipafont-gothic)
	@command -v chromium >/dev/null && command -v pdftoppm >/dev/null && fc-list 2>/dev/null | grep -qi ipa || { \
		[ "$$(id -u)" = 0 ] || { echo "make browser needs chromium, poppler-utils and fonts-ipafont-gothic (apt, as root)" >&2; exit 1; }; \
		echo "installing chromium, poppler-utils, fonts-ipafont-gothic (apt)"; apt-get update -q >/dev/null; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium poppler-utils fonts-ipafont-gothic >/dev/null; }
	@CQOX_BROWSER=1 $(RUN) pytest -q tests/integration/test_report_browser.py

schemas:  ## regenerate the committed JSON Schemas of the v1 events
	@$(RUN) python -m cqox_contracts.export schemas

asyncapi:  ## regenerate the committed AsyncAPI document from the code
	@$(RUN) python -m cqox_contracts.export asyncapi

flows:  ## regenerate README's subject table and the NATS permissions from the services' declared flows
	@$(RUN) python -m cqox_stack.flows --write

chart-schema:  ## regenerate the Helm chart's values.schema.json (methods from the estimator registry)
	@$(RUN) python deploy/helm/values_schema.py

migration:  ## new Alembic revision: make migration SERVICE=ingest MSG="add column"
	@$(RUN) python -m cqox_stack.revision $(SERVICE) "$(MSG)"

clean:  ## stop a background stack and remove local state
	-@$(RUN) python -m cqox_stack down
	-@$(RUN) python -c "from pathlib import Path; from cqox_stack.processes import remove_runtime; [remove_runtime(Path('.cqox', k, 'postgres')) for k in ('demo', 'up')]"
	rm -rf .cqox .pytest_cache .mypy_cache .ruff_cache
