"""The incremental audit: it judges and checks only the events after its sealed mark, finds a
bad access among them, reads none of the events before, runs in full when its mark cannot be
believed, and leaves an old event edited after its audit to the full audit, which finds it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from ledger import audit, formats
from ledger.access import Access
from ledger.context import Ledger
from ledger.seal import row_seal
from ledger.store.models import AuditMark
from ledger.verify import verify

from .test_audit import Scenario, _tamper_edit


@pytest.fixture
def scenario(ledger: Ledger, world) -> Scenario:  # type: ignore[no-untyped-def]
    return Scenario(ledger, world)


def _marked(scenario: Scenario) -> audit.Audit:
    """A first incremental audit (in full: no mark yet) over the scenario's anchored events."""
    scenario.anchorer.run_until_anchored()
    first = audit.incremental(scenario.ledger)
    assert first.full_because == audit.FullBecause.NO_MARK
    assert first.integrity is not None and first.integrity.exit_code == 0, first.integrity
    assert first.mark is not None and first.upto == 3
    return first


def _newest_mark(ledger: Ledger) -> AuditMark:
    with ledger.store.session() as session:
        row = session.scalars(select(AuditMark).order_by(AuditMark.id.desc()).limit(1)).one()
        session.expunge(row)
        return row


def test_the_first_incremental_audit_runs_in_full_and_marks_where_it_stopped(scenario: Scenario) -> None:
    first = _marked(scenario)
    assert {f.kind for f in first.findings} == {"refused-attempt", "emergency-unreviewed"}
    mark = _newest_mark(scenario.ledger)
    assert (mark.size, mark.chain_index) == (3, scenario.ledger.view.checkpoint().index)  # type: ignore[union-attr]
    again = audit.incremental(scenario.ledger)
    assert again.full_because is None and (again.since, again.upto) == (3, 3)
    assert again.rows_read == 0 and again.findings == [] and again.exit_code == 0


def test_a_bad_access_among_the_new_events_is_found_reading_only_them(scenario: Scenario) -> None:
    _marked(scenario)
    bad = scenario.plant()  # under the grant withdrawn in an earlier block
    fine = Access(scenario.ledger).read(scenario.record_id, accessor=scenario.ledger.label_of(scenario.officer)
                                        or scenario.officer, justification="急救 ambulance").seq  # fmt: skip
    scenario.anchorer.run_until_anchored()
    result = audit.incremental(scenario.ledger)
    assert result.full_because is None and (result.since, result.upto) == (3, 5)
    assert result.rows_read == 2
    kinds = {(f.kind, f.seq) for f in result.findings}
    assert ("after-withdrawal", bad) in kinds
    assert ("emergency-unreviewed", fine) in kinds
    assert ("emergency-unreviewed", scenario.emergency) not in kinds  # reported by the audit before
    assert result.exit_code == 1 and result.mark is not None  # findings are facts: the mark moves on
    assert _newest_mark(scenario.ledger).size == 5


def test_the_incremental_audit_reads_no_event_before_its_mark(scenario: Scenario) -> None:
    """The audited rows deleted outright: the incremental audit, which never reads them, is
    clean; the full audit reports them missing."""
    _marked(scenario)
    scenario.plant()
    scenario.anchorer.run_until_anchored()
    with scenario.ledger.store.engine.begin() as c:
        c.execute(text("DELETE FROM access_log WHERE seq < 3"))
    result = audit.incremental(scenario.ledger, save=False)
    assert result.integrity is not None and result.integrity.exit_code == 0, result.integrity.findings
    assert result.rows_read == 1 and [f.kind for f in result.findings] == ["after-withdrawal"]
    full = audit.incremental(scenario.ledger, full=True, save=False)
    assert full.full_because == audit.FullBecause.ASKED
    assert full.integrity is not None and "leaf-missing" in {str(f.code) for f in full.integrity.findings}


def test_an_old_event_edited_after_its_audit_is_left_to_the_full_audit(scenario: Scenario) -> None:
    _marked(scenario)
    _tamper_edit(scenario.ledger, scenario.emergency)  # audited already, then edited
    Access(scenario.ledger).read(scenario.record_id, accessor=scenario.ledger.label_of(scenario.officer)
                                 or scenario.officer, justification="急救 again")  # fmt: skip
    scenario.anchorer.cycle()  # the anchorer refuses to anchor over the edit: nothing new is anchored
    result = audit.incremental(scenario.ledger, save=False)
    assert result.integrity is not None and result.integrity.exit_code == 0  # it cannot see the edit
    full = audit.run(scenario.ledger)
    assert full.integrity is not None and full.integrity.exit_code == 1
    assert {"leaf-hash-mismatch", "checkpoint-mismatch"} <= {str(f.code) for f in full.integrity.findings}


def test_an_edit_among_the_new_events_is_found_and_the_mark_stays(scenario: Scenario) -> None:
    _marked(scenario)
    planted = scenario.plant(basis="duty", grant_id=None, purpose=None)
    scenario.anchorer.run_until_anchored()
    _tamper_edit(scenario.ledger, planted)
    result = audit.incremental(scenario.ledger)
    assert result.integrity is not None and result.integrity.exit_code == 1
    assert {"leaf-hash-mismatch", "checkpoint-mismatch"} <= {str(f.code) for f in result.integrity.findings}
    assert result.mark is None and _newest_mark(scenario.ledger).size == 3


def _forge(ledger: Ledger, **changes: object) -> None:
    """Rewrites the newest mark, and seals it again when ``sealed`` (only the key's holder can)."""
    sealed = bool(changes.pop("sealed", False))
    with ledger.store.session() as session, session.begin():
        row = session.scalars(select(AuditMark).order_by(AuditMark.id.desc()).limit(1)).one()
        state = json.loads(row.state)
        if "frontier" in changes:
            state["frontier"] = changes.pop("frontier")
            row.state = formats.canonical_json(state).decode()
        for key, value in changes.items():
            setattr(row, key, value)
        if sealed:
            row.seal = row_seal(ledger.sealer, "audit_marks", row)


@pytest.mark.parametrize(
    ("changes", "because"),
    [
        ({"size": 1}, "mark-unsealed"),  # an editor moves the mark back or on: the seal no longer holds
        ({"root": "0x" + "00" * 32, "sealed": True}, "mark-off-chain"),
        ({"frontier": ["0x" + "11" * 32, "0x" + "22" * 32], "sealed": True}, "frontier-differs"),
        ({"state": "{}", "sealed": True}, "mark-unreadable"),
    ],
    ids=["unsealed", "off-chain", "frontier", "unreadable"],
)
def test_a_mark_that_cannot_be_believed_means_a_full_audit(scenario: Scenario, changes, because: str) -> None:  # type: ignore[no-untyped-def]
    _marked(scenario)
    bad = scenario.plant()
    scenario.anchorer.run_until_anchored()
    _forge(scenario.ledger, **changes)
    result = audit.incremental(scenario.ledger)
    assert result.full_because == because and result.since == 0 and result.rows_read == 4
    assert bad in [f.seq for f in result.findings if f.kind == "after-withdrawal"]
    assert scenario.emergency in [f.seq for f in result.findings if f.kind == "emergency-unreviewed"]
    if because == "mark-unsealed":  # and the integrity check names the forged row
        assert result.integrity is not None and "row-unsealed" in {str(f.code) for f in result.integrity.findings}
        assert result.mark is None
    else:
        assert result.mark is not None


def test_an_office_flag_on_an_emergency_audited_before_is_a_finding(scenario: Scenario, world) -> None:  # type: ignore[no-untyped-def]
    _marked(scenario)
    audit.review(scenario.ledger, scenario.emergency, "flag", "无紧急情况 no emergency", reviewer=world.admin)
    scenario.anchorer.run_until_anchored()
    result = audit.incremental(scenario.ledger)
    assert [(f.kind, f.seq) for f in result.findings] == [("emergency-flagged", scenario.emergency)]


def test_the_seals_check_covers_the_marks(scenario: Scenario) -> None:
    _marked(scenario)
    assert verify(scenario.ledger, ("seals",)).exit_code == 0
    _forge(scenario.ledger, size=2)
    assert [str(f.code) for f in verify(scenario.ledger, ("seals",)).findings] == ["row-unsealed"]
