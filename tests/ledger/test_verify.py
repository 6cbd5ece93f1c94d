"""verify records / verify grants catch a database edited behind the ledger's back."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import delete, select, update

from ledger import formats
from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.records import Records
from ledger.store.models import GrantTerms, IndexCursor, RecordVersion
from ledger.verify import Problem, verify

CONTENT_EDITED, VERSION_MISSING, NEVER_ANCHORED, NO_CONTENT = (
    Problem.CONTENT_EDITED, Problem.VERSION_MISSING, Problem.NEVER_ANCHORED, Problem.NO_CONTENT,
)  # fmt: skip
TERMS_EDITED, FIELDS_DIFFER, STATUS_DIFFERS, UNKNOWN_GRANT = (
    Problem.TERMS_EDITED, Problem.FIELDS_DIFFER, Problem.STATUS_DIFFERS, Problem.UNKNOWN_GRANT,
)  # fmt: skip


def verify_records(ledger: Ledger):  # type: ignore[no-untyped-def]
    return verify(ledger, ("records",))


def verify_grants(ledger: Ledger):  # type: ignore[no-untyped-def]
    return verify(ledger, ("grants",))

HEALTH = {"blood_type": "B", "chronic_conditions": []}
PROPERTY = {"certificate_number": "京2024000123", "address": "碧湖路 1 号 3 单元", "area_m2": 88.5}


@pytest.fixture
def two_records(ledger: Ledger, world) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    records = Records(ledger)
    first, _ = records.add(actor=world.grid_worker, subject=world.resident, category=Category.HEALTH, content=HEALTH)
    records.update(first, {**HEALTH, "blood_type": "A"}, actor=world.grid_worker, expected_version=1)
    second, _ = records.add(actor=world.grid_worker, subject=world.resident, category=Category.PROPERTY, content=PROPERTY)
    return first, second


def _kinds(report) -> list[tuple[str, str, int | None]]:  # type: ignore[no-untyped-def]
    return sorted((f.code, f.subject, f.version) for f in report.findings)


def test_an_untouched_database_verifies(ledger: Ledger, two_records) -> None:  # type: ignore[no-untyped-def]
    report = verify_records(ledger)
    assert report.ok and report.checked["records"] == 3 and report.pending == 0


def test_edited_deleted_and_inserted_rows_are_each_reported(ledger: Ledger, two_records) -> None:  # type: ignore[no-untyped-def]
    first, second = two_records
    fake_hash = "0x" + formats.commitment({"blood_type": "O", "chronic_conditions": []}, b"\x01" * 32).hex()
    with ledger.store.session() as session, session.begin():
        # edited: the content of version 1 of the first record
        session.execute(
            update(RecordVersion)
            .where(RecordVersion.record_id == first, RecordVersion.version == 1)
            .values(content='{"blood_type":"O","chronic_conditions":[]}')
        )
        # deleted: version 2 of the first record
        session.execute(delete(RecordVersion).where(RecordVersion.record_id == first, RecordVersion.version == 2))
        # inserted: a version 2 of the second record that was never committed
        session.add(
            RecordVersion(
                record_id=second,
                version=2,
                content='{"blood_type":"O","chronic_conditions":[]}',
                salt="0x" + "01" * 32,
                content_hash=fake_hash,
                prev_hash="0x" + "00" * 32,
                created_by="0x" + "00" * 20,
                tx_hash="0x" + "ee" * 32,
            )
        )
    report = verify_records(ledger)
    assert _kinds(report) == sorted(
        [(CONTENT_EDITED, first, 1), (VERSION_MISSING, first, 2), (NEVER_ANCHORED, second, 2)]
    )


def test_content_deleted_without_erasure_is_reported(ledger: Ledger, two_records) -> None:  # type: ignore[no-untyped-def]
    _, second = two_records
    with ledger.store.session() as session, session.begin():
        session.execute(update(RecordVersion).where(RecordVersion.record_id == second).values(content=None, salt=None))
    assert _kinds(verify_records(ledger)) == [(NO_CONTENT, second, 1)]


def test_a_properly_erased_record_verifies(ledger: Ledger, two_records, world) -> None:  # type: ignore[no-untyped-def]
    first, _ = two_records
    Records(ledger).erase(first, "resident's request", actor=world.admin)
    assert verify_records(ledger).ok


@pytest.fixture
def grants(ledger: Ledger, world) -> list[str]:  # type: ignore[no-untyped-def]
    consent = Consent(ledger)
    ids = []
    for _ in range(3):
        gid, _tx = consent.issue(
            resident=world.resident,
            department=world.department,
            categories=[Category.HEALTH],
            purpose=Purpose.HEALTH_MANAGEMENT,
            legal_basis=LegalBasis.CONSENT,
            valid_until=int(time.time()) + 86_400,
        )
        ids.append(gid)
    return ids


def test_grants_verify_and_tampering_is_reported(ledger: Ledger, grants: list[str]) -> None:
    assert verify_grants(ledger).ok
    edited, widened, flipped = grants
    with ledger.store.session() as session, session.begin():
        row = session.get(GrantTerms, edited)
        assert row is not None
        row.terms = row.terms.replace("health_management", "public_security")
        session.execute(update(GrantTerms).where(GrantTerms.grant_id == widened).values(categories=0b1111111))
        session.execute(update(GrantTerms).where(GrantTerms.grant_id == flipped).values(status="withdrawn"))
    report = verify_grants(ledger)
    assert _kinds(report) == sorted(
        [(TERMS_EDITED, edited, None), (FIELDS_DIFFER, widened, None), (STATUS_DIFFERS, flipped, None)]
    )


def test_deleted_and_inserted_grants_are_reported(ledger: Ledger, grants: list[str]) -> None:
    with ledger.store.session() as session, session.begin():
        template = session.get(GrantTerms, grants[0])
        assert template is not None
        session.execute(delete(GrantTerms).where(GrantTerms.grant_id == grants[1]))
        session.add(
            GrantTerms(
                grant_id="0x" + "ab" * 32,
                resident=template.resident,
                department=template.department,
                categories=1,
                purpose=1,
                legal_basis=1,
                valid_from=0,
                valid_until=1,
                terms="{}",
                terms_hash="0x" + "00" * 32,
                status="active",
                tx_hash="0x" + "cd" * 32,
            )
        )
    assert _kinds(verify_grants(ledger)) == sorted(
        [(UNKNOWN_GRANT, grants[1], None), (NEVER_ANCHORED, "0x" + "ab" * 32, None)]
    )


def test_a_checkpoint_anchored_after_the_indexed_block_is_no_finding(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    """Regression: a page's check (it does not index first) reported a checkpoint the worker
    had just anchored as "not on chain": the row was newer than the block compared at. Its
    transaction's receipt bears it out; a forged row beyond that block is still reported."""
    from ledger.access import Access
    from ledger.anchoring import Anchorer
    from ledger.store.models import LogCheckpoint

    ledger.indexer().run_once()
    Access(ledger).read(Records(ledger).add(actor=world.grid_worker, subject=world.resident,
                                            category=Category.HEALTH, content=HEALTH)[0], accessor=world.members[0])  # fmt: skip
    Anchorer(ledger, ledger.account(ledger.settings.anchorer)).run_until_anchored()
    with ledger.store.session() as db:
        (row,) = db.scalars(select(LogCheckpoint).where(LogCheckpoint.status == "anchored")).all()
        indexed = db.scalar(select(IndexCursor.block_number))
    assert row.block_number > indexed  # the checkpoint is beyond what was indexed
    assert Problem.CHECKPOINT_NOT_ON_CHAIN not in {f.code for f in verify(ledger, ("log",), catch_up=False).findings}

    with ledger.store.session() as db, db.begin():
        db.execute(update(LogCheckpoint).values(root="0x" + "ab" * 32))
    assert Problem.CHECKPOINT_NOT_ON_CHAIN in {f.code for f in verify(ledger, ("log",), catch_up=False).findings}
