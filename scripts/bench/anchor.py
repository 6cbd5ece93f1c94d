"""``scripts/bench_anchor.py``: the gas of ``AccessLogAnchor.append`` on large logs, and
(``--compare REV[,REV...]``) at the checkpoint sizes anchoring makes, beside the contract of each ``REV``.

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

``--compare REV[,REV...]`` deploys copies of AccessLogAnchor on the same chain, the artifact
committed at each ``REV`` and the one in ``contracts/build/`` (current), all with
the deployment's Membership and the same anchorer, and sends each the same checkpoints one
after the other, as the anchorer makes them (the frontier after the arguments included): for
100, 1,000 and 10,000 events a checkpoint, on a log that starts empty and on one already past
1,000,000 events, a first checkpoint on a fresh copy and then ``--later`` checkpoints of that
many events each. Gas is deterministic (no rounds needed); one later checkpoint of each row is
traced (``debug_traceCall`` on the state before it) to split its gas into the intrinsic 21,000, the calldata,
storage reads and writes, the SHA-256 precompile calls, the event and the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3.contract import Contract

from ledger.anchor import AnchorCalls
from ledger.chain import Call, artifact
from ledger.context import Ledger
from ledger.membership import org_id
from ledger.merkle import MerkleTree
from ledger.organisations import Organisations
from ledger.outbox import raise_for_revert
from ledger.settings import PROJECT_ROOT

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


# -- --compare: the baseline's contract beside the current one ---------------------------

EVENTS = (100, 1_000, 10_000)
LATER = 10
LARGE_LOG = 1_000_000
DEPLOY_GAS = 6_000_000
PARTS = ("base", "calldata", "storage reads", "storage writes", "SHA-256 calls", "event", "rest")


def committed_artifact(rev: str) -> dict[str, Any]:
    """AccessLogAnchor's artifact as committed at git revision ``rev``."""
    shown = subprocess.run(
        ["git", "show", f"{rev}:contracts/build/AccessLogAnchor.json"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(shown.stdout)
    return data


def deploy_anchor(ledger: Ledger, deployer: LocalAccount, compiled: dict[str, Any]) -> Contract:
    """A fresh AccessLogAnchor from ``compiled`` (an artifact), on the deployment's Membership."""
    membership = ledger.deployment.address("Membership")
    code = bytes.fromhex(compiled["bytecode"][2:]) + abi_encode(["address"], [membership])
    ledger.outbox.prepare(deployer)
    with ledger.store.session() as session, session.begin():
        tx_hash = ledger.outbox.enqueue(session, deployer, Call(None, code, DEPLOY_GAS, "bench.deploy")).tx_hash
    (mined,) = ledger.outbox.wait([tx_hash], timeout=120)
    raise_for_revert([mined])
    return ledger.w3.eth.contract(address=to_checksum_address(mined.contract_address or ""), abi=compiled["abi"])


def calldata_gas(data: bytes) -> int:
    """The intrinsic gas of a transaction's input (EIP-2028): 16 a non-zero byte, 4 a zero."""
    return sum(16 if b else 4 for b in data)


def breakdown(ledger: Ledger, tx_hash: str, gas_used: int) -> dict[str, int]:
    """``gas_used`` split by what it paid for, from an opcode trace of the same call replayed
    on the state just before its block (Anvil traces steps of a call, not of a mined
    transaction, unless started with ``--steps-tracing``). ``append`` calls no contract, only
    the precompile, so every step is at depth 1. Raises when the replay's gas differs."""
    tx = ledger.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    block = int(tx["blockNumber"])  # type: ignore[arg-type]
    data = bytes(tx["input"])
    request = {"from": tx["from"], "to": tx["to"], "data": "0x" + data.hex(), "gas": hex(int(tx["gas"]))}
    trace = ledger.w3.provider.make_request(  # type: ignore[arg-type]
        "debug_traceCall", [request, hex(block - 1), {"disableStorage": True, "disableStack": True}]
    )["result"]
    if trace["failed"] or int(trace["gas"]) != gas_used:
        raise RuntimeError(
            f"the replay of {tx_hash} used {trace['gas']} gas (failed: {trace['failed']}), not {gas_used}"
        )
    steps = trace["structLogs"]
    kind = {"SLOAD": "storage reads", "SSTORE": "storage writes", "STATICCALL": "SHA-256 calls", "LOG3": "event"}
    parts: Counter[str] = Counter()
    for step, after in zip(steps, steps[1:]):
        parts[kind.get(step["op"], "rest")] += int(step["gas"]) - int(after["gas"])
    parts["base"] = 21_000
    parts["calldata"] = calldata_gas(data)
    parts["rest"] = gas_used - sum(v for k, v in parts.items() if k != "rest")
    return {k: parts[k] for k in PARTS}


@dataclass
class Run:
    """One contract's checkpoints of one row: the first, then the later ones."""

    first: int = 0
    later: list[int] | None = None
    proofs: list[int] | None = None
    frontier_gas: list[int] | None = None
    parts: dict[str, int] | None = None


def compare(
    ledger: Ledger,
    anchorer: LocalAccount,
    admin: LocalAccount,
    office: bytes,
    tree: MerkleTree,
    contracts: dict[str, dict[str, Any]],
    *,
    events: Sequence[int] = EVENTS,
    starts: Sequence[int] = (0, LARGE_LOG),
    later: int = LATER,
) -> list[tuple[int, int, dict[str, Run]]]:
    """For each log start and checkpoint size, a fresh copy of each contract in ``contracts``
    (artifacts by label) gets a first checkpoint of ``start + n`` events, then ``later``
    checkpoints of ``n`` events; each checkpoint goes to every copy before the next is made."""
    out: list[tuple[int, int, dict[str, Run]]] = []
    for start in starts:
        for n in events:
            copies = {label: deploy_anchor(ledger, admin, compiled) for label, compiled in contracts.items()}
            for contract in copies.values():
                ledger.submit(admin, AnchorCalls(contract).designate(anchorer.address, office))
            runs = {label: Run(later=[], proofs=[], frontier_gas=[]) for label in copies}
            sizes = [start + n * (i + 1) for i in range(later + 1)]
            for i, size in enumerate(sizes):
                previous = sizes[i - 1] if i else 0
                proof = tree.consistency_proof(previous, size) if previous else []
                for label, contract in copies.items():
                    call = AnchorCalls(contract).append(size, tree.root(size), proof, tree.frontier(size))
                    tx_hash = ledger.submit(anchorer, call)
                    gas = int(ledger.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])  # type: ignore[arg-type]
                    run = runs[label]
                    assert run.later is not None and run.proofs is not None and run.frontier_gas is not None
                    if not previous:
                        run.first = gas
                        continue
                    run.later.append(gas)
                    run.proofs.append(len(proof))
                    run.frontier_gas.append(calldata_gas(call.data[-32 * len(tree.frontier(size)) - 4 :]))
                    if i == len(sizes) - 1:
                        run.parts = breakdown(ledger, tx_hash, gas)
            out.append((start, n, runs))
    return out


def compare_tables(rows: list[tuple[int, int, dict[str, Run]]]) -> str:
    labels = list(rows[0][2])
    lines = [
        "| log before | events a checkpoint | contract | first checkpoint | later: proof hashes (median) "
        "| later: gas (median) | later: gas (mean) | gas / event (mean) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for start, n, runs in rows:
        for label in labels:
            run = runs[label]
            assert run.later and run.proofs
            mean = statistics.fmean(run.later)
            lines.append(
                f"| {start:,} | {n:,} | {label} | {run.first:,} | {statistics.median(run.proofs):g} "
                f"| {statistics.median(run.later):,.0f} | {mean:,.0f} | {mean / n:,.1f} |"
            )
    lines += [
        "",
        "Where the last later checkpoint's gas went (opcode trace):",
        "",
        "| log before | events | contract | gas | " + " | ".join(PARTS) + " | of the calldata: frontier |",
        "|---:|---:|---|---:|" + "---:|" * (len(PARTS) + 1),
    ]
    for start, n, runs in rows:
        for label in labels:
            run = runs[label]
            assert run.parts is not None and run.later and run.frontier_gas
            parts = " | ".join(f"{run.parts[k]:,}" for k in PARTS)
            lines.append(f"| {start:,} | {n:,} | {label} | {run.later[-1]:,} | {parts} | {run.frontier_gas[-1]:,} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    from ledger.anchoring import designate_anchorer

    from .chain import private_chain

    parser = argparse.ArgumentParser(prog="scripts/bench_anchor.py", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--exponents", default=",".join(map(str, EXPONENTS)),
                        help="the k of the tree sizes 2^k, increasing, each at least 10 (default %(default)s)")  # fmt: skip
    parser.add_argument("--compare", metavar="REV[,REV...]",
                        help="instead: the checkpoint sizes anchoring makes, AccessLogAnchor as committed at "
                             "each git revision REV beside contracts/build/ (current)")  # fmt: skip
    parser.add_argument("--later", type=int, default=LATER,
                        help="with --compare: later checkpoints per row (default %(default)s)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.compare:
        _compare_main(args.compare, args.later)
        return
    exponents = [int(k) for k in args.exponents.split(",") if k.strip()]
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


def _compare_main(revs: str, later: int) -> None:
    from ledger.anchoring import designate_anchorer

    from .chain import private_chain

    contracts = {rev: committed_artifact(rev) for rev in revs.split(",")}
    leaves = [hashlib.sha256(os.urandom(32)).digest() for _ in range(LARGE_LOG + max(EVENTS) * (later + 1))]
    tree = MerkleTree.of(leaves)
    with private_chain("gridledger-bench-anchor-", block_time=0.2) as ledger:
        contracts["current"] = artifact(ledger.settings, "AccessLogAnchor")
        Organisations(ledger).create_office("bench-office", "Bench office", "bench-admin")
        anchorer, _tx = designate_anchorer(ledger, "bench-office", "bench-admin")
        rows = compare(
            ledger,
            anchorer,
            ledger.account("bench-admin"),
            org_id("bench-office"),
            tree,
            contracts,
            events=EVENTS,
            starts=(0, LARGE_LOG),
            later=later,
        )
    print(compare_tables(rows))
