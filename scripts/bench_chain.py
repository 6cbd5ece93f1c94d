#!/usr/bin/env python3
"""Chain benchmark: N writes through the outbox against the node's raw ceiling.

    .venv/bin/python scripts/bench_chain.py [-n 5000] [--kinds membership,records,grants] [--rounds 5]
        [--no-write-docs]

Results go to docs/benchmarks.md (section "Chain writes"); the benchmark is scripts/bench/chain.py.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console


@click.command()
@click.option("-n", "count", type=int, default=5_000, show_default=True, help="Writes per leg.")
@click.option("--kinds", default="membership,records,grants", show_default=True, help="Which writes to measure.")
@click.option("--rounds", type=int, default=5, show_default=True)
@click.option("--write-docs/--no-write-docs", default=True, show_default=True)
def main(count: int, kinds: str, rounds: int, write_docs: bool) -> None:
    """Outbox writes against the node's raw ceiling, in the same run."""
    from bench.chain import run  # scripts/bench/: this file's folder is on the path

    run(
        count,
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()),
        rounds=rounds,
        write_docs=write_docs,
        console=Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160),
    )


if __name__ == "__main__":
    main()
