# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# requirements.lock: what production installs; requirements-dev.lock: that plus the test tools.
LOCK := requirements-dev.lock

.PHONY: run test install lint bench bench-small lock clean

$(BIN)/activate: $(LOCK) requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r $(LOCK)
	touch $(BIN)/activate

install: $(BIN)/activate

# The development environment: written once from .env.example, then yours to edit. With
# no environment the settings are production's and refuse to start without secrets.
.env:
	cp .env.example .env

run: install .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py load_demo_groups
	$(BIN)/python manage.py demo_links
	@echo "Admin: http://127.0.0.1:8000/admin/  (user admin / password admin)"
	$(BIN)/honcho start -f Procfile.dev

# Test processes (pytest-xdist); TEST_WORKERS=0 runs the suite in this one process.
# Bytecode is written even where the environment says not to: without the cached,
# assertion-rewritten modules every worker compiles them again (a third of collection).
TEST_WORKERS ?= auto
test: install
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -n $(TEST_WORKERS) --dist load $(PYTEST_ARGS)

lint: install .env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy

# Every benchmark on 1,000,000 contacts (the database is built once, then reused).
bench: install
	$(BIN)/python bench/run_all.py

# The same at 100,000 contacts, within 5 minutes.
bench-small: install
	$(BIN)/python bench/run_all.py --scale 100000

# Re-resolve the pinned versions (needs the package index): the runtime set alone, then the
# test tools on top of exactly those pins.
LOCK_VENV := /tmp/lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet -e .
	$(LOCK_VENV)/bin/pip freeze --exclude-editable | grep -v '^-e' | sort -f > requirements.lock
	$(LOCK_VENV)/bin/pip install --quiet -e '.[dev]' -c requirements.lock
	( echo '-r requirements.lock'; \
	  $(LOCK_VENV)/bin/pip freeze --exclude-editable | grep -v '^-e' | sort -f \
	  | grep -vxFf requirements.lock ) > requirements-dev.lock

clean:
	rm -rf $(VENV) var db.sqlite3
