"""Consent requests: a department asks a resident for a grant; the resident answers.

An active officer of a department asks, for their own department: categories, purpose,
legal basis, how long the grant would last, and a reason in plain words. The resident
approves (the grant is issued with the resident's own key, or relayed with their signature
by a helper of their committee with them in person), declines (optionally saying why), or
lets the request run past its answer-by date, after which it is expired. Expiry is computed
from the clock at each look, never written by a job.

Invariants:

* Every permission comes from the chain (:class:`ledger.chainview.ChainView`), never from a
  row: who is an active officer of which department, who is an active resident of which
  committee now, who helps that committee now, which office a department belongs to.
* An approval writes the request's new status in the grant's own database transaction
  (with the signed transaction in the outbox): an acknowledged approval is never lost and
  never half done. The grant's terms carry the request id, so the chain's ``termsHash``
  binds the grant to the request.
* A request holds ids, codes and the department's own words; nothing of it goes on chain
  but the grant that answers it. Each row is sealed over what was asked: a request edited in
  the database is not acted on.
* A request is decided in one place, :meth:`ConsentRequests.decided`, inside the transaction
  that decides it.
"""

from __future__ import annotations

import builtins
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import formats
from .categories import Category, from_mask, mask
from .chainview import MemberState, OrgState
from .consent import Consent, LegalBasis, Purpose
from .context import Ledger
from .errors import (
    ConsentRequestConflict,
    InputError,
    Invalid,
    NotAllowed,
    NotFoundError,
    RequestProblem,
    StoreError,
)
from .formats import parse_id, to_hex
from .membership import org_id
from .store.models import ConsentRequest, OrgProfile

DAY_MS = 86_400_000
MAX_REASON = 500  # characters of the department's reason, and of a resident's
MAX_ANSWER_DAYS = 90  # the furthest answer-by date an officer may set
RECENT_DAYS = 30  # how far back "recent outcomes" look
MAX_VALIDITY_DAYS = 5 * 366  # the furthest a requested grant may last
#: What a department may ask for: not the duties that need no grant (a committee's review, an audit).
REQUEST_PURPOSES = tuple(p for p in Purpose if p not in (Purpose.RECORD_REVIEW, Purpose.AUDIT))
HELPER_ROLES = ("grid-worker", "committee-member")
SEAL_KIND = "consent_requests"


class ConsentStatus(StrEnum):
    """Where a consent request stands. ``expired`` is never stored: a waiting request whose
    answer-by date has passed is expired. On disk and in the API: never respell."""

    WAITING = "waiting"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"


ANSWERED = (ConsentStatus.APPROVED, ConsentStatus.DECLINED)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class RequestView:
    """A request as people are shown it (ids, codes, times in milliseconds since the epoch;
    ``valid_until`` in seconds, as the grant's)."""

    request_id: str
    resident: str
    department: str  # org id
    department_code: str | None
    office: str
    officer: str
    categories: list[Category]
    purpose: int
    legal_basis: int
    valid_until: int
    reason: str
    asked_at: int
    answer_by: int
    status: ConsentStatus
    decided_at: int | None
    decided_by: str | None
    relayer: str | None
    decline_reason: str | None
    grant_id: str | None
    tx_hash: str | None


@dataclass(frozen=True)
class DepartmentStats:
    """A department's requests by status, and how long residents took to answer."""

    department: str
    department_code: str | None
    asked: int
    waiting: int
    approved: int
    declined: int
    expired: int
    median_answer_ms: int | None  # over approved and declined; None when none was answered


def seal_values(row: Any) -> tuple[Any, ...]:
    """What a request's seal covers: everything asked, and the answer (sealed again when the
    request is answered): a row edited in the database, to widen what was asked, to hide a
    request or to answer it behind the resident's back, no longer carries its seal."""

    def opt(value: Any) -> Any:
        return None if value is None else int(value)

    return (row.request_id, row.resident, row.department, row.office, row.officer, int(row.categories),
            int(row.purpose), int(row.legal_basis), int(row.valid_until), row.reason, int(row.asked_at),
            int(row.answer_by), row.status, opt(row.decided_at), row.decided_by, row.relayer, row.decline_reason,
            row.grant_id, row.tx_hash)  # fmt: skip


class ConsentRequests:
    """Consent requests for one installation (thread-safe; share one per process)."""

    def __init__(self, ledger: Ledger, consent: Consent | None = None, *, now: Callable[[], int] | None = None) -> None:
        """``now`` (milliseconds since the epoch) stamps requests and decides expiry; tests
        pass their own to control time."""
        self.ledger = ledger
        self.consent = consent or Consent(ledger)
        self.now = now if now is not None else lambda: now_ms()  # looked up at each call
        self.answer_days = ledger.settings.request_answer_days

    # -- asking ----------------------------------------------------------------------

    def ask(
        self,
        officer: str,
        resident: str,
        categories: list[Category],
        purpose: Purpose,
        legal_basis: LegalBasis,
        valid_until: int,
        reason: str,
        answer_by: int | None = None,
    ) -> str:
        """Asks ``resident`` for a grant to the officer's own department; returns the request
        id. ``valid_until`` is the grant's end (seconds), ``answer_by`` the request's
        (milliseconds; default: now plus the configured days)."""
        view = self.ledger.view
        asker = self.ledger.address_of(officer)
        member = view.member(asker)
        if member is None or not member.acts_as("department-officer"):
            raise NotAllowed(
                f"{asker} is not an active department officer on chain; only an officer asks for consent",
                code=RequestProblem.NOT_AN_OFFICER,
            )
        dept = view.organisation(member.org_id)
        if dept is None or dept.kind != "department":
            raise NotAllowed(f"{asker} does not act for a department", code=RequestProblem.NOT_AN_OFFICER)
        resident_address = self._resident_address(resident)
        committee = self._committee_of(view.member(resident_address))
        if committee is None:
            raise InputError(
                "the account named is not an active resident on chain",
                code=Invalid.NOT_A_RESIDENT,
                field="resident",
            )
        if committee.office != dept.office:
            code = self._code_of(dept.org_id) or dept.org_id
            raise InputError(
                f"the resident's committee belongs to another office than {code}; a department asks only the "
                "residents of its own office",
                code=Invalid.OTHER_OFFICE,
                field="resident",
                params={"department": code, "office": dept.office, "own": committee.office},
            )
        if not categories:
            raise InputError("choose at least one record category", code=Invalid.REQUIRED, field="categories")
        try:
            purpose, legal_basis = Purpose(purpose), LegalBasis(legal_basis)
        except ValueError as exc:
            raise InputError(str(exc), code=Invalid.UNKNOWN_CHOICE, field="purpose") from None
        if purpose not in REQUEST_PURPOSES:
            choices = [p.name.lower() for p in REQUEST_PURPOSES]
            raise InputError(f"a grant is not asked for {purpose.name.lower()}", code=Invalid.UNKNOWN_CHOICE,
                             field="purpose", params={"value": purpose.name.lower(), "choices": choices})  # fmt: skip
        reason = (reason or "").strip()
        if not reason:
            raise InputError("say in plain words why the department asks", code=Invalid.REQUIRED, field="reason")
        if len(reason) > MAX_REASON:
            raise InputError(f"at most {MAX_REASON} characters", code=Invalid.TOO_LONG, field="reason",
                             params={"max": MAX_REASON})  # fmt: skip
        asked = self.now()
        if answer_by is None:
            answer_by = asked + self.answer_days * DAY_MS
        if answer_by <= asked:
            raise InputError("the answer-by date must be in the future", code=Invalid.NOT_IN_FUTURE, field="answer_by")
        if answer_by > asked + MAX_ANSWER_DAYS * DAY_MS:
            raise InputError(f"at most {MAX_ANSWER_DAYS} days ahead", code=Invalid.TOO_FAR_AHEAD, field="answer_by",
                             params={"days": MAX_ANSWER_DAYS})  # fmt: skip
        if valid_until * 1000 <= answer_by:
            raise InputError(
                "the grant would end before the resident has to answer",
                code=Invalid.END_BEFORE_START,
                field="valid_until",
            )
        if valid_until * 1000 > asked + MAX_VALIDITY_DAYS * DAY_MS:
            raise InputError(f"at most {MAX_VALIDITY_DAYS} days ahead", code=Invalid.TOO_FAR_AHEAD,
                             field="valid_until", params={"days": MAX_VALIDITY_DAYS})  # fmt: skip
        row = ConsentRequest(
            request_id=to_hex(formats.new_id()), resident=resident_address, department=dept.org_id,
            office=dept.office, officer=asker, categories=mask(list(categories)), purpose=int(purpose),
            legal_basis=int(legal_basis), valid_until=int(valid_until), reason=reason, asked_at=asked,
            answer_by=int(answer_by), status=ConsentStatus.WAITING.value,
        )  # fmt: skip
        row.seal = self._seal(row)
        with self.ledger.store.session() as session, session.begin():
            session.add(row)
        return row.request_id

    # -- answering -------------------------------------------------------------------

    def approve(self, request_id: str, resident: str, relayer: str | None = None) -> str:
        """Approves as the request's resident (or with them, as a helper of their committee
        relaying their signature): issues the grant with the request's terms; returns the
        grant id. The request is approved in the grant's own database transaction."""
        row, helper = self._answerable(request_id, resident, relayer)
        code = self._code_of(row.department)
        if code is None:
            raise NotAllowed("the department is not known here any more", code=RequestProblem.DEPARTMENT_GONE)
        dept = self.ledger.view.organisation(row.department)
        committee = self._committee_of(self.ledger.view.member(row.resident))
        if dept is None or dept.kind != "department" or committee is None or dept.office != committee.office:
            raise NotAllowed(
                "the department is no longer a department of the resident's office on chain",
                code=RequestProblem.DEPARTMENT_GONE,
            )
        decided = self.now()

        def approved(session: Session, tx_hash: str, grant_id: str) -> None:
            self._decide(session, row, ConsentStatus.APPROVED, decided, helper, grant_id=grant_id, tx_hash=tx_hash)

        grant_id, _tx = self.consent.issue(
            resident=row.resident,
            department=code,
            categories=from_mask(row.categories),
            purpose=Purpose(row.purpose),
            legal_basis=LegalBasis(row.legal_basis),
            valid_until=row.valid_until,
            purpose_text=row.reason,
            relayer=helper,
            request_id=row.request_id,
            also=approved,
        )
        return grant_id

    def decline(self, request_id: str, resident: str, reason: str | None = None, relayer: str | None = None) -> None:
        """Declines as the request's resident (or with them, relayed), optionally saying why."""
        words = (reason or "").strip() or None
        if words is not None and len(words) > MAX_REASON:
            raise InputError(f"at most {MAX_REASON} characters", code=Invalid.TOO_LONG, field="reason",
                             params={"max": MAX_REASON})  # fmt: skip
        row, helper = self._answerable(request_id, resident, relayer)
        decided = self.now()
        with self.ledger.store.session() as session, session.begin():
            self._decide(session, row, ConsentStatus.DECLINED, decided, helper, decline_reason=words)

    def decided(self, session: Session, request: RequestView) -> None:
        """Called once for each request a resident answers, inside the transaction that
        answers it (so whatever is written here is written with the answer, or not at all).
        Tells the department's systems (a ``request.decided`` webhook: ids and codes only,
        never the resident's words). Expiry is not an event: it is computed from the
        answer-by date."""
        from .webhooks import EventKind, publish

        publish(session, request.department, EventKind.REQUEST_DECIDED, request.request_id, {
            "requestId": request.request_id, "department": request.department,
            "departmentCode": request.department_code, "status": str(request.status), "grantId": request.grant_id,
            "txHash": request.tx_hash, "time": None if request.decided_at is None else request.decided_at // 1000,
        }, at_ms=request.decided_at)  # fmt: skip

    # -- reads -----------------------------------------------------------------------

    def list(
        self,
        *,
        resident: str | None = None,
        department: str | None = None,
        office: str | None = None,
        status: ConsentStatus | str | None = None,
        limit: int | None = None,
    ) -> list[RequestView]:
        """Requests newest first, for a resident (label or address), a department or an office
        (codes or org ids), and of a status (``expired`` included)."""
        now = self.now()
        query = select(ConsentRequest).order_by(ConsentRequest.asked_at.desc(), ConsentRequest.request_id)
        if resident is not None:
            query = query.where(ConsentRequest.resident == self.ledger.address_of(resident))
        if department is not None:
            query = query.where(ConsentRequest.department == _org(department))
        if office is not None:
            query = query.where(ConsentRequest.office == _org(office))
        if status is not None:
            wanted = _status(status)
            if wanted == ConsentStatus.WAITING:
                query = query.where(ConsentRequest.status == "waiting", ConsentRequest.answer_by > now)
            elif wanted == ConsentStatus.EXPIRED:
                query = query.where(ConsentRequest.status == "waiting", ConsentRequest.answer_by <= now)
            else:
                query = query.where(ConsentRequest.status == wanted.value)
        if limit is not None:
            query = query.limit(limit)
        with self.ledger.store.session() as session:
            rows = [r for r in session.scalars(query) if self._sealed(r)]  # an edited row is shown to no one
            codes = self._codes(session)
        return [self._view(r, now, codes) for r in rows]

    def show(self, request_id: str) -> RequestView:
        row = self._row(request_id)
        self._require_sealed(row)
        with self.ledger.store.session() as session:
            codes = self._codes(session)
        return self._view(row, self.now(), codes)

    def waiting_for(self, resident: str) -> builtins.list[RequestView]:
        """The resident's requests waiting for an answer, the soonest due first (the inbox)."""
        found = self.list(resident=resident, status=ConsentStatus.WAITING)
        return sorted(found, key=lambda r: (r.answer_by, r.request_id))

    def recent_outcomes(self, resident: str, *, days: int = RECENT_DAYS) -> builtins.list[RequestView]:
        """The resident's requests answered or expired in the last ``days``, newest first."""
        since = self.now() - days * DAY_MS
        found = [r for r in self.list(resident=resident) if r.status != ConsentStatus.WAITING]
        ended = [(r.decided_at if r.decided_at is not None else r.answer_by, r) for r in found]
        return [r for at, r in sorted(ended, key=lambda p: -p[0]) if at >= since]

    def stats(self, office: str | None = None) -> builtins.list[DepartmentStats]:
        """Per department (of ``office``, or of every office): requests asked, by status,
        and the median time residents took to answer."""
        now = self.now()
        query = select(ConsentRequest)
        if office is not None:
            query = query.where(ConsentRequest.office == _org(office))
        with self.ledger.store.session() as session:
            rows = [(r.department, r.status, r.answer_by, r.asked_at, r.decided_at)
                    for r in session.scalars(query) if self._sealed(r)]  # fmt: skip
            codes = self._codes(session)
        counts: dict[str, dict[ConsentStatus, int]] = {}
        answered: dict[str, list[int]] = {}
        for dept, stored, answer_by, asked_at, decided_at in rows:
            status = _current(stored, answer_by, now)
            counts.setdefault(dept, dict.fromkeys(ConsentStatus, 0))[status] += 1
            if status in ANSWERED and decided_at is not None:
                answered.setdefault(dept, []).append(decided_at - asked_at)
        result = []
        for dept, by in counts.items():
            times = answered.get(dept)
            result.append(DepartmentStats(
                department=dept, department_code=codes.get(dept), asked=sum(by.values()),
                waiting=by[ConsentStatus.WAITING], approved=by[ConsentStatus.APPROVED],
                declined=by[ConsentStatus.DECLINED], expired=by[ConsentStatus.EXPIRED],
                median_answer_ms=int(statistics.median(times)) if times else None,
            ))  # fmt: skip
        return sorted(result, key=lambda s: s.department_code or s.department)

    # -- helpers ---------------------------------------------------------------------

    def _answerable(self, request_id: str, resident: str, relayer: str | None) -> tuple[ConsentRequest, str | None]:
        """The request, once the chain says this resident (or this helper with them) may
        answer it now and it is still waiting; and the helper's address."""
        row = self._row(request_id)
        self._require_sealed(row)
        answerer = self.ledger.address_of(resident)
        if answerer != row.resident:
            raise NotAllowed(f"the request {row.request_id} is not for {answerer}", code=RequestProblem.NOT_YOURS)
        view = self.ledger.view
        committee = self._committee_of(view.member(answerer))
        if committee is None:
            raise NotAllowed(
                f"{answerer} is not an active resident on chain any more", code=RequestProblem.NOT_A_RESIDENT
            )
        helper = None
        if relayer is not None:
            helper = self.ledger.address_of(relayer)
            member = view.member(helper)
            if member is None or not member.acts_as(*HELPER_ROLES) or member.org_id != committee.org_id:
                raise NotAllowed(
                    f"{helper} is not an active grid worker or committee member of the resident's committee "
                    f"({committee.org_id}) on chain",
                    code=RequestProblem.NOT_A_HELPER,
                )
        status = _current(row.status, row.answer_by, self.now())
        if status in ANSWERED:
            raise ConsentRequestConflict(f"the request {row.request_id} was already {status}",
                                  code=RequestProblem.ALREADY_ANSWERED, params={"status": status.value})  # fmt: skip
        if status == ConsentStatus.EXPIRED:
            raise ConsentRequestConflict(f"the request {row.request_id} expired unanswered",
                                  code=RequestProblem.EXPIRED, params={"answer_by": row.answer_by})  # fmt: skip
        return row, helper

    def _decide(
        self,
        session: Session,
        row: ConsentRequest,
        status: ConsentStatus,
        at: int,
        relayer: str | None,
        **answer: Any,
    ) -> None:
        """Writes the answer, once: a request answered meanwhile (by another click, another
        process) is not answered again, and the whole transaction is undone."""
        changed = session.execute(
            update(ConsentRequest)
            .where(ConsentRequest.request_id == row.request_id, ConsentRequest.status == ConsentStatus.WAITING.value)
            .values(status=status.value, decided_at=at, decided_by=row.resident, relayer=relayer, **answer)
        ).rowcount  # type: ignore[attr-defined]
        if changed != 1:
            raise ConsentRequestConflict(f"the request {row.request_id} was answered meanwhile",
                                  code=RequestProblem.ALREADY_ANSWERED, params={"status": "answered"})  # fmt: skip
        stored = session.get(ConsentRequest, row.request_id, populate_existing=True)
        assert stored is not None
        stored.seal = self._seal(stored)
        self.decided(session, self._view(stored, at, self._codes(session)))

    def _row(self, request_id: str) -> ConsentRequest:
        key = parse_id(request_id, field="request_id", what="request id")
        with self.ledger.store.session() as session:
            row = session.get(ConsentRequest, key)
        if row is None:
            raise NotFoundError(f"no consent request {key}")
        return row

    def _resident_address(self, resident: str) -> str:
        try:
            return self.ledger.address_of(resident)
        except NotFoundError:
            raise InputError(
                "no resident by that name or address", code=Invalid.NOT_A_RESIDENT, field="resident"
            ) from None

    def _committee_of(self, member: MemberState | None) -> OrgState | None:
        """The committee an active resident belongs to now, as the chain has it."""
        if member is None or not member.acts_as("resident"):
            return None
        org = self.ledger.view.organisation(member.org_id)
        return org if org is not None and org.kind == "committee" else None

    def _seal(self, row: ConsentRequest) -> bytes | None:
        return self.ledger.sealer.seal(SEAL_KIND, *seal_values(row)) if self.ledger.can_seal else None

    def _require_sealed(self, row: ConsentRequest) -> None:
        if not self._sealed(row):
            raise StoreError(
                f"the consent request {row.request_id} was altered in the database (its seal does not match); "
                "not acting on it or showing it. Tell the subdistrict office."
            )

    def _sealed(self, row: ConsentRequest) -> bool:
        if not self.ledger.can_seal:
            return True  # nothing to check with (a command run without the keystore password)
        return self.ledger.sealer.check(row.seal, SEAL_KIND, *seal_values(row))

    def _code_of(self, org: str) -> str | None:
        """The code of an organisation, trusted only when it hashes to the org id."""
        with self.ledger.store.session() as session:
            profile = session.get(OrgProfile, org)
        if profile is None or to_hex(org_id(profile.code)) != org:
            return None
        return profile.code

    @staticmethod
    def _codes(session: Session) -> dict[str, str]:
        return {p.org_id: p.code for p in session.scalars(select(OrgProfile))}

    @staticmethod
    def _view(row: ConsentRequest, now: int, codes: dict[str, str]) -> RequestView:
        return RequestView(
            request_id=row.request_id, resident=row.resident, department=row.department,
            department_code=codes.get(row.department), office=row.office, officer=row.officer,
            categories=from_mask(row.categories), purpose=row.purpose, legal_basis=row.legal_basis,
            valid_until=row.valid_until, reason=row.reason, asked_at=row.asked_at, answer_by=row.answer_by,
            status=_current(row.status, row.answer_by, now), decided_at=row.decided_at, decided_by=row.decided_by,
            relayer=row.relayer, decline_reason=row.decline_reason, grant_id=row.grant_id, tx_hash=row.tx_hash,
        )  # fmt: skip


def _current(stored: str, answer_by: int, now: int) -> ConsentStatus:
    """The status now: a waiting request past its answer-by date is expired."""
    status = ConsentStatus(stored)
    if status == ConsentStatus.WAITING and now >= answer_by:
        return ConsentStatus.EXPIRED
    return status


def _status(value: ConsentStatus | str) -> ConsentStatus:
    try:
        return ConsentStatus(value)
    except ValueError:
        raise InputError(
            f"unknown status {value!r}; expected one of: {', '.join(ConsentStatus)}",
            code=Invalid.UNKNOWN_CHOICE,
            field="status",
            params={"value": value, "choices": list(ConsentStatus)},
        ) from None


def _org(code_or_id: str) -> str:
    """An organisation's id from its code or its id."""
    text = code_or_id.strip()
    if text.lower().startswith("0x") and len(text) == 66:
        return text.lower()
    return to_hex(org_id(text))
