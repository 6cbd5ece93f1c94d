#!/usr/bin/env python3
"""AccessLogAnchor gas: the gas of ``AccessLogAnchor.append`` around tree sizes 2^k, or at
100 / 1,000 / 10,000 events a checkpoint beside the contract of earlier commits, on one
private Anvil; prints Markdown tables for docs/benchmarks.md.

    .venv/bin/python scripts/bench_anchor.py [--exponents 10,16,20]
    .venv/bin/python scripts/bench_anchor.py --compare REV[,REV...] [--later 10]

The benchmark is scripts/bench/anchor.py.
"""

from bench.anchor import main  # scripts/bench/: this file's folder is on the path

if __name__ == "__main__":
    main()
