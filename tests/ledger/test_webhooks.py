"""Signed webhooks for department systems, against a real local HTTP receiver that checks
every signature with the library's reference function: subscriptions and who may make them,
signing and verification, the outbox fed by the indexer (one delivery per event, however
often it is indexed), expiries, retries with backoff through a receiver that is down, slow
and failing, dead letters and their replay, and two deliverers never sending one row at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import (
    ConflictError,
    Forbidden,
    InputError,
    Invalid,
    NotFoundError,
    SignatureProblem,
    SignatureRejected,
)
from ledger.formats import to_hex
from ledger.membership import org_id
from ledger.store.models import ChainEvent, Meta, WebhookAttempt, WebhookDelivery, WebhookSubscription
from ledger.webhooks import (
    EXPIRY_CURSOR,
    AttemptError,
    Deliverer,
    DeliveryState,
    EventKind,
    PassResult,
    UrlProblem,
    Webhooks,
    enqueue_expiries,
    publish,
    sign,
    signed_headers,
    verify_signature,
)
from tests.clock import ManualClock
from tests.conftest import World
from tests.reliability.databases import BACKENDS, world_copy

from .webhook_receiver import Receiver

YEAR = 365 * 86_400
ALL = [str(k) for k in EventKind]
HEALTH = to_hex(org_id(World.department))
POLICE = to_hex(org_id(World.police))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def hooks(ledger: Ledger, clock: ManualClock) -> Webhooks:
    return Webhooks(ledger, clock=clock.now_ms)


@pytest.fixture
def receiver(clock: ManualClock) -> Iterator[Receiver]:
    found = Receiver(lambda: clock.now_ms() / 1000)  # the receiver's clock is the sender's
    found.start()
    yield found
    found.release.set()
    found.stop()


def _subscribe(hooks: Webhooks, receiver: Receiver, kinds: list[str] | None = None, actor: str = World.officer) -> str:
    made = hooks.create(actor, receiver.url, kinds or ALL)
    receiver.secret = made.secret
    return made.subscription.id


def _deliverer(ledger: Ledger, clock: ManualClock, **settings: Any) -> Deliverer:
    """A deliverer on the test's clock. Its HTTP timeout is long: a loaded machine's late answer
    is never taken for a slow endpoint (the test of one sets a short timeout for its pass)."""
    tuned = ledger.settings.with_(
        **{"webhook_timeout": 30.0, "webhook_backoff_base": 10.0, "webhook_backoff_cap": 40.0,
           "webhook_max_attempts": 8, "webhook_jitter": 0.2, **settings}
    )  # fmt: skip
    return Deliverer(ledger, clock=clock.now_ms, settings=tuned)


def _publish(ledger: Ledger, key: str, department: str = HEALTH) -> list[str]:
    with ledger.store.session() as session, session.begin():
        return publish(session, department, EventKind.REQUEST_DECIDED, key,
                       {"requestId": key, "department": department, "decision": "approved"})  # fmt: skip


def _deliveries(ledger: Ledger) -> list[WebhookDelivery]:
    with ledger.store.session() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at, WebhookDelivery.id)))


def _attempts(ledger: Ledger, delivery_id: str) -> list[WebhookAttempt]:
    with ledger.store.session() as session:
        return list(session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.number)
        ))  # fmt: skip


def _grant(ledger: Ledger, world: World, **extra: Any) -> str:
    args: dict[str, Any] = dict(
        resident=world.resident, department=world.department, categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + YEAR,
    )  # fmt: skip
    args.update(extra)
    grant_id, _tx = Consent(ledger).issue(**args)
    return grant_id


# -- signing and the reference receiver ------------------------------------------------------------


def test_signature_matches_the_standard_webhooks_known_answer() -> None:
    """The example of the Standard Webhooks specification (and Svix's libraries), byte for byte."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_reference_receiver_rejects_bad_signatures_wrong_secret_changed_body_and_stale_time() -> None:
    secret, other = "whsec_" + "A" * 43 + "=", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"data":{"grantId":"0x01"},"type":"grant.withdrawn"}'
    headers = signed_headers(secret, "msg_1", 1_700_000_000, body)
    verify_signature(secret, headers, body, now=1_700_000_100)  # good: no exception
    verify_signature(secret, {k.upper(): v for k, v in headers.items()}, body, now=1_700_000_000)  # any case

    def problem(**kw: Any) -> SignatureProblem:
        given = {"secret": secret, "headers": headers, "body": body, "now": 1_700_000_000, **kw}
        with pytest.raises(SignatureRejected) as caught:
            verify_signature(given["secret"], given["headers"], given["body"], now=given["now"])
        return caught.value.problem

    assert problem(secret=other) == SignatureProblem.BAD_SIGNATURE
    assert problem(body=body.replace(b"0x01", b"0x02")) == SignatureProblem.BAD_SIGNATURE
    assert problem(headers={**headers, "webhook-id": "msg_2"}) == SignatureProblem.BAD_SIGNATURE
    assert problem(headers={**headers, "webhook-timestamp": "1700000001"}) == SignatureProblem.BAD_SIGNATURE
    assert problem(headers={**headers, "webhook-signature": "v1,AAAA" + headers["webhook-signature"][7:]}) == (
        SignatureProblem.BAD_SIGNATURE
    )
    assert problem(headers={**headers, "webhook-signature": "v2," + headers["webhook-signature"][3:]}) == (
        SignatureProblem.NO_SIGNATURE
    )
    assert problem(now=1_700_000_301) == SignatureProblem.STALE  # older than the tolerance
    assert problem(now=1_699_999_699) == SignatureProblem.STALE  # from the future
    assert problem(headers={k: v for k, v in headers.items() if k != "webhook-signature"}) == (
        SignatureProblem.MISSING_HEADER
    )
    assert problem(headers={**headers, "webhook-timestamp": "soon"}) == SignatureProblem.BAD_TIMESTAMP
    assert problem(secret="not-a-secret") == SignatureProblem.BAD_SECRET
    # Several signatures (a secret being rotated): one matching is enough.
    rotated = {**headers, "webhook-signature": f"{sign(other, 'msg_1', 1_700_000_000, body)} {headers['webhook-signature']}"}
    verify_signature(secret, rotated, body, now=1_700_000_000)


# -- subscriptions: input and who may --------------------------------------------------------------


def test_endpoint_urls_and_kinds_are_checked(hooks: Webhooks) -> None:
    def refused(url: str) -> str:
        with pytest.raises(InputError) as caught:
            hooks.create(World.officer, url, ALL)
        assert caught.value.field == "url"
        return str(caught.value.params.get("problem", caught.value.code))

    assert refused("ftp://example.org/hook") == UrlProblem.SCHEME
    assert refused("https://user:secret@example.org/hook") == UrlProblem.CREDENTIALS
    assert refused("https:///hook") == UrlProblem.NO_HOST
    assert refused("https://example.org/hook#frag") == UrlProblem.FRAGMENT
    assert refused("https://example.org:99999/hook") == UrlProblem.BAD_PORT
    assert refused("https://example.org/a hook") == UrlProblem.SPACES
    assert refused("https://example.org/" + "a" * 2000) == UrlProblem.TOO_LONG
    assert refused("   ") == Invalid.REQUIRED
    with pytest.raises(InputError) as caught:
        hooks.create(World.officer, "https://example.org/hook", ["grant.deleted"])
    assert caught.value.code == Invalid.UNKNOWN_CHOICE and caught.value.field == "kinds"
    with pytest.raises(InputError) as caught:
        hooks.create(World.officer, "https://example.org/hook", [])
    assert caught.value.code == Invalid.REQUIRED
    made = hooks.create(World.officer, "  https://hooks.health.example/gl?x=1  ", ["grant.revoked", "grant.withdrawn"])
    assert made.subscription.url == "https://hooks.health.example/gl?x=1"
    assert made.subscription.kinds == (EventKind.GRANT_WITHDRAWN, EventKind.GRANT_REVOKED)
    assert made.secret.startswith("whsec_") and made.subscription.sealed
    with hooks.ledger.store.session() as session:  # the secret is not in the database
        row = session.get(WebhookSubscription, made.subscription.id)
        assert row is not None and made.secret not in repr(vars(row)) and made.secret[6:] not in repr(vars(row))


def test_only_a_departments_officers_manage_its_subscriptions_and_the_office_sees_its_departments(
    hooks: Webhooks, ledger: Ledger
) -> None:
    health = hooks.create(World.officer, "https://health.example/hook", ALL).subscription
    police = hooks.create(World.police_officer, "https://police.example/hook", ["grant.withdrawn"]).subscription
    assert health.department == HEALTH and police.department == POLICE
    for who in (World.admin, World.resident, World.members[0], World.grid_worker, World.stranger, World.suspended,
                World.revoked):  # fmt: skip
        with pytest.raises(Forbidden):
            hooks.create(who, "https://x.example/hook", ALL)
    # Each department sees its own; the office sees both; another office sees none.
    assert [s.id for s in hooks.subscriptions(World.officer)] == [health.id]
    assert [s.id for s in hooks.subscriptions(World.police_officer)] == [police.id]
    assert {s.id for s in hooks.subscriptions(World.admin)} == {health.id, police.id}
    assert hooks.subscriptions(World.other_admin) == []
    for who in (World.resident, World.members[0], World.stranger, World.suspended):
        with pytest.raises(Forbidden):
            hooks.subscriptions(who)
    with pytest.raises(NotFoundError):
        hooks.subscription(World.police_officer, health.id)
    with pytest.raises(NotFoundError):
        hooks.subscription(World.other_admin, health.id)
    # Removing: the department's own officer only; another department's id is not found.
    with pytest.raises(NotFoundError):
        hooks.remove(World.police_officer, health.id)
    with pytest.raises(Forbidden):
        hooks.remove(World.admin, health.id)
    removed = hooks.remove(World.officer, health.id)
    assert not removed.active and removed.sealed
    with pytest.raises(ConflictError):
        hooks.remove(World.officer, health.id)
    assert hooks.subscriptions(World.officer) == []
    assert [s.id for s in hooks.subscriptions(World.officer, include_removed=True)] == [health.id]
    # Deliveries follow the same lines.
    _publish(ledger, "req-1", POLICE)
    assert [d.kind for d in hooks.deliveries(World.police_officer)] == []  # police wants withdrawals only
    with ledger.store.session() as session, session.begin():
        publish(session, POLICE, EventKind.GRANT_WITHDRAWN, "0x" + "ab" * 32, {"grantId": "0x" + "ab" * 32})
    mine = hooks.deliveries(World.police_officer)
    assert len(mine) == 1 and hooks.deliveries(World.officer) == [] and hooks.deliveries(World.other_admin) == []
    assert [d.id for d in hooks.deliveries(World.admin)] == [mine[0].id]
    with pytest.raises(NotFoundError):
        hooks.delivery(World.officer, mine[0].id)
    with pytest.raises(NotFoundError):
        hooks.deliveries(World.officer, subscription_id=police.id)


def test_a_suspended_officer_loses_the_subscriptions_at_once(hooks: Webhooks, orgs: Any) -> None:
    hooks.create(World.officer, "https://health.example/hook", ALL)
    orgs.suspend(World.officer)
    with pytest.raises(Forbidden):
        hooks.subscriptions(World.officer)


# -- delivery --------------------------------------------------------------------------------------


def test_a_delivery_reaches_the_receiver_signed_with_its_id(
    hooks: Webhooks, ledger: Ledger, receiver: Receiver, clock: ManualClock
) -> None:
    _subscribe(hooks, receiver)
    (made,) = _publish(ledger, "req-42")
    assert _publish(ledger, "req-42") == []  # the same event again: one delivery
    done = _deliverer(ledger, clock).run_once()
    assert (done.delivered, done.retried, done.dead) == (1, 0, 0)
    (arrival,) = receiver.arrivals
    assert arrival.verified and arrival.id == made
    assert arrival.data == {"requestId": "req-42", "department": HEALTH, "decision": "approved"}
    (row,) = _deliveries(ledger)
    assert row.state == DeliveryState.DELIVERED and row.attempts == 1 and row.last_status == 204
    assert row.delivered_at == clock.now_ms()
    assert _deliverer(ledger, clock).run_once().delivered == 0  # nothing twice
    assert len(receiver.arrivals) == 1


def test_a_withdrawal_on_chain_is_one_delivery_even_when_indexed_twice(
    hooks: Webhooks, ledger: Ledger, receiver: Receiver, clock: ManualClock, world: World
) -> None:
    _subscribe(hooks, receiver, ["grant.withdrawn"])
    revoked_only = hooks.create(World.officer, "https://elsewhere.example/hook", ["grant.revoked"]).subscription
    hooks.create(World.police_officer, "https://police.example/hook", ALL)
    grant_id = _grant(ledger, world)
    Consent(ledger).withdraw(grant_id)  # mined and indexed: the delivery is in the same transaction
    (row,) = _deliveries(ledger)
    assert row.kind == EventKind.GRANT_WITHDRAWN and row.dedupe_key == f"grant.withdrawn:{grant_id}"
    assert row.subscription_id != revoked_only.id
    # Read again from before the withdrawal's block (as after a reorg): still one.
    with ledger.store.session() as session:
        event = session.scalars(select(ChainEvent).where(ChainEvent.event == "GrantWithdrawn")).one()
    before = ledger.w3.eth.get_block(event.block_number - 1)
    indexer = ledger.indexer()
    indexer.rewind(event.block_number - 1, to_hex(bytes(before["hash"])))
    assert indexer.run_once() >= 1
    with ledger.store.session() as session:
        assert len(session.scalars(select(ChainEvent).where(ChainEvent.event == "GrantWithdrawn")).all()) == 1
    assert [d.id for d in _deliveries(ledger)] == [row.id]
    _deliverer(ledger, clock).run_once()
    (arrival,) = receiver.arrivals
    assert arrival.verified and arrival.id == row.id
    data = arrival.data
    assert data["grantId"] == grant_id and data["department"] == HEALTH and data["status"] == "withdrawn"
    assert data["departmentCode"] == World.department and data["txHash"] == event.tx_hash
    assert data["blockNumber"] == event.block_number and data["time"] > 0
    assert set(data) == {"grantId", "department", "departmentCode", "status", "txHash", "blockNumber", "time"}


def test_a_revocation_goes_to_the_subscriptions_that_want_it(
    hooks: Webhooks, ledger: Ledger, receiver: Receiver, clock: ManualClock, world: World
) -> None:
    _subscribe(hooks, receiver, ["grant.revoked"])
    grant_id = _grant(ledger, world)
    Consent(ledger).revoke(grant_id, "the resident moved away", actor=world.admin)
    (row,) = _deliveries(ledger)
    assert row.kind == EventKind.GRANT_REVOKED
    _deliverer(ledger, clock).run_once()
    (arrival,) = receiver.arrivals
    assert arrival.data["status"] == "revoked" and arrival.data["grantId"] == grant_id


def test_an_expiry_is_found_from_the_chains_clock_and_enqueued_once(
    hooks: Webhooks, ledger: Ledger, receiver: Receiver, clock: ManualClock, world: World
) -> None:
    _subscribe(hooks, receiver, ["grant.expired"])
    now = ledger.w3.eth.get_block("latest")["timestamp"]
    grant_id = _grant(ledger, world, valid_from=now - 10, valid_until=now + 30)
    assert enqueue_expiries(ledger) == 0  # not yet
    ledger.w3.provider.make_request("evm_increaseTime", [60])  # type: ignore[arg-type]
    ledger.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    ledger.view.forget()
    assert enqueue_expiries(ledger) == 1
    assert enqueue_expiries(ledger) == 0
    with ledger.store.session() as session, session.begin():  # even looked at again from before it
        session.merge(Meta(key=EXPIRY_CURSOR, value=str(now - 100)))
    assert enqueue_expiries(ledger) == 0
    (row,) = _deliveries(ledger)
    assert row.kind == EventKind.GRANT_EXPIRED
    assert _deliverer(ledger, clock).run_once().delivered == 1
    (arrival,) = receiver.arrivals
    assert arrival.data["grantId"] == grant_id and arrival.data["status"] == "expired"
    assert arrival.data["time"] == now + 30 and arrival.data["txHash"] is None


def test_receiver_down_slow_and_failing_then_up_loses_nothing_and_keeps_each_id(
    hooks: Webhooks, ledger: Ledger, receiver: Receiver, clock: ManualClock, world: World
) -> None:
    """The receiver refuses connections for two passes, answers too slowly for one, answers 500
    for one, then is up: every event arrives, under one id, after retries spaced by the backoff."""
    _subscribe(hooks, receiver)
    made = [*_publish(ledger, "req-1"), *_publish(ledger, "req-2")]
    grant_id = _grant(ledger, world)
    Consent(ledger).withdraw(grant_id)
    made += [d.id for d in _deliveries(ledger) if d.kind == EventKind.GRANT_WITHDRAWN]
    assert len(made) == 3
    # The slow endpoint holds its answer until the pass is over, so any timeout runs out on it: a
    # short one. Every other pass waits long enough that a loaded machine's answer (the 500 as much
    # as the 204) is never taken for a slow endpoint (with 2 s, a 500 answered late under load
    # was once recorded as a timeout).
    deliverer = _deliverer(ledger, clock)
    patient, hasty = deliverer.settings, deliverer.settings.with_(webhook_timeout=0.5)
    phases = ["down", "down", "slow", "fail", "ok", "ok", "ok", "ok"]
    passes = 0
    seen: list[tuple[str, PassResult]] = []  # each pass's phase and result, for the messages below
    receiver.stop()
    for phase in phases:
        if phase == "down":
            receiver.stop()
        elif receiver._server is None:
            receiver.start()  # the same port again
        receiver.mode = "ok" if phase == "down" else phase
        receiver.release.clear()
        deliverer.settings = hasty if phase == "slow" else patient
        seen.append((phase, deliverer.run_once()))
        receiver.release.set()  # the slow answer comes now, after the sender gave up on it
        passes += 1
        pending = [d for d in _deliveries(ledger) if d.state == DeliveryState.PENDING]
        if not pending:
            break
        clock.advance(max(0, min(d.next_attempt_at for d in pending) - clock.now_ms()) / 1000)
    rows = {d.id: d for d in _deliveries(ledger)}
    assert all(rows[i].state == DeliveryState.DELIVERED for i in made), {i: rows[i].state for i in made}
    # Nothing lost, nothing accepted twice, and never one event under two ids.
    assert sorted(a.id for a in receiver.accepted) == sorted(made)
    ids_per_event: dict[bytes, set[str]] = {}
    for a in receiver.arrivals:
        assert a.verified, a.problem
        ids_per_event.setdefault(a.body, set()).add(a.id)
    assert all(len(ids) == 1 for ids in ids_per_event.values()) and len(ids_per_event) == 3
    # Retries spaced by the backoff: attempt n+1 no sooner than (1 - jitter) × base × 2^(n-1).
    s = deliverer.settings
    errors: list[str | None] = []
    attempts_total = 0
    for delivery_id in made:
        tried = _attempts(ledger, delivery_id)
        attempts_total += len(tried)
        errors += [a.error for a in tried]
        assert tried[-1].error is None and tried[-1].status == 204
        for n, (first, second) in enumerate(zip(tried, tried[1:]), start=1):
            delay = min(s.webhook_backoff_cap, s.webhook_backoff_base * 2 ** (n - 1))
            assert second.at - first.at >= (1 - s.webhook_jitter) * delay * 1000, (delivery_id, n)
    first_tried = _attempts(ledger, made[0])
    assert first_tried[1].at - first_tried[0].at <= s.webhook_backoff_base * 1000  # the first retry: base at most
    tried_by_kind = {rows[i].kind: [(a.error, a.status) for a in _attempts(ledger, i)] for i in made}
    assert {AttemptError.CONNECTION_REFUSED, AttemptError.TIMEOUT, AttemptError.HTTP_STATUS} <= set(errors), (
        tried_by_kind, seen)
    dead = sum(1 for d in rows.values() if d.state == DeliveryState.DEAD)
    figures = {"deliveries": len(made), "attempts": attempts_total, "retries": attempts_total - len(made),
               "dead letters": dead, "passes": passes, "requests received": len(receiver.arrivals)}  # fmt: skip
    print(f"\nwebhook figures (receiver down, slow, 500, then up): {figures}")
    assert figures["deliveries"] == 3 and figures["dead letters"] == 0
    # Down twice and slow once: one try each (the endpoint's other deliveries wait for the next
    # pass); then the 500 answers the one delivery due again by then.
    assert figures["retries"] == 4, (tried_by_kind, seen)
    assert figures["requests received"] == 3 + 1 + 1  # the three delivered, the slow one, the one answered 500


def test_dead_letters_after_the_last_attempt_and_the_office_sends_them_again_with_the_same_id(
    hooks: Webhooks, ledger: Ledger, receiver: Receiver, clock: ManualClock
) -> None:
    _subscribe(hooks, receiver)
    (made,) = _publish(ledger, "req-dead")
    receiver.mode = "fail"
    deliverer = _deliverer(ledger, clock, webhook_max_attempts=4)
    for _ in range(4):
        deliverer.run_once()
        clock.advance(100)
    (row,) = _deliveries(ledger)
    assert row.state == DeliveryState.DEAD and row.attempts == 4 and row.last_status == 500
    assert row.last_error == AttemptError.HTTP_STATUS and row.dead_at is not None
    assert deliverer.run_once().dead == 0 and len(receiver.arrivals) == 4  # a dead letter is not sent again by itself
    (letter,) = hooks.deliveries(World.admin, state="dead", attempts=True)
    assert letter.id == made and [a.status for a in letter.tried] == [500] * 4
    # Only the office's admin sends it again.
    for who in (World.officer, World.police_officer, World.resident):
        with pytest.raises((Forbidden, NotFoundError)):
            hooks.replay(who, made)
    with pytest.raises(NotFoundError):
        hooks.replay(World.other_admin, made)
    again = hooks.replay(World.admin, made)
    assert again.state == DeliveryState.PENDING and again.attempts == 0 and again.replays == 1
    with pytest.raises(ConflictError):
        hooks.replay(World.admin, made)  # not dead any more
    receiver.mode = "ok"
    assert deliverer.run_once().delivered == 1
    assert [a.id for a in receiver.arrivals] == [made] * 5 and [a.id for a in receiver.accepted] == [made]
    assert len(_attempts(ledger, made)) == 5


def test_nothing_is_sent_to_a_subscription_edited_in_the_database(
    hooks: Webhooks, ledger: Ledger, receiver: Receiver, clock: ManualClock
) -> None:
    from ledger.verify import Problem, verify

    subscription = _subscribe(hooks, receiver)
    _publish(ledger, "req-x")
    assert verify(ledger, ("seals",)).ok
    with ledger.store.session() as session, session.begin():
        session.execute(update(WebhookSubscription).where(WebhookSubscription.id == subscription)
                        .values(url=receiver.url.replace("/hooks/", "/elsewhere/")))  # fmt: skip
    checked = verify(ledger, ("seals",))  # the integrity check finds it too
    assert [(f.code, f.subject) for f in checked.findings] == [
        (Problem.ROW_UNSEALED, f"webhook_subscriptions {subscription}")
    ]
    assert _deliverer(ledger, clock).run_once().dead == 1
    assert receiver.arrivals == []
    (row,) = _deliveries(ledger)
    assert row.state == DeliveryState.DEAD and row.last_error == AttemptError.ALTERED
    assert not hooks.subscription(World.officer, subscription).sealed
    with pytest.raises(ConflictError):
        hooks.replay(World.admin, row.id)


def test_a_grant_event_the_chain_does_not_confirm_is_not_sent(
    hooks: Webhooks, ledger: Ledger, receiver: Receiver, clock: ManualClock, world: World
) -> None:
    """A withdrawal enqueued for a grant the chain says is active (a forged row) waits, unsent."""
    _subscribe(hooks, receiver)
    grant_id = _grant(ledger, world)
    with ledger.store.session() as session, session.begin():
        publish(session, HEALTH, EventKind.GRANT_WITHDRAWN, grant_id, {"grantId": grant_id, "status": "withdrawn"})
    done = _deliverer(ledger, clock).run_once()
    assert done.retried == 1 and receiver.arrivals == []
    (row,) = _deliveries(ledger)
    assert row.state == DeliveryState.PENDING and row.last_error == AttemptError.CHAIN_MISMATCH


def test_removing_a_subscription_cancels_what_it_had_not_received(
    hooks: Webhooks, ledger: Ledger, receiver: Receiver, clock: ManualClock
) -> None:
    subscription = _subscribe(hooks, receiver)
    _publish(ledger, "req-a")
    hooks.remove(World.officer, subscription)
    assert _publish(ledger, "req-b") == []  # a removed subscription gets nothing new
    assert _deliverer(ledger, clock).run_once().delivered == 0
    (row,) = _deliveries(ledger)
    assert row.state == DeliveryState.CANCELLED and receiver.arrivals == []


def test_two_deliverers_never_send_the_same_delivery_at_once(
    hooks: Webhooks, ledger: Ledger, receiver: Receiver, clock: ManualClock
) -> None:
    _subscribe(hooks, receiver)
    (made,) = _publish(ledger, "req-race")
    first, second = _deliverer(ledger, clock), _deliverer(ledger, clock)
    first.holder, second.holder = "worker-a", "worker-b"
    assert first._claim(made)  # worker a is sending it ...
    assert not second._claim(made)
    assert second.run_once().delivered == 0 and receiver.arrivals == []  # ... so b leaves it alone
    # a stalls past its claim: b takes the row over and delivers it; a's late outcome is not written.
    clock.advance(first.claim_ms / 1000 + 1)
    assert second.run_once().delivered == 1
    (row,) = _deliveries(ledger)
    assert not first._finish(row, None, state=DeliveryState.DEAD)
    (row,) = _deliveries(ledger)
    assert row.state == DeliveryState.DELIVERED and [a.id for a in receiver.arrivals] == [made]


def test_publish_takes_ids_and_codes_only(ledger: Ledger) -> None:
    with ledger.store.session() as session:
        with pytest.raises(InputError):
            publish(session, HEALTH, EventKind.REQUEST_DECIDED, "r", {"content": {"blood_type": "O"}})
        with pytest.raises(InputError):
            publish(session, HEALTH, EventKind.REQUEST_DECIDED, "r", {"reason": "x" * 500})
        with pytest.raises(InputError):
            publish(session, HEALTH, "request.lost", "r", {})
        with pytest.raises(InputError):
            publish(session, "dept-a-health", EventKind.REQUEST_DECIDED, "r", {})


# -- the command line ------------------------------------------------------------------------------


@pytest.fixture
def run(settings: Any, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``gridledger`` in-process against the test's database (as in tests/ledger/test_cli.py)."""
    from click.testing import CliRunner

    from ledger.cli import main

    monkeypatch.setenv("GRIDLEDGER_VAR", str(settings.var_dir))
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("GRIDLEDGER_NODE_PORT", str(settings.node_port))
    monkeypatch.setenv("GRIDLEDGER_KEY_PASSWORD", "test-password")
    monkeypatch.setenv("GRIDLEDGER_BLOCK_TIME", "0.2")
    monkeypatch.setenv("GRIDLEDGER_WEBHOOK_MAX_ATTEMPTS", "1")  # the first failure is a dead letter
    monkeypatch.setenv("GRIDLEDGER_WEBHOOK_TIMEOUT", "0.5")
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def test_the_command_line_adds_lists_delivers_shows_dead_letters_replays_and_removes(
    run: Any, ledger: Ledger
) -> None:
    receiver = Receiver(time.time).start()  # the command line signs with the real clock
    try:
        added = run("webhooks", "add", "--as", World.officer, "--url", receiver.url, "--kinds",
                    "request.decided,grant.withdrawn")  # fmt: skip
        assert added.exit_code == 0, added.output
        secret = added.output.strip().splitlines()[-1]
        assert secret.startswith("whsec_")
        receiver.secret = secret
        (subscription,) = Webhooks(ledger).subscriptions(World.officer)
        listed = run("webhooks", "list", "--as", World.admin)
        assert listed.exit_code == 0 and subscription.id in listed.output
        assert run("webhooks", "list", "--as", World.resident).exit_code == 1  # Forbidden, in one line
        (first,) = _publish(ledger, "req-cli-1")
        receiver.mode = "fail"
        delivered = run("webhooks", "deliver")
        assert delivered.exit_code == 0 and "0 delivered" in delivered.output and "1 dead" in delivered.output
        dead = run("webhooks", "dead", "--as", World.admin)
        assert dead.exit_code == 1 and first in dead.output  # a schedule can alert on it
        assert run("webhooks", "replay", first, "--as", World.officer).exit_code == 1
        assert run("webhooks", "replay", first, "--as", World.admin).exit_code == 0
        receiver.mode = "ok"
        assert "1 delivered" in run("webhooks", "deliver").output
        assert run("webhooks", "dead", "--as", World.admin).exit_code == 0
        shown = run("webhooks", "deliveries", "--as", World.officer, "--subscription", subscription.id)
        assert shown.exit_code == 0 and first in shown.output and "delivered" in shown.output
        assert [a.id for a in receiver.accepted] == [first]
        assert run("webhooks", "remove", subscription.id, "--as", World.officer).exit_code == 0
        assert subscription.id not in run("webhooks", "list", "--as", World.officer).output
    finally:
        receiver.stop()


# -- on PostgreSQL too ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_outbox_keeps_one_delivery_per_event_and_delivers_it_on_each_database(
    kind: str, world: World, session_settings: Any, tmp_path: Any, clock: ManualClock
) -> None:
    """The dedupe insert (ON CONFLICT DO NOTHING), the claims and the fence, on SQLite and PostgreSQL."""
    world.revert()
    with world_copy(kind, world.db_path, tmp_path) as url:
        ledger = Ledger.open(session_settings.with_(database_url=url))
        receiver = Receiver(lambda: clock.now_ms() / 1000).start()
        try:
            hooks = Webhooks(ledger, clock=clock.now_ms)
            _subscribe(hooks, receiver)
            grant_id = _grant(ledger, world)
            Consent(ledger).withdraw(grant_id)
            with ledger.store.session() as session:
                event = session.scalars(select(ChainEvent).where(ChainEvent.event == "GrantWithdrawn")).one()
            before = ledger.w3.eth.get_block(event.block_number - 1)
            ledger.indexer().rewind(event.block_number - 1, to_hex(bytes(before["hash"])))
            ledger.indexer().run_once()
            assert _publish(ledger, "req-pg") and _publish(ledger, "req-pg") == []
            assert len(_deliveries(ledger)) == 2
            first, second = _deliverer(ledger, clock), _deliverer(ledger, clock)
            (row, _other) = _deliveries(ledger)
            assert first._claim(row.id) and not second._claim(row.id)
            clock.advance(first.claim_ms / 1000 + 1)
            assert second.run_once().delivered == 2
            assert not first._finish(row, None, state=DeliveryState.DEAD)
            assert {d.state for d in _deliveries(ledger)} == {DeliveryState.DELIVERED}
            assert sorted(a.id for a in receiver.accepted) == sorted(d.id for d in _deliveries(ledger))
        finally:
            receiver.stop()
            ledger.close()
            world.revert()


# -- consent requests answered (ledger.requests) ---------------------------------------------------


def test_a_consent_request_answered_is_delivered_once_with_ids_and_codes_only(
    hooks: Webhooks, ledger: Ledger, receiver: Receiver, clock: ManualClock, world: World
) -> None:
    from ledger.requests import ConsentRequests

    _subscribe(hooks, receiver, ["request.decided"])
    requests = ConsentRequests(ledger, now=clock.now_ms)
    ask = dict(categories=[Category.HEALTH], purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT,
               valid_until=int(time.time()) + YEAR)  # fmt: skip
    approved = requests.ask(world.officer, world.resident, reason="慢病随访", **ask)
    declined = requests.ask(world.officer, world.resident, reason="健康档案核对", **ask)
    waiting = requests.ask(world.officer, world.resident, reason="还在等", **ask)
    grant_id = requests.approve(approved, world.resident)
    requests.decline(declined, world.resident, reason="我已在别处随访 (the resident's own words)")
    rows = _deliveries(ledger)
    assert [r.kind for r in rows] == [EventKind.REQUEST_DECIDED] * 2  # the waiting one is no event
    assert _deliverer(ledger, clock).run_once().delivered == 2
    got = {a.data["requestId"]: a.data for a in receiver.arrivals}
    assert set(got) == {approved, declined} and waiting not in got
    assert got[approved]["status"] == "approved" and got[approved]["grantId"] == grant_id
    assert got[declined]["status"] == "declined" and got[declined]["grantId"] is None
    for data in got.values():  # ids and codes: never the department's reason or the resident's words
        assert data["department"] == to_hex(org_id(world.department)) and data["departmentCode"] == world.department
        assert not any(isinstance(v, str) and ("随访" in v or "own words" in v) for v in data.values())
