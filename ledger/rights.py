"""Residents' rights requests (PIPL Art. 44, 46, 47): correct a record, delete a record, object
to a use of one's data; each with a due date, and each decision recorded and verifiable.

* **Correction** of one field of a record: the field must be one of the category's JSON Schema
  and the value must fit it. It goes to the queue of the record's committee; a committee
  member declines it with a reason the resident reads, or drafts the corrected version
  (:meth:`ledger.records.Records.update`), which is signed k of n as usual. The request is
  *corrected* once the chain has certified that version (:meth:`Rights.settle`).
* **Deletion** of a record: an admin of the office governing the record's committee erases it
  by crypto-shredding (:meth:`ledger.records.Records.erase`) or refuses it with its legal basis
  (:class:`RefusalBasis`).
* **Objection** to an entry of the resident's own history (a read of their data, as the
  entry's leaf says, never a row): an admin of the office governing the reading organisation,
  or the resident's committee, upholds it or not.

Who may ask and who may decide is the chain's to say (``ledger.view``), as is whose record it
is and of what category; the table says only what was asked. A request is asked by the
resident, or by a grid worker or committee member of the resident's current committee with
the resident present.

Every decision is a canonical JSON statement (:data:`DECISION_FORMAT`) signed by the
decider's key and a leaf of the access log (action ``decide``, ``decision`` the outcome,
``reviewOf`` the objected entry, the reason's hash as ``justificationHash``); ``gridledger
verify`` checks each decided row against both. The asking itself is sealed
(:data:`ledger.seal.SEALED`). A request answered twice is a :class:`RequestConflict`.

Due dates are computed from the clock passed in (``now=``, milliseconds), never by a job: a
request is overdue once its due time has passed without a decision.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import CursorResult, Table, or_, select, update

from . import formats
from .access import ReadBasis, now_ms
from .accesslog import Action, Draft, Outcome, justification_hash
from .categories import Category, schema
from .chainview import MemberState, RecordState
from .context import Ledger
from .errors import (
    Conflict,
    InputError,
    Invalid,
    LedgerError,
    NotFoundError,
    RequestConflict,
)
from .formats import parse_id
from .history import disclosure_date, parse_leaf, withheld
from .merkle import leaf_hash
from .records import Records
from .seal import row_seal, row_sealed
from .store.models import RightsRequest

DECISION_FORMAT = "gridledger-rights-decision/1"
DAY_MS = 86_400_000
MAX_COMMENT = 2_000
MAX_REASON = 2_000
MAX_VALUE = 2_000
#: A claim on a request older than this (a decider that crashed mid-decision) may be taken over.
STALE_CLAIM_MS = 5 * 60_000
#: How far back :meth:`Rights.inbox` reports outcomes.
RECENT_DAYS = 30


class RequestKind(StrEnum):
    """What a resident asks for. On disk and in the API: never respell."""

    CORRECTION = "correction"  # PIPL Art. 46
    DELETION = "deletion"  # PIPL Art. 47
    OBJECTION = "objection"  # PIPL Art. 44: "I did not expect this"


class RequestStatus(StrEnum):
    """Where a request stands. On disk and in the API: never respell."""

    OPEN = "open"  # waiting for a decision
    DRAFTED = "drafted"  # a correction: the corrected version is drafted, waiting for its signatures
    DECIDING = "deciding"  # a decider is recording the decision (a moment)
    DECIDED = "decided"


class RequestOutcome(StrEnum):
    """The decision on a request (the decision leaf's ``decision``). On disk: never respell."""

    CORRECTED = "corrected"  # a correction: the corrected version was certified
    DECLINED = "declined"  # a correction: declined, with a reason
    ERASED = "erased"  # a deletion: erased by crypto-shredding
    REFUSED = "refused"  # a deletion: refused, with its legal basis and a reason
    UPHELD = "upheld"  # an objection: the use was not expected and is taken up
    NOT_UPHELD = "not-upheld"  # an objection: the use stands, with a reason


class RefusalBasis(StrEnum):
    """Why a deletion may lawfully be refused (PIPL Art. 47 and Art. 13). Never respell."""

    RETENTION_PERIOD = "retention-period"  # a retention period set by law or regulation has not ended (Art. 47)
    TECHNICALLY_INFEASIBLE = "technically-infeasible"  # deletion is technically hard: processing stops (Art. 47)
    STATUTORY_DUTY = "statutory-duty"  # needed to carry out a statutory duty or obligation (Art. 13(3))
    PURPOSE_NOT_ACHIEVED = "purpose-not-achieved"  # none of Art. 47's grounds holds: the purpose is still served
    PUBLIC_HEALTH = "public-health"  # needed for a public health emergency or to protect life (Art. 13(4))


OUTCOMES: dict[RequestKind, tuple[RequestOutcome, ...]] = {
    RequestKind.CORRECTION: (RequestOutcome.CORRECTED, RequestOutcome.DECLINED),
    RequestKind.DELETION: (RequestOutcome.ERASED, RequestOutcome.REFUSED),
    RequestKind.OBJECTION: (RequestOutcome.UPHELD, RequestOutcome.NOT_UPHELD),
}
WAITING = (RequestStatus.OPEN, RequestStatus.DRAFTED, RequestStatus.DECIDING)


@dataclass(frozen=True)
class RequestView:
    """A request as its parties are shown it (codes and values; the web app words them)."""

    request_id: str
    kind: RequestKind
    status: RequestStatus
    resident: str
    record_id: str | None
    category: Category | None
    committee_id: str | None
    office_id: str | None
    access_seq: int | None
    field: str | None
    proposed: Any
    comment: str
    asked_by: str
    asked_at: int  # ms
    due_at: int  # ms
    overdue: bool
    draft_version: int | None
    drafted_by: str | None
    outcome: RequestOutcome | None
    basis: RefusalBasis | None
    reason: str | None
    decider: str | None
    decided_at: int | None
    decision_seq: int | None

    @property
    def open(self) -> bool:
        return self.status in WAITING

    def json(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id, "kind": str(self.kind), "status": str(self.status),
            "resident": self.resident, "recordId": self.record_id,
            "category": self.category.slug if self.category is not None else None,
            "committeeId": self.committee_id, "officeId": self.office_id, "accessSeq": self.access_seq,
            "field": self.field, "proposed": self.proposed, "comment": self.comment, "askedBy": self.asked_by,
            "askedAt": self.asked_at, "dueAt": self.due_at, "overdue": self.overdue,
            "draftVersion": self.draft_version, "draftedBy": self.drafted_by,
            "outcome": str(self.outcome) if self.outcome else None, "basis": str(self.basis) if self.basis else None,
            "reason": self.reason, "decider": self.decider, "decidedAt": self.decided_at,
            "decisionSeq": self.decision_seq,
        }  # fmt: skip


@dataclass(frozen=True)
class Inbox:
    """What a resident's inbox shows of their requests: the open ones, and outcomes of the
    last :data:`RECENT_DAYS` days, newest first."""

    open: list[RequestView]
    outcomes: list[RequestView]


def fields_of(category: Category) -> list[str]:
    """The fields of a category's schema a correction may name, in the schema's order."""
    return list(schema(category).get("properties", {}))


def proposed_value(category: Category, field: str, value: Any) -> Any:
    """``value`` as the field's schema types it, validated against it. A string is read as a
    person types it: a number for a number, yes/no for a yes-or-no, one item a line (or
    separated by commas) for a list of texts, JSON for anything else; anything else is taken
    as it is (the API's JSON)."""
    properties = schema(category).get("properties", {})
    if field not in properties:
        raise InputError(
            f"{field!r} is not a field of {category.slug} records; expected one of: {', '.join(properties)}",
            code=Invalid.NOT_A_FIELD, field="field", params={"category": category.slug, "value": field},
        )  # fmt: skip
    spec = properties[field]
    if isinstance(value, str):
        if len(value) > MAX_VALUE:
            raise InputError(f"at most {MAX_VALUE} characters", code=Invalid.TOO_LONG, field="value",
                             params={"max": MAX_VALUE})  # fmt: skip
        value = _typed(spec, value.strip())
    errors = sorted(Draft202012Validator(spec, format_checker=FormatChecker()).iter_errors(value), key=str)
    if errors:
        raise InputError(errors[0].message, code=Invalid.SCHEMA, field="value", params={"problem": errors[0].message})
    return value


def _typed(spec: dict[str, Any], text: str) -> Any:
    if not text:
        raise InputError("say what it should be", code=Invalid.REQUIRED, field="value")
    kind = spec.get("type")
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
    except ValueError:
        raise InputError(f"expected a number; got {text!r}", code=Invalid.SCHEMA, field="value",
                         params={"problem": f"{text!r} is not a number"}) from None  # fmt: skip
    if kind == "boolean":
        lowered = text.lower()
        if lowered in ("yes", "true", "1", "是"):
            return True
        if lowered in ("no", "false", "0", "否"):
            return False
        raise InputError(f"expected yes or no; got {text!r}", code=Invalid.SCHEMA, field="value",
                         params={"problem": f"{text!r} is not yes or no"})  # fmt: skip
    if kind == "array" and spec.get("items", {}).get("type") == "string":
        parts = [p.strip() for line in text.splitlines() for p in line.replace("，", ",").split(",")]
        return [p for p in parts if p]
    if kind in ("array", "object"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise InputError(f"expected JSON: {exc}", code=Invalid.NOT_JSON, field="value",
                             params={"problem": str(exc), "line": 0, "column": 0}) from None  # fmt: skip
    return text


def _text(value: str | None, name: str, *, required: bool, limit: int) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InputError("say why, for the record", code=Invalid.REQUIRED, field=name)
    if len(text) > limit:
        raise InputError(f"at most {limit} characters", code=Invalid.TOO_LONG, field=name, params={"max": limit})
    return text


def statement_of(row: Any) -> dict[str, Any]:
    """The decision statement a decided row must carry (what the decider signed), built from
    the row: for ``gridledger verify`` and for :meth:`Rights._decide`."""
    return {
        "format": DECISION_FORMAT, "requestId": row.request_id, "kind": row.kind, "outcome": row.outcome,
        "basis": row.basis, "reasonHash": justification_hash(row.reason), "decider": row.decider,
        "time": row.decided_at, "resident": row.resident, "recordId": row.record_id, "accessSeq": row.access_seq,
        "version": row.draft_version if row.outcome == RequestOutcome.CORRECTED else None,
    }  # fmt: skip


class Rights:
    """Residents' rights requests for one installation (share one per process)."""

    def __init__(self, ledger: Ledger, *, now: Callable[[], int] | None = None, records: Records | None = None) -> None:
        """``now`` (milliseconds since the epoch) stamps requests and decisions and says what
        is overdue; tests pass their own."""
        self.ledger = ledger
        self.now = now if now is not None else lambda: now_ms()
        self.records = records or Records(ledger)
        self.due_days = ledger.settings.rights_due_days

    # -- asking ----------------------------------------------------------------------

    def ask_correction(
        self, record_id: str, *, field: str, value: Any, comment: str = "", actor: str
    ) -> RequestView:
        """A correction of ``field`` of a record to ``value`` (see :func:`proposed_value`)."""
        state = self._live_record(record_id)
        category = Category(state.category)
        proposed = proposed_value(category, field.strip(), value)
        asker = self._asker(actor, state.subject)
        note = _text(comment, "comment", required=False, limit=MAX_COMMENT)
        self._no_open(RightsRequest.kind == RequestKind.CORRECTION, RightsRequest.record_id == state.record_id,
                      RightsRequest.field == field.strip())  # fmt: skip
        return self._insert(
            kind=RequestKind.CORRECTION, resident=state.subject, record_id=state.record_id, category=state.category,
            committee_id=state.committee_id, office_id=self._office_of(state.committee_id), access_seq=None,
            field=field.strip(), proposed=formats.canonical_json(proposed).decode(), comment=note, asked_by=asker,
        )  # fmt: skip

    def ask_deletion(self, record_id: str, *, comment: str = "", actor: str) -> RequestView:
        state = self._live_record(record_id)
        asker = self._asker(actor, state.subject)
        note = _text(comment, "comment", required=False, limit=MAX_COMMENT)
        self._no_open(RightsRequest.kind == RequestKind.DELETION, RightsRequest.record_id == state.record_id)
        return self._insert(
            kind=RequestKind.DELETION, resident=state.subject, record_id=state.record_id, category=state.category,
            committee_id=state.committee_id, office_id=self._office_of(state.committee_id), access_seq=None,
            field=None, proposed=None, comment=note, asked_by=asker,
        )  # fmt: skip

    def object_to(self, seq: int, *, comment: str = "", actor: str, resident: str | None = None) -> RequestView:
        """An objection to entry ``seq`` of the resident's history (``resident``: the actor
        when not given). The entry's leaf must be the resident's and a use of their data, and
        shown to them (not under legal hold)."""
        address = self.ledger.address_of(resident or actor)
        leaf, _raw = self._leaf(seq)
        if leaf.get("resident") != address:
            raise InputError(f"access event #{seq} is not in this resident's history", code=Invalid.NOT_OWN_ENTRY,
                             field="seq", params={"seq": seq})  # fmt: skip
        if withheld(disclosure_date(leaf)):
            raise NotFoundError(f"no access event #{seq} in this resident's history")
        if leaf.get("action") != Action.READ:
            raise InputError(f"access event #{seq} is not a use of the resident's data", code=Invalid.NOT_A_READ,
                             field="seq", params={"seq": seq})  # fmt: skip
        asker = self._asker(actor, address)
        note = _text(comment, "comment", required=False, limit=MAX_COMMENT)
        with self.ledger.store.session() as session:
            if session.scalar(select(RightsRequest.request_id).where(
                RightsRequest.kind == RequestKind.OBJECTION, RightsRequest.access_seq == seq
            )) is not None:  # fmt: skip
                raise RequestConflict(f"access event #{seq} has been objected to already", code=Conflict.ALREADY_ASKED,
                                      params={"seq": seq})  # fmt: skip
        office = self._objection_office(leaf, address)
        category = leaf.get("category")
        return self._insert(
            kind=RequestKind.OBJECTION, resident=address, record_id=leaf.get("recordId"),
            category=int(Category[category.upper()]) if isinstance(category, str) else None, committee_id=None,
            office_id=office, access_seq=seq, field=None, proposed=None, comment=note, asked_by=asker,
        )  # fmt: skip

    def _no_open(self, *conditions: Any) -> None:
        with self.ledger.store.session() as session:
            found = session.scalar(select(RightsRequest.request_id).where(*conditions, RightsRequest.status.in_(WAITING)))
        if found is not None:
            raise RequestConflict(f"the same request is open already ({found})", code=Conflict.ALREADY_ASKED,
                                  params={"requestId": found})  # fmt: skip

    # -- deciding: corrections (the record's committee) --------------------------------

    def correction_content(self, request_id: str) -> tuple[dict[str, Any], int]:
        """The record's newest version with the requested field replaced, and that version:
        what the edit form is prefilled with (the content checked against the chain)."""
        row = self._row(request_id)
        self._require_kind(row, RequestKind.CORRECTION)
        state = self.records._chain_record(str(row.record_id))
        content = self.records.checked_content(state.record_id, state.version)
        if not isinstance(content, dict):
            raise NotFoundError(f"record {state.record_id} has no content to correct")
        return {**content, str(row.field): json.loads(str(row.proposed))}, state.version

    def draft(
        self, request_id: str, *, actor: str, content: Any = None, expected_version: int | None = None
    ) -> int:
        """A committee member of the record's committee drafts the corrected version (the
        requested value unless ``content`` is given). Returns the new version; the request is
        corrected once the chain certifies it (:meth:`settle`)."""
        row = self._row(request_id)
        self._require_kind(row, RequestKind.CORRECTION)
        state = self.records._chain_record(str(row.record_id))
        self._waiting(row, state)
        account = self.ledger.account(actor)
        self._committee_member(account.address, state)
        if content is None:
            content, loaded = self.correction_content(request_id)
            expected_version = expected_version if expected_version is not None else loaded

        def link(session: Any, _tx: str, version: int) -> None:
            done = session.execute(
                update(RightsRequest)
                .where(RightsRequest.request_id == row.request_id, RightsRequest.status.in_(_redraftable(row)))
                .values(status=RequestStatus.DRAFTED, draft_version=version, drafted_by=account.address)
            )
            if done.rowcount != 1:
                raise RequestConflict(f"request {row.request_id} was answered meanwhile", code=Conflict.ALREADY_DECIDED)

        version, _tx = self.records.update(
            state.record_id, content, actor=account.address, expected_version=expected_version, also=link
        )
        return version

    def decline(self, request_id: str, reason: str, *, actor: str) -> RequestView:
        """A committee member of the record's committee declines a correction, saying why."""
        row = self._row(request_id)
        self._require_kind(row, RequestKind.CORRECTION)
        text = _text(reason, "reason", required=True, limit=MAX_REASON)
        state = self.records._chain_record(str(row.record_id))
        self._waiting(row, state)
        account = self.ledger.account(actor)
        member = self._committee_member(account.address, state)
        return self._decide(row, RequestOutcome.DECLINED, text, None, account, member, Category(state.category))

    def settle(self, request_id: str | None = None) -> list[RequestView]:
        """Corrections whose drafted version the chain has certified become *corrected*,
        signed by the member who committed that version, as the chain says (whose key is held
        here). Returns those settled.
        Called after a signature, by the worker and by ``gridledger rights settle``."""
        with self.ledger.store.session() as session:
            query = select(RightsRequest).where(RightsRequest.status == RequestStatus.DRAFTED)
            if request_id is not None:
                query = query.where(RightsRequest.request_id == request_id)
            rows = list(session.scalars(query))
        settled = []
        contract = self.ledger.contract("RecordLedger")
        for row in rows:
            if row.draft_version is None or not self._trusted(row):
                continue
            version = contract.functions.versionOf(formats.from_hex(str(row.record_id)), row.draft_version).call()
            stored = self.records.show(str(row.record_id)).versions
            ours = next((v for v in stored if v.version == row.draft_version), None)
            if not version[4] or ours is None or formats.to_hex(version[0]) != ours.content_hash.lower():
                continue  # not certified yet (or not the version stored here)
            drafter = to_checksum_address(version[2])  # who committed it, as the chain says (not the row)
            if not self.ledger.keys.has(drafter):
                continue  # signed elsewhere: `gridledger rights settle` where the key is held
            state = self.records._chain_record(str(row.record_id))
            account = self.ledger.account(drafter)
            member = self.ledger.view.member(account.address)
            try:
                settled.append(self._decide(
                    row, RequestOutcome.CORRECTED, None, None, account, member, Category(state.category),
                    version=row.draft_version,
                ))  # fmt: skip
            except RequestConflict:
                continue  # settled meanwhile by another process
        return settled

    # -- deciding: deletions and objections (the office) -------------------------------

    def erase(self, request_id: str, reason: str, *, actor: str) -> RequestView:
        """An admin of the office governing the record's committee erases the record
        (crypto-shredding), deciding the deletion request in the same transaction."""
        row = self._row(request_id)
        self._require_kind(row, RequestKind.DELETION)
        text = _text(reason, "reason", required=True, limit=MAX_REASON)
        state = self.records._chain_record(str(row.record_id))
        self._waiting(row, state)
        account = self.ledger.account(actor)
        member = self._office_admin(account.address, self._office_of(state.committee_id))
        return self._decide(row, RequestOutcome.ERASED, text, None, account, member, Category(state.category),
                            erase=True)  # fmt: skip

    def refuse(self, request_id: str, basis: RefusalBasis | str, reason: str, *, actor: str) -> RequestView:
        """An admin of the office governing the record's committee refuses a deletion, naming
        its legal basis (:class:`RefusalBasis`) and saying why."""
        row = self._row(request_id)
        self._require_kind(row, RequestKind.DELETION)
        if not basis:
            raise InputError("name the legal basis of the refusal", code=Invalid.BASIS_REQUIRED, field="basis",
                             params={"choices": list(RefusalBasis)})  # fmt: skip
        if basis not in tuple(RefusalBasis):
            raise InputError(f"expected one of: {', '.join(RefusalBasis)}", code=Invalid.UNKNOWN_CHOICE, field="basis",
                             params={"value": basis, "choices": list(RefusalBasis)})  # fmt: skip
        text = _text(reason, "reason", required=True, limit=MAX_REASON)
        state = self.records._chain_record(str(row.record_id))
        self._waiting(row, state)
        account = self.ledger.account(actor)
        member = self._office_admin(account.address, self._office_of(state.committee_id))
        return self._decide(row, RequestOutcome.REFUSED, text, RefusalBasis(basis), account, member,
                            Category(state.category))  # fmt: skip

    def answer(self, request_id: str, outcome: RequestOutcome | str, reason: str, *, actor: str) -> RequestView:
        """An admin of the office governing the reading organisation (or the resident's
        committee) answers an objection: upheld or not upheld, saying why."""
        row = self._row(request_id)
        self._require_kind(row, RequestKind.OBJECTION)
        self._outcome_for(row, outcome)
        text = _text(reason, "reason", required=True, limit=MAX_REASON)
        self._waiting(row, None)
        leaf, _raw = self._leaf(int(row.access_seq or 0))
        if leaf.get("resident") != row.resident:
            raise LedgerError(f"access event #{row.access_seq} is not this resident's: the request row was altered")
        account = self.ledger.account(actor)
        member = self._office_admin(account.address, *self._objection_offices(leaf, row.resident))
        category = leaf.get("category")
        return self._decide(
            row, RequestOutcome(outcome), text, None, account, member,
            Category[category.upper()] if isinstance(category, str) else None,
        )  # fmt: skip

    def decide(
        self, request_id: str, outcome: RequestOutcome | str, reason: str, *, actor: str, basis: str | None = None
    ) -> RequestView:
        """Any decision by its outcome code (the command line's and the API's one entry)."""
        row = self._row(request_id)
        code = self._outcome_for(row, outcome)
        if code == RequestOutcome.CORRECTED:
            raise InputError("a correction is corrected by drafting the new version and signing it",
                             code=Invalid.WRONG_KIND, field="outcome",
                             params={"kind": row.kind, "value": outcome, "choices": [RequestOutcome.DECLINED]})  # fmt: skip
        if code == RequestOutcome.DECLINED:
            return self.decline(request_id, reason, actor=actor)
        if code == RequestOutcome.ERASED:
            return self.erase(request_id, reason, actor=actor)
        if code == RequestOutcome.REFUSED:
            return self.refuse(request_id, basis or "", reason, actor=actor)
        return self.answer(request_id, code, reason, actor=actor)

    # -- reading ---------------------------------------------------------------------

    def get(self, request_id: str) -> RequestView:
        return self._view(self._row(request_id))

    def of_resident(self, resident: str, *, kinds: Iterable[RequestKind] = tuple(RequestKind)) -> list[RequestView]:
        """The resident's own requests, newest first: only rows carrying their seal whose
        resident the chain (or the objected entry's leaf) confirms."""
        address = self.ledger.address_of(resident)
        with self.ledger.store.session() as session:
            rows = list(session.scalars(
                select(RightsRequest).where(RightsRequest.resident == address, RightsRequest.kind.in_(list(kinds)))
                .order_by(RightsRequest.asked_at.desc())
            ))  # fmt: skip
        return [self._view(r) for r in rows if self._trusted(r)]

    def inbox(self, resident: str, *, days: int = RECENT_DAYS) -> Inbox:
        """For the resident's inbox: open requests (soonest due first) and outcomes of the last
        ``days`` days (newest first)."""
        mine = self.of_resident(resident)
        since = self.now() - days * DAY_MS
        return Inbox(
            open=sorted((r for r in mine if r.open), key=lambda r: r.due_at),
            outcomes=sorted((r for r in mine if not r.open and (r.decided_at or 0) >= since),
                            key=lambda r: -(r.decided_at or 0)),
        )  # fmt: skip

    def objections_of(self, resident: str) -> dict[int, RequestView]:
        """The resident's objections by the entry objected to (shown beside each entry)."""
        return {r.access_seq: r for r in self.of_resident(resident, kinds=(RequestKind.OBJECTION,))
                if r.access_seq is not None}  # fmt: skip

    def of_record(self, record_id: str) -> list[RequestView]:
        """The requests about a record, oldest first (for its page)."""
        key = parse_id(record_id, field="record_id", what="record id")
        state = self.ledger.view.record(key)
        with self.ledger.store.session() as session:
            rows = list(session.scalars(
                select(RightsRequest).where(RightsRequest.record_id == key).order_by(RightsRequest.asked_at)
            ))  # fmt: skip
        return [self._view(r) for r in rows if state is not None and r.resident == state.subject and self._trusted(r)]

    def committee_queue(self, committee_id: str, *, waiting_only: bool = True) -> list[RequestView]:
        """Corrections of the committee's records (the chain says whose), oldest first."""
        wanted = committee_id.lower()
        with self.ledger.store.session() as session:
            query = select(RightsRequest).where(RightsRequest.kind == RequestKind.CORRECTION)
            if waiting_only:
                query = query.where(RightsRequest.status.in_(WAITING))
            rows = list(session.scalars(query.order_by(RightsRequest.asked_at)))
        found = []
        for row in rows:
            state = self.ledger.view.record(str(row.record_id))
            if state is not None and state.committee_id == wanted and state.subject == row.resident and self._trusted(row):
                found.append(self._view(row))
        return found

    def office_queue(
        self, office_id: str, *, kinds: Iterable[RequestKind] = tuple(RequestKind), waiting_only: bool = False
    ) -> list[RequestView]:
        """Requests the office sees (deletions and corrections of its committees' records,
        objections to reads by its organisations or about its committees' residents), open
        ones first, each group oldest first."""
        wanted = office_id.lower()
        with self.ledger.store.session() as session:
            query = select(RightsRequest).where(RightsRequest.kind.in_(list(kinds)))
            if waiting_only:
                query = query.where(RightsRequest.status.in_(WAITING))
            rows = list(session.scalars(query.order_by(RightsRequest.asked_at)))
        found = []
        for row in rows:
            if self._trusted(row) and wanted in self._offices_of(row):
                found.append(self._view(row))
        found.sort(key=lambda r: (not r.open, r.asked_at if r.open else -(r.decided_at or 0)))
        return found

    def overdue(self, office_id: str) -> list[RequestView]:
        """The office's overdue requests (for the dashboard's count)."""
        return [r for r in self.office_queue(office_id, waiting_only=True) if r.overdue]

    def due_at(self, asked_at: int) -> int:
        return asked_at + self.due_days * DAY_MS

    # -- helpers ---------------------------------------------------------------------

    def _insert(self, **values: Any) -> RequestView:
        moment = self.now()
        row = RightsRequest(
            request_id=formats.to_hex(formats.new_id()), status=RequestStatus.OPEN, asked_at=moment,
            due_at=self.due_at(moment), **values,
        )  # fmt: skip
        row.seal = row_seal(self.ledger.sealer, "rights_requests", row)
        with self.ledger.store.session() as session, session.begin():
            session.add(row)
        return self._view(row)

    def _row(self, request_id: str) -> RightsRequest:
        key = parse_id(request_id, field="request_id", what="request id")
        with self.ledger.store.session() as session:
            row = session.get(RightsRequest, key)
        if row is None or not self._trusted(row):
            raise NotFoundError(f"no request {key}")
        return row

    def _trusted(self, row: RightsRequest) -> bool:
        """The asking carries its seal (when seals can be checked here)."""
        return not self.ledger.can_seal or row_sealed(self.ledger.sealer, "rights_requests", row)

    def _view(self, row: RightsRequest) -> RequestView:
        status = RequestStatus(row.status)
        waiting = status in WAITING
        return RequestView(
            request_id=row.request_id, kind=RequestKind(row.kind), status=status, resident=row.resident,
            record_id=row.record_id, category=Category(row.category) if row.category is not None else None,
            committee_id=row.committee_id, office_id=row.office_id, access_seq=row.access_seq, field=row.field,
            proposed=json.loads(row.proposed) if row.proposed is not None else None, comment=row.comment,
            asked_by=row.asked_by, asked_at=row.asked_at, due_at=row.due_at,
            overdue=waiting and self.now() > row.due_at, draft_version=row.draft_version, drafted_by=row.drafted_by,
            outcome=RequestOutcome(row.outcome) if row.outcome and not waiting else None,
            basis=RefusalBasis(row.basis) if row.basis and not waiting else None,
            reason=row.reason if not waiting else None, decider=row.decider if not waiting else None,
            decided_at=row.decided_at if not waiting else None, decision_seq=row.decision_seq,
        )  # fmt: skip

    def _live_record(self, record_id: str) -> RecordState:
        key = parse_id(record_id, field="record_id", what="record id")
        state = self.records._chain_record(key)
        if state.erased:
            raise InputError(f"record {key} is erased already", code=Invalid.RECORD_ERASED, field="record_id")
        return state

    def _leaf(self, seq: int) -> tuple[dict[str, Any], bytes]:
        event = self.ledger.log.event(int(seq))
        raw = bytes(event.leaf) if not isinstance(event.leaf, str) else event.leaf.encode()
        leaf = parse_leaf(raw)
        if leaf is None or leaf.get("seq") != seq or leaf_hash(raw) != bytes(event.leaf_hash):
            raise LedgerError(f"access event #{seq} cannot be read as logged (run 'gridledger verify all')")
        return leaf, raw

    def _believed(self, check: Callable[[], bool]) -> bool:
        return self.records._believed(check)

    def _asker(self, actor: str, resident: str) -> str:
        """The resident themself, or a grid worker or committee member of the resident's
        current committee (the chain's membership)."""
        who = self.ledger.address_of(actor)
        view = self.ledger.view

        def allowed() -> bool:
            own = view.member(resident)
            if own is None or not own.active:
                return False
            if who == resident:
                return own.acts_as("resident")
            helper = view.member(who)
            return helper is not None and helper.acts_as("grid-worker", "committee-member") and helper.org_id == own.org_id

        if not self._believed(allowed):
            raise LedgerError(
                "a request is asked by the resident, or by a grid worker or committee member of the resident's "
                "current committee with the resident present"
            )
        return who

    def _committee_member(self, address: str, state: RecordState) -> MemberState:
        view = self.ledger.view
        found: list[MemberState | None] = [None]

        def fits() -> bool:
            found[0] = view.member(address)
            return found[0] is not None and found[0].acts_as("committee-member") and found[0].org_id == state.committee_id

        if not self._believed(fits) or found[0] is None:
            raise LedgerError("only an active committee member of the record's committee answers a correction")
        return found[0]

    def _office_admin(self, address: str, *offices: str | None) -> MemberState:
        view = self.ledger.view
        found: list[MemberState | None] = [None]
        wanted = {o for o in offices if o}

        def fits() -> bool:
            found[0] = view.member(address)
            return found[0] is not None and found[0].acts_as("office-admin") and found[0].org_id in wanted

        if not self._believed(fits) or found[0] is None:
            raise LedgerError("only an active admin of the office concerned decides this request")
        return found[0]

    def _office_of(self, org: str | None) -> str | None:
        state = self.ledger.view.organisation(org) if org else None
        return state.office if state is not None else None

    def _objection_offices(self, leaf: dict[str, Any], resident: str) -> tuple[str | None, str | None]:
        """The office governing the reading organisation, and the resident's committee's."""
        reader = self._office_of(leaf.get("organisation"))
        own = self.ledger.view.member(resident)
        return reader, self._office_of(own.org_id) if own is not None else None

    def _objection_office(self, leaf: dict[str, Any], resident: str) -> str | None:
        reader, own = self._objection_offices(leaf, resident)
        return reader or own

    def _offices_of(self, row: RightsRequest) -> set[str]:
        """The offices that may decide ``row``, as the chain has it now."""
        if row.kind == RequestKind.OBJECTION:
            try:
                leaf, _raw = self._leaf(int(row.access_seq or 0))
            except LedgerError:
                return set()
            if leaf.get("resident") != row.resident:
                return set()
            return {o for o in self._objection_offices(leaf, row.resident) if o}
        state = self.ledger.view.record(str(row.record_id))
        if state is None or state.subject != row.resident:
            return set()
        office = self._office_of(state.committee_id)
        return {office} if office else set()

    def _require_kind(self, row: RightsRequest, kind: RequestKind) -> None:
        if row.kind != kind:
            raise InputError(f"request {row.request_id} is a {row.kind} request, not a {kind} request",
                             code=Invalid.WRONG_KIND, field="request_id",
                             params={"kind": row.kind, "value": kind, "choices": [row.kind]})  # fmt: skip

    def _outcome_for(self, row: RightsRequest, outcome: RequestOutcome | str) -> RequestOutcome:
        choices = OUTCOMES[RequestKind(row.kind)]
        if outcome not in choices:
            raise InputError(f"a {row.kind} request is answered with one of: {', '.join(choices)}",
                             code=Invalid.WRONG_KIND, field="outcome",
                             params={"kind": row.kind, "value": outcome, "choices": list(choices)})  # fmt: skip
        return RequestOutcome(outcome)

    def _waiting(self, row: RightsRequest, state: RecordState | None) -> None:
        """Refuses a request answered already (and one whose correction is drafted and still
        the record's newest version) with :class:`RequestConflict`."""
        if row.status == RequestStatus.DECIDED or (row.status == RequestStatus.DECIDING and not self._stale(row)):
            raise RequestConflict(f"request {row.request_id} has been answered already", code=Conflict.ALREADY_DECIDED,
                                  params={"outcome": row.outcome})  # fmt: skip
        if row.status == RequestStatus.DRAFTED and state is not None and RequestStatus.DRAFTED not in _redraftable(
            row, state
        ):
            raise RequestConflict(
                f"the corrected version {row.draft_version} is drafted and waits for its signatures",
                code=Conflict.ALREADY_DRAFTED, params={"version": row.draft_version},
            )  # fmt: skip

    def _stale(self, row: RightsRequest) -> bool:
        return row.decided_at is not None and self.now() - row.decided_at > STALE_CLAIM_MS

    def _claim(self, row: RightsRequest, moment: int) -> str:
        """Takes the request for this decision (one decider at a time, across processes).
        Returns the status to put back should recording the decision fail."""
        allowed = [RequestStatus.OPEN, RequestStatus.DRAFTED]
        condition: Any = RightsRequest.status.in_(allowed)
        if row.status == RequestStatus.DECIDING and self._stale(row):
            condition = or_(condition, (RightsRequest.status == RequestStatus.DECIDING)
                            & (RightsRequest.decided_at == row.decided_at))  # fmt: skip
        with self.ledger.store.session() as session, session.begin():
            done = cast(CursorResult[Any], session.execute(
                update(RightsRequest).where(RightsRequest.request_id == row.request_id, condition)
                .values(status=RequestStatus.DECIDING, decided_at=moment)
            ))  # fmt: skip
        if done.rowcount != 1:
            raise RequestConflict(f"request {row.request_id} has been answered already", code=Conflict.ALREADY_DECIDED)
        return RequestStatus.DRAFTED if row.draft_version is not None else RequestStatus.OPEN

    def _decide(
        self,
        row: RightsRequest,
        outcome: RequestOutcome,
        reason: str | None,
        basis: RefusalBasis | None,
        account: LocalAccount,
        member: MemberState | None,
        category: Category | None,
        *,
        version: int | None = None,
        erase: bool = False,
    ) -> RequestView:
        """Signs the statement, logs the decision leaf and records the row (for an erasure,
        the row goes with the erasure's transaction, and the leaf follows it)."""
        moment = self.now()
        previous = self._claim(row, moment)
        decided = {
            "status": RequestStatus.DECIDED, "outcome": outcome, "basis": basis, "reason": reason or None,
            "decider": account.address, "decided_at": moment,
        }  # fmt: skip
        for key, value in decided.items():
            setattr(row, key, value)
        if version is not None:
            row.draft_version = version
        body = formats.canonical_json(statement_of(row))
        signature = formats.to_hex(account.sign_message(encode_defunct(body)).signature)
        decided.update(statement=body.decode(), signature=signature)
        draft = Draft(
            action=Action.DECIDE, outcome=Outcome.ALLOWED, resident=row.resident, accessor=account.address,
            time=moment, record_id=row.record_id, category=category.slug if category is not None else None,
            organisation=member.org_id if member is not None else None, basis=ReadBasis.DUTY,
            justification=reason or None, review_of=row.access_seq, decision=outcome,
        )  # fmt: skip
        table = cast(Table, RightsRequest.__table__)
        try:
            if erase:

                def rows(session: Any, _tx: str) -> None:
                    session.execute(update(table).where(table.c.request_id == row.request_id).values(**decided))

                self.records.erase(str(row.record_id), str(reason), actor=account.address, also=rows)
                appended = self.ledger.log.record(draft)
                with self.ledger.store.session() as session, session.begin():
                    session.execute(
                        update(table).where(table.c.request_id == row.request_id).values(decision_seq=appended.seq)
                    )
            else:
                appended = self.ledger.log.record(draft)
                with self.ledger.store.session() as session, session.begin():
                    session.execute(update(table).where(table.c.request_id == row.request_id)
                                    .values(**decided, decision_seq=appended.seq))  # fmt: skip
        except BaseException:
            with self.ledger.store.session() as session, session.begin():
                session.execute(update(table).where(
                    table.c.request_id == row.request_id, table.c.status == RequestStatus.DECIDING
                ).values(status=previous, decided_at=None))  # fmt: skip
            raise
        return self.get(row.request_id)


def _redraftable(row: RightsRequest, state: RecordState | None = None) -> list[RequestStatus]:
    """The statuses from which a correction may be drafted: open, and drafted once the drafted
    version is no longer the record's newest and was not certified (superseded)."""
    statuses = [RequestStatus.OPEN]
    if row.draft_version is not None and (
        state is None or (state.version > row.draft_version and state.certified_version != row.draft_version)
    ):
        statuses.append(RequestStatus.DRAFTED)
    return statuses
