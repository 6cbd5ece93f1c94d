"""``scripts/bench_anchor.py``: the gas of ``AccessLogAnchor.append`` on large logs.

For each k in 10, 16 and 20 the log is anchored at 2^k - 1000 events, then grows by
three checkpoints, each proven consistent with the one before and measured:

* (a) 2^k - 1000 → 2^k: about 1,000 events, ending on a power of two;
* (b) 2^k → 2^k + 1000: about 1,000 events, starting from a power of two;
* (c) 2^k + 1000 → 2^k + 1024: a short checkpoint.

One private Anvil, one deployment and one log of 2^20 + 1024 random leaf hashes, whose
prefixes are the logs of every k. Sizes only grow: the unmeasured checkpoint at
2^k - 1000 follows the last one of the k before (the first checkpoint needs no proof).
An append's gas depends on the two sizes (they fix the proof) and on storing one new
checkpoint, not on earlier checkpoints, so this measures what a fresh deployment per k
would. Gas is the receipt's ``gasUsed``: the whole transaction, the 21,000 intrinsic gas
and the calldata included. Writes are signed locally and sent through the outbox.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from eth_account.signers.local import LocalAccount

from ledger.anchor import AnchorCalls
from ledger.context import Ledger
from ledger.merkle import MerkleTree
from ledger.organisations import Organisations

EXPONENTS = (10, 16, 20)


def checkpoints(k: int) -> list[tuple[str, int, int]]:
    """The measured steps (label, size1, size2) around 2^k."""
    n = 1 << k
    return [("a", n - 1000, n), ("b", n, n + 1000), ("c", n + 1000, n + 1024)]


def anchor_gas(
    ledger: Ledger, anchorer: LocalAccount, tree: MerkleTree, exponents: Sequence[int] = EXPONENTS
) -> list[dict[str, int | str]]:
    """Appends the checkpoints of each k in increasing order as ``anchorer`` (designated,
    on a deployment with no checkpoint yet) and returns one row per measured append."""
    anchor = AnchorCalls(ledger.contract("AccessLogAnchor"))
    size = 0

    def append(new_size: int) -> tuple[int, int]:
        """Anchors ``new_size``; returns the proof's length and the gas used."""
        nonlocal size
        proof = tree.consistency_proof(size, new_size) if size else []
        tx_hash = ledger.submit(anchorer, anchor.append(new_size, tree.root(new_size), proof))
        size = new_size
        return len(proof), int(ledger.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])  # type: ignore[arg-type]

    rows: list[dict[str, int | str]] = []
    for k in exponents:
        append((1 << k) - 1000)
        for step, size1, size2 in checkpoints(k):
            proof_len, gas = append(size2)
            per_event = round(gas / (size2 - size1))
            rows.append(
                dict(k=k, step=step, size1=size1, size2=size2, proof=proof_len, gas=gas, gas_per_event=per_event)
            )
    return rows


def table(rows: list[dict[str, int | str]]) -> str:
    lines = [
        "| k | step | size1 | size2 | events | proof (hashes) | gas used | gas / event |",
        "|---:|:---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        events = int(r["size2"]) - int(r["size1"])
        lines.append(
            f"| {r['k']} | {r['step']} | {r['size1']:,} | {r['size2']:,} | {events:,} | {r['proof']} "
            f"| {r['gas']:,} | {r['gas_per_event']:,} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    from ledger.anchoring import designate_anchorer

    from .chain import private_chain

    parser = argparse.ArgumentParser(prog="scripts/bench_anchor.py", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--exponents", default=",".join(map(str, EXPONENTS)),
                        help="the k of the tree sizes 2^k, increasing, each at least 10 (default %(default)s)")  # fmt: skip
    exponents = [int(k) for k in parser.parse_args(argv).exponents.split(",") if k.strip()]
    # Sizes only grow: each k starts at 2^k - 1000, past the last checkpoint of the k before.
    if (
        not exponents
        or exponents[0] < 10
        or any((1 << k) - 1000 <= (1 << j) + 1024 for j, k in zip(exponents, exponents[1:]))
    ):
        parser.error(
            "--exponents: increasing k from 10 up, each 2^k - 1000 past the 2^k + 1024 before it (10,12 is the smallest pair)"
        )
    leaves = [hashlib.sha256(os.urandom(32)).digest() for _ in range((1 << max(exponents)) + 1024)]
    tree = MerkleTree.of(leaves)
    with private_chain("gridledger-bench-anchor-", block_time=0.2) as ledger:
        Organisations(ledger).create_office("bench-office", "Bench office", "bench-admin")
        anchorer, _tx = designate_anchorer(ledger, "bench-office", "bench-admin")
        rows = anchor_gas(ledger, anchorer, tree, exponents)
    print(table(rows))
