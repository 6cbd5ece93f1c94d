"""The JSON API ``/api/v1``: the department, resident and audit capabilities for other
systems, authenticated by bearer tokens (see :mod:`.auth`), described by the OpenAPI 3.1
document at ``/api/v1/openapi.json`` (:mod:`.openapi`) and tried out in the explorer page
at ``/api/v1/docs``.

Every error is JSON ``{"error", "message"}`` (plus ``field`` for bad input, ``reason`` and
``seq`` for a logged refusal). Objects fetched by an id from the URL are checked against
the caller (a resident's own grant or access event, an office's own departments and
residents); others answer 404, so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, cast

from flask import Blueprint, current_app, jsonify, render_template, request
from sqlalchemy import Table, bindparam, select
from web3 import Web3
from werkzeug.exceptions import HTTPException

from ledger import audit as audit_
from ledger.categories import parse_category
from ledger.consent import LegalBasis, Purpose, parse_date, parse_enum
from ledger.errors import InputError, LedgerError, NotFoundError
from ledger.formats import parse_id, to_hex
from ledger.history import anchored_checkpoint, organisation_leaf, own_event, proof_document, resident_history
from ledger.history import bundle as make_bundle
from ledger.membership import CODE_PATTERN, org_id
from ledger.store.models import AccessEvent, OrgProfile, Record

from .. import errors
from ..services import services
from . import payloads
from .auth import caller, token_required
from .openapi import ALL_ROLES, SUMMARIES, TAGS, document_json

bp = Blueprint("api", __name__, template_folder="templates")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_PURPOSE_TEXT = 500
MAX_NOTICE = 2_000
#: Purposes a resident may grant for (the others are statutory duties and emergencies, not consent).
GRANT_PURPOSES = tuple(p for p in Purpose if p not in (Purpose.EMERGENCY_RESPONSE, Purpose.RECORD_REVIEW, Purpose.AUDIT))
READ_BASES = ("grant", "emergency")
GRANT_STATUSES = ("active", "all")
OUTCOMES = ("allowed", "refused")
#: The largest sequence number the log uses (a safe integer in its leaves); larger numbers
#: in a URL or a cursor are refused before they reach the database.
MAX_SEQ = 2**53 - 1
#: Seconds a client is told to wait when what it asked for is not anchored yet.
RETRY_AFTER = 5

_EVENTS = cast(Table, AccessEvent.__table__)
_RECORDS = cast(Table, Record.__table__)
_e = _EVENTS.c


# -- errors: always JSON -----------------------------------------------------------------------


@bp.errorhandler(Exception)
def _any_error(exc: Exception) -> Any:
    """A blueprint handler sees every error of its views first: HTTP and ledger errors get
    the app's JSON answer; anything else a JSON 500 (and a log line), never an HTML page."""
    if isinstance(exc, HTTPException):
        return errors._http_error(exc)
    if isinstance(exc, LedgerError):
        return errors._ledger_error(exc)
    current_app.logger.exception("API error on %s %s", request.method, request.path)
    return errors.api_error(500, "internal-error", "something went wrong on the server; it has been logged")


@contextmanager
def fields(**names: str) -> Iterator[None]:
    """Reports a library :class:`InputError` under the name the API's caller used."""
    try:
        yield
    except InputError as exc:
        if exc.field in names:
            raise InputError(str(exc), field=names[exc.field]) from exc
        raise


# -- reading the request -----------------------------------------------------------------------


def _int_arg(name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    text = request.args.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < low or (high is not None and int(text) > high):
        upper = f" to {high}" if high is not None else " or more"
        raise InputError(f"expected a whole number from {low}{upper}; got {text!r}", field=name)
    return int(text)


def _choice_arg(name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    text = request.args.get(name, "").strip()
    if not text:
        return default
    if text not in choices:
        raise InputError(f"expected one of: {', '.join(choices)}; got {text!r}", field=name)
    return text


def _category_arg(name: str = "category") -> int | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    with fields(category=name):
        return int(parse_category(text))


def _org_code(text: str, field: str) -> str:
    if not CODE_PATTERN.match(text):
        raise InputError(f"an organisation code is 2-63 characters of a-z, 0-9 and '-'; got {text!r}", field=field)
    return text


def _org_arg(name: str) -> str | None:
    """An organisation named by its code or its 0x id; returned as the id (no query)."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    if text.startswith("0x"):
        return parse_id(text, field=name, what="organisation id")
    return to_hex(org_id(_org_code(text, name)))


def _not_anchored(message: str) -> Any:
    """Not yet anchored is a wait, not an absence: 503 with Retry-After, never 404."""
    body, status = errors.api_error(503, "not-anchored-yet", message)
    body.headers["Retry-After"] = str(RETRY_AFTER)
    return body, status


def _body() -> dict[str, Any]:
    if not request.get_data(cache=True):
        return {}
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object", field="body")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool = False, limit: int | None = None) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InputError("required", field=name)
        return None
    if not isinstance(value, str):
        raise InputError("expected a string", field=name)
    if limit is not None and len(value) > limit:
        raise InputError(f"at most {limit} characters", field=name)
    return value


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"expected a date as YYYY-MM-DD; got {text!r}", field=field) from None


# -- no token needed ----------------------------------------------------------------------------


@bp.get("/ping")
def ping() -> Any:
    """Alive: no token, no database."""
    return jsonify({"status": "ok"})


@bp.get("/openapi.json")
def openapi() -> Any:
    return current_app.response_class(document_json(), mimetype="application/json")


@bp.get("/docs")
def explorer() -> Any:
    """The explorer: its script fetches the document; the page gives it the words to show
    (summaries and group names translated from the ``api`` catalogue)."""
    return render_template("api/explorer.html", summaries=SUMMARIES, tags=TAGS, roles=ALL_ROLES)


# -- any valid token ----------------------------------------------------------------------------


@bp.get("/me")
@token_required()
def me() -> Any:
    who = caller()
    with services().ledger.store.session() as db:
        profile = db.get(OrgProfile, who.org_id)
    return jsonify({
        "address": who.address,
        "role": who.role,
        "organisation": {
            "id": who.org_id, "code": profile.code if profile else None, "name": profile.name if profile else None,
            "kind": who.org_kind,
        },
        "token": {"id": who.token_id, "name": who.token_name},
    })  # fmt: skip


@bp.get("/status")
@token_required()
def status() -> Any:
    health = services().access.health()
    checkpoint = anchored_checkpoint(services().ledger, services().log)
    return jsonify({
        "log": {
            "size": health.size, "anchoredSize": health.anchored_size, "lagSeconds": round(health.lag_seconds, 3),
            "limitSeconds": health.limit_seconds, "state": health.state,
        },
        "checkpoint": checkpoint,
    })  # fmt: skip


# -- department officers ------------------------------------------------------------------------


def _department_code(department: str) -> str:
    with services().ledger.store.session() as db:
        profile = db.get(OrgProfile, department)
    if profile is None:
        raise NotFoundError("your department has no profile here; ask the office to check it")
    return profile.code


def _my_grant(grant_id: str) -> str:
    """A grant given to the caller's department; any other (another department's, or none)
    answers 404 before anything is read or logged, so grant ids cannot be probed."""
    try:
        view = services().consent.show(grant_id)
    except NotFoundError:
        view = None
    if view is None or view.department.lower() != caller().org_id.lower():
        raise NotFoundError(f"your department holds no grant {grant_id}")
    return grant_id


@bp.get("/department/grants")
@token_required("department-officer")
def department_grants() -> Any:
    which = _choice_arg("status", GRANT_STATUSES, "active")
    views = services().consent.list(department=_department_code(caller().org_id))
    if which == "active":
        views = [v for v in views if v.status == "active"]
    return jsonify({"grants": [payloads.grant(v) for v in views]})


@bp.post("/department/records/<record_id>/read")
@token_required("department-officer")
def department_read(record_id: str) -> Any:
    """The logged read: the grant (or emergency) check, the log append, then the content."""
    body = _body()
    basis = _text(body, "basis")
    if basis is not None and basis not in READ_BASES:
        raise InputError(f"expected one of: {', '.join(READ_BASES)}; got {basis!r}", field="basis")
    grant_id = _text(body, "grantId")
    if grant_id is not None:
        grant_id = _my_grant(parse_id(grant_id, field="grantId", what="grant id"))
    with fields(record_id="recordId", grant_id="grantId", disclose_on="discloseOn", justification="justification"):
        got = services().access.read(
            record_id, accessor=caller().address, basis=basis, grant_id=grant_id,
            justification=_text(body, "justification"), disclose_on=_text(body, "discloseOn"),
        )  # fmt: skip
    return jsonify({
        "recordId": got.record_id, "version": got.version, "certified": got.certified,
        "category": got.category.slug, "content": got.content,
        "access": {"seq": got.seq, "basis": got.basis, "grantId": got.grant_id},
    })  # fmt: skip


@bp.get("/department/accesses")
@token_required("department-officer")
def department_accesses() -> Any:
    """My department's access events, newest first, a page at a time (index on organisation, time)."""
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    assert limit is not None
    before = _int_arg("before", None, 0, MAX_SEQ)
    outcome = _choice_arg("outcome", OUTCOMES, None)
    category = _category_arg()
    org = caller().org_id
    query = select(_e.seq, _e.leaf, _e.justification).where(_e.organisation == org)
    params: dict[str, Any] = {}
    if before is not None:
        # The cursor's time, only if the event is this department's (another's reveals nothing).
        at = select(_e.time).where(_e.seq == bindparam("before"), _e.organisation == org).scalar_subquery()
        query = query.where(_e.time <= at, ~((_e.time == at) & (_e.seq >= bindparam("before"))))
        params["before"] = before
    if outcome is not None:
        query = query.where(_e.outcome == outcome)
    if category is not None:
        query = query.join(_RECORDS, _RECORDS.c.record_id == _e.record_id).where(_RECORDS.c.category == category)
    query = query.order_by(_e.time.desc(), _e.seq.desc()).limit(limit + 1)
    with services().ledger.store.engine.connect() as connection:
        rows = connection.execute(query, params).all()
    more = len(rows) > limit
    rows = rows[:limit]
    shown = [found for r in rows if (found := organisation_leaf(r.leaf, r.justification, org)) is not None]
    return jsonify({
        "events": [payloads.access_event(leaf, justification) for leaf, justification in shown],
        "nextBefore": rows[-1].seq if more else None,
    })  # fmt: skip


# -- residents ------------------------------------------------------------------------------------


@bp.get("/resident/records")
@token_required("resident")
def resident_records() -> Any:
    """My own records with every version, content included (my own data: not an access by
    someone else, so not logged; see docs/decisions.md)."""
    views = services().records.of_subject(caller().address)
    return jsonify({"records": [payloads.record(v) for v in views]})


@bp.get("/resident/grants")
@token_required("resident")
def resident_grants() -> Any:
    views = services().consent.list(resident=caller().address)
    return jsonify({"grants": [payloads.grant(v) for v in views]})


@bp.post("/resident/grants")
@token_required("resident")
def resident_grant_issue() -> Any:
    body = _body()
    department = _org_code(_text(body, "department", required=True) or "", "department")
    categories = body.get("categories")
    if not isinstance(categories, list) or not categories or not all(isinstance(c, str) for c in categories):
        raise InputError("expected a list of record categories, e.g. [\"health\"]", field="categories")
    with fields(category="categories"):
        chosen = sorted({parse_category(c) for c in categories})
    purpose = _purpose(body.get("purpose"))
    until_text = _text(body, "validUntil", required=True) or ""
    until = _day(until_text, "validUntil")
    purpose_text = (_text(body, "purposeText", limit=MAX_PURPOSE_TEXT) or "").strip()
    notice = (_text(body, "notice", limit=MAX_NOTICE) or "").strip()
    with fields(valid_until="validUntil", date="validUntil", department="department", categories="categories"):
        grant_id, _tx = services().consent.issue(
            resident=caller().address, department=department, categories=chosen, purpose=purpose,
            legal_basis=LegalBasis.CONSENT, valid_until=parse_date(until.isoformat()) + 86_400,
            purpose_text=purpose_text, notice=notice,
        )  # fmt: skip
    return jsonify(payloads.grant(services().consent.show(grant_id))), 201


def _purpose(value: Any) -> Purpose:
    if isinstance(value, bool) or value is None:
        raise InputError("give the purpose as its code (e.g. 2) or name (e.g. health-management)", field="purpose")
    if isinstance(value, int):
        try:
            purpose = Purpose(value)
        except ValueError:
            raise InputError(f"unknown purpose code {value}", field="purpose") from None
    elif isinstance(value, str):
        purpose = parse_enum(Purpose, value, "purpose")
    else:
        raise InputError("expected a purpose code or name", field="purpose")
    if purpose not in GRANT_PURPOSES:
        names = ", ".join(p.name.lower().replace("_", "-") for p in GRANT_PURPOSES)
        raise InputError(f"a resident grants for one of: {names}", field="purpose")
    return purpose


@bp.post("/resident/grants/<grant_id>/withdraw")
@token_required("resident")
def resident_grant_withdraw(grant_id: str) -> Any:
    key = parse_id(grant_id, field="grantId", what="grant id")
    consent = services().consent
    try:
        view = consent.show(key)
    except NotFoundError:
        view = None
    if view is None or view.resident != caller().address:
        raise NotFoundError(f"you have no grant {key}")
    if view.status != "active":
        return errors.api_error(409, "conflict", f"the grant is {view.status} already; only an active grant is withdrawn")
    consent.withdraw(key)
    return jsonify(payloads.grant(consent.show(key)))


@bp.get("/resident/accesses")
@token_required("resident")
def resident_accesses() -> Any:
    """Who used my data: a page of my access history, newest first, each entry with its
    inclusion proof to the anchored checkpoint (paged from the (resident, resident_seq) index)."""
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    before = _int_arg("before", None, 0, MAX_SEQ)
    department = _org_arg("department")
    category = _category_arg()
    found = resident_history(
        services().ledger, caller().address, log=services().log, limit=limit, before=before,
        department=department, category=category,
    )  # fmt: skip
    ids = {e.leaf["organisation"] for e in found.entries if e.leaf and e.leaf.get("organisation")}
    names: dict[str, dict[str, Any]] = {}
    if ids:
        with services().ledger.store.session() as db:
            for profile in db.scalars(select(OrgProfile).where(OrgProfile.org_id.in_(sorted(ids)))):
                names[profile.org_id] = {"code": profile.code, "name": profile.name}
    return jsonify(payloads.history(found, names))


@bp.get("/resident/accesses/<seq>/proof")
@token_required("resident")
def resident_access_proof(seq: str) -> Any:
    if not seq.isdigit():
        raise InputError(f"an access number is a whole number; got {seq!r}", field="seq")
    number = int(seq)
    log = services().log
    if number > MAX_SEQ:
        raise NotFoundError(f"you have no access event #{number}")
    own_event(log, number, caller().address)  # the leaf's resident, not the row's column
    checkpoint = anchored_checkpoint(services().ledger, log)
    if checkpoint is None or number >= int(checkpoint["size"]):
        return _not_anchored(f"access event #{number} is not anchored yet; ask again in a few seconds")
    return jsonify(proof_document(services().ledger, number, log=log, resident=caller().address))


# -- office administrators ------------------------------------------------------------------------


def _office_orgs(office: str) -> dict[str, str]:
    """The office and the organisations under it, as the chain has them: id -> kind."""
    return services().orgs.governed_by(office)


def _office_resident(office: str) -> Callable[[str | None], bool]:
    """Whether an address is a resident of the office's committees, on chain."""
    return lambda address: address is not None and services().orgs.resident_of_office(address, office)


def _audit_scope(*, one_required: bool = False) -> tuple[Any, dict[str, str], Callable[[str | None], bool]]:
    """The scope from the query, limited to the caller's office: a department (or other
    organisation) of another office, or a resident of another office, answers 404."""
    office = caller().org_id
    orgs = _office_orgs(office)
    residents = _office_resident(office)
    start, end = request.args.get("from") or None, request.args.get("to") or None
    department = request.args.get("department", "").strip() or None
    resident = request.args.get("resident", "").strip() or None
    if department is not None:
        _org_code(department, "department")
        if to_hex(org_id(department)) not in orgs:
            raise NotFoundError(f"your office has no department {department!r}")
    if resident is not None:
        if not Web3.is_address(resident):
            raise InputError(f"a resident is named by their 0x address; got {resident!r}", field="resident")
        resident = Web3.to_checksum_address(resident)
        if not residents(resident):
            raise NotFoundError(f"no resident {resident} in your office's committees")
    if one_required and department is None and resident is None:
        raise InputError("name one of your office's departments (department=CODE) or residents (resident=0x…)",
                          field="department")  # fmt: skip
    scope = audit_.scope_of(services().ledger, start=start, end=end, department=department, resident=resident)
    if scope.start and scope.end and scope.end < scope.start:
        raise InputError("the end date is before the start date", field="to")
    return scope, orgs, residents


@bp.get("/audit/findings")
@token_required("office-admin")
def audit_findings() -> Any:
    scope, orgs, residents = _audit_scope()
    ledger = services().ledger
    result = audit_.run(ledger, scope, integrity=False)
    mine = [f for f in result.findings if (f.organisation in orgs) or residents(f.resident)]
    codes = audit_.org_codes(ledger)
    counts: dict[str, int] = {}
    for f in mine:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    per_day = [
        {"organisation": org, "organisationCode": codes.get(org), "day": day, "reads": n}
        for (org, day), n in sorted(result.per_day.items())
        if org in orgs
    ]
    return jsonify({
        "scope": scope.json(), "events": result.events, "counts": counts,
        "findings": [payloads.audit_finding(f, codes) for f in mine], "perDay": per_day,
    })  # fmt: skip


@bp.get("/audit/bundle")
@token_required("office-admin")
def audit_bundle() -> Any:
    scope, _orgs, _residents = _audit_scope(one_required=True)
    ledger = services().ledger
    if services().ledger.view.checkpoint() is None:
        return _not_anchored("nothing is anchored yet: the worker ('gridledger worker') anchors the log; ask again soon")
    return jsonify(make_bundle(ledger, scope, ledger.account(ledger.settings.anchorer), log=services().log))


@bp.get("/audit/emergency")
@token_required("office-admin")
def audit_emergency() -> Any:
    orgs = _office_orgs(caller().org_id)
    ledger = services().ledger
    pending = [e for e in audit_.unreviewed(ledger) if e.organisation in orgs]
    codes = audit_.org_codes(ledger)
    return jsonify({"emergencies": [payloads.emergency(e, codes) for e in pending]})
