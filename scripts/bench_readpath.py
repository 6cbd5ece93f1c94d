#!/usr/bin/env python3
"""Read path benchmark: the CPU of each piece of one logged read (leaf encoding, head
refresh, eth_call, health, address checksumming, the read itself), medians of rounds.

    .venv/bin/python scripts/bench_readpath.py [--calls 200] [--rounds 7] [--no-chain]

Prints a Markdown table; the benchmark is scripts/bench/readpath.py.
"""

from bench.readpath import main  # scripts/bench/: this file's folder is on the path

if __name__ == "__main__":
    main()
