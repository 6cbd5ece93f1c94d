"""Shared by the contract tests: the session world's labels and ids, and helpers that
send real transactions through the outbox (no preflight) and check their outcome."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ledger.chain import Call
from ledger.membership import org_id

# -- the session world (labels as in conftest.World) ----------------------------------

REGISTRAR = "governance"
ADMIN = "admin-a1"
SECOND_ADMIN = "admin-a2"
OTHER_ADMIN = "admin-b1"
MEMBERS = ("cmte-a-m1", "cmte-a-m2", "cmte-a-m3")
M1, M2, M3 = MEMBERS
SUSPENDED = "cmte-a-suspended"
REVOKED = "cmte-a-revoked"
OTHER_MEMBER = "cmte-b-m1"
GRID_WORKER = "cmte-a-grid"
RESIDENT = "cmte-a-resident"
OFFICER = "dept-a-officer"
STRANGER = "stranger"

OFFICE_A = org_id("office-a")
OFFICE_B = org_id("office-b")
CMTE_A = org_id("cmte-a")
CMTE_B = org_id("cmte-b")
DEPT_A = org_id("dept-a-health")
UNKNOWN_ORG = org_id("no-such-org")

ZERO_ADDRESS = "0x" + "00" * 20


def send_all(ledger: Any, calls: Sequence[tuple[str, Call]]) -> list[tuple[Any, Any]]:
    """Signs and stores each (signer label, call) without preflight, sends them
    together and waits for all; returns (outbox row, receipt) per call, in order."""
    hashes = []
    for label, call in calls:
        signer = ledger.account(label)
        ledger.outbox.prepare(signer)
        with ledger.store.session() as session, session.begin():
            hashes.append(ledger.outbox.enqueue(session, signer, call, preflight=False).tx_hash)
    rows = ledger.outbox.wait(hashes, timeout=30, interval=0.05)
    return [(row, ledger.w3.eth.get_transaction_receipt(h)) for row, h in zip(rows, hashes, strict=True)]


def send(ledger: Any, signer_label: str, call: Call) -> tuple[Any, Any]:
    ((row, receipt),) = send_all(ledger, [(signer_label, call)])
    return row, receipt


def assert_mined(row: Any, receipt: Any) -> None:
    assert row.status == "mined", f"{row.purpose} reverted: {row.error_name} {row.error_detail}"
    assert receipt["status"] == 1


def assert_reverted(row: Any, receipt: Any, error: str, **args: Any) -> None:
    """Reverted on chain with ``error(**args)`` and emitted nothing."""
    assert row.status == "reverted", f"{row.purpose} was {row.status}, expected {error}"
    assert receipt["status"] == 0
    assert (row.error_name, json.loads(row.error_detail)) == (error, args)
    assert receipt["logs"] == []


def assert_cases(results: Any, cases: Any) -> None:
    """``cases`` are (name, call or signer+call, error, args), in the order sent."""
    for (row, receipt), (case, *_, error, args) in zip(results, cases, strict=True):
        try:
            assert_reverted(row, receipt, error, **args)
        except AssertionError as exc:
            raise AssertionError(f"case {case!r}: {exc}") from exc


def hexid(value: bytes) -> str:
    """bytes32 as the outbox spells it in error_detail."""
    return "0x" + value.hex()
