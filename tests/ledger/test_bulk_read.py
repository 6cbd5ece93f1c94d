"""Bulk reads (``Access.read_many``): each record's basis checked on its own, every read and
refusal logged in one transaction before any content is handed out, one result per record
in the order asked, and a malformed request refused whole with nothing read or logged."""

from __future__ import annotations

import json
import secrets
import time

import pytest
from sqlalchemy import update

from ledger.access import MAX_BULK, Access, BulkStatus
from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import ConfigurationError, InputError, Invalid, Refusal
from ledger.records import Records
from ledger.store.models import RecordVersion
from tests.clock import ManualClock
from tests.conftest import World

HEALTH = {"blood_type": "O", "chronic_conditions": ["高血压 hypertension"], "allergies": [], "family_doctor": "李医生"}
PROPERTY = {"certificate_number": "京2024000123", "address": "碧湖路 1 号 3 单元", "area_m2": 88.5}
RESIDENCE = {"address": "海曙区白鹤街道白鹤小区 3 幢 2 单元 502 室", "since": "2001-05-01", "tenure": "owner"}
YEAR = 365 * 86_400


def _certified(ledger: Ledger, category: Category, content: dict) -> str:  # type: ignore[type-arg]
    records = Records(ledger)
    rid, _ = records.add(actor=World.grid_worker, subject=World.resident, category=category, content=content)
    records.sign(rid, signer=World.members[0])
    records.sign(rid, signer=World.members[1])
    return rid


@pytest.fixture
def access(ledger: Ledger) -> Access:
    clock = ManualClock()
    ledger.view.clock = clock.monotonic
    return Access(ledger, clock=clock.monotonic, now=clock.now_ms)


@pytest.fixture
def records(ledger: Ledger) -> dict[str, str]:
    """The resident's health, residence and property records, certified."""
    return {
        "health": _certified(ledger, Category.HEALTH, HEALTH),
        "residence": _certified(ledger, Category.RESIDENCE, RESIDENCE),
        "property": _certified(ledger, Category.PROPERTY, PROPERTY),
    }


def _grant(ledger: Ledger, categories: list[Category]) -> str:
    grant_id, _ = Consent(ledger).issue(
        resident=World.resident, department=World.department, categories=categories,
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + YEAR,
    )  # fmt: skip
    return grant_id


def _unknown() -> str:
    return "0x" + secrets.token_hex(32)


def test_each_record_is_decided_on_its_own_and_all_are_logged_in_one_transaction(
    ledger: Ledger, access: Access, records: dict[str, str]
) -> None:
    grant_id = _grant(ledger, [Category.HEALTH, Category.PROPERTY])
    size, nowhere = ledger.log.size(), _unknown()
    asked = [records["property"], nowhere, records["residence"], records["health"]]
    got = access.read_many(asked, accessor=World.officer)
    assert [r.record_id for r in got] == [a.lower() for a in asked]  # in the order asked
    assert [r.status for r in got] == [BulkStatus.READ, BulkStatus.NOT_FOUND, BulkStatus.REFUSED, BulkStatus.READ]
    prop, missing, residence, health = got
    assert prop.disclosure is not None and prop.disclosure.content == PROPERTY and prop.disclosure.grant_id == grant_id
    assert health.disclosure is not None and health.disclosure.content == HEALTH
    assert residence.refusal is not None and residence.refusal.reason == Refusal.NO_ACTIVE_GRANT
    assert residence.disclosure is None and missing.disclosure is None and missing.problem is not None
    # Three entries, one after the other (one transaction): the two reads and the refusal.
    assert ledger.log.size() == size + 3
    seqs = [prop.disclosure.seq, residence.refusal.seq, health.disclosure.seq]
    assert sorted(seqs) == list(range(size, size + 3))
    leaves = {seq: json.loads(ledger.log.event(seq).leaf) for seq in seqs}
    assert leaves[prop.disclosure.seq]["recordId"] == records["property"].lower()
    assert leaves[prop.disclosure.seq]["outcome"] == "allowed" and leaves[prop.disclosure.seq]["grantId"] == grant_id
    assert leaves[residence.refusal.seq]["outcome"] == "refused"
    assert leaves[residence.refusal.seq]["reason"] == "no-active-grant"
    assert all("李医生" not in ledger.log.event(seq).leaf.decode() for seq in seqs)  # no content in the log
    # The resident's own numbering runs on across the batch.
    assert sorted(leaf["residentSeq"] for leaf in leaves.values()) == [0, 1, 2]


def test_a_withdrawn_grant_and_an_altered_record_are_refused_and_the_rest_read(
    ledger: Ledger, access: Access, records: dict[str, str]
) -> None:
    grant_id = _grant(ledger, [Category.HEALTH, Category.RESIDENCE, Category.PROPERTY])
    assert all(r.status == BulkStatus.READ for r in access.read_many(list(records.values()), accessor=World.officer))
    with ledger.store.session() as session, session.begin():  # edited behind the ledger's back
        session.execute(
            update(RecordVersion)
            .where(RecordVersion.record_id == records["residence"])
            .values(content=json.dumps({**RESIDENCE, "tenure": "tenant"}, ensure_ascii=False))
        )
    got = {r.record_id: r for r in access.read_many(list(records.values()), accessor=World.officer)}
    assert got[records["residence"]].status == BulkStatus.REFUSED
    assert got[records["residence"]].refusal.reason == Refusal.RECORD_ALTERED  # type: ignore[union-attr]
    assert got[records["health"]].status == got[records["property"]].status == BulkStatus.READ
    Consent(ledger).withdraw(grant_id)
    access.view.clock = lambda: time.monotonic() + 3_600  # past the remembered head
    after = access.read_many([records["health"], records["property"]], accessor=World.officer)
    assert [r.status for r in after] == [BulkStatus.REFUSED, BulkStatus.REFUSED]
    assert {r.refusal.reason for r in after if r.refusal} == {Refusal.NO_ACTIVE_GRANT}


def test_duty_and_emergency_bases_are_checked_per_record(
    ledger: Ledger, access: Access, records: dict[str, str]
) -> None:
    mine = access.read_many(list(records.values()), accessor=World.members[2])
    assert {r.status for r in mine} == {BulkStatus.READ}
    assert {r.disclosure.basis for r in mine if r.disclosure} == {"duty"}
    theirs = access.read_many(list(records.values()), accessor=World.other_member)  # another committee
    assert {r.refusal.reason for r in theirs if r.refusal} == {Refusal.NO_DUTY} and len(theirs) == 3
    why = "老人昏倒，急救需要过敏史"
    urgent = access.read_many([records["health"]], accessor=World.officer, basis="emergency", justification=why)
    (one,) = urgent
    assert one.status == BulkStatus.READ and one.disclosure is not None and one.disclosure.basis == "emergency"
    assert ledger.log.event(one.disclosure.seq).justification == why
    with pytest.raises(InputError) as caught:
        access.read_many([records["health"]], accessor=World.officer, basis="emergency")
    assert caught.value.code == Invalid.REQUIRED


def test_an_erased_record_is_not_found_and_nothing_is_logged_for_it(
    ledger: Ledger, access: Access, records: dict[str, str]
) -> None:
    _grant(ledger, [Category.HEALTH, Category.PROPERTY])
    Records(ledger).erase(records["property"], "resident's request under PIPL art. 47", actor=World.admin)
    size = ledger.log.size()
    got = access.read_many([records["property"], records["health"]], accessor=World.officer)
    assert [r.status for r in got] == [BulkStatus.NOT_FOUND, BulkStatus.READ]
    assert ledger.log.size() == size + 1


def test_a_malformed_request_is_refused_whole_and_nothing_is_logged(
    ledger: Ledger, access: Access, records: dict[str, str]
) -> None:
    size = ledger.log.size()
    health = records["health"]
    cases = [
        ([], Invalid.REQUIRED, "record_ids"),
        ([_unknown() for _ in range(MAX_BULK + 1)], Invalid.TOO_MANY, "record_ids"),
        ([health, health.upper().replace("0X", "0x")], Invalid.DUPLICATE, "record_ids.1"),
        ([health, "0x1234"], Invalid.BAD_ID, "record_ids.1"),
    ]
    for ids, code, field in cases:
        with pytest.raises(InputError) as caught:
            access.read_many(ids, accessor=World.officer)
        assert (caught.value.code, caught.value.field) == (code, field)
    assert ledger.log.size() == size


def test_no_content_leaves_when_the_log_cannot_be_written(
    ledger: Ledger, access: Access, records: dict[str, str]
) -> None:
    _grant(ledger, [Category.HEALTH])
    size = ledger.log.size()
    ledger.log.sealer = None  # no keystore password: nothing can be appended
    with pytest.raises(ConfigurationError):
        access.read_many([records["health"]], accessor=World.officer)
    assert ledger.log.size() == size
