"""Consent requests through the library: a department asks, the resident approves (directly
or with a helper relaying), declines or lets it expire; who may do what is the chain's word."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select, update

from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import ConsentRequestConflict, InputError, Invalid, NotAllowed, RequestProblem, StoreError
from ledger.formats import terms_hash, to_hex
from ledger.membership import DepartmentKind, Role, org_id
from ledger.organisations import Organisations, OrgNames
from ledger.requests import DAY_MS, ConsentRequests, ConsentStatus
from ledger.store.models import ConsentRequest, GrantTerms, OrgProfile, OutboxTx
from tests.clock import ManualClock

YEAR = 365 * 86_400


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def requests(ledger: Ledger, clock: ManualClock) -> ConsentRequests:
    return ConsentRequests(ledger, Consent(ledger), now=clock.now_ms)


def _ask(requests: ConsentRequests, world, **extra):  # type: ignore[no-untyped-def]
    args = dict(
        officer=world.officer,
        resident=world.resident,
        categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT,
        legal_basis=LegalBasis.CONSENT,
        valid_until=int(time.time()) + YEAR,
        reason="慢病随访 chronic disease follow-up",
    )
    args.update(extra)
    return requests.ask(**args)


def _outbox_size(ledger: Ledger) -> int:
    with ledger.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxTx)) or 0)


def test_the_resident_approves_and_the_grant_carries_the_request(
    requests: ConsentRequests, world, ledger: Ledger, clock: ManualClock
) -> None:  # type: ignore[no-untyped-def]
    request_id = _ask(requests, world)
    shown = requests.show(request_id)
    assert shown.status == ConsentStatus.WAITING
    assert shown.department == "0x" + org_id(world.department).hex() and shown.department_code == world.department
    assert shown.answer_by == shown.asked_at + ledger.settings.request_answer_days * DAY_MS
    assert [r.request_id for r in requests.waiting_for(world.resident)] == [request_id]

    clock.advance(3600)
    grant_id = requests.approve(request_id, world.resident)

    done = requests.show(request_id)
    assert done.status == ConsentStatus.APPROVED and done.grant_id == grant_id
    assert done.decided_by == ledger.address_of(world.resident) and done.relayer is None
    assert done.decided_at == shown.asked_at + 3_600_000
    grant = requests.consent.show(grant_id)
    assert grant.status == "active" and grant.categories == [Category.HEALTH]
    assert grant.resident == ledger.address_of(world.resident)
    assert grant.terms is not None and grant.terms["requestId"] == request_id
    assert grant.terms["purpose"]["text"] == "慢病随访 chronic disease follow-up"
    # the link is provable: the chain's termsHash is the hash of the terms naming the request
    on_chain = ledger.view.grant(grant_id)
    assert on_chain is not None and on_chain.terms_hash == to_hex(terms_hash(grant.terms))
    with ledger.store.session() as session:
        stored = session.get(GrantTerms, grant_id)
        assert stored is not None and json.loads(stored.terms)["requestId"] == request_id
    assert requests.waiting_for(world.resident) == []
    assert [r.request_id for r in requests.recent_outcomes(world.resident)] == [request_id]


def test_a_grid_worker_takes_the_resident_through_it(requests: ConsentRequests, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    request_id = _ask(requests, world)
    grant_id = requests.approve(request_id, world.resident, relayer=world.grid_worker)
    grant = requests.consent.show(grant_id)
    assert grant.relayer == ledger.address_of(world.grid_worker)
    assert grant.resident == ledger.address_of(world.resident)  # the resident's signature, not the worker's
    assert grant.terms is not None and grant.terms["requestId"] == request_id
    assert requests.show(request_id).relayer == ledger.address_of(world.grid_worker)


def test_the_resident_declines_with_a_reason(requests: ConsentRequests, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    request_id = _ask(requests, world)
    sent = _outbox_size(ledger)
    requests.decline(request_id, world.resident, reason="我已在别处随访")
    shown = requests.show(request_id)
    assert shown.status == ConsentStatus.DECLINED and shown.decline_reason == "我已在别处随访"
    assert shown.grant_id is None and _outbox_size(ledger) == sent  # nothing goes to the chain
    assert requests.consent.list(resident=world.resident) == []


def test_a_request_expires_by_the_clock(requests: ConsentRequests, world, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    request_id = _ask(requests, world, answer_by=clock.now_ms() + 2 * DAY_MS)
    clock.advance(2 * 86_400 - 1)
    assert requests.show(request_id).status == ConsentStatus.WAITING
    clock.advance(1)
    assert requests.show(request_id).status == ConsentStatus.EXPIRED
    assert requests.waiting_for(world.resident) == []
    assert [r.request_id for r in requests.list(resident=world.resident, status="expired")] == [request_id]
    for answer in (lambda: requests.approve(request_id, world.resident),
                   lambda: requests.decline(request_id, world.resident)):  # fmt: skip
        with pytest.raises(ConsentRequestConflict) as caught:
            answer()
        assert caught.value.code == RequestProblem.EXPIRED
    assert requests.consent.list(resident=world.resident) == []


def test_answering_twice_is_refused(requests: ConsentRequests, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    approved = _ask(requests, world)
    requests.approve(approved, world.resident)
    sent = _outbox_size(ledger)
    for answer in (lambda: requests.approve(approved, world.resident),
                   lambda: requests.decline(approved, world.resident, relayer=world.grid_worker)):  # fmt: skip
        with pytest.raises(ConsentRequestConflict) as caught:
            answer()
        assert caught.value.code == RequestProblem.ALREADY_ANSWERED and caught.value.params == {"status": "approved"}
    assert _outbox_size(ledger) == sent and len(requests.consent.list(resident=world.resident)) == 1

    declined = _ask(requests, world)
    requests.decline(declined, world.resident)
    with pytest.raises(ConsentRequestConflict) as again:
        requests.approve(declined, world.resident)
    assert again.value.params == {"status": "declined"}


def test_an_answer_racing_another_is_undone_whole(requests: ConsentRequests, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    """Two clicks at once: the second finds the request waiting, then loses the race in the
    database; its grant (signed, in the outbox) is rolled back with it, never sent."""
    request_id = _ask(requests, world)
    row, _helper = requests._answerable(request_id, world.resident, None)
    requests.decline(request_id, world.resident)
    sent = _outbox_size(ledger)
    with ledger.store.session() as session, pytest.raises(ConsentRequestConflict), session.begin():
        requests._decide(session, row, ConsentStatus.APPROVED, 0, None, grant_id="0x" + "11" * 32)
    assert _outbox_size(ledger) == sent
    assert requests.show(request_id).status == ConsentStatus.DECLINED


def test_only_the_requests_resident_answers(
    requests: ConsentRequests, world, ledger: Ledger, orgs: Organisations
) -> None:  # type: ignore[no-untyped-def]
    orgs.add_member("cmte-a-resident-2", world.committee, Role.RESIDENT, actor=world.grid_worker)
    request_id = _ask(requests, world)
    for answer in (lambda: requests.approve(request_id, "cmte-a-resident-2"),
                   lambda: requests.decline(request_id, "cmte-a-resident-2"),
                   lambda: requests.approve(request_id, world.grid_worker)):  # fmt: skip
        with pytest.raises(NotAllowed) as caught:
            answer()
        assert caught.value.code == RequestProblem.NOT_YOURS
    # and no one sees another resident's requests
    assert requests.list(resident="cmte-a-resident-2") == []
    assert requests.waiting_for("cmte-a-resident-2") == []
    assert requests.show(request_id).status == ConsentStatus.WAITING


def test_only_a_helper_of_the_residents_current_committee_relays(
    requests: ConsentRequests, world, ledger: Ledger, orgs: Organisations
) -> None:  # type: ignore[no-untyped-def]
    orgs.create_committee("cmte-a2", OrgNames("甲二居委会", "Committee A2"), world.office, ["cmte-a2-m1"], 1)
    orgs.add_member("cmte-a2-grid", "cmte-a2", Role.GRID_WORKER)
    request_id = _ask(requests, world)
    for helper in ("cmte-a2-grid", "cmte-a2-m1", world.other_member, world.officer, world.suspended):
        with pytest.raises(NotAllowed) as caught:
            requests.approve(request_id, world.resident, relayer=helper)
        assert caught.value.code == RequestProblem.NOT_A_HELPER, helper
    assert requests.show(request_id).status == ConsentStatus.WAITING
    requests.decline(request_id, world.resident, relayer=world.members[0])  # a committee member of the resident's own
    assert requests.show(request_id).relayer == ledger.address_of(world.members[0])


def test_a_resident_who_moved_committee_is_not_answered_for_by_the_old_one(
    requests: ConsentRequests, world, ledger: Ledger, orgs: Organisations
) -> None:  # type: ignore[no-untyped-def]
    """An account stays in one committee on chain: a resident who moves is removed from the
    old committee (revoked) and enrolled afresh in the new one. A request to the old
    account cannot then be answered: not by the resident, not by either committee's helper."""
    request_id = _ask(requests, world)
    orgs.create_committee("cmte-a2", OrgNames("甲二居委会", "Committee A2"), world.office, ["cmte-a2-m1"], 1)
    orgs.add_member("cmte-a2-grid", "cmte-a2", Role.GRID_WORKER)
    orgs.revoke(world.resident, actor=world.admin)
    orgs.add_member("cmte-a2-resident-new", "cmte-a2", Role.RESIDENT, actor="cmte-a2-grid")
    for relayer in (None, world.grid_worker, "cmte-a2-grid"):
        with pytest.raises(NotAllowed) as caught:
            requests.approve(request_id, world.resident, relayer=relayer)
        assert caught.value.code == RequestProblem.NOT_A_RESIDENT
    with pytest.raises(NotAllowed):
        requests.approve(request_id, "cmte-a2-resident-new", relayer="cmte-a2-grid")
    assert requests.consent.list(resident=world.resident) == []


def test_only_an_active_officer_asks_for_their_own_department(
    requests: ConsentRequests, world, ledger: Ledger, orgs: Organisations
) -> None:  # type: ignore[no-untyped-def]
    for asker in (world.grid_worker, world.resident, world.admin, world.stranger):
        with pytest.raises(NotAllowed) as caught:
            _ask(requests, world, officer=asker)
        assert caught.value.code == RequestProblem.NOT_AN_OFFICER
    police = _ask(requests, world, officer=world.police_officer)
    assert requests.show(police).department_code == world.police  # the officer's own, never another's
    orgs.suspend(world.officer, actor=world.admin)
    with pytest.raises(NotAllowed):
        _ask(requests, world)


def test_bad_requests_are_refused_with_codes(
    requests: ConsentRequests, world, ledger: Ledger, orgs: Organisations, clock: ManualClock
) -> None:  # type: ignore[no-untyped-def]
    cases = [
        (dict(resident=world.grid_worker), "resident", Invalid.NOT_A_RESIDENT),
        (dict(resident="nobody-at-all"), "resident", Invalid.NOT_A_RESIDENT),
        (dict(categories=[]), "categories", Invalid.REQUIRED),
        (dict(reason="  "), "reason", Invalid.REQUIRED),
        (dict(reason="x" * 501), "reason", Invalid.TOO_LONG),
        (dict(answer_by=clock.now_ms() - 1), "answer_by", Invalid.NOT_IN_FUTURE),
        (dict(answer_by=clock.now_ms() + 91 * DAY_MS), "answer_by", Invalid.TOO_FAR_AHEAD),
        (dict(valid_until=clock.now_ms() // 1000 + 86_400), "valid_until", Invalid.END_BEFORE_START),
        (dict(valid_until=clock.now_ms() // 1000 + 6 * YEAR), "valid_until", Invalid.TOO_FAR_AHEAD),
        (dict(purpose=Purpose.AUDIT), "purpose", Invalid.UNKNOWN_CHOICE),
    ]
    for extra, field, code in cases:
        with pytest.raises(InputError) as caught:
            _ask(requests, world, **extra)
        assert (caught.value.field, caught.value.code) == (field, code), extra
    orgs.create_committee("cmte-b2", OrgNames("乙二居委会", "Committee B2"), world.other_office, [world.stranger], 1)
    orgs.add_member("cmte-b2-resident", "cmte-b2", Role.RESIDENT, actor=world.stranger)
    with pytest.raises(InputError) as other:
        _ask(requests, world, resident="cmte-b2-resident")
    assert other.value.code == Invalid.OTHER_OFFICE
    assert requests.list() == []


def test_an_edited_request_is_not_acted_on(requests: ConsentRequests, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    """Someone who edits the table to widen what was asked gets no grant from it."""
    request_id = _ask(requests, world)
    with ledger.store.session() as session, session.begin():
        session.execute(
            update(ConsentRequest).where(ConsentRequest.request_id == request_id)
            .values(categories=(1 << int(Category.HEALTH)) | (1 << int(Category.PROPERTY)))
        )  # fmt: skip
    with pytest.raises(StoreError):
        requests.approve(request_id, world.resident)
    assert requests.consent.list(resident=world.resident) == []
    assert requests.list() == [] and requests.waiting_for(world.resident) == [] and requests.stats() == []
    with pytest.raises(StoreError):
        requests.show(request_id)


def test_an_answer_edited_in_the_database_is_not_shown(requests: ConsentRequests, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    """Hiding a waiting request (marking it declined) or answering it behind the resident's
    back breaks its seal: nobody is shown the edited answer, and the resident's own answer,
    sealed again, still shows."""
    hidden, answered = _ask(requests, world), _ask(requests, world)
    requests.decline(answered, world.resident, reason="不需要")
    assert requests.show(answered).decline_reason == "不需要"  # sealed again with its answer
    with ledger.store.session() as session, session.begin():
        session.execute(update(ConsentRequest).where(ConsentRequest.request_id == hidden).values(status="declined"))
        session.execute(update(ConsentRequest).where(ConsentRequest.request_id == answered)
                        .values(decline_reason="我同意"))  # fmt: skip
    assert requests.list() == []
    for request_id in (hidden, answered):
        with pytest.raises(StoreError):
            requests.show(request_id)


def test_the_department_is_rechecked_at_approval(
    requests: ConsentRequests, world, ledger: Ledger, orgs: Organisations
) -> None:  # type: ignore[no-untyped-def]
    orgs.create_department("dept-a-civil", OrgNames("甲民政办", "Civil A"), world.office, DepartmentKind.CIVIL_AFFAIRS)
    orgs.add_member("dept-a-civil-officer", "dept-a-civil", Role.DEPARTMENT_OFFICER)
    request_id = _ask(requests, world, officer="dept-a-civil-officer")
    # a department's code that no longer names it (an edited profile) is refused, not guessed
    with ledger.store.session() as session, session.begin():
        session.execute(update(OrgProfile).where(OrgProfile.code == "dept-a-civil").values(code="dept-a-health-x"))
    with pytest.raises(NotAllowed) as caught:
        requests.approve(request_id, world.resident)
    assert caught.value.code == RequestProblem.DEPARTMENT_GONE


def test_lists_and_stats_per_department(requests: ConsentRequests, world, ledger: Ledger, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    approved = _ask(requests, world)
    declined = _ask(requests, world)
    expired = _ask(requests, world, answer_by=clock.now_ms() + DAY_MS)
    police = _ask(requests, world, officer=world.police_officer)
    clock.advance(2 * 3600)
    requests.approve(approved, world.resident)
    clock.advance(2 * 3600)
    requests.decline(declined, world.resident)
    clock.advance(2 * 86_400)
    assert {r.request_id for r in requests.list(department=world.department)} == {approved, declined, expired}
    assert [r.request_id for r in requests.list(department=world.police)] == [police]
    assert len(requests.list(office=world.office)) == 4 and requests.list(office=world.other_office) == []
    stats = {s.department_code: s for s in requests.stats(world.office)}
    health = stats[world.department]
    assert (health.asked, health.waiting, health.approved, health.declined, health.expired) == (3, 0, 1, 1, 1)
    assert health.median_answer_ms == 3 * 3_600_000  # median of 2 h and 4 h
    police_stats = stats[world.police]
    assert (police_stats.asked, police_stats.waiting, police_stats.median_answer_ms) == (1, 1, None)
    assert requests.stats(world.other_office) == []
    with pytest.raises(InputError):
        requests.list(status="lost")


def test_nothing_personal_goes_on_chain(requests: ConsentRequests, world, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    reason = "慢病随访独特文字 unique-reason-words"
    request_id = _ask(requests, world, reason=reason)
    requests.approve(request_id, world.resident)
    with ledger.store.session() as session:
        raws = [bytes(r.raw_tx) for r in session.scalars(select(OutboxTx))]
    for raw in raws:
        assert reason.encode() not in raw and b"unique-reason-words" not in raw


# -- the command line ---------------------------------------------------------------------------

from tests.ledger.test_cli import run  # noqa: E402, F401 - the command line's fixture


def test_the_request_story_from_the_command_line(run, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    until = time.strftime("%Y-%m-%d", time.gmtime(time.time() + YEAR))
    asked = run("requests", "ask", "--as", world.officer, "--resident", world.resident, "--categories", "health",
                "--purpose", "health-management", "--until", until, "--reason", "慢病随访", "--json")  # fmt: skip
    assert asked.exit_code == 0, asked.output
    request_id = json.loads(asked.output)["request_id"]
    assert json.loads(asked.output)["categories"] == ["health"] and json.loads(asked.output)["status"] == "waiting"
    refused = run("requests", "ask", "--as", world.grid_worker, "--resident", world.resident, "--categories", "health",
                  "--purpose", "health-management", "--until", until, "--reason", "x")  # fmt: skip
    assert refused.exit_code == 1 and "NotAllowed" in refused.output
    listed = run("requests", "list", "--department", world.department)
    assert listed.exit_code == 0 and "waiting" in listed.output and world.resident in listed.output
    approved = run("requests", "approve", request_id, "--resident", world.resident, "--relayer", world.grid_worker)
    assert approved.exit_code == 0 and "approved: grant 0x" in approved.output, approved.output
    twice = run("requests", "decline", request_id, "--resident", world.resident)
    assert twice.exit_code == 1 and "ConsentRequestConflict" in twice.output
    shown = run("requests", "show", request_id)
    assert "approved" in shown.output and world.grid_worker in shown.output
    stats = json.loads(run("requests", "stats", "--office", world.office, "--json").output)
    assert [(s["department_code"], s["asked"], s["approved"]) for s in stats] == [(world.department, 1, 1)]
    table = run("requests", "stats")
    assert table.exit_code == 0 and world.department in table.output


def test_the_answer_window_is_a_setting() -> None:
    from ledger.errors import ConfigurationError
    from ledger.settings import Settings

    assert Settings.from_env({}).request_answer_days == 15
    assert Settings.from_env({"GRIDLEDGER_REQUEST_ANSWER_DAYS": "30"}).request_answer_days == 30
    for bad in ("0", "367", "soon"):
        with pytest.raises(ConfigurationError):
            Settings.from_env({"GRIDLEDGER_REQUEST_ANSWER_DAYS": bad})
