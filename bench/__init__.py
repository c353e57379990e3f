"""The benchmark harness.

`python -m bench` (`make bench`) times the portal's pages in-process on a large generated dataset (SQLite in a
temporary folder, or BENCH_DATABASE_URL): account pages, the shop, the htmx price fragment, cart, checkout,
order history, and POST /checkout placing an order (every timed order gets a fresh copy of the cart, untimed).
Each page is reported as p50/p95 server time, its ratio to the no-database /help page, and its SQL statements.

`python -m bench load` (`make bench-load`) is the load test: it creates a PostgreSQL database (default
postgresql+psycopg://postgres@127.0.0.1:5432/portal_bench_load, BENCH_LOAD_DATABASE_URL), migrates and seeds
it, starts gunicorn (4 workers × 4 threads) with the production configuration, fires 50 concurrent checkouts
plus one more buyer's form submitted 5 times at once, checks the outcome (no errors, one order per cart, unique
license keys, gapless invoice numbers, one charge per card order, …) and prints the latency; it stops gunicorn
and drops the database at the end, also on failure. Exit status 1 when a check fails, 2 when it cannot start.
`python -m bench --help` and `python -m bench load --help` list the options (each also read from BENCH_*).

Modules:
- bench.generate: the reusable large-dataset generator (one insert function per kind of data: catalog,
  organizations, users, memberships, contacts, audit entries, orders, licenses, subscriptions, invoices);
- bench.app: the benchmark's configuration, database preparation and migrations; creating and dropping the
  load test's database;
- bench.shop: buying as a browser does (the probe cart, the add-to-cart and checkout forms, refilling a cart);
- bench.measure: the pages, in-process timing and SQL statement counts;
- bench.load: the load test against gunicorn on PostgreSQL;
- bench.report: the printed table, the JSON results (bench/results/latest.json) and the --check thresholds.
"""
