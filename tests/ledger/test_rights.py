"""Residents' rights requests through the library: corrections ending in a certified version or
declined, deletions erased or refused with their legal basis, objections upheld beside their
entry; who may ask and decide (the chain's membership), due dates on a hand-moved clock,
requests answered twice, and ``verify`` finding a decision row edited in the database."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import update

from ledger.access import Access
from ledger.audit import run as run_audit
from ledger.categories import Category
from ledger.cli import main
from ledger.context import Ledger
from ledger.errors import Conflict, InputError, Invalid, LedgerError, NotFoundError, RequestConflict
from ledger.history import resident_history
from ledger.membership import Role
from ledger.organisations import Organisations
from ledger.records import Records
from ledger.rights import (
    DAY_MS,
    DECISION_FORMAT,
    RefusalBasis,
    RequestKind,
    RequestOutcome,
    RequestStatus,
    Rights,
    fields_of,
    proposed_value,
)
from ledger.settings import Settings
from ledger.store.models import RightsRequest
from ledger.verify import Problem, verify
from tests.clock import ManualClock
from tests.ledger.test_cli import run  # noqa: F401 - the command line, run in-process

HEALTH = {"blood_type": "O", "chronic_conditions": ["高血压 hypertension"], "allergies": [], "family_doctor": "李医生"}
OTHER_RESIDENT = "cmte-a-resident-2"


@pytest.fixture
def clock(ledger: Ledger) -> ManualClock:
    clock = ManualClock()
    ledger.view.clock = clock.monotonic
    return clock


@pytest.fixture
def records(ledger: Ledger) -> Records:
    return Records(ledger)


@pytest.fixture
def rights(ledger: Ledger, clock: ManualClock, records: Records) -> Rights:
    return Rights(ledger, now=clock.now_ms, records=records)


@pytest.fixture
def record_id(records: Records, world) -> str:  # type: ignore[no-untyped-def]
    rid, _ = records.add(actor=world.grid_worker, subject=world.resident, category=Category.HEALTH, content=HEALTH)
    records.sign(rid, signer=world.members[0])
    records.sign(rid, signer=world.members[1])
    return rid


def _leaf(ledger: Ledger, seq: int) -> dict:  # type: ignore[type-arg]
    return json.loads(ledger.log.event(seq).leaf)


def _other_resident(ledger: Ledger, world) -> str:  # type: ignore[no-untyped-def]
    Organisations(ledger).add_member(OTHER_RESIDENT, world.committee, Role.RESIDENT, actor=world.grid_worker)
    return ledger.address_of(OTHER_RESIDENT)


def test_a_correction_ends_in_a_new_certified_version(
    ledger: Ledger, world, rights: Rights, records: Records, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    asked = rights.ask_correction(record_id, field="family_doctor", value="王医生", comment="换了家庭医生",
                                  actor=world.resident)  # fmt: skip
    assert asked.kind == RequestKind.CORRECTION and asked.status == RequestStatus.OPEN
    assert asked.resident == ledger.address_of(world.resident) and asked.category == Category.HEALTH
    assert [r.request_id for r in rights.committee_queue(ledger.view.record(record_id).committee_id)] == [  # type: ignore[union-attr]
        asked.request_id
    ]
    with pytest.raises(RequestConflict) as again:  # the same field asked twice while open
        rights.ask_correction(record_id, field="family_doctor", value="赵医生", actor=world.resident)
    assert again.value.code == Conflict.ALREADY_ASKED

    content, version = rights.correction_content(asked.request_id)
    assert version == 1 and content == {**HEALTH, "family_doctor": "王医生"}
    with pytest.raises(LedgerError):  # a grid worker collects records but does not answer corrections
        rights.draft(asked.request_id, actor=world.grid_worker)
    with pytest.raises(LedgerError):  # a member of another committee
        rights.draft(asked.request_id, actor=world.other_member)
    assert rights.draft(asked.request_id, actor=world.members[2]) == 2
    drafted = rights.get(asked.request_id)
    assert drafted.status == RequestStatus.DRAFTED and drafted.draft_version == 2 and drafted.outcome is None
    with pytest.raises(RequestConflict) as twice:
        rights.decline(asked.request_id, "no", actor=world.members[0])
    assert twice.value.code == Conflict.ALREADY_DRAFTED

    assert rights.settle() == []  # not certified yet: nothing to settle
    records.sign(record_id, signer=world.members[0])
    records.sign(record_id, signer=world.members[1])
    (settled,) = rights.settle()
    assert settled.status == RequestStatus.DECIDED and settled.outcome == RequestOutcome.CORRECTED
    assert settled.decider == ledger.address_of(world.members[2])
    assert records.show(record_id).head.content["family_doctor"] == "王医生"
    assert records.show(record_id).head.certified
    leaf = _leaf(ledger, settled.decision_seq)  # type: ignore[arg-type]
    assert leaf["action"] == "decide" and leaf["decision"] == "corrected" and leaf["recordId"] == record_id
    assert leaf["resident"] == asked.resident and leaf["category"] == "health" and leaf["reviewOf"] is None
    with ledger.store.session() as session:
        row = session.get(RightsRequest, asked.request_id)
        statement = json.loads(row.statement)  # type: ignore[union-attr]
        assert statement["format"] == DECISION_FORMAT and statement["version"] == 2
        assert Account.recover_message(encode_defunct(row.statement.encode()), signature=row.signature) == row.decider  # type: ignore[union-attr]
    assert rights.settle() == []
    assert not verify(ledger, ("log", "seals")).findings


def test_a_correction_names_a_field_of_the_schema_and_a_value_that_fits_it(
    ledger: Ledger, world, rights: Rights, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    assert fields_of(Category.HEALTH) == ["blood_type", "chronic_conditions", "allergies", "disability_grade",
                                          "family_doctor"]  # fmt: skip
    with pytest.raises(InputError) as unknown:
        rights.ask_correction(record_id, field="salary", value="1", actor=world.resident)
    assert unknown.value.code == Invalid.NOT_A_FIELD and unknown.value.field == "field"
    with pytest.raises(InputError) as typed:
        rights.ask_correction(record_id, field="disability_grade", value="three", actor=world.resident)
    assert typed.value.code == Invalid.SCHEMA and typed.value.field == "value"
    with pytest.raises(InputError) as choice:
        rights.ask_correction(record_id, field="blood_type", value="Z", actor=world.resident)
    assert choice.value.code == Invalid.SCHEMA
    assert proposed_value(Category.HEALTH, "chronic_conditions", "高血压\n糖尿病") == ["高血压", "糖尿病"]
    assert proposed_value(Category.HEALTH, "disability_grade", "2") == 2
    assert proposed_value(Category.ELDERLY_CARE, "lives_alone", "是") is True
    with pytest.raises(InputError) as empty:
        rights.ask_correction(record_id, field="family_doctor", value="  ", actor=world.resident)
    assert empty.value.code == Invalid.REQUIRED


def test_who_may_ask_is_the_resident_or_their_committee_on_their_behalf(
    ledger: Ledger, world, rights: Rights, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    _other_resident(ledger, world)
    for outsider in (OTHER_RESIDENT, world.other_member, world.officer, world.admin, world.stranger):
        with pytest.raises(LedgerError, match="asked by the resident"):
            rights.ask_deletion(record_id, actor=outsider)
    by_worker = rights.ask_deletion(record_id, comment="本人在场 with the resident", actor=world.grid_worker)
    assert by_worker.asked_by == ledger.address_of(world.grid_worker)
    assert by_worker.resident == ledger.address_of(world.resident)


def test_a_declined_correction_says_why_and_cannot_be_answered_twice(
    ledger: Ledger, world, rights: Rights, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    asked = rights.ask_correction(record_id, field="blood_type", value="A", actor=world.resident)
    with pytest.raises(InputError) as empty:
        rights.decline(asked.request_id, "  ", actor=world.members[0])
    assert empty.value.code == Invalid.REQUIRED
    with pytest.raises(LedgerError):
        rights.decline(asked.request_id, "no", actor=world.admin)  # the office does not answer corrections
    declined = rights.decline(asked.request_id, "化验单显示为O型 the lab report says O", actor=world.members[0])
    assert declined.outcome == RequestOutcome.DECLINED and declined.reason.startswith("化验单")  # type: ignore[union-attr]
    with pytest.raises(RequestConflict) as twice:
        rights.decline(asked.request_id, "again", actor=world.members[1])
    assert twice.value.code == Conflict.ALREADY_DECIDED
    with pytest.raises(RequestConflict):
        rights.draft(asked.request_id, actor=world.members[1])
    with pytest.raises(InputError) as wrong:  # a correction is not erased
        rights.decide(asked.request_id, "erased", "x", actor=world.admin)
    assert wrong.value.code == Invalid.WRONG_KIND


def test_a_deletion_is_erased_by_the_records_office(
    ledger: Ledger, world, rights: Rights, records: Records, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    asked = rights.ask_deletion(record_id, comment="已搬走 moved away", actor=world.resident)
    assert [r.request_id for r in rights.office_queue(ledger.view.member(ledger.address_of(world.admin)).org_id)] == [  # type: ignore[union-attr]
        asked.request_id
    ]
    for outsider in (world.other_admin, world.members[0], world.officer):
        with pytest.raises(LedgerError):
            rights.erase(asked.request_id, "PIPL Art. 47", actor=outsider)
    erased = rights.erase(asked.request_id, "目的已实现 PIPL Art. 47(1)", actor=world.admin)
    assert erased.outcome == RequestOutcome.ERASED and erased.decision_seq is not None
    assert ledger.view.record(record_id).erased  # type: ignore[union-attr]
    assert all(v.content is None for v in records.show(record_id).versions)
    assert _leaf(ledger, erased.decision_seq)["decision"] == "erased"
    with pytest.raises(RequestConflict) as twice:
        rights.refuse(asked.request_id, RefusalBasis.RETENTION_PERIOD, "again", actor=world.second_admin)
    assert twice.value.code == Conflict.ALREADY_DECIDED
    with pytest.raises(InputError) as gone:  # nothing more to ask of an erased record
        rights.ask_correction(record_id, field="blood_type", value="A", actor=world.resident)
    assert gone.value.code == Invalid.RECORD_ERASED
    assert not verify(ledger, ("log", "seals")).findings


def test_a_refused_deletion_names_its_legal_basis(ledger: Ledger, world, rights: Rights, record_id: str) -> None:  # type: ignore[no-untyped-def]
    asked = rights.ask_deletion(record_id, actor=world.resident)
    with pytest.raises(InputError) as missing:
        rights.refuse(asked.request_id, "", "kept", actor=world.admin)
    assert missing.value.code == Invalid.BASIS_REQUIRED
    with pytest.raises(InputError) as unknown:
        rights.refuse(asked.request_id, "because", "kept", actor=world.admin)
    assert unknown.value.code == Invalid.UNKNOWN_CHOICE
    refused = rights.decide(asked.request_id, "refused", "社保档案须保存 kept by law", actor=world.admin,
                            basis="retention-period")  # fmt: skip
    assert refused.outcome == RequestOutcome.REFUSED and refused.basis == RefusalBasis.RETENTION_PERIOD
    assert not ledger.view.record(record_id).erased  # type: ignore[union-attr]


def test_an_objection_is_upheld_and_shown_beside_its_entry(
    ledger: Ledger, world, rights: Rights, clock: ManualClock, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    read = Access(ledger, clock=clock.monotonic, now=clock.now_ms).read(record_id, accessor=world.admin)
    other = _other_resident(ledger, world)
    with pytest.raises(InputError) as not_own:
        rights.object_to(read.seq, actor=OTHER_RESIDENT)
    assert not_own.value.code == Invalid.NOT_OWN_ENTRY
    with pytest.raises(NotFoundError):
        rights.object_to(10_000, actor=world.resident)
    asked = rights.object_to(read.seq, comment="我没想到 I did not expect this", actor=world.resident)
    assert asked.kind == RequestKind.OBJECTION and asked.access_seq == read.seq and asked.category == Category.HEALTH
    with pytest.raises(RequestConflict) as again:
        rights.object_to(read.seq, actor=world.grid_worker, resident=world.resident)
    assert again.value.code == Conflict.ALREADY_ASKED
    with pytest.raises(LedgerError):
        rights.answer(asked.request_id, "upheld", "ok", actor=world.other_admin)
    with pytest.raises(InputError) as wrong:
        rights.answer(asked.request_id, "erased", "ok", actor=world.admin)
    assert wrong.value.code == Invalid.WRONG_KIND
    upheld = rights.answer(asked.request_id, "upheld", "已提醒工作人员 the staff were told", actor=world.second_admin)
    assert upheld.outcome == RequestOutcome.UPHELD
    assert rights.objections_of(world.resident)[read.seq].outcome == RequestOutcome.UPHELD
    assert rights.objections_of(other) == {}
    leaf = _leaf(ledger, upheld.decision_seq)  # type: ignore[arg-type]
    assert leaf["reviewOf"] == read.seq and leaf["decision"] == "upheld" and leaf["action"] == "decide"
    with pytest.raises(InputError) as decision:  # a decision is not a use of the data
        rights.object_to(upheld.decision_seq, actor=world.resident)  # type: ignore[arg-type]
    assert decision.value.code == Invalid.NOT_A_READ
    history = resident_history(ledger, world.resident)
    assert {e.seq for e in history.entries} >= {read.seq, upheld.decision_seq}
    audit = run_audit(ledger, integrity=False)
    assert sum(r.allowed for r in audit.reads.values()) == 1  # the decision is not counted as a read


def test_due_dates_and_overdue_on_a_moved_clock(
    ledger: Ledger, world, rights: Rights, clock: ManualClock, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    asked = rights.ask_deletion(record_id, actor=world.resident)
    assert asked.due_at == asked.asked_at + 15 * DAY_MS and not asked.overdue
    office = ledger.view.member(ledger.address_of(world.admin)).org_id  # type: ignore[union-attr]
    clock.advance(15 * 86_400)
    assert not rights.get(asked.request_id).overdue and rights.overdue(office) == []
    clock.advance(1)
    assert rights.get(asked.request_id).overdue
    assert [r.request_id for r in rights.overdue(office)] == [asked.request_id]
    assert rights.overdue(ledger.view.member(ledger.address_of(world.other_admin)).org_id) == []  # type: ignore[union-attr]
    inbox = rights.inbox(world.resident)
    assert [r.request_id for r in inbox.open] == [asked.request_id] and inbox.outcomes == []
    rights.refuse(asked.request_id, RefusalBasis.STATUTORY_DUTY, "needed", actor=world.admin)
    assert not rights.get(asked.request_id).overdue and rights.overdue(office) == []
    inbox = rights.inbox(world.resident)
    assert inbox.open == [] and [r.request_id for r in inbox.outcomes] == [asked.request_id]
    clock.advance(31 * 86_400)
    assert rights.inbox(world.resident).outcomes == []


def test_the_due_days_are_a_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert Settings.from_env({"GRIDLEDGER_ROOT": str(tmp_path)}).rights_due_days == 15
    assert Settings.from_env({"GRIDLEDGER_ROOT": str(tmp_path), "GRIDLEDGER_RIGHTS_DUE_DAYS": "30"}).rights_due_days == 30
    from ledger.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        Settings.from_env({"GRIDLEDGER_ROOT": str(tmp_path), "GRIDLEDGER_RIGHTS_DUE_DAYS": "0"})


def test_no_one_sees_another_residents_requests(ledger: Ledger, world, rights: Rights, record_id: str) -> None:  # type: ignore[no-untyped-def]
    other = _other_resident(ledger, world)
    asked = rights.ask_deletion(record_id, comment="私人原因 private", actor=world.resident)
    assert [r.request_id for r in rights.of_resident(world.resident)] == [asked.request_id]
    assert rights.of_resident(other) == []
    with ledger.store.session() as session, session.begin():  # an editor moves the request to another resident
        session.execute(update(RightsRequest).where(RightsRequest.request_id == asked.request_id).values(resident=other))
    assert rights.of_resident(other) == [] and rights.of_resident(world.resident) == []
    with pytest.raises(NotFoundError):
        rights.get(asked.request_id)
    assert Problem.ROW_UNSEALED in {f.code for f in verify(ledger, ("seals",)).findings}


def test_verify_finds_a_decision_row_edited_in_the_database(
    ledger: Ledger, world, rights: Rights, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    asked = rights.ask_deletion(record_id, actor=world.resident)
    refused = rights.refuse(asked.request_id, RefusalBasis.RETENTION_PERIOD, "kept by law", actor=world.admin)
    assert not verify(ledger, ("log",)).findings
    table = RightsRequest.__table__
    for column, value in (("outcome", "erased"), ("reason", "a kinder reason"), ("basis", "public-health")):
        with ledger.store.session() as session, session.begin():
            original = session.get(RightsRequest, asked.request_id)
            before = getattr(original, column)
            session.execute(update(table).where(table.c.request_id == asked.request_id).values({column: value}))
        found = [f for f in verify(ledger, ("log",)).findings if f.code == Problem.DECISION_DIFFERS]
        assert found and found[0].subject == f"request {asked.request_id}", column
        with ledger.store.session() as session, session.begin():
            session.execute(update(table).where(table.c.request_id == asked.request_id).values({column: before}))
    with ledger.store.session() as session, session.begin():  # the decision undone in the database
        session.execute(update(table).where(table.c.request_id == asked.request_id)
                        .values(status="open", decision_seq=None))  # fmt: skip
    missing = [f for f in verify(ledger, ("log",)).findings if f.code == Problem.DECISION_MISSING]
    assert [f.seq for f in missing] == [refused.decision_seq]


def test_the_demo_asks_a_few_of_each_kind_some_overdue_some_decided(ledger: Ledger) -> None:
    from ledger.demo import build_demo
    from tests.webapp.conftest import CHEAP_HASHER

    build_demo(ledger, residents=24, hasher=CHEAP_HASHER)
    rights = Rights(ledger)
    with ledger.store.session() as session:
        ids = [r.request_id for r in session.query(RightsRequest)]
    found = [rights.get(i) for i in ids]
    assert {r.kind for r in found} == set(RequestKind)
    assert any(r.overdue for r in found) and any(r.outcome is not None for r in found)
    assert {r.outcome for r in found} >= {RequestOutcome.DECLINED, RequestOutcome.REFUSED, RequestOutcome.ERASED,
                                          RequestOutcome.UPHELD, RequestOutcome.NOT_UPHELD}  # fmt: skip
    assert not verify(ledger, ("log", "seals")).findings
    again = build_demo(ledger, residents=24, hasher=CHEAP_HASHER)
    assert again.created == [], again.created


def test_the_rights_commands_ask_list_show_draft_settle_and_decide(run, world, records: Records, record_id: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    import re

    asked = run("rights", "ask", "correction", record_id, "--field", "family_doctor", "--value", "王医生",
                "--comment", "换了医生", "--as", world.resident)  # fmt: skip
    assert asked.exit_code == 0, asked.output
    correction = re.search(r"(0x[0-9a-f]{64}): correction asked, due", asked.output).group(1)  # type: ignore[union-attr]
    deletion = re.search(r"(0x[0-9a-f]{64})", run("rights", "ask", "deletion", record_id, "--as", world.grid_worker)
                         .output).group(1)  # type: ignore[union-attr]  # fmt: skip
    listed = run("rights", "list", "--open")
    assert listed.exit_code == 0 and correction in listed.output and deletion in listed.output
    assert "2 request(s)" in listed.output
    assert '"field": "family_doctor"' in run("rights", "show", correction).output
    assert run("rights", "draft", correction, "--as", world.members[2]).exit_code == 0
    records.sign(record_id, signer=world.members[0])
    records.sign(record_id, signer=world.members[1])
    assert "corrected (version 2)" in run("rights", "settle").output
    refused = run("rights", "decide", deletion, "refused", "--reason", "kept by law", "--basis", "retention-period",
                  "--as", world.admin)  # fmt: skip
    assert refused.exit_code == 0 and "refused, signed by" in refused.output
    again = CliRunner().invoke(main, ["rights", "decide", deletion, "erased", "--reason", "x", "--as", world.admin])
    assert again.exit_code == 1 and "RequestConflict" in again.output
    assert run("rights", "list", "--open").output.strip().endswith("0 request(s)")


def test_after_the_resident_left_the_committee_nobody_asks_for_them_and_open_requests_are_still_answered(
    ledger: Ledger, world, rights: Rights, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    asked = rights.ask_correction(record_id, field="family_doctor", value="王医生", actor=world.resident)
    deletion = rights.ask_deletion(record_id, actor=world.resident)
    orgs = Organisations(ledger)
    orgs.suspend(world.resident, actor=world.admin)
    orgs.revoke(world.resident, actor=world.admin)  # the resident moved away
    for actor in (world.resident, world.grid_worker, world.members[0]):
        with pytest.raises(LedgerError, match="asked by the resident"):
            rights.ask_deletion(record_id, actor=actor)
    with pytest.raises(LedgerError):  # no new version of a record whose resident is no longer the committee's
        rights.draft(asked.request_id, actor=world.members[0])
    assert rights.get(asked.request_id).status == RequestStatus.OPEN
    declined = rights.decline(asked.request_id, "居民已迁出 the resident moved away", actor=world.members[0])
    assert declined.outcome == RequestOutcome.DECLINED
    assert rights.erase(deletion.request_id, "moved away", actor=world.admin).outcome == RequestOutcome.ERASED
    assert not verify(ledger, ("log",)).findings
