#!/usr/bin/env python3
"""Access log benchmark: reads per second with anchoring running, append-to-anchored
latency, proofs, the audit over a big log, and the gas of checkpoints.

    .venv/bin/python scripts/bench_log.py [--events 1000000] [--grants 100000] [--seconds 20] [--no-write-docs]

Results go to docs/benchmarks.md (section "Access log"); the benchmark is scripts/bench/log.py.
"""

from bench.log import main  # scripts/bench/: this file's folder is on the path

if __name__ == "__main__":
    main()
