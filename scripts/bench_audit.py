#!/usr/bin/env python3
"""The office's audit, full and incremental (issue 14, goal 7): the full audit over a big log
against the incremental audit of one day's events on top of it, in alternating rounds.

    .venv/bin/python scripts/bench_audit.py [--sizes 1000000] [--day 100000] [--grants 100000]
        [--rounds 3] [--profile] [--database sqlite|postgresql] [--write-docs]

With --write-docs the results go to docs/benchmarks.md (section "Audit: full and incremental");
the benchmark is scripts/bench/audit.py.
"""

from bench.audit import main  # scripts/bench/: this file's folder is on the path

if __name__ == "__main__":
    main()
