# The commands a newcomer types: `make run` and `make test`. Everything else is a step they call.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
FLASK  := $(BIN)/flask --app wsgi
# Local runs use a development secret and debug pages; production sets SECRET_KEY itself.
RUN_ENV := PORTAL_DEBUG=1

.PHONY: run test bench bench-invoices bench-load lint install static migrate seed chromium system-packages clean

# Invoice PDFs (WeasyPrint) need Pango, HarfBuzz's subsetter and the Liberation fonts: Debian packages, installed
# with apt-get when run as root and missing (elsewhere the command says which to install).
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-liberation

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ] && [ "$$(id -u)" = "0" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	elif [ -n "$$missing" ]; then echo "Install these Debian packages for invoice PDFs: $$missing"; fi

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: system-packages $(BIN)/.installed

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# Front-end packages come from the npm registry (pinned in package-lock.json), copied into portal/static.
static: node_modules/.package-lock.json
	mkdir -p portal/static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js portal/static/vendor/htmx.min.js
	mkdir -p portal/static/vendor/swagger-ui
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css portal/static/vendor/swagger-ui/

migrate: install
	$(RUN_ENV) $(FLASK) db upgrade

seed: migrate
	$(RUN_ENV) $(FLASK) seed-demo

# PORT reaches the app too: without PUBLIC_URL, the links in its emails point at http://127.0.0.1:$(PORT).
run: install static seed
	$(RUN_ENV) PORT=$(PORT) $(FLASK) run --host 127.0.0.1 --port $(PORT)

# Browser tests drive Debian's Chromium; as root we install it, elsewhere the tests skip and say why.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = "0" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null; \
	fi

test: install static chromium
	$(BIN)/pytest $(PYTEST_ARGS)

# The pages on books of 1k, 10k and 100k licenses (built once under bench/data and reused; BENCH_BOOKS,
# BENCH_REQUESTS, BENCH_PAGES, BENCH_DATABASE_URL; BENCH_ARGS=--check to fail on the goals), then the renewal run
# (100,000 plans of 1,000 chains, ratio to the summary run) and the reseller fees.
bench: install static
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench renewals $(BENCH_RENEWALS_ARGS)
	$(BIN)/python -m bench fees

# The invoice benchmarks (PDF rendering against bare WeasyPrint, the stored download, the monthly summary run).
bench-invoices: install static
	$(BIN)/python -m bench invoices $(BENCH_INVOICES_ARGS)

# Needs PostgreSQL (default postgresql+psycopg://postgres@127.0.0.1:5432/portal_bench_load, created and dropped).
bench-load: install static
	$(BIN)/python -m bench load

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) node_modules portal/static/vendor instance/portal.db
