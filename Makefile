# Two commands: `make run` (set up everything and serve) and `make test`.
# Embedded default: SQLite, eager Celery in the web process, local-memory cache; `make run` also starts a Celery
# worker with beat (broker: a folder, var/celery) so the periodic jobs run. Set DATABASE_URL / REDIS_URL for
# PostgreSQL and Redis (`make worker` and `make beat` run the Celery processes separately).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run serve migrate seed worker beat test test-all lint format bench bench-training data clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "superapp needs Python 3.11, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(INSTALLED)

migrate: install
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py setup_schedules

seed: migrate
	$(BIN)/python manage.py seed_demo --seed 42

run: seed
	@echo ""
	@echo "  API docs : http://$(HOST):$(PORT)/api/docs/"
	@echo "  Schema   : http://$(HOST):$(PORT)/api/schema/"
	@echo "  Admin    : http://$(HOST):$(PORT)/admin/   (admin / admin-pass-2026)"
	@echo "  Log in   : POST /api/v1/auth/login {\"username\": \"alice\", \"password\": \"demo-pass-2026\"}"
	@echo "  Jobs     : a Celery worker with beat runs beside the server (holds, forecasts, signal plans, ...);"
	@echo "             on the embedded default its broker is a folder (var/celery). Ctrl-C stops both."
	@echo ""
	@CELERY_TASK_ALWAYS_EAGER=0 $(BIN)/celery -A superapp worker --beat --pool=solo --loglevel=INFO & jobs=$$!; \
	trap 'kill $$jobs 2>/dev/null; wait $$jobs 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

worker: migrate
	$(BIN)/celery -A superapp worker --loglevel=INFO --concurrency=2

beat: migrate
	$(BIN)/celery -A superapp beat --loglevel=INFO

# The public data sets (MovieLens 100k, Foursquare check-in counts, Last.fm) that some tests and benchmarks
# read: downloaded with SHA-256 checks into $SUPERAPP_DATA_DIR, else ../shared/data (outside the repository:
# their licences forbid redistribution). Without them those tests skip, saying so; in CI they fail.
data: install
	$(BIN)/python -m recommender.ml.fetch_data

# Fast suite; benchmarks are marked slow. On DATABASE_URL/REDIS_URL the postgres/redis tests run too.
test: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks need wrk (Debian package) and PostgreSQL + Redis (DATABASE_URL, REDIS_URL) for meaningful figures.
# Each prints one JSON object as its last line. bench-training generates 10M interactions: long.
BENCHMARKS := bench_ping bench_payments bench_nearby bench_feed bench_recommendations bench_traffic_ingest

bench: migrate
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || \
		(sudo apt-get update -qq && sudo apt-get install -y -qq wrk)
	@for b in $(BENCHMARKS); do echo "== $$b"; $(BIN)/python manage.py $$b || exit 1; done

bench-training: migrate
	$(BIN)/python manage.py bench_training

clean:
	rm -rf $(VENV) db.sqlite3 var .pytest_cache .ruff_cache
