"""The benchmark harness.

`python -m bench` (`make bench`) times the portal's pages in-process on a large generated dataset (SQLite in a
temporary folder, or BENCH_DATABASE_URL): account pages, the shop, the htmx price fragment, cart, checkout,
order history, and POST /checkout placing an order (every timed order gets a fresh copy of the cart, untimed);
and the probe reseller's licenses (10,000 licenses and 1,000 customers by default: /licenses, its htmx search, a
license, /customers, the whole /customers.csv download, and an end customer's /licenses).
Each page is reported as p50/p95 server time, its ratio to the no-database /help page, and its SQL statements.

`python -m bench load` (`make bench-load`) is the load test: it creates a PostgreSQL database (default
postgresql+psycopg://postgres@127.0.0.1:5432/portal_bench_load, BENCH_LOAD_DATABASE_URL), migrates and seeds
it, starts gunicorn (4 workers × 4 threads) with the production configuration, fires 50 concurrent checkouts
plus one more buyer's form submitted 5 times at once, checks the outcome (no errors, one order per cart, unique
license keys, gapless invoice numbers, one charge per card order, …) and prints the latency; it stops gunicorn
and drops the database at the end, also on failure. Exit status 1 when a check fails, 2 when it cannot start.
`python -m bench invoices` (`make bench-invoices`) is the invoice benchmark (bench.invoices): a one-page invoice
PDF against a bare WeasyPrint render of its HTML, a 2,000-line summary PDF against a naive one-table WeasyPrint
render of the same rows, the stored PDF download against /help, and the monthly summary run for 25,000, 50,000
and 100,000 order invoices across 1,000 organizations on SQLite; `--check` fails when a target is missed.
`python -m bench --help` and `python -m bench load --help` list the options (each also read from BENCH_*).

Modules:
- bench.generate: the reusable large-dataset generator (one insert function per kind of data: catalog,
  organizations, users, memberships, contacts, audit entries, orders, licenses, subscriptions, invoices);
- bench.app: the benchmark's configuration, database preparation and migrations; creating and dropping the
  load test's database;
- bench.shop: buying as a browser does (the probe cart, the add-to-cart and checkout forms, refilling a cart);
- bench.measure: the pages, in-process timing and SQL statement counts;
- bench.load: the load test against gunicorn on PostgreSQL;
- bench.invoices: the invoice benchmark and insert_summary_workload() (order invoices waiting for the summary);
- bench.report: the printed table, the JSON results (bench/results/latest.json) and the --check thresholds.
"""
