"""The standalone verifier: a proof file and a bundle verify against the chain alone, and
a change to any field of either makes it fail, naming the failing step."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from ledger import formats
from ledger.access import Access
from ledger.access import today as china_today
from ledger.anchoring import Anchorer
from ledger.audit import scope_of
from ledger.categories import Category
from ledger.context import Ledger
from ledger.errors import VerificationError
from ledger.history import Scope, bundle, proof_document
from ledger.records import Records
from ledger.verifier import verify_bundle, verify_proof
from tests.documents import changed_at, scalar_paths

HEALTH = {"blood_type": "B", "chronic_conditions": [], "allergies": [], "family_doctor": "王医生"}


@pytest.fixture
def anchored(ledger: Ledger, world) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    records = Records(ledger)
    rid, _ = records.add(actor=world.grid_worker, subject=world.resident, category=Category.HEALTH, content=HEALTH)
    access = Access(ledger)
    seqs = [access.read(rid, accessor=m).seq for m in world.members]
    held = access.read(
        rid, accessor=world.police_officer, justification="立案 case 9",
        disclose_on=(date.today() + timedelta(days=10)).isoformat(),
    ).seq  # fmt: skip
    Anchorer(ledger, ledger.account(ledger.settings.anchorer)).run_until_anchored()
    return {"seqs": seqs, "held": held}




def test_a_proof_file_verifies_and_any_change_fails(ledger: Ledger, anchored: dict[str, Any]) -> None:
    rpc = ledger.settings.rpc_url
    document = proof_document(ledger, anchored["seqs"][1])
    verdict = verify_proof(document, rpc)
    verdict.require()
    assert [s.number for s in verdict.steps] == list(range(1, len(verdict.steps) + 1))
    for path in scalar_paths(document):
        broken = verify_proof(changed_at(document, path), rpc)
        assert not broken.ok, f"changing {path} went unnoticed"
        with pytest.raises(VerificationError, match=r"not valid: step \d+"):
            broken.require()


def test_a_withheld_entry_verifies_by_its_hash(ledger: Ledger, anchored: dict[str, Any]) -> None:
    document = proof_document(ledger, anchored["held"])
    assert "leaf" not in document["entry"] and document["entry"]["leafHash"].startswith("0x")
    assert verify_proof(document, ledger.settings.rpc_url).ok


def test_a_bundle_verifies_and_a_change_to_any_field_fails(ledger: Ledger, world, anchored: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    rpc = ledger.settings.rpc_url
    scope = scope_of(ledger, start=None, end=None, department=None, resident=world.resident)
    document = bundle(ledger, scope, ledger.account(ledger.settings.anchorer))
    assert len(document["entries"]) == 3 and len(document["withheld"]) == 1
    verdict = verify_bundle(document, rpc)
    assert verdict.ok, [(s.title, s.detail) for s in verdict.steps]
    paths = list(scalar_paths(document))
    assert len(paths) > 80
    for path in paths:
        assert not verify_bundle(changed_at(document, path), rpc).ok, f"changing {path} went unnoticed"
    dropped = copy.deepcopy(document)
    dropped["entries"].pop(1)
    assert verify_bundle(dropped, rpc).failed.title == "the bundle's signature is its signer's"  # type: ignore[union-attr]


def _resign(document: dict[str, Any], key: Any) -> dict[str, Any]:
    body = {k: v for k, v in document.items() if k != "signature"}
    body["signer"] = key.address
    body["signature"] = formats.to_hex(key.sign_message(encode_defunct(formats.canonical_json(body))).signature)
    return body


def test_the_steps_behind_the_signature_hold_on_their_own(ledger: Ledger, world, anchored: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    rpc = ledger.settings.rpc_url
    anchorer = ledger.account(ledger.settings.anchorer)
    scope = scope_of(ledger, start=None, end=None, department=None, resident=world.resident)
    document = bundle(ledger, scope, anchorer)

    stranger = verify_bundle(_resign(document, Account.create()), rpc)
    assert stranger.failed.title == "the signer is a designated anchorer on chain"  # type: ignore[union-attr]

    edited = copy.deepcopy(document)  # an insider with the anchorer's key edits an entry
    edited["entries"][0]["leaf"]["accessor"] = "0x" + "11" * 20
    assert verify_bundle(_resign(edited, anchorer), rpc).failed.title == "every entry is included in the checkpoint"  # type: ignore[union-attr]

    omitted = copy.deepcopy(document)  # ... or leaves one out of the resident's history
    omitted["entries"].pop(1)
    failed = verify_bundle(_resign(omitted, anchorer), rpc).failed
    assert failed is not None and failed.title == "every entry is within the bundle's scope, none missing"
    assert "missing" in failed.detail

    foreign = copy.deepcopy(document)
    foreign["scope"]["resident"] = ledger.address_of(world.grid_worker)
    assert not verify_bundle(_resign(foreign, anchorer), rpc).ok


def test_the_verifier_names_a_node_it_cannot_reach_or_another_chain(ledger: Ledger, anchored: dict[str, Any]) -> None:
    document = proof_document(ledger, anchored["seqs"][0])
    down = verify_proof(document, "http://127.0.0.1:9")
    assert down.failed is not None and down.failed.number == 2 and "no node answers" in down.failed.detail
    other = dict(document, chainId=1)
    assert "chain" in verify_proof(other, ledger.settings.rpc_url).failed.detail  # type: ignore[union-attr]


def test_an_office_bundle_holds_the_department_and_dates_in_scope(
    ledger: Ledger, world, anchored: dict[str, Any]
) -> None:  # type: ignore[no-untyped-def]
    today = china_today().isoformat()
    scope = scope_of(ledger, start=today, end=today, department=world.police, resident=None)
    document = bundle(ledger, scope, ledger.account(ledger.settings.anchorer))
    assert [e["seq"] for e in document["entries"]] == [anchored["held"]]  # an office sees held entries in full
    assert document["withheld"] == []
    assert verify_bundle(document, ledger.settings.rpc_url).ok
    assert bundle(ledger, Scope(department="0x" + "00" * 32), ledger.account(ledger.settings.anchorer))["entries"] == []
    json.dumps(document)  # plain JSON
