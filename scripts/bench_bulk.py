#!/usr/bin/env python3
"""Bulk logged reads against the raw append ceiling (issue 14, goal 2): reader processes call
``Access.read_many`` (1,000 records a call) or ``AccessLog.append`` (the ceiling) in alternating
rounds, on a private Anvil with the anchorer running.

    .venv/bin/python scripts/bench_bulk.py [--residents 2000] [--batch 1000] [--processes 2]
        [--seconds 15] [--rounds 3] [--database sqlite|postgresql] [--write-docs]

With --write-docs the results go to docs/benchmarks.md (section "Bulk logged reads");
the benchmark is scripts/bench/bulk.py.
"""

from bench.bulk import main  # scripts/bench/: this file's folder is on the path

if __name__ == "__main__":
    main()
