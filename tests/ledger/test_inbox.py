"""The resident's inbox: items derived from the verified history and the chain's grants, read
marks only by the resident themself, a deferred read only from its disclosure date, a grant
only in its last seven days, the one-statement unread count agreeing with the page."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select

from ledger.access import CHINA, Access
from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import InputError, LedgerError
from ledger.inbox import ENDING_WITHIN, Inbox, ItemKind, LinkKind
from ledger.membership import Role, org_id
from ledger.records import Records
from ledger.store.models import AccessEvent, InboxSeen
from tests.clock import ManualClock

pytestmark = pytest.mark.chain

HEALTH = {"blood_type": "O", "chronic_conditions": ["高血压 hypertension"], "allergies": [], "family_doctor": "李医生"}
DAY = 86_400
YEAR = 365 * DAY
SECOND_RESIDENT = "cmte-a-resident-2"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def inbox(ledger: Ledger, clock: ManualClock) -> Inbox:
    return Inbox(ledger, now=clock.now_ms)


@pytest.fixture
def record_id(ledger: Ledger, world) -> str:  # type: ignore[no-untyped-def]
    records = Records(ledger)
    rid, _ = records.add(actor=world.grid_worker, subject=world.resident, category=Category.HEALTH, content=HEALTH)
    records.sign(rid, signer=world.members[0])
    records.sign(rid, signer=world.members[1])
    return rid


def _grant(ledger: Ledger, world, valid_until: int, resident: str | None = None) -> str:  # type: ignore[no-untyped-def]
    grant_id, _ = Consent(ledger).issue(
        resident=resident or world.resident, department=world.department, categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=valid_until,
    )  # fmt: skip
    return grant_id


def _chain_now(ledger: Ledger) -> int:
    return int(ledger.w3.eth.get_block("latest")["timestamp"])


def test_a_read_is_an_item_unread_until_the_resident_reads_it(
    ledger: Ledger, world, inbox: Inbox, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    grant_id = _grant(ledger, world, int(time.time()) + YEAR)
    seq = Access(ledger).read(record_id, accessor=world.officer).seq
    assert inbox.unread_count(world.resident) == 1
    listing = inbox.items(world.resident)
    (item,) = listing.items
    assert item.kind == ItemKind.DATA_READ and item.key == f"access:{seq}" and item.unread
    assert item.link.kind == LinkKind.HISTORY_ENTRY and item.link.ref == str(seq)
    assert item.params["organisation"] == "0x" + org_id(world.department).hex()
    assert item.params["category"] == "health" and item.params["grant"] == grant_id and item.params["number"] == 1
    assert item.params["day"] == datetime.fromtimestamp(item.time / 1000, UTC).astimezone(CHINA).date().isoformat()
    assert listing.findings == [] and listing.unread == 1
    assert inbox.items(world.resident).items[0].key == item.key  # the key is stable

    assert inbox.mark_read(world.resident, [item.key], by=world.resident) == 1
    assert inbox.mark_read(world.resident, [item.key], by=world.resident) == 0  # once
    assert inbox.unread_count(world.resident) == 0
    assert not inbox.items(world.resident).items[0].unread

    second = Access(ledger).read(record_id, accessor=world.officer).seq
    listing = inbox.items(world.resident)
    assert [(i.key, i.unread) for i in listing.items] == [(f"access:{second}", True), (f"access:{seq}", False)]
    assert inbox.unread_count(world.resident) == 1
    assert inbox.mark_all_read(world.resident, by=world.resident) == 1
    assert inbox.unread_count(world.resident) == 0


def test_refused_attempts_and_the_offices_review_are_items_of_their_own_kind(
    ledger: Ledger, world, inbox: Inbox, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    from ledger.audit import review
    from ledger.errors import AccessRefused

    with pytest.raises(AccessRefused):
        Access(ledger).read(record_id, accessor=world.officer)
    emergency = Access(ledger).read(
        record_id, accessor=world.officer, justification="急救 ambulance", basis="emergency"
    )
    review(ledger, emergency.seq, "approve", "justified", reviewer=world.admin)
    kinds = [i.kind for i in inbox.items(world.resident).items]
    assert kinds == [ItemKind.READ_REVIEWED, ItemKind.DATA_READ, ItemKind.READ_REFUSED]
    refused = inbox.items(world.resident).items[-1]
    assert refused.params["reason"] == "no-active-grant"
    reviewed = inbox.items(world.resident).items[0]
    assert reviewed.params["decision"] == "approve" and reviewed.params["reviewOf"] == emergency.seq
    assert inbox.unread_count(world.resident) == 3


def test_a_deferred_read_appears_only_from_its_disclosure_date(
    ledger: Ledger, world, inbox: Inbox, record_id: str, clock: ManualClock
) -> None:  # type: ignore[no-untyped-def]
    day = datetime.fromtimestamp(clock.now_ms() / 1000, UTC).astimezone(CHINA).date() + timedelta(days=30)
    seq = (
        Access(ledger)
        .read(
            record_id,
            accessor=world.police_officer,
            justification="立案侦查 case 2026-117",
            disclose_on=day.isoformat(),
        )
        .seq
    )
    assert inbox.items(world.resident).items == [] and inbox.unread_count(world.resident) == 0
    assert inbox.mark_all_read(world.resident, by=world.resident) == 0  # nothing to mark: it is not shown yet
    with pytest.raises(InputError):
        inbox.mark_read(world.resident, [f"access:{seq}"], by=world.resident)

    clock.advance(29 * DAY)  # the day before
    assert inbox.items(world.resident).items == [] and inbox.unread_count(world.resident) == 0
    start = datetime(day.year, day.month, day.day, tzinfo=CHINA)
    clock.advance((start.timestamp() * 1000 - clock.now_ms()) / 1000)  # the first moment of its day
    (item,) = inbox.items(world.resident).items
    assert item.key == f"access:{seq}" and item.unread and item.kind == ItemKind.DATA_READ
    assert item.time == int(start.timestamp() * 1000)  # it arrives on its day, as new
    assert item.params["organisation"] == "0x" + org_id(world.police).hex()
    assert inbox.unread_count(world.resident) == 1


def test_a_grant_ending_within_seven_days_is_an_item_one_ending_in_eight_is_not(
    ledger: Ledger, world, inbox: Inbox, clock: ManualClock
) -> None:  # type: ignore[no-untyped-def]
    now = _chain_now(ledger)
    clock.advance(now - clock.now_ms() / 1000)  # the inbox's clock at the chain's time
    soon = _grant(ledger, world, now + 6 * DAY)
    later = _grant(ledger, world, now + 8 * DAY)
    withdrawn = _grant(ledger, world, now + 5 * DAY)
    Consent(ledger).withdraw(withdrawn)
    _grant(ledger, world, now + YEAR)
    listing = inbox.items(world.resident)
    assert [(i.kind, i.key) for i in listing.items] == [(ItemKind.GRANT_ENDING, f"grant-ending:{soon}")]
    (item,) = listing.items
    assert item.link.kind == LinkKind.GRANT and item.link.ref == soon
    assert item.params["grant"] == soon and item.params["categories"] == ["health"]
    assert item.params["department"] == "0x" + org_id(world.department).hex()
    assert item.params["lastDay"] == datetime.fromtimestamp(now + 6 * DAY - 1, CHINA).date().isoformat()
    state = ledger.view.grant(soon)
    assert state is not None and state.valid_from >= now
    # shorter than seven days from its start: it arrived when it began
    assert item.time == max(now + 6 * DAY - int(ENDING_WITHIN.total_seconds()), state.valid_from) * 1000
    assert item.time == state.valid_from * 1000
    assert inbox.unread_count(world.resident) == 1
    inbox.mark_read(world.resident, [item.key], by=world.resident)

    clock.advance(1 * DAY + 60)  # the second one enters its last seven days
    items = inbox.items(world.resident).items
    assert [(i.key, i.unread) for i in items] == [(f"grant-ending:{later}", True), (f"grant-ending:{soon}", False)]
    assert items[0].time == (now + 8 * DAY - int(ENDING_WITHIN.total_seconds())) * 1000  # when its last week began
    assert inbox.unread_count(world.resident) == 1

    clock.advance(5 * DAY)  # the first one has ended: no longer an item
    assert [i.key for i in inbox.items(world.resident).items] == [f"grant-ending:{later}"]
    assert inbox.unread_count(world.resident) == 1


@pytest.mark.parametrize(
    "label", ["grid_worker", "members0", "officer", "police_officer", "admin", "other_member", "stranger", "suspended"]
)
def test_only_the_resident_themself_marks_their_inbox_read(
    ledger: Ledger, world, inbox: Inbox, record_id: str, label: str
) -> None:  # type: ignore[no-untyped-def]
    _grant(ledger, world, int(time.time()) + YEAR)
    seq = Access(ledger).read(record_id, accessor=world.officer).seq
    by = world.members[0] if label == "members0" else getattr(world, label)
    with pytest.raises(LedgerError, match="only the resident themself"):
        inbox.mark_read(world.resident, [f"access:{seq}"], by=by)
    with pytest.raises(LedgerError, match="only the resident themself"):
        inbox.mark_all_read(world.resident, by=by)
    assert inbox.unread_count(world.resident) == 1
    with ledger.store.session() as session:
        assert session.scalars(select(InboxSeen)).all() == []


def test_no_resident_sees_or_marks_another_residents_inbox(ledger: Ledger, world, inbox: Inbox, record_id: str) -> None:  # type: ignore[no-untyped-def]
    from ledger.organisations import Organisations

    Organisations(ledger).add_member(SECOND_RESIDENT, world.committee, Role.RESIDENT, actor=world.grid_worker)
    now = _chain_now(ledger)
    _grant(ledger, world, now + YEAR)
    _grant(ledger, world, int(time.time()) + 3 * DAY)
    seq = Access(ledger).read(record_id, accessor=world.officer).seq
    assert inbox.unread_count(world.resident) == 2
    assert inbox.items(SECOND_RESIDENT).items == [] and inbox.unread_count(SECOND_RESIDENT) == 0
    with pytest.raises(LedgerError):  # marking the other's inbox as oneself
        inbox.mark_all_read(world.resident, by=SECOND_RESIDENT)
    with pytest.raises(InputError):  # the other's item is not one's own
        inbox.mark_read(SECOND_RESIDENT, [f"access:{seq}"], by=SECOND_RESIDENT)
    assert inbox.mark_all_read(SECOND_RESIDENT, by=SECOND_RESIDENT) == 0
    assert inbox.unread_count(world.resident) == 2
    inbox.mark_all_read(world.resident, by=world.resident)
    assert inbox.unread_count(world.resident) == 0
    _grant(ledger, world, int(time.time()) + 2 * DAY, resident=SECOND_RESIDENT)
    assert inbox.unread_count(SECOND_RESIDENT) == 1 and inbox.unread_count(world.resident) == 0


def test_bad_keys_are_refused_and_nothing_is_marked(ledger: Ledger, world, inbox: Inbox, record_id: str) -> None:  # type: ignore[no-untyped-def]
    _grant(ledger, world, int(time.time()) + YEAR)
    seq = Access(ledger).read(record_id, accessor=world.officer).seq
    for bad in ("", "x" * 81, "access:999999", "grant-ending:0x" + "ab" * 32):
        with pytest.raises(InputError) as caught:
            inbox.mark_read(world.resident, [f"access:{seq}", bad], by=world.resident)
        assert caught.value.code == "bad-id" and caught.value.field == "keys"
    assert inbox.unread_count(world.resident) == 1


def test_a_read_mark_written_behind_the_installations_back_does_not_count(
    ledger: Ledger, world, inbox: Inbox, record_id: str, clock: ManualClock
) -> None:  # type: ignore[no-untyped-def]
    _grant(ledger, world, int(time.time()) + YEAR)
    seq = Access(ledger).read(record_id, accessor=world.officer).seq
    resident = ledger.address_of(world.resident)
    with ledger.store.session() as session, session.begin():  # an editor hides the new read
        session.execute(insert(InboxSeen).values(resident=resident, item_key=f"access:{seq}", seen_at=clock.now_ms(),
                                                 seal=b"\x00" * 32))  # fmt: skip
    assert inbox.unread_count(world.resident) == 1 and inbox.items(world.resident).items[0].unread
    from ledger.verify import verify

    report = verify(ledger, parts=["seals"])
    assert any(f.code == "row-unsealed" and f.table == "inbox_seen" for f in report.findings)
    assert inbox.mark_read(world.resident, [f"access:{seq}"], by=world.resident) == 1  # the resident's own replaces it
    assert inbox.unread_count(world.resident) == 0


def test_a_log_entry_deleted_from_the_database_is_a_finding_of_the_inbox(
    ledger: Ledger, world, inbox: Inbox, record_id: str
) -> None:  # type: ignore[no-untyped-def]
    _grant(ledger, world, int(time.time()) + YEAR)
    first = Access(ledger).read(record_id, accessor=world.officer).seq
    Access(ledger).read(record_id, accessor=world.officer)
    with ledger.store.session() as session, session.begin():
        session.execute(delete(AccessEvent).where(AccessEvent.seq == first))
    listing = inbox.items(world.resident)
    assert [f.kind for f in listing.findings] == ["resident-seq-gap"]
    assert len(listing.items) == 1


# -- consent requests and the answers to the resident's requests ------------------------------------


def test_a_waiting_consent_request_is_an_item_until_it_is_answered_or_expires(
    ledger: Ledger, world, inbox: Inbox, clock: ManualClock
) -> None:  # type: ignore[no-untyped-def]
    from ledger.requests import ConsentRequests

    requests = ConsentRequests(ledger, now=clock.now_ms)
    ask = dict(categories=[Category.HEALTH], purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT,
               valid_until=int(time.time()) + YEAR, reason="慢病随访")  # fmt: skip
    answered = requests.ask(world.officer, world.resident, **ask)
    lapsing = requests.ask(world.officer, world.resident, answer_by=clock.now_ms() + 2 * DAY * 1000, **ask)
    assert inbox.unread_count(_nobody(world)) == 0  # someone else's requests are not mine
    listing = inbox.items(world.resident)
    kinds = {i.key: i for i in listing.items if i.kind == ItemKind.CONSENT_REQUEST}
    assert set(kinds) == {f"consent-request:{answered}", f"consent-request:{lapsing}"}
    item = kinds[f"consent-request:{answered}"]
    assert item.link.kind == LinkKind.CONSENT_REQUEST and item.link.ref == answered
    assert item.params["department"] == "0x" + org_id(world.department).hex() and item.params["reason"] == "慢病随访"
    assert inbox.unread_count(world.resident) == 2
    requests.approve(answered, world.resident)
    clock.advance(3 * DAY)  # the other one's answer-by passed
    assert [i for i in inbox.items(world.resident).items if i.kind == ItemKind.CONSENT_REQUEST] == []
    assert inbox.unread_count(world.resident) == 0


def _nobody(world) -> str:  # type: ignore[no-untyped-def]
    return world.grid_worker  # an account with no requests: its count stays 0


def test_the_answer_to_an_objection_is_an_item_from_its_signed_decision(
    ledger: Ledger, world, inbox: Inbox, record_id: str, clock: ManualClock
) -> None:  # type: ignore[no-untyped-def]
    from ledger.anchoring import anchor_now
    from ledger.rights import RequestOutcome, Rights

    _grant(ledger, world, int(time.time()) + YEAR)
    read = Access(ledger).read(record_id, accessor=world.officer).seq
    anchor_now(ledger, report=lambda line: None)
    rights = Rights(ledger, now=clock.now_ms)
    objection = rights.object_to(read, comment="我没想到", actor=world.resident)
    decided = rights.answer(objection.request_id, RequestOutcome.NOT_UPHELD, "依据您的授权", actor=world.admin)
    (item,) = [i for i in inbox.items(world.resident).items if i.kind == ItemKind.REQUEST_DECIDED]
    assert item.key == f"access:{decided.decision_seq}" and item.link.kind == LinkKind.HISTORY_ENTRY
    assert item.params["decision"] == RequestOutcome.NOT_UPHELD and item.params["reviewOf"] == read
