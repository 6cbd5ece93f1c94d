"""Consent receipts against the real chain: a receipt verifies, any change to it is found
(and still found when the change is signed again by the office's own key), each status has
its history and its party, and the verifier needs nothing but the file and the node."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from click.testing import CliRunner
from eth_account import Account
from eth_utils import keccak
from sqlalchemy import update

from ledger import formats
from ledger.categories import Category
from ledger.cli import main
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import NotFoundError, VerificationError
from ledger.membership import org_id
from ledger.receipts import (
    CATEGORY_DPV,
    FORMAT,
    LEGAL_BASIS_DPV,
    PURPOSE_DPV,
    ReceiptFinding,
    ReceiptNote,
    build,
    sign,
    verify,
)
from ledger.store.models import ChainGrant, GrantTerms
from tests.documents import changed_at, scalar_paths

YEAR = 365 * 86_400
#: Fields only the office's signature vouches for (the chain holds ids, not names).
SIGNED_ONLY = {"piiController.department.name", "piiController.office.name"}


@pytest.fixture
def consent(ledger: Ledger) -> Consent:
    return Consent(ledger)


def _issue(consent: Consent, world, **extra: Any) -> str:  # type: ignore[no-untyped-def]
    args: dict[str, Any] = dict(
        resident=world.resident, department=world.department, categories=[Category.HEALTH, Category.RESIDENCE],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + YEAR,
        purpose_text="慢病随访 chronic disease follow-up", notice="只用于随访",
    )  # fmt: skip
    args.update(extra)
    grant_id, _ = consent.issue(**args)
    return grant_id


def _receipt(ledger: Ledger, grant_id: str) -> dict[str, Any]:
    return build(ledger, grant_id, signer=ledger.account(ledger.settings.anchorer))


def _valid(ledger: Ledger, receipt: dict[str, Any]):  # type: ignore[no-untyped-def]
    verdict = verify(receipt, ledger.settings.rpc_url)
    assert verdict.ok, [f.to_json() for f in verdict.findings]
    return verdict




def _dotted(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def test_a_receipt_has_the_27560_fields_and_verifies(ledger: Ledger, consent: Consent, world) -> None:  # type: ignore[no-untyped-def]
    grant_id = _issue(consent, world)
    receipt = _receipt(ledger, grant_id)

    assert receipt["format"] == FORMAT and receipt["jurisdiction"] == "CN" and receipt["legalFramework"] == "PIPL"
    assert receipt["piiPrincipal"] == {"address": ledger.address_of(world.resident)}  # an address, nothing more
    department = receipt["piiController"]["department"]
    assert department == {"id": formats.to_hex(org_id(world.department)), "code": world.department,
                          "name": {"zh": "甲卫生健康办", "en": "Health A"}}  # fmt: skip
    assert receipt["piiController"]["office"]["code"] == world.office
    assert receipt["purposes"] == [{"code": 2, "name": "health-management", "dpv": "dpv:ServiceProvision",
                                    "text": "慢病随访 chronic disease follow-up", "primaryPurpose": True}]  # fmt: skip
    health, residence = receipt["dataCategories"][1], receipt["dataCategories"][0]
    assert (health["name"], health["dpv"], health["sensitive"], health["sensitiveBecause"]) == (
        "health", "dpv-pd:HealthRecord", True, "medical-health")  # fmt: skip
    assert (residence["name"], residence["sensitive"]) == ("residence", False)
    assert receipt["sensitive"] is True
    assert receipt["legalBasis"] == {"code": 1, "name": "consent", "dpv": "dpv:Consent", "pipl": "PIPL Art. 13(1)(1)"}
    assert receipt["collectionMethod"] == "issued-by-resident" and receipt["status"] == "active"
    [issued] = receipt["history"]
    assert issued["event"] == "issued" and issued["party"]["role"] == "resident" and issued["party"]["relayer"] is None
    assert issued["sentBy"] == ledger.address_of(world.resident) and issued["time"] == receipt["consentTimestamp"]
    assert formats.to_hex(formats.terms_hash(receipt["terms"])) == receipt["evidence"]["termsHash"]
    assert receipt["evidence"]["genesisHash"] == formats.to_hex(bytes(ledger.w3.eth.get_block(0)["hash"]))

    verdict = _valid(ledger, receipt)
    assert verdict.status == "active" and verdict.notes == []


def test_every_purpose_legal_basis_and_category_has_a_mapping() -> None:
    assert set(PURPOSE_DPV) == set(Purpose) and set(LEGAL_BASIS_DPV) == set(LegalBasis)
    assert set(CATEGORY_DPV) == set(Category)
    assert all(code.startswith("dpv:") for code in PURPOSE_DPV.values())
    assert all(code.startswith("dpv-pd:") for code, _ in CATEGORY_DPV.values())


@pytest.mark.slow
def test_any_change_is_found_and_still_found_when_signed_again(ledger: Ledger, consent: Consent, world) -> None:  # type: ignore[no-untyped-def]
    rpc = ledger.settings.rpc_url
    grant_id = _issue(consent, world)
    consent.revoke(grant_id, "科室合并 department merged", actor=world.admin)
    receipt = _receipt(ledger, grant_id)
    _valid(ledger, receipt)
    anchorer = ledger.account(ledger.settings.anchorer)
    paths = list(scalar_paths(receipt))
    assert len(paths) > 60
    for path in paths:
        broken = changed_at(receipt, path)
        verdict = verify(broken, rpc)
        assert not verdict.ok, f"changing {_dotted(path)} went unnoticed"
        if path[0] in ("signature", "signer") or any(_dotted(path).startswith(p) for p in SIGNED_ONLY):
            continue
        # The office itself (its key) cannot make the chain say something else either.
        resigned = sign({k: v for k, v in broken.items() if k != "signature"}, anchorer)
        again = verify(resigned, rpc)
        assert not again.ok, f"changing {_dotted(path)} and signing it again went unnoticed"
        assert ReceiptFinding.BAD_SIGNATURE not in again.codes()
    with pytest.raises(VerificationError, match="bad-signature"):
        verify(changed_at(receipt, ("signature",)), rpc).require()


def test_a_changed_field_is_named(ledger: Ledger, consent: Consent, world) -> None:  # type: ignore[no-untyped-def]
    rpc = ledger.settings.rpc_url
    anchorer = ledger.account(ledger.settings.anchorer)
    receipt = _receipt(ledger, _issue(consent, world))
    body = {k: v for k, v in receipt.items() if k != "signature"}

    other = copy.deepcopy(body)
    other["piiPrincipal"]["address"] = ledger.address_of(world.stranger)
    found = verify(sign(other, anchorer), rpc).findings
    assert [(f.code, f.params["field"]) for f in found] == [(ReceiptFinding.FIELD_MISMATCH, "piiPrincipal.address")]

    wider = copy.deepcopy(body)
    wider["terms"]["categories"].append("identity")
    codes = verify(sign(wider, anchorer), rpc).codes()
    assert ReceiptFinding.TERMS_HASH in codes and ReceiptFinding.FIELD_MISMATCH in codes

    later = copy.deepcopy(body)
    later["validity"]["until"] += YEAR
    [finding] = verify(sign(later, anchorer), rpc).findings
    assert finding.params == {"field": "validity.until", "receipt": body["validity"]["until"] + YEAR,
                              "expected": body["validity"]["until"]}  # fmt: skip


def test_a_withdrawn_grant_has_its_history_and_an_earlier_receipt_is_out_of_date(
    ledger: Ledger, consent: Consent, world
) -> None:  # type: ignore[no-untyped-def]
    grant_id = _issue(consent, world)
    before = _receipt(ledger, grant_id)
    withdraw_tx = consent.withdraw(grant_id)

    receipt = _receipt(ledger, grant_id)
    assert receipt["status"] == "withdrawn"
    issued, withdrawn = receipt["history"]
    assert withdrawn["event"] == "withdrawn" and withdrawn["txHash"] == withdraw_tx
    assert withdrawn["party"] == {"role": "resident", "account": ledger.address_of(world.resident), "relayer": None}
    assert withdrawn["block"] == ledger.w3.eth.get_transaction_receipt(withdraw_tx)["blockNumber"]  # type: ignore[arg-type]
    assert _valid(ledger, receipt).status == "withdrawn"

    stale = verify(before, ledger.settings.rpc_url)
    assert stale.codes() == [ReceiptFinding.STATUS_CHANGED] and stale.status == "withdrawn"
    assert stale.findings[0].params["receipt"] == "active"

    dropped = copy.deepcopy(receipt)  # the withdrawal left out of a receipt made after it
    dropped["history"].pop()
    dropped["status"] = "active"
    left_out = verify(sign({k: v for k, v in dropped.items() if k != "signature"},
                           ledger.account(ledger.settings.anchorer)), ledger.settings.rpc_url)  # fmt: skip
    assert ReceiptFinding.HISTORY_INCOMPLETE in left_out.codes()


def test_a_relayed_grant_names_the_relayer_and_a_relayed_withdrawal_too(ledger: Ledger, consent: Consent, world) -> None:  # type: ignore[no-untyped-def]
    grant_id = _issue(consent, world, relayer=world.grid_worker)
    consent.withdraw(grant_id, relayer=world.grid_worker)
    receipt = _receipt(ledger, grant_id)
    worker, resident = ledger.address_of(world.grid_worker), ledger.address_of(world.resident)
    assert receipt["collectionMethod"] == "relayed-with-resident-present"
    assert receipt["terms"]["collectionMethod"] == "relayed by a grid worker with the resident present"
    for row in receipt["history"]:
        assert row["party"] == {"role": "resident", "account": resident, "relayer": worker}
        assert row["sentBy"] == worker
    _valid(ledger, receipt)


def test_a_revoked_grant_names_the_office_and_the_hash_of_its_reason(ledger: Ledger, consent: Consent, world) -> None:  # type: ignore[no-untyped-def]
    grant_id = _issue(consent, world)
    reason = "科室合并 department merged"
    tx = consent.revoke(grant_id, reason, actor=world.admin)
    receipt = _receipt(ledger, grant_id)
    revoked = receipt["history"][-1]
    assert revoked["event"] == "revoked" and revoked["txHash"] == tx and receipt["status"] == "revoked"
    assert revoked["party"] == {"role": "office", "office": formats.to_hex(org_id(world.office)),
                                "account": ledger.address_of(world.admin)}  # fmt: skip
    assert revoked["reasonHash"] == formats.to_hex(keccak(text=reason)) and revoked["reason"] == reason
    assert _valid(ledger, receipt).status == "revoked"

    reworded = copy.deepcopy(receipt)
    reworded["history"][-1]["reason"] = "another reason"
    resigned = sign({k: v for k, v in reworded.items() if k != "signature"}, ledger.account(ledger.settings.anchorer))
    assert ReceiptFinding.REASON_MISMATCH in verify(resigned, ledger.settings.rpc_url).codes()


def _move_chain_time(ledger: Ledger, seconds: int) -> None:
    ledger.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    ledger.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_an_expired_grant_says_expired_by_time(ledger: Ledger, consent: Consent, world) -> None:  # type: ignore[no-untyped-def]
    now = ledger.w3.eth.get_block("latest")["timestamp"]
    grant_id = _issue(consent, world, valid_from=now - 10, valid_until=now + 30)
    before = _receipt(ledger, grant_id)
    _move_chain_time(ledger, 60)

    earlier = verify(before, ledger.settings.rpc_url)  # still true of its moment: a note, not a finding
    assert earlier.ok and earlier.status == "expired"
    assert [(n.code, n.params) for n in earlier.notes] == [(ReceiptNote.EXPIRED_SINCE, {"until": now + 30})]

    receipt = _receipt(ledger, grant_id)
    assert receipt["status"] == "expired"
    assert receipt["history"][-1] == {"event": "expired", "time": now + 30, "party": {"role": "time"}}
    assert _valid(ledger, receipt).status == "expired"


def test_unknown_grant_other_chain_and_foreign_files(ledger: Ledger, consent: Consent, world) -> None:  # type: ignore[no-untyped-def]
    rpc = ledger.settings.rpc_url
    anchorer = ledger.account(ledger.settings.anchorer)
    body = {k: v for k, v in _receipt(ledger, _issue(consent, world)).items() if k != "signature"}

    unknown = copy.deepcopy(body)
    unknown["evidence"]["grantId"] = formats.to_hex(formats.new_id())
    assert verify(sign(unknown, anchorer), rpc).codes() == [ReceiptFinding.UNKNOWN_GRANT]

    for name, value in (("chainId", 1), ("genesisHash", formats.to_hex(bytes(32)))):
        elsewhere = copy.deepcopy(body)
        elsewhere["evidence"][name] = value
        [finding] = verify(sign(elsewhere, anchorer), rpc).findings
        assert finding.code == ReceiptFinding.OTHER_CHAIN and finding.params["field"] == name

    stranger = Account.create()
    assert ReceiptFinding.SIGNER_NOT_OFFICE in verify(sign({**body, "signer": stranger.address}, stranger), rpc).codes()
    assert verify({"format": "gridledger-proof/1"}, rpc).codes() == [ReceiptFinding.NOT_A_RECEIPT]
    assert verify({**body, "history": "none"}, rpc).findings[0].params == {"field": "history"}
    assert verify(sign(body, anchorer), "http://127.0.0.1:9").codes() == [ReceiptFinding.NO_NODE]


def test_build_takes_nothing_from_the_store_the_chain_does_not_vouch_for(ledger: Ledger, consent: Consent, world) -> None:  # type: ignore[no-untyped-def]
    grant_id = _issue(consent, world)
    tx = consent.withdraw(grant_id)
    ledger.indexer().run_once()
    with ledger.store.session() as session, session.begin():  # wrong transaction hashes: the chain is searched
        session.execute(update(ChainGrant).where(ChainGrant.grant_id == grant_id).values(status_tx="0x" + "ab" * 32))
        session.execute(update(GrantTerms).where(GrantTerms.grant_id == grant_id).values(status_tx=None))
    receipt = _receipt(ledger, grant_id)
    assert receipt["history"][-1]["txHash"] == tx
    _valid(ledger, receipt)

    with ledger.store.session() as session, session.begin():  # altered terms: no receipt at all
        terms = json.loads(session.get(GrantTerms, grant_id).terms)  # type: ignore[union-attr]
        terms["categories"].append("identity")
        session.execute(update(GrantTerms).where(GrantTerms.grant_id == grant_id).values(terms=json.dumps(terms)))
    with pytest.raises(VerificationError, match="do not hash"):
        _receipt(ledger, grant_id)
    with pytest.raises(NotFoundError):
        _receipt(ledger, formats.to_hex(formats.new_id()))


# -- the command line ------------------------------------------------------------------------------


def _cli_env(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDLEDGER_VAR", str(settings.var_dir))
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("GRIDLEDGER_NODE_PORT", str(settings.node_port))
    monkeypatch.setenv("GRIDLEDGER_KEY_PASSWORD", "test-password")


def _verify_alone(path: Any, rpc: str, tmp_path: Any, *extra: str) -> subprocess.CompletedProcess[str]:
    """``gridledger verify receipt`` in a process of its own that has nothing but the file and
    the node's URL: no settings, no database, no keys (its var directory is empty)."""
    empty = tmp_path / "nothing-here"
    empty.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(empty), "GRIDLEDGER_VAR": str(empty)}
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli", "verify", "receipt", str(path), "--rpc-url", rpc, *extra],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip


@pytest.mark.slow
def test_the_cli_writes_a_receipt_and_verifies_it_with_nothing_but_the_node(
    ledger: Ledger, consent: Consent, world, settings, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    grant_id = _issue(consent, world)
    _cli_env(settings, monkeypatch)
    path = tmp_path / "receipt.json"
    written = CliRunner().invoke(main, ["grant", "receipt", grant_id, "-o", str(path)], catch_exceptions=False)
    assert written.exit_code == 0, written.output
    assert json.loads(path.read_text(encoding="utf-8"))["evidence"]["grantId"] == grant_id

    rpc = ledger.settings.rpc_url
    valid = _verify_alone(path, rpc, tmp_path)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "VALID" in valid.stdout and "active" in valid.stdout
    assert list((tmp_path / "nothing-here").iterdir()) == []  # no database, no keystore, nothing made

    as_json = json.loads(_verify_alone(path, rpc, tmp_path, "--json").stdout)
    assert as_json == {"verdict": "VALID", "grantId": grant_id, "status": "active", "findings": [], "notes": []}

    consent.withdraw(grant_id)
    stale = _verify_alone(path, rpc, tmp_path, "--json")
    assert stale.returncode == 1
    assert [f["code"] for f in json.loads(stale.stdout)["findings"]] == ["status-changed"]

    path.write_text("not json", encoding="utf-8")
    assert _verify_alone(path, rpc, tmp_path).returncode == 2
    missing = CliRunner().invoke(main, ["grant", "receipt", formats.to_hex(formats.new_id())])
    assert missing.exit_code == 1 and "NotFoundError" in missing.output


def test_only_the_resident_the_department_and_its_office_may_have_a_receipt(
    ledger: Ledger, consent: Consent, world
) -> None:  # type: ignore[no-untyped-def]
    from ledger.receipts import ReceiptReader, reader_of

    grant_id = _issue(consent, world)
    view, of = ledger.view, ledger.address_of
    assert reader_of(view, grant_id, of(world.resident)) == ReceiptReader.RESIDENT
    assert reader_of(view, grant_id, of(world.officer)) == ReceiptReader.DEPARTMENT
    assert reader_of(view, grant_id, of(world.admin)) == ReceiptReader.OFFICE
    for label in (world.police_officer, world.other_admin, world.grid_worker, world.members[0], world.stranger,
                  world.suspended):  # fmt: skip
        with pytest.raises(NotFoundError):
            reader_of(view, grant_id, of(label))
    with pytest.raises(NotFoundError):
        reader_of(view, formats.to_hex(formats.new_id()), of(world.resident))


def test_a_receipt_of_the_wrong_shape_is_a_finding_never_a_crash(ledger: Ledger, consent: Consent, world) -> None:  # type: ignore[no-untyped-def]
    rpc = ledger.settings.rpc_url
    receipt = _receipt(ledger, _issue(consent, world))
    shapes: list[tuple[tuple[Any, ...], Any]] = [
        (("purposes",), "x"), (("dataCategories",), [None]), (("terms", "purpose"), "x"), (("terms",), {}),
        (("piiController", "department", "code"), 5), (("piiController", "office", "name"), None),
        (("history", 0, "txHash"), 5), (("history", 0, "event"), "born"), (("history",), []),
        (("asOf", "block"), -1), (("asOf", "block"), 10**30), (("evidence", "chainId"), "x"),
        (("evidence", "grantId"), "0x12"), (("evidence", "consentRegistry"), "0x" + "00" * 20),
        (("signature",), "0x"), (("validity",), None), (("language",), 7),
    ]  # fmt: skip
    for path, value in shapes:
        broken = copy.deepcopy(receipt)
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        verdict = verify(broken, rpc)
        assert not verdict.ok and verdict.findings, path


def test_a_withdrawal_in_the_same_second_as_the_receipt_is_told_apart_by_its_block(
    ledger: Ledger, consent: Consent, world
) -> None:  # type: ignore[no-untyped-def]
    """Regression: on 0.2 s blocks a receipt and the withdrawal after it shared a second, and the
    withdrawal was reported as left out of the receipt rather than made after it."""
    grant_id = _issue(consent, world)
    node = ledger.w3.provider
    # Every block from here on has its parent's time, so the withdrawal shares the receipt's
    # second whatever the interval miner does meanwhile (setting the next block's time alone
    # raced it: an empty block took that time, and the withdrawal came a second later).
    assert "error" not in node.make_request("anvil_setBlockTimestampInterval", [0])  # type: ignore[arg-type]
    try:
        before = _receipt(ledger, grant_id)
        same_second = before["asOf"]["time"]
        tx = consent.withdraw(grant_id)
    finally:
        node.make_request("anvil_removeBlockTimestampInterval", [])  # type: ignore[arg-type]
    block = ledger.w3.eth.get_block(ledger.w3.eth.get_transaction_receipt(tx)["blockNumber"])  # type: ignore[arg-type]
    assert block["timestamp"] == same_second and block["number"] > before["asOf"]["block"]
    assert verify(before, ledger.settings.rpc_url).codes() == [ReceiptFinding.STATUS_CHANGED]
