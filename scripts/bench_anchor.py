#!/usr/bin/env python3
"""AccessLogAnchor gas: the gas of ``AccessLogAnchor.append`` around tree sizes 2^k, on one
private Anvil; prints a Markdown table for docs/benchmarks.md.

    .venv/bin/python scripts/bench_anchor.py [--exponents 10,16,20]

The benchmark is scripts/bench/anchor.py.
"""

from bench.anchor import main  # scripts/bench/: this file's folder is on the path

if __name__ == "__main__":
    main()
