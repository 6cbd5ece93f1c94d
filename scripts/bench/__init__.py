"""The benchmarks: applications of the library, kept out of its packages (they need a checkout:
they write their results into docs/benchmarks.md). Each runs from its entry point beside this
folder, which puts scripts/ on the path:

    .venv/bin/python scripts/bench_chain.py    # chain.py: outbox writes against the node's raw ceiling
    .venv/bin/python scripts/bench_log.py      # log.py: the access log under load
    .venv/bin/python scripts/bench_anchor.py   # anchor.py: AccessLogAnchor gas at large tree sizes
    .venv/bin/python scripts/bench_web.py      # web.py: the web app and the JSON API under gunicorn
    .venv/bin/python scripts/bench_bulk.py     # bulk.py: bulk logged reads against the raw append ceiling

Timings belong here, never in tests.
"""
