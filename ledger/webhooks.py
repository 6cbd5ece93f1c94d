"""Signed webhooks for department systems: subscriptions, a durable outbox of deliveries, and
the deliverer that sends them.

The invariant: **an event enqueued is delivered or lands in the dead letters, never lost, and
every attempt at it carries the same id.** How:

* Deliveries are rows of ``webhook_deliveries``, written in the same database transaction as
  the change they tell of: the indexer's rows for a withdrawal or a revocation on chain
  (:func:`enqueue_chain_events`), the caller's own rows for anything else (:func:`publish`).
  Each names its event by a dedupe key (``grant.withdrawn:0x…``) unique per subscription, so
  the same event enqueued twice (re-read after a reorg, a worker restarted) is one row.
* A delivery's ``id`` is its idempotency id, sent as ``webhook-id`` on every attempt and on a
  replay; the body is fixed when it is enqueued. Receivers drop an id they have seen.
* The deliverer (:class:`Deliverer`, in the worker) takes a due row by a conditional update
  that claims it until a deadline well past the HTTP timeout (a per-row lease, in the manner
  of :mod:`ledger.lease`); the outcome is written only while the claim is still its own (the
  fence). Two workers never send the same row at once; a worker killed mid-send leaves a claim
  that expires, and the row is sent again, with the same id.
* 2xx is delivered; anything else is retried after an exponential backoff (base, cap, jitter,
  :class:`ledger.settings.Settings`), and after the last attempt the row is dead: the office
  sees it and may send it again (:meth:`Webhooks.replay`, same id, attempts reset).

Signatures follow the Standard Webhooks specification (as Svix sends them): ``webhook-id``,
``webhook-timestamp`` (unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256(secret,
"{id}.{timestamp}.{body}")>``; :func:`verify_signature` is the reference receiver's check.
The secret is never stored: it is derived from the keystore password and a random salt of the
subscription (:func:`secret_of`), and shown once, to the officer who made it.

Who may do what is the chain's to say (``ledger.view``): an active department officer makes,
lists and removes their own department's subscriptions and sees its deliveries; an active
office admin sees those of the office's departments and replays their dead letters. Payloads
carry ids and codes only, never content or personal data. Before a grant's event is sent,
the chain confirms it (the grant is that department's, and withdrawn, revoked or expired):
the indexed row it came from is not trusted for where it goes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import random
import secrets
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, Table, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session
from web3 import Web3

from . import formats
from .chain import rpc
from .chainview import ChainStatus
from .errors import (
    ConfigurationError,
    ConflictError,
    Forbidden,
    InputError,
    Invalid,
    NodeError,
    NotFoundError,
    SignatureProblem,
    SignatureRejected,
)
from .store.models import ChainGrant, Meta, OrgProfile, WebhookAttempt, WebhookDelivery, WebhookSubscription

if TYPE_CHECKING:  # no import cycle at run time
    from .context import Ledger
    from .projections import Event
    from .settings import Settings


class EventKind(StrEnum):
    """What a department system can subscribe to. A format (docs/formats.md): never respell."""

    GRANT_WITHDRAWN = "grant.withdrawn"  # the resident withdrew a grant to the department
    GRANT_REVOKED = "grant.revoked"  # the office revoked it
    GRANT_EXPIRED = "grant.expired"  # its validUntil passed, by the chain's clock
    REQUEST_DECIDED = "request.decided"  # a consent request of the department was answered


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"  # an attempt was answered 2xx
    DEAD = "dead"  # the last attempt failed: in the dead letters until replayed
    CANCELLED = "cancelled"  # its subscription was removed before it was delivered


class AttemptError(StrEnum):
    """Why an attempt failed (``last_error``, an attempt's ``error``). Never respell."""

    CONNECTION_REFUSED = "connection-refused"  # nothing listens at the endpoint
    TIMEOUT = "timeout"  # no answer within the timeout
    UNREACHABLE = "unreachable"  # the host cannot be found or reached, or the connection broke
    TLS = "tls"  # the endpoint's certificate or TLS failed
    HTTP_STATUS = "http-status"  # it answered, but not 2xx (the status is kept)
    CHAIN_MISMATCH = "chain-mismatch"  # the chain does not (yet) confirm the event for this department: not sent
    ALTERED = "altered"  # the subscription's row lacks its valid seal (edited in the database): never sent


class UrlProblem(StrEnum):
    """Why an endpoint URL was refused (``params["problem"]`` of :data:`Invalid.BAD_URL`)."""

    SCHEME = "scheme"  # not http:// or https://
    NO_HOST = "no-host"
    CREDENTIALS = "credentials"  # user:password@ in the URL
    FRAGMENT = "fragment"  # a #fragment is never sent
    BAD_PORT = "bad-port"
    SPACES = "spaces"  # white space or control characters
    TOO_LONG = "too-long"  # params: max


SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE = "webhook-id", "webhook-timestamp", "webhook-signature"
DEFAULT_TOLERANCE = 300  # seconds a receiver accepts a timestamp away from its own clock
MAX_URL = 2_000
MAX_VALUE = 200  # characters of a payload's string value
USER_AGENT = "gridledger-webhooks/1"
EXPIRY_CURSOR = "webhooks.expired-until"  # meta: the chain time up to which expiries are enqueued
EXPIRY_EVERY = 10.0  # seconds between the worker's looks for expired grants
PASS_LIMIT = 100  # deliveries one pass sends at most
_SECRET_FORMAT = b"gridledger-webhook-secret/1"
SEAL_KIND = "webhook_subscriptions"  # the seal of a subscription row (ledger.seal)

_DELIVERIES = cast(Table, WebhookDelivery.__table__)
_d = _DELIVERIES.c
_GRANT_EVENTS = {
    ("ConsentRegistry", "GrantWithdrawn"): EventKind.GRANT_WITHDRAWN,
    ("ConsentRegistry", "GrantRevoked"): EventKind.GRANT_REVOKED,
}
_CHAIN_STATUS = {
    EventKind.GRANT_WITHDRAWN: ChainStatus.WITHDRAWN,
    EventKind.GRANT_REVOKED: ChainStatus.REVOKED,
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- signing and verifying (the Standard Webhooks scheme) ----------------------------------------


def secret_of(password: str, subscription_id: str, salt: str) -> str:
    """The subscription's signing secret, ``whsec_`` and base64 of 32 bytes: HMAC-SHA256 under a
    key derived from the keystore password (never in the database) over its id and salt."""
    key = hmac.new(password.encode("utf-8"), _SECRET_FORMAT, hashlib.sha256).digest()
    raw = hmac.new(key, f"{subscription_id}:{salt}".encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise SignatureRejected(SignatureProblem.BAD_SECRET, "a webhook secret starts with 'whsec_'")
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise SignatureRejected(
            SignatureProblem.BAD_SECRET, "the webhook secret is not base64 after 'whsec_'"
        ) from None


def _as_text(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def sign(secret: str, message_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``webhook-signature`` header value: ``v1,`` and base64 of HMAC-SHA256(secret,
    ``{id}.{timestamp}.{body}``)."""
    signed = f"{message_id}.{int(timestamp)}.".encode() + _as_text(body)
    return f"{SIGNATURE_VERSION}," + base64.b64encode(hmac.digest(_key(secret), signed, "sha256")).decode("ascii")


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes | str) -> dict[str, str]:
    """The three headers of a webhook sent at ``timestamp`` (unix seconds)."""
    return {
        HEADER_ID: message_id,
        HEADER_TIMESTAMP: str(int(timestamp)),
        HEADER_SIGNATURE: sign(secret, message_id, timestamp, body),
    }


def verify_signature(
    secret: str, headers: Mapping[str, str], body: bytes | str, *, now: float, tolerance: int = DEFAULT_TOLERANCE
) -> None:
    """The reference receiver's check: returns nothing, raises :class:`SignatureRejected` for
    a missing header, a timestamp more than ``tolerance`` seconds from ``now`` (unix seconds),
    or no ``v1`` signature matching (a wrong secret, a changed body, id or timestamp). The
    signatures are compared in constant time. ``body`` is the raw body, exactly as received."""
    found = {str(k).lower(): str(v) for k, v in headers.items()}
    for name in (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE):
        if not found.get(name, "").strip():
            raise SignatureRejected(SignatureProblem.MISSING_HEADER, f"no {name} header", params={"header": name})
    stamp = found[HEADER_TIMESTAMP].strip()
    if not stamp.isdigit():
        raise SignatureRejected(
            SignatureProblem.BAD_TIMESTAMP, f"{HEADER_TIMESTAMP} must be unix seconds; got {stamp!r}"
        )
    if abs(now - int(stamp)) > tolerance:
        raise SignatureRejected(
            SignatureProblem.STALE,
            f"the timestamp {stamp} is more than {tolerance} s from now ({int(now)}): too old or too new",
            params={"timestamp": int(stamp), "now": int(now), "tolerance": tolerance},
        )
    expected = sign(secret, found[HEADER_ID].strip(), int(stamp), body).encode("ascii")
    offered = [s for s in found[HEADER_SIGNATURE].split() if s.startswith(f"{SIGNATURE_VERSION},")]
    if not offered:
        raise SignatureRejected(
            SignatureProblem.NO_SIGNATURE, f"no {SIGNATURE_VERSION} signature in {HEADER_SIGNATURE}"
        )
    matched = False
    for candidate in offered:  # every one compared: the time taken does not tell which matched
        matched |= hmac.compare_digest(candidate.encode("ascii", "replace"), expected)
    if not matched:
        raise SignatureRejected(
            SignatureProblem.BAD_SIGNATURE, "the signature does not match this body with this secret"
        )


# -- validation ----------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """An endpoint URL, stripped: http or https, a host, no credentials, no fragment."""
    text = (url or "").strip()
    if not text:
        raise InputError("give the endpoint's URL", code=Invalid.REQUIRED, field="url")

    def bad(problem: UrlProblem, message: str, **params: Any) -> InputError:
        return InputError(message, code=Invalid.BAD_URL, field="url", params={"problem": str(problem), **params})

    if len(text) > MAX_URL:
        raise bad(UrlProblem.TOO_LONG, f"at most {MAX_URL} characters", max=MAX_URL)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise bad(UrlProblem.SPACES, "a URL has no spaces or control characters")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise bad(UrlProblem.SCHEME, f"the URL must start with https:// or http://; got {parts.scheme or 'none'!r}")
    if "@" in parts.netloc:
        raise bad(UrlProblem.CREDENTIALS, "no user name or password in the URL: the signature authenticates us")
    if not parts.hostname:
        raise bad(UrlProblem.NO_HOST, "the URL names no host")
    if parts.fragment or text.endswith("#"):
        raise bad(UrlProblem.FRAGMENT, "a #fragment is never sent; leave it out")
    try:
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError:
        raise bad(UrlProblem.BAD_PORT, "the port must be a number from 1 to 65535") from None
    return text


def parse_kinds(kinds: Iterable[str]) -> tuple[EventKind, ...]:
    """Event kinds, each once, in the vocabulary's order; at least one."""
    chosen: set[EventKind] = set()
    for kind in kinds:
        text = str(kind).strip()
        if not text:
            continue
        try:
            chosen.add(EventKind(text))
        except ValueError:
            choices = [str(k) for k in EventKind]
            raise InputError(
                f"unknown event kind {text!r}; expected one of: {', '.join(choices)}",
                code=Invalid.UNKNOWN_CHOICE,
                field="kinds",
                params={"value": text, "choices": choices},
            ) from None
    if not chosen:
        raise InputError("choose at least one kind of event", code=Invalid.REQUIRED, field="kinds")
    return tuple(k for k in EventKind if k in chosen)


def _check_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Ids and codes only: a flat object of short strings, whole numbers, booleans and nulls."""
    checked: dict[str, Any] = {}
    for name, value in payload.items():
        if not isinstance(name, str) or not name or len(name) > 64:
            raise InputError(f"payload field names are short strings; got {name!r}", code=Invalid.INVALID,
                             field="payload", params={"problem": "name"})  # fmt: skip
        if value is not None and not isinstance(value, (str, int, bool)):
            raise InputError(
                f"payload field {name} must be an id or a code (string, whole number, boolean or null)",
                code=Invalid.INVALID, field=f"payload.{name}", params={"problem": "type"},
            )  # fmt: skip
        if isinstance(value, str) and len(value) > MAX_VALUE:
            raise InputError(f"payload field {name} is longer than an id ({MAX_VALUE} characters)",
                             code=Invalid.TOO_LONG, field=f"payload.{name}", params={"max": MAX_VALUE})  # fmt: skip
        checked[name] = value
    return checked


def _department_id(department: str) -> str:
    return formats.parse_id(department, field="department", what="department id")


# -- the outbox: enqueuing -----------------------------------------------------------------------


def _iso(moment_ms: int) -> str:
    return datetime.fromtimestamp(moment_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def body_of(kind: EventKind, at_ms: int, data: Mapping[str, Any]) -> bytes:
    """A webhook's body: canonical JSON ``{"type", "timestamp", "data"}`` (docs/formats.md)."""
    return formats.canonical_json({"type": str(kind), "timestamp": _iso(at_ms), "data": dict(data)})


def _insert_ignoring_duplicates(session: Session, row: dict[str, Any]) -> bool:
    """Inserts a delivery unless its (subscription, dedupe key) is there already; True if it was new."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = (
            pg_insert(_DELIVERIES).values(row).on_conflict_do_nothing(index_elements=["subscription_id", "dedupe_key"])
        )
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = (
            sqlite_insert(_DELIVERIES)
            .values(row)
            .on_conflict_do_nothing(index_elements=["subscription_id", "dedupe_key"])
        )
    else:  # pragma: no cover - the two supported databases are above
        exists = session.scalar(select(_d.id).where(
            _d.subscription_id == row["subscription_id"], _d.dedupe_key == row["dedupe_key"]
        ))  # fmt: skip
        if exists is not None:
            return False
        statement = insert(_DELIVERIES).values(row)
    if dialect == "postgresql":  # psycopg's rowcount of an insert that may do nothing is not to be relied on
        return session.execute(statement.returning(_d.id)).first() is not None
    return (cast(CursorResult[Any], session.execute(statement)).rowcount or 0) == 1  # SQLite before 3.35 too


def publish(
    session: Session,
    department: str,
    kind: EventKind | str,
    key: str,
    payload: Mapping[str, Any],
    *,
    at_ms: int | None = None,
) -> list[str]:
    """Enqueues event ``kind`` named ``key`` (a request id, a grant id) for every active
    subscription of ``department`` (its org id) that wants it, in the caller's transaction:
    call it inside the transaction that makes the change, so both commit or neither. The same
    (kind, key) enqueued again is ignored. ``payload`` holds ids and codes only. Returns the
    ids of the deliveries made now."""
    chosen = parse_kinds([str(kind)])[0]
    dept = _department_id(department)
    if not str(key).strip() or len(str(key)) > 150:
        raise InputError("an event key is a short id", code=Invalid.INVALID, field="key", params={"problem": "key"})
    data = _check_payload(payload)
    moment = now_ms() if at_ms is None else int(at_ms)
    body = body_of(chosen, moment, data).decode("utf-8")
    created = now_ms()
    made: list[str] = []
    subscriptions = session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.department == dept, WebhookSubscription.active.is_(True))
    ).all()
    for subscription in subscriptions:
        if str(chosen) not in subscription.kinds.split(","):
            continue
        delivery_id = "msg_" + secrets.token_hex(16)
        row = {
            "id": delivery_id, "subscription_id": subscription.id, "department": dept, "kind": str(chosen),
            "dedupe_key": f"{chosen}:{key}", "payload": body, "state": str(DeliveryState.PENDING), "attempts": 0,
            "next_attempt_at": 0, "created_at": created, "replays": 0,
        }  # fmt: skip  # next_attempt_at 0: due at once, whatever the deliverer's clock
        if _insert_ignoring_duplicates(session, row):
            made.append(delivery_id)
    return made


def grant_payload(
    grant_id: str, department: str, status: str, tx_hash: str | None, block_number: int | None, time_s: int
) -> dict[str, Any]:
    """The data of a grant's event: ids and codes, never the grant's terms or its resident."""
    return {"grantId": grant_id, "department": department, "departmentCode": None, "status": status,
            "txHash": tx_hash, "blockNumber": block_number, "time": int(time_s)}  # fmt: skip


def _with_code(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    profile = session.get(OrgProfile, payload["department"])
    return {**payload, "departmentCode": profile.code if profile is not None else None}


def block_times(w3: Web3, events: Iterable[Event]) -> dict[int, int]:
    """Timestamps of the blocks holding grant events (read before the indexer's transaction)."""
    wanted = sorted({e.block_number for e in events if (e.contract, e.name) in _GRANT_EVENTS})
    return {n: int(rpc(w3, "eth_getBlockByNumber", [hex(n), False])["timestamp"], 16) for n in wanted}


def enqueue_chain_events(session: Session, events: Iterable[Event], times: Mapping[int, int]) -> int:
    """The indexer's hook, inside its window's transaction (after the projections): a
    withdrawal or revocation on chain, for each subscription of the grant's department that
    wants it. Returns deliveries made."""
    made = 0
    for event in events:
        kind = _GRANT_EVENTS.get((event.contract, event.name))
        if kind is None:
            continue
        grant_id = str(event.args["grantId"]).lower()
        grant = session.get(ChainGrant, grant_id)  # projected from the chain; the deliverer confirms it
        if grant is None:
            continue
        stamp = times.get(event.block_number, 0)
        payload = _with_code(session, grant_payload(
            grant_id, grant.department, str(_CHAIN_STATUS[kind]), event.tx_hash, event.block_number, stamp
        ))  # fmt: skip
        made += len(publish(session, grant.department, kind, grant_id, payload, at_ms=stamp * 1000))
    return made


def enqueue_expiries(ledger: Ledger, *, chain_time: int | None = None) -> int:
    """Grants whose ``validUntil`` passed (by the chain's clock) since the last look, for each
    subscription of their department that wants expiries: each once. The first look starts
    from the oldest active subscription's creation. Returns deliveries made."""
    if chain_time is None:
        chain_time = ledger.view.head()[1]
    head_block = ledger.view.head()[0]
    made = 0
    with ledger.store.session() as session, session.begin():
        cursor = session.get(Meta, EXPIRY_CURSOR)
        if cursor is None:
            return 0  # nobody ever subscribed (the first subscription starts the cursor)
        since = int(cursor.value)
        if chain_time <= since:
            return 0
        expired = session.scalars(
            select(ChainGrant).where(
                ChainGrant.valid_until > since,
                ChainGrant.valid_until <= chain_time,
                ChainGrant.status == str(ChainStatus.ACTIVE),
            )
        ).all()
        for grant in expired:
            payload = _with_code(session, grant_payload(
                grant.grant_id, grant.department, "expired", None, head_block, grant.valid_until
            ))  # fmt: skip
            made += len(publish(session, grant.department, EventKind.GRANT_EXPIRED, grant.grant_id, payload,
                                at_ms=grant.valid_until * 1000))  # fmt: skip
        session.merge(Meta(key=EXPIRY_CURSOR, value=str(chain_time)))
    return made


# -- what people see -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionView:
    id: str
    department: str
    department_code: str | None
    url: str
    kinds: tuple[EventKind, ...]
    active: bool
    created_by: str
    created_at: int  # milliseconds since the epoch
    removed_at: int | None
    sealed: bool  # False: the row was edited in the database; nothing is sent to it


@dataclass(frozen=True)
class CreatedSubscription:
    subscription: SubscriptionView
    secret: str  # shown once: it is never stored


@dataclass(frozen=True)
class AttemptView:
    number: int
    at: int
    status: int | None
    error: AttemptError | None


@dataclass(frozen=True)
class DeliveryView:
    id: str
    subscription_id: str
    department: str
    department_code: str | None
    kind: EventKind
    state: DeliveryState
    attempts: int
    next_attempt_at: int
    created_at: int
    last_attempt_at: int | None
    last_status: int | None
    last_error: AttemptError | None
    delivered_at: int | None
    dead_at: int | None
    replays: int
    data: dict[str, Any]
    url: str
    tried: tuple[AttemptView, ...] = ()


@dataclass(frozen=True)
class _Scope:
    address: str
    role: str  # department-officer | office-admin
    org_id: str  # the officer's department, or the admin's office
    departments: frozenset[str]


class Webhooks:
    """Subscriptions and deliveries, as an acting account may see and change them."""

    def __init__(self, ledger: Ledger, *, clock: Callable[[], int] = now_ms) -> None:
        self.ledger = ledger
        self.clock = clock

    # -- who is asking (the chain's answer) ------------------------------------------------------

    def scope(self, actor: str) -> _Scope:
        """The departments ``actor`` (label or address) acts for: an active department officer,
        their own; an active office admin, the office's departments. Anyone else: Forbidden."""
        address = self.ledger.address_of(actor)
        view = self.ledger.view
        member = view.member(address)
        org = view.organisation(member.org_id) if member is not None else None
        if member is not None and org is not None and member.acts_as("department-officer") and org.kind == "department":
            return _Scope(address, member.role, org.org_id, frozenset({org.org_id}))
        if member is not None and org is not None and member.acts_as("office-admin") and org.kind == "office":
            from .organisations import Organisations

            governed = Organisations(self.ledger).governed_by(org.org_id)
            departments = frozenset(k for k, kind in governed.items() if kind == "department")
            return _Scope(address, member.role, org.org_id, departments)
        raise Forbidden("webhooks are for active department officers (their department's) and office admins "
                        "(their departments')")  # fmt: skip

    def _officer(self, actor: str) -> _Scope:
        found = self.scope(actor)
        if found.role != "department-officer":
            raise Forbidden("only an active officer of the department makes or removes its webhook subscriptions")
        return found

    def _admin(self, actor: str) -> _Scope:
        found = self.scope(actor)
        if found.role != "office-admin":
            raise Forbidden("only an active admin of the office sends dead letters again")
        return found

    # -- subscriptions ---------------------------------------------------------------------------

    def create(self, actor: str, url: str, kinds: Iterable[str]) -> CreatedSubscription:
        """A new subscription of the officer's own department; the secret is in the answer only."""
        password = self._password()
        checked_url = check_url(url)
        chosen = parse_kinds(kinds)
        scope = self._officer(actor)
        row = WebhookSubscription(
            id="whs_" + secrets.token_hex(16), department=scope.org_id, url=checked_url,
            kinds=",".join(str(k) for k in chosen), secret_salt=secrets.token_hex(16), active=True,
            created_by=scope.address, created_at=self.clock(),
        )  # fmt: skip
        row.seal = self._seal(row)
        chain_time = self.ledger.view.head()[1]
        with self.ledger.store.session() as session, session.begin():
            session.add(row)
            # Expiries are looked for by the chain's clock from here on: the first subscription
            # starts the cursor at the chain's time (never the app's clock, which may differ).
            if session.get(Meta, EXPIRY_CURSOR) is None:
                session.add(Meta(key=EXPIRY_CURSOR, value=str(chain_time)))
        return CreatedSubscription(
            self._subscription_view(row, self._codes()), secret_of(password, row.id, row.secret_salt)
        )

    def subscriptions(self, actor: str, *, include_removed: bool = False) -> list[SubscriptionView]:
        scope = self.scope(actor)
        with self.ledger.store.session() as session:
            query = select(WebhookSubscription).where(WebhookSubscription.department.in_(sorted(scope.departments)))
            if not include_removed:
                query = query.where(WebhookSubscription.active.is_(True))
            rows = session.scalars(query.order_by(WebhookSubscription.created_at, WebhookSubscription.id)).all()
        codes = self._codes()
        return [self._subscription_view(r, codes) for r in rows]

    def subscription(self, actor: str, subscription_id: str) -> SubscriptionView:
        scope = self.scope(actor)
        return self._subscription_view(self._visible_subscription(scope, subscription_id), self._codes())

    def remove(self, actor: str, subscription_id: str) -> SubscriptionView:
        """Deactivates a subscription of the officer's department; its pending deliveries are
        cancelled (delivered and dead ones stay, for the record)."""
        scope = self._officer(actor)
        row = self._visible_subscription(scope, subscription_id)
        if not row.active:
            raise ConflictError(f"webhook subscription {row.id} was removed already")
        with self.ledger.store.session() as session, session.begin():
            found = session.get(WebhookSubscription, row.id)
            assert found is not None
            found.active = False
            found.removed_by = scope.address
            found.removed_at = self.clock()
            found.seal = self._seal(found)
            session.execute(
                update(_DELIVERIES)
                .where(_d.subscription_id == row.id, _d.state == str(DeliveryState.PENDING))
                .values(state=str(DeliveryState.CANCELLED), claimed_by=None, claimed_until=None)
            )
            session.flush()
            row = found
        return self._subscription_view(row, self._codes())

    def secret(self, subscription: WebhookSubscription) -> str:
        return secret_of(self._password(), subscription.id, subscription.secret_salt)

    # -- deliveries ------------------------------------------------------------------------------

    def deliveries(
        self,
        actor: str,
        *,
        subscription_id: str | None = None,
        state: DeliveryState | str | None = None,
        limit: int = 100,
        attempts: bool = False,
    ) -> list[DeliveryView]:
        """Deliveries the actor may see, newest first; with ``attempts``, each with its attempts."""
        scope = self.scope(actor)
        if state is not None:
            try:
                state = DeliveryState(str(state))
            except ValueError:
                choices = [str(s) for s in DeliveryState]
                raise InputError(f"unknown state {state!r}", code=Invalid.UNKNOWN_CHOICE, field="state",
                                 params={"value": str(state), "choices": choices}) from None  # fmt: skip
        if subscription_id is not None:
            self._visible_subscription(scope, subscription_id)
        with self.ledger.store.session() as session:
            query = (
                select(WebhookDelivery, WebhookSubscription.url)
                .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                .where(
                    WebhookDelivery.department.in_(sorted(scope.departments)),
                    WebhookSubscription.department == WebhookDelivery.department,
                )
            )
            if subscription_id is not None:
                query = query.where(WebhookDelivery.subscription_id == subscription_id)
            if state is not None:
                query = query.where(WebhookDelivery.state == str(state))
            order = WebhookDelivery.dead_at.desc() if state == DeliveryState.DEAD else WebhookDelivery.created_at.desc()
            rows = session.execute(query.order_by(order, WebhookDelivery.id).limit(max(1, min(limit, 1000)))).all()
            tried: dict[str, list[AttemptView]] = {}
            if attempts and rows:
                found = session.scalars(
                    select(WebhookAttempt)
                    .where(WebhookAttempt.delivery_id.in_([r[0].id for r in rows]))
                    .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
                )
                for a in found:
                    tried.setdefault(a.delivery_id, []).append(_attempt_view(a))
        codes = self._codes()
        return [_delivery_view(d, url, codes, tuple(tried.get(d.id, ()))) for d, url in rows]

    def delivery(self, actor: str, delivery_id: str) -> DeliveryView:
        scope = self.scope(actor)
        return self._delivery(scope, delivery_id)

    def replay(self, actor: str, delivery_id: str) -> DeliveryView:
        """Sends a dead letter again: same id, same body, attempts from zero, due now."""
        scope = self._admin(actor)
        found = self._delivery(scope, delivery_id)
        if found.state != DeliveryState.DEAD:
            raise ConflictError(f"delivery {found.id} is {found.state}: only a dead letter is sent again")
        with self.ledger.store.session() as session, session.begin():
            subscription = session.get(WebhookSubscription, found.subscription_id)
            if subscription is None or not subscription.active:
                raise ConflictError(f"the subscription of delivery {found.id} was removed: there is nowhere to send it")
            if not self._sealed(subscription):
                raise ConflictError(f"the subscription of delivery {found.id} was altered in the database; "
                                    "not sending to it. Run 'gridledger verify all'.")  # fmt: skip
            done = session.execute(
                update(_DELIVERIES)
                .where(_d.id == found.id, _d.state == str(DeliveryState.DEAD))
                .values(
                    state=str(DeliveryState.PENDING),
                    attempts=0,
                    next_attempt_at=0,
                    dead_at=None,
                    replays=_d.replays + 1,
                    claimed_by=None,
                    claimed_until=None,
                )  # fmt: skip
            )
            if (cast(CursorResult[Any], done).rowcount or 0) != 1:
                raise ConflictError(f"delivery {found.id} changed meanwhile; look again")
        return self._delivery(scope, delivery_id)

    # -- helpers ---------------------------------------------------------------------------------

    def _password(self) -> str:
        password = self.ledger.settings.key_password
        if password is None:
            raise ConfigurationError("webhook secrets come from the keystore password: set GRIDLEDGER_KEY_PASSWORD "
                                     "or GRIDLEDGER_KEY_PASSWORD_FILE")  # fmt: skip
        return password

    def _seal(self, row: WebhookSubscription) -> bytes:
        return self.ledger.sealer.seal(SEAL_KIND, *sealed_values(row))

    def _sealed(self, row: WebhookSubscription) -> bool:
        return sealed(self.ledger, row)

    def _codes(self) -> dict[str, str]:
        with self.ledger.store.session() as session:
            return {p.org_id: p.code for p in session.scalars(select(OrgProfile))}

    def _subscription_view(self, row: WebhookSubscription, codes: Mapping[str, str]) -> SubscriptionView:
        return SubscriptionView(
            row.id, row.department, codes.get(row.department), row.url,
            tuple(EventKind(k) for k in row.kinds.split(",") if k in {str(e) for e in EventKind}), bool(row.active),
            row.created_by, row.created_at, row.removed_at, self._sealed(row),
        )  # fmt: skip

    def _visible_subscription(self, scope: _Scope, subscription_id: str) -> WebhookSubscription:
        with self.ledger.store.session() as session:
            row = session.get(WebhookSubscription, str(subscription_id).strip())
        if row is None or row.department not in scope.departments:
            raise NotFoundError(f"no webhook subscription {subscription_id} of your department(s)")
        return row

    def _delivery(self, scope: _Scope, delivery_id: str) -> DeliveryView:
        with self.ledger.store.session() as session:
            row = session.get(WebhookDelivery, str(delivery_id).strip())
            subscription = session.get(WebhookSubscription, row.subscription_id) if row is not None else None
            if (
                row is None
                or subscription is None
                or row.department not in scope.departments
                or subscription.department != row.department
            ):
                raise NotFoundError(f"no webhook delivery {delivery_id} of your department(s)")
            tried = tuple(_attempt_view(a) for a in session.scalars(
                select(WebhookAttempt).where(WebhookAttempt.delivery_id == row.id).order_by(WebhookAttempt.number)
            ))  # fmt: skip
            url = subscription.url
        return _delivery_view(row, url, self._codes(), tried)


def sealed_values(row: Any) -> tuple[Any, ...]:
    """What a subscription's seal covers."""
    return (row.id, row.department, row.url, row.kinds, row.secret_salt, bool(row.active))


def sealed(ledger: Ledger, row: Any) -> bool:
    """Whether a subscription row carries its valid seal (never raises)."""
    try:
        return ledger.sealer.check(row.seal, SEAL_KIND, *sealed_values(row))
    except (AttributeError, TypeError, ValueError, ConfigurationError):
        return False


def _attempt_view(a: WebhookAttempt) -> AttemptView:
    return AttemptView(a.number, a.at, a.status, AttemptError(a.error) if a.error else None)


def _delivery_view(
    d: WebhookDelivery, url: str, codes: Mapping[str, str], tried: tuple[AttemptView, ...]
) -> DeliveryView:
    try:
        data = json.loads(d.payload).get("data", {})
    except (ValueError, AttributeError):
        data = {}
    return DeliveryView(
        d.id, d.subscription_id, d.department, codes.get(d.department), EventKind(d.kind), DeliveryState(d.state),
        d.attempts, d.next_attempt_at, d.created_at, d.last_attempt_at, d.last_status,
        AttemptError(d.last_error) if d.last_error else None, d.delivered_at, d.dead_at, d.replays,
        data if isinstance(data, dict) else {}, url, tried,
    )  # fmt: skip


# -- the deliverer -------------------------------------------------------------------------------


@dataclass
class PassResult:
    """What one pass of the deliverer did."""

    delivered: int = 0
    retried: int = 0  # failed attempts that will be tried again
    dead: int = 0  # failed attempts that were the last
    cancelled: int = 0  # due deliveries of removed subscriptions
    skipped: int = 0  # claimed but given back (the chain could not be asked)

    @property
    def any(self) -> bool:
        return bool(self.delivered or self.retried or self.dead or self.cancelled)


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: AttemptError | None

    @property
    def delivered(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> Outcome:
    """One POST with the standard library's HTTP client: no redirects followed (a 3xx is a
    failure), certificates checked for https, at most ``timeout`` seconds per step."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or ""
    connection: http.client.HTTPConnection
    if parts.scheme.lower() == "https":
        connection = http.client.HTTPSConnection(host, parts.port, timeout=timeout,
                                                 context=ssl.create_default_context())  # fmt: skip
    else:
        connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers,
        })  # fmt: skip
        response = connection.getresponse()
        response.read(65_536)  # the answer is not used; read a little so the connection closes cleanly
        status = response.status
    except ConnectionRefusedError:
        return Outcome(None, AttemptError.CONNECTION_REFUSED)
    except TimeoutError:
        return Outcome(None, AttemptError.TIMEOUT)
    except ssl.SSLError:
        return Outcome(None, AttemptError.TLS)
    except (OSError, http.client.HTTPException):
        return Outcome(None, AttemptError.UNREACHABLE)
    finally:
        connection.close()
    return Outcome(status, None if 200 <= status < 300 else AttemptError.HTTP_STATUS)


class Deliverer:
    """Sends due deliveries: one pass at a time (:meth:`run_once`), from the worker's loop or
    ``gridledger webhooks deliver``. Several may run at once, in one process or many: each row
    is claimed before it is sent, and its outcome written only under that claim."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        clock: Callable[[], int] = now_ms,
        rand: Callable[[], float] = random.random,
        holder: str | None = None,
        send: Callable[..., Outcome] = post,
        settings: Settings | None = None,
    ) -> None:
        from .lease import holder_id

        self.ledger = ledger
        self.settings = settings or ledger.settings
        self.clock = clock
        self.rand = rand
        self.holder = holder or holder_id()
        self.send = send
        self._expiries_looked = -1e9

    @property
    def claim_ms(self) -> int:
        """How long a claim lasts: twice the HTTP timeout (connect, then answer) and a margin
        of 30 s, so a claim never runs out while its attempt may still be going."""
        return int((2 * self.settings.webhook_timeout + 30) * 1000)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after failed attempt number ``attempts`` (1 = the first): base ×
        2^(attempts-1), capped, shortened at random by up to the jitter fraction."""
        s = self.settings
        delay = min(s.webhook_backoff_cap, s.webhook_backoff_base * 2 ** max(0, attempts - 1))
        return delay * (1 - s.webhook_jitter * self.rand())

    def cycle(self, *, expiries: bool = True) -> PassResult:
        """The worker's cycle: expiries (every EXPIRY_EVERY seconds, when ``expiries``), then one pass."""
        if expiries and time.monotonic() - self._expiries_looked >= EXPIRY_EVERY:
            self._expiries_looked = time.monotonic()
            enqueue_expiries(self.ledger)
        return self.run_once()

    def run_once(self, *, limit: int = PASS_LIMIT) -> PassResult:
        """One pass over the due deliveries (oldest due first, at most ``limit``). After an
        endpoint failed to answer, its other deliveries wait for the next pass."""
        result = PassResult()
        if self.settings.key_password is None:
            raise ConfigurationError("webhooks are signed with secrets from the keystore password: set "
                                     "GRIDLEDGER_KEY_PASSWORD or GRIDLEDGER_KEY_PASSWORD_FILE")  # fmt: skip
        now = self.clock()
        with self.ledger.store.session() as session:
            due = session.execute(
                select(_d.id, _d.subscription_id)
                .where(
                    _d.state == str(DeliveryState.PENDING),
                    _d.next_attempt_at <= now,
                    or_(_d.claimed_until.is_(None), _d.claimed_until < now),
                )
                .order_by(_d.next_attempt_at, _d.created_at, _d.id)
                .limit(limit)
            ).all()
        failing: set[str] = set()
        for delivery_id, subscription_id in due:
            if subscription_id in failing:
                continue
            if not self._claim(delivery_id):
                continue  # another worker has it
            outcome = self._attempt(delivery_id, result)
            if outcome is not None and outcome.status is None:
                failing.add(subscription_id)
        return result

    def _claim(self, delivery_id: str) -> bool:
        now = self.clock()
        with self.ledger.store.engine.begin() as connection:
            taken = connection.execute(
                update(_DELIVERIES)
                .where(
                    _d.id == delivery_id,
                    _d.state == str(DeliveryState.PENDING),
                    _d.next_attempt_at <= now,
                    or_(_d.claimed_until.is_(None), _d.claimed_until < now),
                )
                .values(claimed_by=self.holder, claimed_until=now + self.claim_ms)
            )
        return (cast(CursorResult[Any], taken).rowcount or 0) == 1

    def _release(self, delivery_id: str) -> None:
        with self.ledger.store.engine.begin() as connection:
            connection.execute(
                update(_DELIVERIES)
                .where(_d.id == delivery_id, _d.claimed_by == self.holder)
                .values(claimed_by=None, claimed_until=None)
            )

    def _attempt(self, delivery_id: str, result: PassResult) -> Outcome | None:
        with self.ledger.store.session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            subscription = session.get(WebhookSubscription, delivery.subscription_id) if delivery else None
            session.expunge_all()
        if delivery is None:
            return None
        if subscription is None or not subscription.active:
            self._finish(delivery, None, state=DeliveryState.CANCELLED)
            result.cancelled += 1
            return None
        if not sealed(self.ledger, subscription) or subscription.department != delivery.department:
            outcome = Outcome(None, AttemptError.ALTERED)  # nothing is sent to an edited row, ever
            self._finish(delivery, outcome, state=DeliveryState.DEAD)
            result.dead += 1
            return None
        try:
            confirmed = self._confirmed(delivery)
        except NodeError:
            self._release(delivery_id)  # the chain is away: no attempt made, try next pass
            result.skipped += 1
            return None
        if not confirmed:
            outcome = Outcome(None, AttemptError.CHAIN_MISMATCH)
        else:
            body = delivery.payload.encode("utf-8")
            headers = signed_headers(
                secret_of(self.settings.key_password or "", subscription.id, subscription.secret_salt),
                delivery.id, self.clock() // 1000, body,
            )  # fmt: skip
            outcome = self.send(subscription.url, body, headers, timeout=self.settings.webhook_timeout)
        if outcome.delivered:
            if self._finish(delivery, outcome, state=DeliveryState.DELIVERED):
                result.delivered += 1
            return outcome
        attempts = delivery.attempts + 1
        if attempts >= self.settings.webhook_max_attempts:
            if self._finish(delivery, outcome, state=DeliveryState.DEAD):
                result.dead += 1
        elif self._finish(delivery, outcome, state=DeliveryState.PENDING,
                          next_at=self.clock() + int(self.backoff(attempts) * 1000)):  # fmt: skip
            result.retried += 1
        return outcome if confirmed else None

    def _confirmed(self, delivery: WebhookDelivery) -> bool:
        """For a grant's event: the chain says the grant is this department's and withdrawn,
        revoked or past its validUntil. Other events: nothing on chain to ask."""
        kind = EventKind(delivery.kind)
        if kind not in (EventKind.GRANT_WITHDRAWN, EventKind.GRANT_REVOKED, EventKind.GRANT_EXPIRED):
            return True
        grant_id = delivery.dedupe_key.split(":", 1)[1]
        view = self.ledger.view
        grant = view.grant(grant_id)
        if grant is None or grant.department.lower() != delivery.department.lower():
            return False
        if kind == EventKind.GRANT_EXPIRED:
            return grant.valid_until <= view.head()[1]
        return grant.status == _CHAIN_STATUS[kind]

    def _finish(
        self, delivery: WebhookDelivery, outcome: Outcome | None, *, state: DeliveryState, next_at: int | None = None
    ) -> bool:
        """Writes the attempt and the row's new state, under our claim (the fence): False, and
        nothing written, when the claim is no longer ours."""
        now = self.clock()
        values: dict[str, Any] = {"state": str(state), "claimed_by": None, "claimed_until": None}
        if outcome is not None:
            values.update(attempts=delivery.attempts + 1, last_attempt_at=now, last_status=outcome.status,
                          last_error=None if outcome.error is None else str(outcome.error))  # fmt: skip
        if state == DeliveryState.DELIVERED:
            values["delivered_at"] = now
        if state == DeliveryState.DEAD:
            values["dead_at"] = now
        if next_at is not None:
            values["next_attempt_at"] = next_at
        with self.ledger.store.session() as session, session.begin():
            done = session.execute(
                update(_DELIVERIES)
                .where(and_(_d.id == delivery.id, _d.claimed_by == self.holder, _d.state == str(DeliveryState.PENDING)))
                .values(**values)
            )
            if (cast(CursorResult[Any], done).rowcount or 0) != 1:
                return False  # the claim ran out and another worker took the row: its outcome counts
            if outcome is not None:
                number = (session.scalar(
                    select(func.count()).select_from(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
                ) or 0) + 1  # fmt: skip
                session.add(WebhookAttempt(delivery_id=delivery.id, number=number, at=now, status=outcome.status,
                                           error=None if outcome.error is None else str(outcome.error)))  # fmt: skip
        return True
