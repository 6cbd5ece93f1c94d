#!/usr/bin/env python3
"""Web benchmark: requests per second and p50/p95/p99 latency of the resident history page,
the API access history, the logged record read and a trivial endpoint, under gunicorn with
2 workers, against a bounded local load generator, with 1,000,000 events in the access log.

    .venv/bin/python scripts/bench_web.py [--events 1000000] [--seconds 20] [--rounds 3]
        [--concurrency 4,16] [--workers 2] [--threads 8] [--write-docs]

With --write-docs the results go to docs/benchmarks.md (section "Web app and JSON API");
the benchmark is scripts/bench/web.py.
"""

from bench.web import main  # scripts/bench/: this file's folder is on the path

if __name__ == "__main__":
    main()
