#!/usr/bin/env python3
"""Web benchmark: requests per second and p50/p95/p99 latency of the resident history page,
the API access history, the logged record read and a trivial endpoint, under gunicorn with
2 workers, against a bounded local load generator, with 1,000,000 events in the access log;
and the same read without a ledger (scripts/bench/baseline_app.py, under a second gunicorn
with the same flags) in the same rounds, for goal 1 of issue 14 (the logged read at ≥ 0.8×
the baseline's req/s at 4 and 16 connections, p99 no worse).

    .venv/bin/python scripts/bench_web.py [--events 1000000] [--seconds 20] [--rounds 3]
        [--concurrency 4,16] [--workers 2] [--threads 8]
        [--scenarios ping,page,api,read,baseline] [--database sqlite|postgresql] [--write-docs]

Goal 1 alone, in a few minutes: --scenarios read,baseline --events 20000 (the history
endpoints are judged only with the full million events).

With --write-docs the results go to docs/benchmarks.md (section "Web app and JSON API");
the benchmark is scripts/bench/web.py.
"""

from bench.web import main  # scripts/bench/: this file's folder is on the path

if __name__ == "__main__":
    main()
