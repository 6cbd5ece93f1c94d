"""Logged access through the library: every basis allowed and refused, refusals logged,
withdrawal, revocation and expiry stop the next read, deferred disclosure, reviews."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import pytest

from ledger.access import Access
from ledger.anchoring import Anchorer
from ledger.audit import review
from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import AccessRefused, ConflictError, InputError, LedgerError, NodeError
from ledger.history import resident_history
from ledger.membership import org_id
from ledger.merkle import leaf_hash, verify_inclusion
from ledger.records import Records
from ledger.store.models import AccessEvent
from tests.clock import ManualClock

HEALTH = {"blood_type": "O", "chronic_conditions": ["高血压 hypertension"], "allergies": [], "family_doctor": "李医生"}
YEAR = 365 * 86_400


@pytest.fixture
def record_id(ledger: Ledger, world) -> str:  # type: ignore[no-untyped-def]
    records = Records(ledger)
    rid, _ = records.add(actor=world.grid_worker, subject=world.resident, category=Category.HEALTH, content=HEALTH)
    records.sign(rid, signer=world.members[0])
    records.sign(rid, signer=world.members[1])
    return rid


@pytest.fixture
def clock(ledger: Ledger) -> ManualClock:
    """Time for the caches of this test's reads: the test moves it, nothing sleeps."""
    clock = ManualClock()
    ledger.view.clock = clock.monotonic
    return clock


@pytest.fixture
def access(ledger: Ledger, clock: ManualClock) -> Access:
    return Access(ledger, clock=clock.monotonic, now=clock.now_ms)


def _grant(ledger: Ledger, world, **extra) -> str:  # type: ignore[no-untyped-def]
    args = dict(
        resident=world.resident, department=world.department, categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + YEAR,
    )  # fmt: skip
    args.update(extra)
    grant_id, _ = Consent(ledger).issue(**args)
    return grant_id


def _leaf(ledger: Ledger, seq: int) -> dict:  # type: ignore[type-arg]
    return json.loads(ledger.log.event(seq).leaf)


def test_officer_reads_under_a_grant_and_the_access_is_logged_first(
    ledger: Ledger, world, access: Access, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    grant_id = _grant(ledger, world)
    got = access.read(record_id, accessor=world.officer)
    assert got.content == HEALTH and got.certified and got.basis == "grant" and got.grant_id == grant_id
    leaf = _leaf(ledger, got.seq)
    assert leaf["outcome"] == "allowed" and leaf["grantId"] == grant_id and leaf["basis"] == "grant"
    assert leaf["resident"] == ledger.address_of(world.resident) and leaf["accessor"] == ledger.address_of(
        world.officer
    )
    assert leaf["organisation"] == "0x" + org_id(world.department).hex() and leaf["category"] == "health"
    assert leaf["purpose"] == int(Purpose.HEALTH_MANAGEMENT) and leaf["block"] > 0
    assert leaf["residentSeq"] == 0 and leaf["seq"] == got.seq
    assert "王" not in json.dumps(leaf) and "李医生" not in json.dumps(leaf)  # the content never enters the log


def test_withdrawal_revocation_and_expiry_stop_the_next_read_and_the_refusal_is_logged(
    ledger: Ledger, world, access: Access, record_id: str, clock: ManualClock
) -> None:  # type: ignore[no-untyped-def]
    consent = Consent(ledger)
    for end in ("withdraw", "revoke"):
        grant_id = _grant(ledger, world)
        access.read(record_id, accessor=world.officer, grant_id=grant_id)
        if end == "withdraw":
            consent.withdraw(grant_id)
        else:
            consent.revoke(grant_id, "投诉核实 complaint upheld", actor=world.admin)
        with pytest.raises(AccessRefused) as caught:
            access.read(record_id, accessor=world.officer, grant_id=grant_id)
        assert caught.value.reason == "grant-not-active" and caught.value.seq is not None
        leaf = _leaf(ledger, caught.value.seq)
        assert leaf["outcome"] == "refused" and leaf["reason"] == "grant-not-active" and leaf["grantId"] == grant_id
        with pytest.raises(AccessRefused) as caught:  # and no other grant covers it
            access.read(record_id, accessor=world.officer)
        assert caught.value.reason == "no-active-grant"

    chain_now = int(ledger.w3.eth.get_block("latest")["timestamp"])
    grant_id = _grant(ledger, world, valid_until=chain_now + 3)
    access.read(record_id, accessor=world.officer, grant_id=grant_id)
    deadline = time.monotonic() + 30
    while int(ledger.w3.eth.get_block("latest")["timestamp"]) < chain_now + 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    clock.advance(1)  # past the remembered head
    with pytest.raises(AccessRefused) as caught:
        access.read(record_id, accessor=world.officer, grant_id=grant_id)
    assert caught.value.reason == "grant-not-active"


def test_the_chain_is_asked_once_per_grant_until_its_status_changes(
    ledger: Ledger, world, access: Access, record_id: str, clock: ManualClock
) -> None:  # type: ignore[no-untyped-def]
    grant_id = _grant(ledger, world)
    first = access.read(record_id, accessor=world.officer).seq
    start, reads = ledger.w3.eth.block_number, 1
    while ledger.w3.eth.block_number < start + 3:  # reads across several blocks
        access.read(record_id, accessor=world.officer)
        reads += 1
        time.sleep(0.05)  # the node mines on its own clock
        clock.advance(0.05)
    # Once, unless the head moved on while it was being asked (then the yes is not kept).
    asked = access.view.asked["isActive"]
    assert reads >= 4 and 1 <= asked <= 3 and asked < reads, (reads, asked)
    assert _leaf(ledger, first)["block"] < _leaf(ledger, ledger.log.size() - 1)["block"]
    Consent(ledger).withdraw(grant_id)  # its event makes the remembered yes forgotten
    clock.advance(1)
    with pytest.raises(AccessRefused):
        access.read(record_id, accessor=world.officer, grant_id=grant_id)
    assert access.view.asked["isActive"] > asked


def test_a_yes_in_flight_while_the_grant_is_withdrawn_is_not_remembered(
    ledger: Ledger, world, access: Access, record_id: str, clock: ManualClock
) -> None:  # type: ignore[no-untyped-def]
    """Regression: a yes asked at block N, saved after another reader had already moved
    the head past the withdrawal's block, outlived the withdrawal."""
    grant_id = _grant(ledger, world)
    check = access.view
    org = "0x" + org_id(world.department).hex()
    asked = check._call

    def slow_call(contract, name, args, block):  # type: ignore[no-untyped-def]
        answer = asked(contract, name, args, block)
        if name == "isActive":  # the chain says yes at block N ...
            Consent(ledger).withdraw(grant_id)  # ... the grant is withdrawn in a later block ...
            check.head(newer_than=ledger.w3.eth.block_number - 1)  # ... and another reader moves the head on
        return answer

    check._call = slow_call  # type: ignore[method-assign]
    assert check.is_active(grant_id, org, int(Category.HEALTH))[0]  # true at the block it was asked at
    check._call = asked  # type: ignore[method-assign]
    clock.advance(1)
    assert not check.is_active(grant_id, org, int(Category.HEALTH))[0]
    with pytest.raises(AccessRefused):
        access.read(record_id, accessor=world.officer, grant_id=grant_id)


def test_a_grant_covers_only_its_categories_and_its_department(
    ledger: Ledger, world, access: Access, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    _grant(ledger, world, categories=[Category.PROPERTY])
    with pytest.raises(AccessRefused) as caught:
        access.read(record_id, accessor=world.officer)
    assert caught.value.reason == "no-active-grant"
    _grant(ledger, world)  # health, to the health department: the police officer still has none
    with pytest.raises(AccessRefused) as caught:
        access.read(record_id, accessor=world.police_officer, basis="grant")
    assert caught.value.reason == "no-active-grant"


def test_duty_reads_are_for_the_records_committee_and_office(
    ledger: Ledger, world, access: Access, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    review_read = access.read(record_id, accessor=world.members[2])
    assert review_read.basis == "duty" and _leaf(ledger, review_read.seq)["purpose"] == int(Purpose.RECORD_REVIEW)
    audit_read = access.read(record_id, accessor=world.admin)
    assert audit_read.basis == "duty" and _leaf(ledger, audit_read.seq)["purpose"] == int(Purpose.AUDIT)
    for outsider in (world.other_member, world.other_admin, world.suspended, world.officer):
        with pytest.raises(AccessRefused) as caught:
            access.read(record_id, accessor=outsider, basis="duty")
        assert caught.value.reason == "no-duty"


def test_emergency_needs_a_justification_and_an_officer_of_the_same_office(
    ledger: Ledger, world, access: Access, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    before = ledger.log.size()
    with pytest.raises(InputError) as caught:
        access.read(record_id, accessor=world.officer, basis="emergency", justification="   ")
    assert caught.value.field == "justification"
    assert ledger.log.size() == before  # a form error, not an attempt
    got = access.read(record_id, accessor=world.officer, justification="老人昏倒，急救需要过敏史")
    assert got.basis == "emergency" and got.content == HEALTH
    event = ledger.log.event(got.seq)
    assert event.justification == "老人昏倒，急救需要过敏史"
    assert _leaf(ledger, got.seq)["justificationHash"].startswith("0x")
    for outsider in (world.stranger, world.grid_worker):
        with pytest.raises(AccessRefused) as refused:
            access.read(record_id, accessor=outsider, basis="emergency", justification="need it")
        assert refused.value.reason == "not-authorised"


def test_an_office_admin_reviews_an_emergency_read_once_signed_and_logged(
    ledger: Ledger, world, access: Access, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    got = access.read(record_id, accessor=world.officer, justification="急救 emergency")
    with pytest.raises(LedgerError):
        review(ledger, got.seq, "approve", "ok", reviewer=world.other_admin)  # another office's admin
    row = review(ledger, got.seq, "approve", "核实属实 verified with the hospital", reviewer=world.admin)
    leaf = _leaf(ledger, row.review_seq)
    assert leaf["action"] == "review" and leaf["reviewOf"] == got.seq and leaf["decision"] == "approve"
    from eth_account import Account
    from eth_account.messages import encode_defunct

    assert Account.recover_message(encode_defunct(row.statement.encode()), signature=row.signature) == row.reviewer
    with pytest.raises(ConflictError):
        review(ledger, got.seq, "flag", "again", reviewer=world.second_admin)
    with pytest.raises(InputError):
        review(ledger, row.review_seq, "approve", "not an emergency", reviewer=world.admin)


def test_deferred_disclosure_before_and_after_its_date(ledger: Ledger, world, access: Access, record_id: str) -> None:  # type: ignore[no-untyped-def]
    on = (date.today() + timedelta(days=30)).isoformat()
    with pytest.raises(InputError) as caught:  # only public security defers
        access.read(record_id, accessor=world.officer, justification="case 1", disclose_on=on)
    assert caught.value.field == "disclose_on"
    with pytest.raises(InputError):
        access.read(record_id, accessor=world.police_officer, justification="case 1", disclose_on="2020-01-01")
    got = access.read(record_id, accessor=world.police_officer, justification="立案侦查 case 2026-117", disclose_on=on)
    Anchorer(ledger, ledger.account(ledger.settings.anchorer)).run_until_anchored()

    before = resident_history(ledger, world.resident)
    (entry,) = [e for e in before.entries if e.seq == got.seq]
    assert entry.withheld and entry.leaf is None and entry.disclose_on == on and entry.proof is not None
    root = bytes.fromhex(before.checkpoint["root"][2:])  # type: ignore[index]
    size = before.checkpoint["size"]  # type: ignore[index]
    verify_inclusion(
        got.seq, size, bytes.fromhex(entry.leaf_hash[2:]), [bytes.fromhex(h[2:]) for h in entry.proof], root
    )

    after = resident_history(ledger, world.resident, on=date.fromisoformat(on))
    (shown,) = [e for e in after.entries if e.seq == got.seq]
    assert shown.leaf is not None and shown.leaf["accessor"] == ledger.address_of(world.police_officer)
    stored = ledger.log.event(got.seq)
    assert "0x" + leaf_hash(stored.leaf).hex() == entry.leaf_hash  # the disclosed entry is the leaf logged then
    from ledger.accesslog import canonical_leaf

    assert leaf_hash(canonical_leaf(shown.leaf)) == bytes.fromhex(entry.leaf_hash[2:])


def test_history_is_newest_first_with_proofs_and_reports_a_gap(
    ledger: Ledger, world, access: Access, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    _grant(ledger, world)
    seqs = [access.read(record_id, accessor=world.officer).seq for _ in range(5)]
    Anchorer(ledger, ledger.account(ledger.settings.anchorer)).run_until_anchored()
    history = resident_history(ledger, world.resident)
    assert [e.seq for e in history.entries] == sorted(seqs, reverse=True)
    assert history.findings == []
    root = bytes.fromhex(history.checkpoint["root"][2:])  # type: ignore[index]
    for e in history.entries:
        assert e.proof is not None
        proof = [bytes.fromhex(h[2:]) for h in e.proof]
        verify_inclusion(e.seq, history.checkpoint["size"], bytes.fromhex(e.leaf_hash[2:]), proof, root)  # type: ignore[index]

    with ledger.store.session() as session, session.begin():  # someone removes an entry of the resident's
        session.delete(session.get(AccessEvent, seqs[2]))
    kinds = {f.kind for f in resident_history(ledger, world.resident).findings}
    assert "resident-seq-gap" in kinds and "proof-unavailable" in kinds


def test_history_pages_and_filters_cover_every_entry_once_and_still_see_a_gap(
    ledger: Ledger, world, access: Access, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    _grant(ledger, world)
    by_officer = [access.read(record_id, accessor=world.officer).seq for _ in range(5)]
    by_member = [access.read(record_id, accessor=world.members[0]).seq for _ in range(2)]
    Anchorer(ledger, ledger.account(ledger.settings.anchorer)).run_until_anchored()
    full = [e.seq for e in resident_history(ledger, world.resident).entries]
    pages, before = [], None
    while True:
        page = resident_history(ledger, world.resident, limit=3, before=before)
        assert len(page.entries) <= 3 and all(e.proof for e in page.entries)
        pages += [e.seq for e in page.entries]
        if page.next_before is None:
            break
        before = page.next_before
    assert pages == full == sorted(by_officer + by_member, reverse=True)
    health = "0x" + org_id(world.department).hex()
    assert [e.seq for e in resident_history(ledger, world.resident, department=health).entries] == by_officer[::-1]
    assert resident_history(ledger, world.resident, category=int(Category.HOUSEHOLD)).entries == []
    assert len(resident_history(ledger, world.resident, category=int(Category.HEALTH)).entries) == 7

    with ledger.store.session() as session, session.begin():  # an entry outside the page disappears
        session.delete(session.get(AccessEvent, by_officer[0]))
    kinds = {f.kind for f in resident_history(ledger, world.resident, limit=2).findings}
    assert "resident-seq-gap" in kinds


def test_reads_fail_closed_when_anchoring_stalls_and_reopen_after(
    ledger: Ledger, world, record_id: str, clock: ManualClock
) -> None:  # type: ignore[no-untyped-def]
    ledger.settings = ledger.settings.with_(anchor_fail_after=1.0)
    access = Access(ledger, clock=clock.monotonic, now=clock.now_ms)
    access.read(record_id, accessor=world.members[0])  # logged, not anchored: nobody runs the worker
    clock.advance(1.3)
    with pytest.raises(AccessRefused) as caught:
        access.read(record_id, accessor=world.members[0])
    assert caught.value.reason == "anchoring-stalled"
    assert access.health().closed_reason(clock.now_ms()) is not None
    Anchorer(ledger, ledger.account(ledger.settings.anchorer)).run_until_anchored()
    clock.advance(0.3)  # past the cached health
    assert access.read(record_id, accessor=world.members[0]).basis == "duty"


def test_no_read_while_the_node_is_down_and_recovery_after(settings, world, record_id: str) -> None:  # type: ignore[no-untyped-def]
    """Who the reader is and whose record it is are the chain's to say: while the node does
    not answer, nothing is read and nothing is logged (no resident can be named); once it is
    back, reads resume and the worker anchors what waited."""
    import threading

    from ledger.worker import Worker
    from tests.netproxy import Proxy

    proxy = Proxy(settings.node_port)
    proxy.restore()
    ledger = Ledger.open(settings.with_(rpc_url=proxy.url, anchor_fail_after=2.0))
    reports: list[str] = []
    worker = Worker(ledger, interval=0.1, report=reports.append)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        access = Access(ledger)
        first = access.read(record_id, accessor=world.members[0])
        _wait(lambda: (ledger_anchored(ledger) or 0) > first.seq, "the first read to be anchored")

        proxy.cut()
        size = ledger.log.size()
        ledger.view.forget()  # every answer needs the chain now
        with pytest.raises(NodeError):
            access.read(record_id, accessor=world.members[0])
        assert ledger.log.size() == size  # nothing was logged: nothing was read
        _wait(lambda: any("will retry" in line for line in reports), "the worker to see the outage")

        proxy.restore()
        _wait(lambda: not Access(ledger).health().closed, "anchoring to recover")
        after = access.read(record_id, accessor=world.members[0])
        assert after.seq == size
    finally:
        worker.stop.set()
        thread.join(timeout=30)
        proxy.cut()
        ledger.close()


def ledger_anchored(ledger: Ledger) -> int | None:
    found = ledger.log.anchored()
    return None if found is None else found.size


def _wait(condition, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
