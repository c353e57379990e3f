"""The benchmark harness: `python -m bench` (`make bench`) times the portal's pages on a large dataset.

Modules:
- bench.generate: the reusable large-dataset generator (one insert function per kind of data);
- bench.app: the benchmark's configuration, database preparation and migrations;
- bench.measure: the pages, in-process timing and SQL statement counts;
- bench.report: the printed table, the JSON results (bench/results/latest.json) and the --check thresholds.
"""
