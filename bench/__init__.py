"""The benchmark harness.

`python -m bench` (`make bench`) times the portal's pages in-process on books of 1,000, 10,000 and 100,000
licenses (bench.books: one stored database per book, reused while its fingerprint matches; the probe reseller
grows with the book, customers, locations, devices and 36 months of orders, invoices and receipts in proportion,
among a background that stays the same). Every page a reseller or an end customer uses is a goal page (the
dashboard, /licenses and each of its sections, a license, /customers and a customer, /invoices, /orders,
/payments, /renewals, /subscriptions, /devices, /locations and a location, the end customer's /licenses and /);
the others (account pages, the shop, cart, checkout, POST /checkout, CSV downloads, the storefront) are
informative. Each page is reported as p50/p95 server time, their ratios to the anonymous no-database /help of the
same run, and its SQL statements; then the growth of every page's p95 from the smallest book to the largest.
`--check` fails on the goals (p95 ≤ 5× /help's at the largest book, ≤ 1.5× its own at the smallest) and the SQL
budgets.

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
- bench.app: the benchmark's configuration, database preparation and migrations; creating, copying and dropping
  PostgreSQL databases (the load test's, the books');
- bench.books: the books: their sizes and proportions, fingerprints, building or reusing them, working copies;
- bench.shop: buying as a browser does (the probe cart, the add-to-cart and checkout forms, refilling a cart);
- bench.measure: the pages, in-process timing and SQL statement counts;
- bench.load: the load test against gunicorn on PostgreSQL;
- bench.invoices: the invoice benchmark and insert_summary_workload() (order invoices waiting for the summary);
- bench.report: the tables per book and of growth, the JSON results (bench/results/latest.json) and --check.
"""
