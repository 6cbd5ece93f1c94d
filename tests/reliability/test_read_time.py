"""Edits that a decision would have trusted are refused at read time, not only reported
later: who may read, whose record it is, what category, which grant, what content, what
the resident is shown. Each trial edits a fresh copy of the populated database (SQLite and
PostgreSQL) and then acts through the real library, against the real chain."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import text

from ledger.access import Access
from ledger.context import Ledger
from ledger.errors import AccessRefused, StoreError
from ledger.history import resident_history
from ledger.merkle import verify_inclusion
from ledger.verify import Problem, verify
from tests.conftest import World

from .conftest import Facts, Populated


def edit(ledger: Ledger, statement: str, **params: object) -> None:
    with ledger.store.engine.begin() as connection:
        assert connection.execute(text(statement), params).rowcount != 0, statement


def leaf(ledger: Ledger, seq: int) -> dict:  # type: ignore[type-arg]
    with ledger.store.engine.connect() as connection:
        return json.loads(bytes(connection.execute(text("SELECT leaf FROM access_log WHERE seq = :s"), {"s": seq}).scalar_one()))


def refused(access: Access, record: str, **how: object) -> AccessRefused:
    with pytest.raises(AccessRefused) as caught:
        access.read(record, **how)  # type: ignore[arg-type]
    return caught.value


@pytest.fixture
def facts(populated: Populated) -> Facts:
    return populated.facts


def test_a_record_moved_to_another_resident_and_category_is_read_as_the_chain_has_it(trial: Ledger, facts: Facts) -> None:
    """records.subject and records.category: the second resident's property record made, in
    the database, the first resident's health record, which the officer holds a grant for."""
    edit(trial, "UPDATE records SET subject = :r, category = 1 WHERE record_id = :id", r=facts.resident, id=facts.property)
    edit(trial, "UPDATE chain_record_versions SET subject = :r, category = 1 WHERE record_id = :id", r=facts.resident,
         id=facts.property)  # fmt: skip
    no = refused(Access(trial), facts.property, accessor=World.officer, basis="grant")
    assert no.reason == "no-active-grant"
    logged = leaf(trial, int(no.seq or 0))
    assert logged["resident"] == facts.resident2 and logged["category"] == "property"  # the chain's, not the row's


def test_a_resident_made_an_officer_in_the_database_reads_nothing(trial: Ledger, facts: Facts) -> None:
    edit(trial, "UPDATE members SET role = 'department-officer', org_id = :d WHERE address = :a", d=facts.department,
         a=facts.resident)  # fmt: skip
    no = refused(Access(trial), facts.record, accessor=World.resident, grant_id=facts.grant)
    assert no.reason == "not-authorised" and leaf(trial, int(no.seq or 0))["organisation"] != facts.department


def test_a_suspended_member_made_active_in_the_database_has_no_duty(trial: Ledger, facts: Facts) -> None:
    edit(trial, "UPDATE members SET status = 'active' WHERE address = :a", a=trial.address_of(World.suspended))
    assert refused(Access(trial), facts.record, accessor=World.suspended, basis="duty").reason == "no-duty"


def test_a_grant_of_another_resident_in_the_database_opens_nothing(trial: Ledger, facts: Facts) -> None:
    """chain_grants.resident and categories: the first resident's health grant made, in the
    database, the second resident's grant covering property."""
    edit(trial, "UPDATE chain_grants SET resident = :r, categories = 127 WHERE grant_id = :g", r=facts.resident2,
         g=facts.grant)  # fmt: skip
    access = Access(trial)
    assert refused(access, facts.property, accessor=World.officer, basis="grant").reason == "no-active-grant"
    assert refused(access, facts.property, accessor=World.officer, grant_id=facts.grant).reason == "grant-not-active"


def test_a_withdrawn_grant_made_active_in_the_database_stays_withdrawn(trial: Ledger, facts: Facts) -> None:
    edit(trial, "UPDATE chain_grants SET status = 'active' WHERE grant_id = :g", g=facts.withdrawn)
    edit(trial, "UPDATE grants SET status = 'active' WHERE grant_id = :g", g=facts.withdrawn)
    no = refused(Access(trial), facts.record, accessor=World.officer, grant_id=facts.withdrawn)
    assert no.reason == "grant-not-active"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE record_versions SET content = REPLACE(content, '\"AB\"', '\"O\"') WHERE record_id = :id AND version = 2",
        "UPDATE record_versions SET salt = '0x' || REPLACE(SUBSTR(salt, 3), '0', '1') WHERE record_id = :id AND version = 2",
        "UPDATE record_versions SET content = NULL, salt = NULL WHERE record_id = :id",
        "DELETE FROM record_versions WHERE record_id = :id AND version = 2",
    ],
    ids=["content", "salt", "content deleted", "certified version deleted"],
)
def test_content_that_does_not_give_its_commitment_never_leaves(trial: Ledger, facts: Facts, statement: str) -> None:
    edit(trial, statement, id=facts.record)
    no = refused(Access(trial), facts.record, accessor=World.members[0], basis="duty")
    assert no.reason == "record-altered" and leaf(trial, int(no.seq or 0))["outcome"] == "refused"


def test_a_database_cut_back_below_the_last_checkpoint_refuses_every_read(trial: Ledger, facts: Facts) -> None:
    """As a restored old backup would be: fewer events than the chain has anchored."""
    edit(trial, "DELETE FROM access_log WHERE seq >= :n", n=facts.anchored - 2)
    edit(trial, "UPDATE log_head SET size = :n", n=facts.anchored - 2)
    access = Access(trial)
    assert access.health().behind and access.health().closed
    assert refused(access, facts.record, accessor=World.members[0]).reason == "anchoring-stalled"


def test_a_checkpoint_row_set_back_to_queued_changes_no_decision(trial: Ledger, facts: Facts) -> None:
    edit(trial, "UPDATE log_checkpoints SET status = 'queued'")
    access = Access(trial)
    assert access.health().anchored_size == facts.anchored  # the chain's checkpoint
    history = resident_history(trial, World.resident)
    assert history.checkpoint is not None and history.checkpoint["size"] == facts.anchored
    assert access.read(facts.record, accessor=World.members[0]).basis == "duty"


def test_what_the_resident_is_shown_follows_the_leaves(trial: Ledger, facts: Facts) -> None:
    """access_log.disclose_on, resident and justification edited: the resident sees what the
    leaves say, and an altered reason is never shown."""
    edit(trial, "UPDATE access_log SET disclose_on = '2099-01-01' WHERE seq = :s", s=facts.grant_read)
    edit(trial, "UPDATE access_log SET disclose_on = NULL WHERE seq IN (:a, :b)", a=facts.held, b=facts.held_review)
    edit(trial, "UPDATE access_log SET justification = 'routine 例行' WHERE seq = :s", s=facts.emergency)
    edit(trial, "UPDATE access_log SET resident = :r, resident_seq = 100 WHERE seq = :s", r=facts.resident2,
         s=facts.grant_read)  # fmt: skip
    mine = {e.seq: e for e in resident_history(trial, World.resident).entries}
    assert facts.grant_read not in mine  # the row no longer names me: not in my history ...
    theirs = resident_history(trial, "cmte-a-resident-2")
    assert facts.grant_read not in {e.seq for e in theirs.entries}  # ... nor shown to the resident it names
    assert any(f.kind == "leaf-mismatch" and f.seq == facts.grant_read for f in theirs.findings)
    assert mine[facts.held].withheld and mine[facts.held_review].withheld  # still held, by their leaves
    emergency = {e.seq: e for e in theirs.entries}[facts.emergency]
    assert emergency.leaf is not None and emergency.justification is None
    assert any(f.kind == "justification-altered" for f in theirs.findings)
    found = {f.code for f in verify(trial, catch_up=False).findings}
    assert {Problem.COLUMN_DIFFERS, Problem.JUSTIFICATION_DIFFERS} <= found


def test_a_flipped_subtree_hash_fails_the_residents_proof_and_is_reported(trial: Ledger, facts: Facts) -> None:
    edit(trial, "UPDATE log_nodes SET hash = :h WHERE level = 1 AND idx = 1", h=b"\x05" * 32)  # on #0's path
    history = resident_history(trial, World.resident)
    assert history.checkpoint is not None
    entry = next(e for e in history.entries if e.seq == facts.grant_read)
    from ledger import formats

    with pytest.raises(Exception):  # noqa: B017 - the resident's verifier refuses the proof
        verify_inclusion(entry.seq, facts.anchored, formats.from_hex(entry.leaf_hash),
                         [formats.from_hex(h) for h in entry.proof or []], formats.from_hex(history.checkpoint["root"]))  # fmt: skip
    assert Problem.NODE_DIFFERS in {f.code for f in verify(trial, catch_up=False).findings}


def test_an_account_label_pointed_elsewhere_is_not_acted_on(trial: Ledger, facts: Facts) -> None:
    edit(trial, "UPDATE accounts SET label = 'someone-else' WHERE label = :l", l=World.officer)
    edit(trial, "UPDATE accounts SET label = :l WHERE address = :a", l=World.officer, a=trial.address_of(World.admin))
    with pytest.raises(StoreError, match="altered"):
        Access(trial).read(facts.record, accessor=World.officer, basis="duty")


def test_the_review_of_a_held_read_is_held_as_long(trial: Ledger, facts: Facts) -> None:
    held = {e.seq: e for e in resident_history(trial, World.resident).entries}
    assert held[facts.held].withheld and held[facts.held_review].withheld
    assert held[facts.held_review].disclose_on == held[facts.held].disclose_on
    later = date.fromisoformat(str(held[facts.held].disclose_on))
    shown = {e.seq: e for e in resident_history(trial, World.resident, on=later).entries}
    assert shown[facts.held].leaf is not None and shown[facts.held_review].leaf is not None
