#!/usr/bin/env python3
"""Chain benchmark: N writes through the outbox against the node's raw ceiling.

    .venv/bin/python scripts/bench_chain.py [-n 5000] [--no-write-docs]

Same as ``gridledger bench chain``; results go to docs/benchmarks.md.
"""

from ledger.cli import bench_chain

if __name__ == "__main__":
    bench_chain()
