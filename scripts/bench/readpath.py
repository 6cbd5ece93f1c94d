"""``scripts/bench_readpath.py``: the pieces of one logged read, one at a time, on one private Anvil.

Each piece is called in a loop; a round times ``--calls`` calls with ``time.thread_time``
(the CPU this thread spent, what the web process pays) and ``time.perf_counter`` (wall),
and the figure is the median over ``--rounds`` rounds, per call:

* **leaf**: ``canonical_leaf`` of a typical read's leaf, beside ``rfc8785.dumps`` (the
  definition) and sorted ``json.dumps`` of the same leaf;
* **head refresh**: ``ChainView.head(newer_than=...)``, which always asks the node for the
  head (``eth_getBlockByNumber``, and ``eth_getLogs`` when it moved), as a web process does
  every ``HEAD_MAX_AGE``;
* **eth_call**: ``ChainView.member`` of an account with its answer forgotten first (one
  ``Membership.member`` call and its decoding);
* **health**: ``ledger.access.health`` with a checkpoint on chain and an event waiting for
  the next (the checkpoint remembered by the view, as it is between refreshes), and its database part alone
  (``health_against``: the log's size and its first leaf not anchored);
* **address**: ``Ledger.address_of`` of an address and ``ChainView.member`` of a remembered
  member (the checksumming on the read path);
* **read**: ``Access.read`` on duty by a committee member, and under the resident's grant by
  a department officer, end to end (log append included; its health reused as in production).

Numbers only; nothing is written to docs. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import rfc8785

from ledger.access import Access, health, health_against
from ledger.accesslog import Draft, canonical_leaf
from ledger.anchoring import Anchorer, designate_anchorer
from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.membership import DepartmentKind, Role
from ledger.organisations import Organisations
from ledger.records import Records

from .chain import private_chain

OFFICE, COMMITTEE, DEPARTMENT = "readpath-office", "readpath-cmte", "readpath-health"
ADMIN, MEMBER, GRID, RESIDENT = "readpath-admin", "readpath-member", "readpath-grid", "readpath-resident"
OFFICER = "readpath-officer"


@dataclass(frozen=True)
class Figure:
    name: str
    cpu_us: float  # median thread CPU per call, microseconds
    wall_us: float  # median wall time per call, microseconds


def measure(name: str, call: Callable[[], object], calls: int, rounds: int) -> Figure:
    """Median over ``rounds`` of the per-call thread CPU and wall time of ``calls`` calls."""
    call()  # warm
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(rounds):
        c0, w0 = time.thread_time(), time.perf_counter()
        for _ in range(calls):
            call()
        c1, w1 = time.thread_time(), time.perf_counter()
        cpu.append((c1 - c0) / calls * 1e6)
        wall.append((w1 - w0) / calls * 1e6)
    return Figure(name, statistics.median(cpu), statistics.median(wall))


def typical_leaf() -> dict[str, object]:
    return Draft(
        action="read", outcome="allowed", resident="0x" + "ab" * 20, accessor="0x" + "cd" * 20,
        time=1_763_700_000_000, record_id="0x" + "01" * 32, category="health", organisation="0x" + "02" * 32,
        basis="grant", grant_id="0x" + "03" * 32, purpose=2, block=123_456,
    ).leaf(1_000_000, 42)  # fmt: skip


def leaf_figures(calls: int, rounds: int) -> list[Figure]:
    leaf = typical_leaf()
    return [
        measure("leaf: canonical_leaf", lambda: canonical_leaf(leaf), calls, rounds),
        measure("leaf: rfc8785.dumps", lambda: rfc8785.dumps(leaf), calls, rounds),
        measure(
            "leaf: json.dumps sorted", lambda: json.dumps(leaf, sort_keys=True, separators=(",", ":")), calls, rounds
        ),
    ]


def build(ledger: Ledger) -> tuple[str, Anchorer]:
    """An office with the installation's anchorer, a committee with one member and a grid
    worker, a health department with an officer, a resident with one certified health record
    and a grant of it to the department; returns the record id."""
    orgs = Organisations(ledger)
    orgs.create_office(OFFICE, "Readpath office", ADMIN)
    anchorer, _tx = designate_anchorer(ledger, OFFICE, ADMIN)
    orgs.create_committee(COMMITTEE, "Readpath committee", OFFICE, [MEMBER], 1)
    orgs.add_member(GRID, COMMITTEE, Role.GRID_WORKER)
    orgs.add_member(RESIDENT, COMMITTEE, Role.RESIDENT, actor=GRID)
    records = Records(ledger)
    record_id, _tx = records.add(
        actor=GRID,
        subject=RESIDENT,
        category=Category.HEALTH,
        content={"blood_type": "O", "chronic_conditions": [], "allergies": []},
    )
    records.sign(record_id, signer=MEMBER)
    orgs.create_department(DEPARTMENT, "Readpath health", OFFICE, DepartmentKind.HEALTH)
    orgs.add_member(OFFICER, DEPARTMENT, Role.DEPARTMENT_OFFICER, actor=ADMIN)
    Consent(ledger).issue(
        resident=RESIDENT, department=DEPARTMENT, categories=[Category.HEALTH], purpose=Purpose.HEALTH_MANAGEMENT,
        legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + 365 * 86_400,
    )  # fmt: skip
    ledger.outbox.pump()
    ledger.indexer().run_once()
    return record_id, Anchorer(ledger, anchorer)


def chain_figures(ledger: Ledger, record_id: str, anchorer: Anchorer, calls: int, rounds: int) -> list[Figure]:
    view = ledger.view
    member = ledger.address_of(MEMBER)
    officer = ledger.address_of(OFFICER)
    access = Access(ledger)
    access.read(record_id, accessor=officer)
    access.read(record_id, accessor=member)
    anchorer.run_until_anchored()  # a checkpoint on chain (the view remembers it) ...
    access.read(record_id, accessor=member)  # ... and an event waiting for the next (nobody anchors now)

    def refresh() -> None:
        view.head(newer_than=view.head()[0])

    def member_asked() -> None:
        with view._lock:  # the member's answer forgotten: the next question is an eth_call
            view._memo.get("member", {}).pop(member, None)
        view.member(member)

    limit = ledger.settings.anchor_fail_after
    reads = max(1, calls // 10)
    return [
        measure("head refresh", refresh, calls, rounds),
        measure("eth_call (member, decoded)", member_asked, calls, rounds),
        measure("health", lambda: health(ledger.log, view, limit), calls, rounds),
        measure("health: the database's part", lambda: health_against(ledger.log, 0, limit), calls, rounds),
        measure("address: Ledger.address_of", lambda: ledger.address_of(member), calls * 10, rounds),
        measure("address: ChainView.member (remembered)", lambda: view.member(member), calls * 10, rounds),
        measure("read: Access.read on duty", lambda: access.read(record_id, accessor=member), reads, rounds),
        measure("read: Access.read under a grant", lambda: access.read(record_id, accessor=officer), reads, rounds),
    ]


def table(figures: Sequence[Figure]) -> str:
    lines = ["| piece | thread CPU per call (µs, median) | wall per call (µs, median) |", "|---|---:|---:|"]
    lines += [f"| {f.name} | {f.cpu_us:,.1f} | {f.wall_us:,.1f} |" for f in figures]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200, help="calls per round (leaf and address: ×10, read: ÷10)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-chain", action="store_true", help="only the pieces that need no node (the leaf)")
    options = parser.parse_args(argv)
    print(f"# read path pieces · {platform.python_version()} · load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    figures = leaf_figures(options.calls * 10, options.rounds)
    if not options.no_chain:
        with private_chain("gridledger-readpath-") as ledger:
            record_id, anchorer = build(ledger)
            figures += chain_figures(ledger, record_id, anchorer, options.calls, options.rounds)
    print(table(figures))
    print(f"load after: {os.getloadavg()[0]:.2f}")
    return figures
