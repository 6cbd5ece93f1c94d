"""Records end to end through the library: collect, sign k of n, certify, update,
conflicts, bad input, erasure by crypto-shredding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from ledger import eip712
from ledger.categories import Category
from ledger.context import Ledger
from ledger.errors import ConflictError, InputError, LedgerError
from ledger.records import RecordExists, Records
from ledger.store.models import OutboxTx, Record, RecordVersion

HEALTH = {
    "blood_type": "O",
    "chronic_conditions": ["高血压 hypertension"],
    "allergies": ["青霉素"],
    "family_doctor": "李医生",
}
PROPERTY = {"certificate_number": "京2024000123", "address": "碧湖路 1 号 3 单元", "area_m2": 88.5}


def _count(ledger: Ledger, model: object) -> int:
    with ledger.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]


@pytest.fixture
def records(ledger: Ledger) -> Records:
    return Records(ledger)


@pytest.fixture
def record_id(records: Records, world) -> str:  # type: ignore[no-untyped-def]
    rid, _tx = records.add(actor=world.grid_worker, subject=world.resident, category=Category.HEALTH, content=HEALTH)
    return rid


def test_collect_sign_and_certify_k_of_n(records: Records, record_id: str, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    view = records.show(record_id)
    assert view.head.version == 1 and view.head.on_chain and not view.head.certified
    assert view.head.content == HEALTH
    assert view.subject == ledger.address_of(world.resident)

    first = records.sign(record_id, signer=world.members[2])
    assert (first.approvals, first.threshold, first.certify_tx) == (1, 2, None)
    second = records.sign(record_id, signer=world.members[0])
    assert second.approvals == 2 and second.certify_tx is not None

    head = records.show(record_id).head
    assert head.certified
    signers = [ledger.address_of(world.members[0]), ledger.address_of(world.members[2])]
    assert head.signers == sorted(signers, key=lambda a: int(a, 16))  # sent sorted by address
    on_chain = ledger.contract("RecordLedger").functions.head(bytes.fromhex(record_id[2:])).call()
    assert on_chain[3] == 1 and on_chain[5] == 1  # version 1, certified version 1


def test_update_makes_a_new_visible_version(records: Records, record_id: str, world) -> None:  # type: ignore[no-untyped-def]
    changed = {**HEALTH, "chronic_conditions": ["高血压 hypertension", "糖尿病 diabetes"]}
    version, _ = records.update(record_id, changed, actor=world.members[1], expected_version=1)
    assert version == 2
    view = records.show(record_id)
    assert [v.version for v in view.versions] == [1, 2]
    assert view.versions[1].prev_hash == view.versions[0].content_hash
    assert view.versions[0].content == HEALTH and view.versions[1].content == changed


def test_stale_update_is_a_conflict_and_writes_nothing(records: Records, record_id: str, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    records.update(record_id, {**HEALTH, "blood_type": "A"}, actor=world.members[1], expected_version=1)
    versions, outbox = _count(ledger, RecordVersion), _count(ledger, OutboxTx)
    with pytest.raises(ConflictError, match="record changed since you loaded it"):
        records.update(record_id, {**HEALTH, "blood_type": "B"}, actor=world.grid_worker, expected_version=1)
    assert (_count(ledger, RecordVersion), _count(ledger, OutboxTx)) == (versions, outbox)


def test_content_failing_its_schema_names_the_field_and_writes_nothing(records: Records, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    before = (_count(ledger, Record), _count(ledger, OutboxTx))
    with pytest.raises(InputError) as caught:
        records.add(
            actor=world.grid_worker,
            subject=world.resident,
            category=Category.IDENTITY,
            content={"name": "王芳", "id_number": "12345", "gender": "female", "birth_date": "1950-01-01"},
        )
    assert caught.value.field == "id_number"
    with pytest.raises(InputError) as missing:
        records.add(
            actor=world.grid_worker, subject=world.resident, category=Category.HEALTH, content={"blood_type": "O"}
        )
    assert missing.value.field == "chronic_conditions"
    assert (_count(ledger, Record), _count(ledger, OutboxTx)) == before


def test_only_committee_collectors_may_add_and_only_about_their_residents(records: Records, world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LedgerError, match="not an active committee member or grid worker"):
        records.add(actor=world.officer, subject=world.resident, category=Category.HEALTH, content=HEALTH)
    with pytest.raises(LedgerError, match="subject must be an active resident of the committee"):
        records.add(actor=world.other_member, subject=world.resident, category=Category.HEALTH, content=HEALTH)


def test_a_signature_over_an_older_version_cannot_certify_the_new_one(
    records: Records, record_id: str, world, ledger: Ledger
) -> None:  # type: ignore[no-untyped-def]
    records.sign(record_id, signer=world.members[0])  # approves version 1
    old = eip712.sign(
        ledger.account(world.members[1]),
        eip712.record_approval(
            records.domain,
            bytes.fromhex(record_id[2:]),
            1,
            bytes.fromhex(records.show(record_id).head.content_hash[2:]),
        ),
    )
    records.update(record_id, {**HEALTH, "blood_type": "AB"}, actor=world.grid_worker, expected_version=1)
    with pytest.raises(ConflictError, match="not the newest"):
        records.add_signature(record_id, 1, old)
    outcome = records.sign(record_id, signer=world.members[1])  # approves version 2
    assert (outcome.approvals, outcome.certify_tx) == (1, None)  # version 1's approval does not count
    assert not records.show(record_id).head.certified


@pytest.mark.parametrize("who", ["suspended", "revoked", "other_member", "stranger", "grid_worker"])
def test_signatures_from_non_members_are_refused(
    records: Records, record_id: str, world, ledger: Ledger, who: str
) -> None:  # type: ignore[no-untyped-def]
    head = records.show(record_id).head
    data = eip712.record_approval(records.domain, bytes.fromhex(record_id[2:]), 1, bytes.fromhex(head.content_hash[2:]))
    signature = eip712.sign(ledger.account(getattr(world, who)), data)
    with pytest.raises(LedgerError, match="is not an active member of the record's committee"):
        records.add_signature(record_id, 1, signature)
    assert records.show(record_id).head.approvals == []


def test_a_high_s_signature_is_refused(records: Records, record_id: str, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    head = records.show(record_id).head
    data = eip712.record_approval(records.domain, bytes.fromhex(record_id[2:]), 1, bytes.fromhex(head.content_hash[2:]))
    good = eip712.sign(ledger.account(world.members[0]), data)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(good[32:64], "big")
    high = good[:32] + (n - s).to_bytes(32, "big") + bytes([55 - good[64]])  # 27 <-> 28
    with pytest.raises(InputError, match="high-s"):
        records.add_signature(record_id, 1, high)


def test_erasure_shreds_content_and_salts_everywhere(records: Records, record_id: str, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    marker = {**HEALTH, "family_doctor": "ERASE-ME-独特标记"}
    records.update(record_id, marker, actor=world.grid_worker, expected_version=1)
    other, _ = records.add(
        actor=world.grid_worker, subject=world.resident, category=Category.PROPERTY, content=PROPERTY
    )
    records.erase(record_id, "resident's request under PIPL art. 47", actor=world.admin)

    view = records.show(record_id)
    assert view.erased and all(v.content is None for v in view.versions)
    with ledger.store.session() as session:
        assert session.scalars(select(RecordVersion.salt).where(RecordVersion.record_id == record_id)).all() == [
            None,
            None,
        ]
    assert ledger.contract("RecordLedger").functions.head(bytes.fromhex(record_id[2:])).call()[6] is True
    assert records.show(other).head.content == PROPERTY  # other records untouched
    with pytest.raises(LedgerError, match="erased"):
        records.update(record_id, HEALTH, actor=world.grid_worker)

    # Nothing of the erased content is left in the database file (secure_delete).
    with ledger.store.engine.connect() as connection:
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    db_path = Path(ledger.settings.db_url.split("///", 1)[1])
    needle = json.dumps("ERASE-ME-独特标记", ensure_ascii=False)[1:-1].encode()
    for path in (db_path, Path(str(db_path) + "-wal")):
        if path.exists():
            assert needle not in path.read_bytes(), f"erased content still in {path.name}"


def test_erasure_needs_an_office_admin(records: Records, record_id: str, world) -> None:  # type: ignore[no-untyped-def]
    from ledger.errors import ContractRevert

    with pytest.raises(ContractRevert) as caught:
        records.erase(record_id, "no right to do this", actor=world.members[0])
    assert caught.value.name == "RecordLedgerUnauthorized"
    assert records.show(record_id).head.content == HEALTH


# -- who may commit, sign and certify is the chain's to say, not the database's ------------------


def _edit(ledger: Ledger, statement: str, **params: object) -> None:
    """An edit made in the database behind the ledger's back (an operator, an intruder)."""
    with ledger.store.engine.begin() as connection:
        connection.execute(text(statement), params)


def _org(label: str) -> str:
    from ledger.membership import org_id

    return "0x" + org_id(label).hex()


def test_members_rows_edited_in_the_database_give_no_power_to_sign_or_update(
    records: Records, record_id: str, world, ledger: Ledger
) -> None:  # type: ignore[no-untyped-def]
    committee = _org(world.committee)
    for who in (world.other_member, world.suspended, world.stranger):
        address = ledger.address_of(who)
        _edit(ledger, "DELETE FROM members WHERE address = :a", a=address)
        _edit(ledger, "INSERT INTO members (address, org_id, role, status, added_block, updated_block) "
              "VALUES (:a, :o, 'committee-member', 'active', 1, 1)", a=address, o=committee)  # fmt: skip
    before = (_count(ledger, RecordVersion), _count(ledger, OutboxTx))
    for who in (world.other_member, world.suspended, world.stranger):
        with pytest.raises(LedgerError, match="is not an active member of the record's committee"):
            records.sign(record_id, signer=who)
        with pytest.raises(LedgerError, match="only an active committee member or grid worker"):
            records.update(record_id, {**HEALTH, "blood_type": "B"}, actor=who)
        # (a member of the other committee collects for her own committee: the resident is not of it)
        with pytest.raises(LedgerError, match="not an active committee member or grid worker|active resident of the"):
            records.add(actor=who, subject=world.resident, category=Category.HEALTH, content=HEALTH)
    assert records.show(record_id).head.approvals == []
    assert (_count(ledger, RecordVersion), _count(ledger, OutboxTx)) == before
    # a resident row moved into the committee in the database is not the committee's resident
    _edit(ledger, "UPDATE members SET org_id = :o WHERE address = :a", o=_org(world.other_committee),
          a=ledger.address_of(world.resident))  # fmt: skip
    records.update(record_id, {**HEALTH, "blood_type": "A"}, actor=world.grid_worker)  # the chain: still ours


def test_a_records_committee_or_subject_edited_in_the_database_changes_nothing_on_chain(
    records: Records, record_id: str, world, ledger: Ledger
) -> None:  # type: ignore[no-untyped-def]
    _edit(ledger, "UPDATE records SET committee_id = :o, subject = :s, category = 1 WHERE record_id = :r",
          o=_org(world.other_committee), s=ledger.address_of(world.other_member), r=record_id)  # fmt: skip
    with pytest.raises(LedgerError, match="only an active committee member or grid worker"):
        records.update(record_id, {**HEALTH, "blood_type": "B"}, actor=world.other_member)
    with pytest.raises(LedgerError, match="is not an active member of the record's committee"):
        records.sign(record_id, signer=world.other_member)
    # the record's own committee goes on, with the chain's subject and category
    version, _ = records.update(record_id, {**HEALTH, "blood_type": "A"}, actor=world.grid_worker)
    head = ledger.contract("RecordLedger").functions.head(bytes.fromhex(record_id[2:])).call()
    assert version == 2 and head[3] == 2 and head[1] == ledger.address_of(world.resident)
    assert head[2] == int(Category.HEALTH)


def test_a_threshold_lowered_in_the_database_does_not_certify_early(
    records: Records, record_id: str, world, ledger: Ledger
) -> None:  # type: ignore[no-untyped-def]
    _edit(ledger, "UPDATE organisations SET threshold = 1 WHERE org_id = :o", o=_org(world.committee))
    outcome = records.sign(record_id, signer=world.members[0])
    assert (outcome.approvals, outcome.threshold, outcome.certify_tx) == (1, 2, None)
    with pytest.raises(LedgerError, match="1 of 2 signatures so far"):
        records.certify(record_id, actor=world.members[0])
    assert not records.show(record_id).head.certified


def test_approvals_edited_in_the_database_are_not_counted(
    records: Records, record_id: str, world, ledger: Ledger
) -> None:  # type: ignore[no-untyped-def]
    records.sign(record_id, signer=world.members[0])
    # the stored approval copied under another member's name: its signature is still member 1's
    _edit(ledger, "INSERT INTO approvals (record_id, version, content_hash, signer, signature, created_at) "
          "SELECT record_id, version, content_hash, :s, signature, created_at FROM approvals WHERE record_id = :r",
          s=ledger.address_of(world.members[1]), r=record_id)  # fmt: skip
    with pytest.raises(LedgerError, match="1 of 2 signatures so far"):
        records.certify(record_id, actor=world.members[0])
    outcome = records.sign(record_id, signer=world.members[2])
    assert outcome.approvals == 2 and outcome.certify_tx is not None  # members 1 and 3, counted by signature


def test_checked_content_is_the_committed_content_or_an_error(
    records: Records, record_id: str, world, ledger: Ledger
) -> None:  # type: ignore[no-untyped-def]
    from ledger.errors import NotFoundError, VerificationError

    assert records.checked_content(record_id, 1) == HEALTH
    with pytest.raises(NotFoundError):
        records.checked_content(record_id, 2)
    _edit(ledger, "UPDATE record_versions SET content = :c WHERE record_id = :r",
          c=json.dumps({**HEALTH, "blood_type": "AB"}), r=record_id)  # fmt: skip
    with pytest.raises(VerificationError, match="does not match its commitment on chain"):
        records.checked_content(record_id, 1)


def test_a_second_record_of_a_category_is_refused_and_writes_nothing(  # type: ignore[no-untyped-def]
    records: Records, record_id: str, world, ledger: Ledger
) -> None:
    """Regression: a committee made a second health record for the same resident, and the
    resident saw two contradictory records."""
    assert records.existing(world.resident, Category.HEALTH) == record_id
    assert records.existing(world.resident, Category.IDENTITY) is None
    rows, outbox = _count(ledger, Record), _count(ledger, OutboxTx)
    with pytest.raises(RecordExists) as refused:
        records.add(actor=world.members[0], subject=world.resident, category=Category.HEALTH, content=HEALTH)
    assert isinstance(refused.value, ConflictError) and refused.value.record_id == record_id
    assert (_count(ledger, Record), _count(ledger, OutboxTx)) == (rows, outbox)


def test_the_chain_decides_whether_a_record_exists_not_the_database(  # type: ignore[no-untyped-def]
    records: Records, record_id: str, world, ledger: Ledger
) -> None:
    with ledger.store.session() as session, session.begin():
        session.execute(text("UPDATE records SET category = :c WHERE record_id = :r"), {"c": 1, "r": record_id})
    assert records.existing(world.resident, Category.HEALTH) == record_id
    assert records.existing(world.resident, Category.HOUSEHOLD) is None
    with pytest.raises(RecordExists):
        records.add(actor=world.members[0], subject=world.resident, category=Category.HEALTH, content=HEALTH)


def test_an_erased_record_makes_room_for_a_new_one_and_property_allows_several(  # type: ignore[no-untyped-def]
    records: Records, record_id: str, world
) -> None:
    records.erase(record_id, "entered for the wrong resident", actor=world.admin)
    assert records.existing(world.resident, Category.HEALTH) is None
    again, _ = records.add(actor=world.members[0], subject=world.resident, category=Category.HEALTH, content=HEALTH)
    assert records.existing(world.resident, Category.HEALTH) == again
    first, _ = records.add(actor=world.members[0], subject=world.resident, category=Category.PROPERTY, content=PROPERTY)
    other = {**PROPERTY, "certificate_number": "京2024000456"}
    second, _ = records.add(actor=world.members[0], subject=world.resident, category=Category.PROPERTY, content=other)
    assert first != second and records.existing(world.resident, Category.PROPERTY) == first


IDENTITY = {"name": "李秀英", "id_number": "330203195203041234", "gender": "female", "birth_date": "1952-03-04"}
RESIDENCE = {"address": "海曙区白鹤街道白鹤小区 3 幢 2 单元 502 室", "since": "2001-05-01", "tenure": "owner"}


def _hint(ledger: Ledger, resident: str):  # type: ignore[no-untyped-def]
    from ledger.store.models import ResidentHint

    with ledger.store.session() as session:
        return session.get(ResidentHint, ledger.address_of(resident))


def test_masked_hints_follow_identity_and_residence_versions_and_go_with_erasure(
    records: Records, world, ledger: Ledger
) -> None:  # type: ignore[no-untyped-def]
    assert _hint(ledger, world.resident) is None
    health, _ = records.add(actor=world.grid_worker, subject=world.resident, category=Category.HEALTH, content=HEALTH)
    assert _hint(ledger, world.resident) is None  # other categories hold no hint
    ident, _ = records.add(
        actor=world.grid_worker, subject=world.resident, category=Category.IDENTITY, content=IDENTITY
    )
    home, _ = records.add(
        actor=world.grid_worker, subject=world.resident, category=Category.RESIDENCE, content=RESIDENCE
    )
    hint = _hint(ledger, world.resident)
    assert (hint.id_number_masked, hint.id_record_id, hint.id_version) == ("330203********1234", ident, 1)
    assert (hint.address_masked, hint.address_record_id) == ("海曙区白鹤街道白鹤小区 3 幢", home)

    moved = {**RESIDENCE, "address": "海曙区白鹤街道白鹤小区 7 幢 1 单元 101 室"}
    records.update(home, moved, actor=world.members[0], expected_version=1)
    hint = _hint(ledger, world.resident)
    assert (hint.address_masked, hint.address_version) == ("海曙区白鹤街道白鹤小区 7 幢", 2)
    for member in world.members[:2]:
        records.sign(home, signer=member)  # certified: the hint is the certified version's
    assert _hint(ledger, world.resident).address_masked == "海曙区白鹤街道白鹤小区 7 幢"

    # Never the full values anywhere in the table.
    with ledger.store.engine.connect() as connection:
        stored = " ".join(str(v) for row in connection.execute(text("SELECT * FROM resident_hints")) for v in row)
    # (Regression: "502", the old flat, once stood inside a random record id of the row.)
    assert IDENTITY["id_number"] not in stored and "502 室" not in stored and "101 室" not in stored

    records.erase(ident, "resident's request under PIPL art. 47", actor=world.admin)
    hint = _hint(ledger, world.resident)
    assert hint.id_number_masked is None and hint.id_record_id is None
    assert hint.address_masked == "海曙区白鹤街道白鹤小区 7 幢"  # the residence record's hint stays
    records.erase(home, "resident's request under PIPL art. 47", actor=world.admin)
    assert _hint(ledger, world.resident).address_masked is None
    assert records.show(health).head.content == HEALTH


def test_a_hint_edited_in_the_database_is_a_finding(records: Records, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    from ledger.verify import Problem, verify

    ident, _ = records.add(
        actor=world.grid_worker, subject=world.resident, category=Category.IDENTITY, content=IDENTITY
    )
    records.add(actor=world.grid_worker, subject=world.resident, category=Category.RESIDENCE, content=RESIDENCE)
    assert verify(ledger, ("records",)).exit_code == 0
    _edit(ledger, "UPDATE resident_hints SET address_masked = '别的小区 9 幢'")
    found = verify(ledger, ("records",)).findings
    assert [(f.code, f.subject) for f in found] == [(Problem.HINT_DIFFERS, ledger.address_of(world.resident))]
    _edit(ledger, "UPDATE resident_hints SET address_masked = :a", a="海曙区白鹤街道白鹤小区 3 幢")
    _edit(ledger, "UPDATE resident_hints SET id_record_id = NULL, id_version = NULL")  # a hint from nowhere
    assert [f.code for f in verify(ledger, ("records",)).findings] == [Problem.HINT_DIFFERS]
    _edit(ledger, "UPDATE resident_hints SET id_record_id = :r, id_version = 1", r=ident)
    assert verify(ledger, ("records",)).exit_code == 0
