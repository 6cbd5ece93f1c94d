"""The JSON API ``/api/v1``: the department, resident and audit capabilities for other
systems, authenticated by bearer tokens (see :mod:`.auth`), described by the OpenAPI 3.1
document at ``/api/v1/openapi.json`` and tried out in the explorer page at ``/api/v1/docs``.

Each view is registered by its entry in the route table (:data:`.spec.OPERATIONS`): the token
it needs is checked first, then its path, query and body are read into their models
(:mod:`.models`), and what it returns is sent as its answer's model. Bad input answers 400
``invalid-input`` naming the ``field``, before anything is read or logged.

Every error is JSON ``{"error", "message"}`` (plus ``field`` for bad input, ``reason`` and
``seq`` for a logged refusal). Objects fetched by an id from the URL are checked against
the caller (a resident's own grant or access event, an office's own departments and
residents); others answer 404, so ids cannot be probed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache, wraps
from typing import Any, TypeVar

from flask import Blueprint, after_this_request, current_app, render_template, request
from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import LanguageAccept
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_accept_header

from ledger import audit as audit_
from ledger.access import BulkStatus
from ledger.access import Disclosure as Read
from ledger.categories import parse_category
from ledger.consent import LegalBasis, parse_date
from ledger.errors import InputError, Invalid, LedgerError, NotFoundError
from ledger.formats import to_hex
from ledger.grants import IN_FORCE, GrantStatus
from ledger.history import anchored_checkpoint, organisation_leaf, own_event, proof_document, resident_history
from ledger.history import bundle as make_bundle
from ledger.membership import org_id

from .. import content, errors
from ..services import services
from . import models as m
from . import queries
from .auth import caller, token_required
from .spec import OPERATIONS, SUMMARIES, TAGS, document_json

bp = Blueprint("api", __name__, template_folder="templates")

#: Seconds a client is told to wait when what it asked for is not anchored yet.
RETRY_AFTER = 5


# -- errors: always JSON -----------------------------------------------------------------------


@bp.errorhandler(Exception)
def _any_error(exc: Exception) -> Any:
    """A blueprint handler sees every error of its views first: HTTP and ledger errors get
    the API's error answer; anything else a JSON 500 (and a log line), never an HTML page."""
    if isinstance(exc, HTTPException):
        return m.error_answer(exc.code or 500, m.http_code(exc.name or "error"), exc.description or "")
    if isinstance(exc, LedgerError):
        status, code = errors.status_of(exc)
        extra: dict[str, Any] = {}
        extra.update(errors.codes_of(exc))
        return m.error_answer(status, code, str(exc), **extra)
    current_app.logger.exception("API error on %s %s", request.method, request.path)
    return m.error_answer(500, m.ErrorCode.INTERNAL_ERROR, "something went wrong on the server; it has been logged")


@contextmanager
def fields(**names: str) -> Iterator[None]:
    """Reports a library :class:`InputError` under the name the API's caller used."""
    try:
        yield
    except InputError as exc:
        if exc.field in names:
            raise InputError(exc.message, code=exc.code, field=names[exc.field], params=exc.params) from exc
        raise


def _not_anchored(message: str) -> Any:
    """Not yet anchored is a wait, not an absence: 503 with Retry-After, never 404."""
    body, status = m.error_answer(503, m.ErrorCode.NOT_ANCHORED_YET, message)
    body.headers["Retry-After"] = str(RETRY_AFTER)
    return body, status


# -- reading requests, sending answers ------------------------------------------------------------


M = TypeVar("M", bound=BaseModel)


def _read(model: type[M], values: Any, *, strings: bool = False) -> M:
    """``values`` read into ``model``; its first problem answers 400, naming the field."""
    try:
        return model.model_validate_strings(values) if strings else model.model_validate(values)
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        field = str(problem["loc"][0]) if problem["loc"] else "body"
        message = "required" if problem["type"] == "missing" else problem["msg"]
        if problem["type"] not in ("missing", "invalid") and isinstance(problem.get("input"), (str, int, float)):
            message += f"; got {problem['input']!r}"
        code = Invalid.REQUIRED if problem["type"] == "missing" else Invalid.INVALID
        raise InputError(
            message, code=code, field=field, params={} if code == Invalid.REQUIRED else {"problem": message}
        ) from None


def _query() -> dict[str, str]:
    """The query's parameters; an empty one counts as not given."""
    return {name: value.strip() for name, value in request.args.items() if value.strip()}


def _body() -> Any:
    if not request.get_data(cache=True):
        return {}
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object", code=Invalid.NOT_AN_OBJECT, field="body")
    return body


def operation(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers a view for its entry of the route table. The view gets the entry's models
    as ``params``, ``query`` and ``body``; an answer model it returns is sent with the
    entry's status (anything else, an error answer, as it is)."""
    op = OPERATIONS[name]

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def handle(**path: str) -> Any:
            given: dict[str, Any] = {}
            if op.params is not None:
                given["params"] = _read(op.params, path, strings=True)
            if op.query is not None:
                given["query"] = _read(op.query, _query(), strings=True)
            if op.body is not None:
                given["body"] = _read(op.body, _body())
            answer = view(**given)
            if isinstance(answer, BaseModel):
                return current_app.response_class(answer.model_dump_json(), mimetype="application/json"), op.status
            return answer

        guarded = handle if op.roles is None else token_required(*op.roles)(handle)
        bp.add_url_rule(op.rule, endpoint=name, view_func=guarded, methods=[op.method.upper()])
        return view

    return register


def _language() -> str:
    """The language of content's labels (``fields``), from ``Accept-Language``: ``en`` when the
    caller prefers English to Chinese, else ``zh-CN`` (also when it names neither); the answer
    says which in ``Content-Language``."""
    chosen = _content_language(request.headers.get("Accept-Language", ""))

    @after_this_request
    def tell(response: Any) -> Any:
        response.headers["Content-Language"] = chosen
        response.vary.add("Accept-Language")
        return response

    return chosen


@lru_cache(maxsize=256)
def _content_language(header: str) -> str:
    """:func:`_language` of an ``Accept-Language`` header (callers send the same few)."""
    best = parse_accept_header(header, LanguageAccept).best_match(["zh-CN", "zh", "en"])
    return content.ENGLISH if best == "en" else content.CHINESE


def _names(profile: queries.Profile) -> m.Names:
    return m.Names.model_validate({"zh-CN": profile.name_zh, "en": profile.name})


# -- no token needed ----------------------------------------------------------------------------


@operation("ping")
def ping() -> m.Ping:
    """Alive: no token, no database."""
    return m.Ping(status="ok")


@operation("openapi")
def openapi() -> Any:
    return current_app.response_class(document_json(), mimetype="application/json")


@operation("explorer")
def explorer() -> Any:
    """The explorer: its script fetches the document; the page gives it the words to show
    (summaries and group names translated from the ``api`` catalogue)."""
    return render_template("api/explorer.html", summaries=SUMMARIES, tags=TAGS, roles=m.ROLES)


# -- any valid token ----------------------------------------------------------------------------


@operation("me")
def me() -> m.Me:
    who = caller()
    profile = queries.profile(services().ledger.store, who.org_id)
    return m.Me(
        address=who.address, role=who.role,
        organisation=m.MeOrganisation(
            id=who.org_id, code=profile.code if profile else None, name=profile.name if profile else None,
            names=_names(profile) if profile else None, kind=who.org_kind,
        ),
        token=m.MeToken(id=who.token_id, name=who.token_name),
    )  # fmt: skip


@operation("status")
def status() -> m.Status:
    health = services().access.health()
    checkpoint = anchored_checkpoint(services().ledger, services().log)
    return m.Status(
        log=m.LogHealth(
            size=health.size, anchored_size=health.anchored_size, lag_seconds=round(health.lag_seconds, 3),
            limit_seconds=health.limit_seconds, state=health.state,
        ),
        checkpoint=m.Checkpoint.model_validate(checkpoint) if checkpoint else None,
    )  # fmt: skip


# -- department officers ------------------------------------------------------------------------


def _department_code(department: str) -> str:
    profile = queries.profile(services().ledger.store, department)
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


@operation("department_grants")
def department_grants(query: m.GrantsQuery) -> m.GrantList:
    views = services().consent.list(department=_department_code(caller().org_id))
    if query.status == "active":
        views = [v for v in views if v.status == GrantStatus.ACTIVE]
    return m.GrantList(grants=[m.Grant.of(v) for v in views])


@operation("department_read")
def department_read(params: m.RecordPath, body: m.ReadRequest) -> m.Disclosure:
    """The logged read: the grant (or emergency) check, the log append, then the content."""
    grant_id = _my_grant(body.grant_id) if body.grant_id is not None else None
    with fields(record_id="recordId", grant_id="grantId", disclose_on="discloseOn", justification="justification"):
        got = services().access.read(
            params.record_id, accessor=caller().address, basis=body.basis, grant_id=grant_id,
            justification=body.justification,
            disclose_on=body.disclose_on.isoformat() if body.disclose_on is not None else None,
        )  # fmt: skip
    return _disclosure(got, _language())


def _disclosure(got: Read, language: str) -> m.Disclosure:
    """A read's answer: the content with its labels, and the log entry that records the read."""
    return m.Disclosure(
        record_id=got.record_id, version=got.version, certified=got.certified, category=got.category.slug,
        content=got.content, fields=m.content_fields(got.category, got.content, language),
        access=m.DisclosureAccess(seq=got.seq, basis=got.basis, grant_id=got.grant_id),
    )  # fmt: skip


@operation("department_bulk_read")
def department_bulk_read(body: m.BulkReadRequest) -> m.BulkReadAnswer:
    """Many logged reads in one request: each record decided on its own, all logged in one
    transaction, then the contents."""
    try:
        got = services().access.read_many(
            body.record_ids, accessor=caller().address, basis=body.basis, justification=body.justification
        )
    except InputError as exc:  # the library's record_ids.N is the caller's recordIds.N
        if exc.field.startswith("record_ids"):
            raise InputError(exc.message, code=exc.code, field="recordIds" + exc.field[len("record_ids"):],
                             params=exc.params) from exc  # fmt: skip
        raise
    language = _language()
    results: list[m.BulkReadResult] = []
    for one in got:
        record = refusal = None
        if one.disclosure is not None:
            record = _disclosure(one.disclosure, language)
        if one.refusal is not None:
            r = one.refusal
            assert r.seq is not None  # a bulk read's refusals are logged
            refusal = m.BulkReadRefusal(reason=r.reason, seq=r.seq, message=r.message, params=r.params)
        results.append(m.BulkReadResult(record_id=one.record_id, status=one.status, record=record, refusal=refusal))
    counts = Counter(one.status for one in got)
    return m.BulkReadAnswer(
        results=results, read=counts[BulkStatus.READ], refused=counts[BulkStatus.REFUSED],
        not_found=counts[BulkStatus.NOT_FOUND],
    )  # fmt: skip


@operation("department_accesses")
def department_accesses(query: m.DepartmentAccessesQuery) -> m.AccessEventPage:
    """My department's access events, newest first, a page at a time (index on organisation, time)."""
    org = caller().org_id
    rows = queries.department_events(
        services().ledger.store, org, limit=query.limit, before=query.before, outcome=query.outcome,
        category=int(parse_category(query.category)) if query.category else None,
    )  # fmt: skip
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    shown = [found for r in rows if (found := organisation_leaf(r.leaf, r.justification, org)) is not None]
    return m.AccessEventPage(
        events=[m.AccessEvent.of(leaf, justification) for leaf, justification in shown],
        next_before=rows[-1].seq if more else None,
    )


# -- residents ------------------------------------------------------------------------------------


@operation("resident_records")
def resident_records() -> m.RecordList:
    """My own records with every version, content included (my own data: not an access by
    someone else, so not logged; see docs/decisions.md)."""
    views = services().records.of_subject(caller().address)
    language = _language()
    return m.RecordList(records=[m.Record.of(v, language) for v in views])


@operation("resident_grants")
def resident_grants() -> m.GrantList:
    views = services().consent.list(resident=caller().address)
    return m.GrantList(grants=[m.Grant.of(v) for v in views])


@operation("resident_grant_issue")
def resident_grant_issue(body: m.GrantRequest) -> m.Grant:
    chosen = sorted({parse_category(c) for c in body.categories})
    with fields(valid_until="validUntil", date="validUntil", department="department", categories="categories"):
        grant_id, _tx = services().consent.issue(
            resident=caller().address, department=body.department, categories=chosen, purpose=body.purpose,
            legal_basis=LegalBasis.CONSENT, valid_until=parse_date(body.valid_until.isoformat()) + 86_400,
            purpose_text=(body.purpose_text or "").strip(), notice=(body.notice or "").strip(),
        )  # fmt: skip
    return m.Grant.of(services().consent.show(grant_id))


@operation("resident_grant_withdraw")
def resident_grant_withdraw(params: m.GrantPath) -> Any:
    key = params.grant_id
    consent = services().consent
    try:
        view = consent.show(key)
    except NotFoundError:
        view = None
    if view is None or view.resident != caller().address:
        raise NotFoundError(f"you have no grant {key}")
    if view.status not in IN_FORCE:
        return m.error_answer(409, m.ErrorCode.CONFLICT,
                              f"the grant is {view.status} already; only an active grant is withdrawn")  # fmt: skip
    consent.withdraw(key)
    return m.Grant.of(consent.show(key))


@operation("resident_accesses")
def resident_accesses(query: m.ResidentAccessesQuery) -> m.History:
    """Who used my data: a page of my access history, newest first, each entry with its
    inclusion proof to the anchored checkpoint (paged from the (resident, resident_seq) index)."""
    department = query.department
    if department is not None and not department.startswith("0x"):
        department = to_hex(org_id(department))
    found = resident_history(
        services().ledger, caller().address, log=services().log, limit=query.limit, before=query.before,
        department=department, category=int(parse_category(query.category)) if query.category else None,
    )  # fmt: skip
    ids = {e.leaf["organisation"] for e in found.entries if e.leaf and e.leaf.get("organisation")}
    names = queries.profiles(services().ledger.store, ids)
    return m.History.of(found, {k: m.OrgName(code=p.code, name=p.name, names=_names(p)) for k, p in names.items()})


@operation("resident_access_proof")
def resident_access_proof(params: m.SeqPath) -> Any:
    number = params.seq
    log = services().log
    if number > m.MAX_SEQ:
        raise NotFoundError(f"you have no access event #{number}")
    own_event(log, number, caller().address)  # the leaf's resident, not the row's column
    checkpoint = anchored_checkpoint(services().ledger, log)
    if checkpoint is None or number >= int(checkpoint["size"]):
        return _not_anchored(f"access event #{number} is not anchored yet; ask again in a few seconds")
    return m.ProofDocument.model_validate(proof_document(services().ledger, number, log=log, resident=caller().address))


# -- office administrators ------------------------------------------------------------------------


def _office_orgs(office: str) -> dict[str, str]:
    """The office and the organisations under it, as the chain has them: id -> kind."""
    return services().orgs.governed_by(office)


def _office_resident(office: str) -> Callable[[str | None], bool]:
    """Whether an address is a resident of the office's committees, on chain."""
    return lambda address: address is not None and services().orgs.resident_of_office(address, office)


def _audit_scope(
    query: m.AuditQuery, *, one_required: bool = False
) -> tuple[Any, dict[str, str], Callable[[str | None], bool]]:
    """The scope from the query, limited to the caller's office: a department (or other
    organisation) of another office, or a resident of another office, answers 404."""
    office = caller().org_id
    orgs = _office_orgs(office)
    residents = _office_resident(office)
    if query.department is not None and to_hex(org_id(query.department)) not in orgs:
        raise NotFoundError(f"your office has no department {query.department!r}")
    if query.resident is not None and not residents(query.resident):
        raise NotFoundError(f"no resident {query.resident} in your office's committees")
    if one_required and query.department is None and query.resident is None:
        raise InputError("name one of your office's departments (department=CODE) or residents (resident=0x…)",
                         code=Invalid.NO_SCOPE, field="department")  # fmt: skip
    scope = audit_.scope_of(
        services().ledger, start=query.start.isoformat() if query.start else None,
        end=query.end.isoformat() if query.end else None, department=query.department, resident=query.resident,
    )  # fmt: skip
    if scope.start and scope.end and scope.end < scope.start:
        raise InputError("the end date is before the start date", code=Invalid.END_BEFORE_START, field="to")
    return scope, orgs, residents


@operation("audit_findings")
def audit_findings(query: m.AuditQuery) -> m.Findings:
    scope, orgs, residents = _audit_scope(query)
    ledger = services().ledger
    result = audit_.run(ledger, scope, integrity=False)
    mine = [f for f in result.findings if (f.organisation in orgs) or residents(f.resident)]
    codes = audit_.org_codes(ledger)
    counts: dict[str, int] = {}
    for f in mine:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    per_day = [
        m.DayReads(organisation=org, organisation_code=codes.get(org), day=day, reads=n)
        for (org, day), n in sorted(result.per_day.items())
        if org in orgs
    ]
    return m.Findings(
        scope=m.AuditScope.model_validate(scope.json()), events=result.events, counts=counts,
        findings=[m.Finding.of(f, codes) for f in mine], per_day=per_day,
    )  # fmt: skip


@operation("audit_bundle")
def audit_bundle(query: m.AuditQuery) -> Any:
    scope, _orgs, _residents = _audit_scope(query, one_required=True)
    ledger = services().ledger
    if ledger.view.checkpoint() is None:
        return _not_anchored(
            "nothing is anchored yet: the worker ('gridledger worker') anchors the log; ask again soon"
        )
    return m.Bundle.model_validate(
        make_bundle(ledger, scope, ledger.account(ledger.settings.anchorer), log=services().log)
    )


@operation("audit_emergency")
def audit_emergency() -> m.EmergencyList:
    orgs = _office_orgs(caller().org_id)
    ledger = services().ledger
    pending = [e for e in audit_.unreviewed(ledger) if e.organisation in orgs]
    codes = audit_.org_codes(ledger)
    return m.EmergencyList(emergencies=[m.Emergency.of(e.seq, e.leaf, e.justification, codes) for e in pending])


# -- consent receipts -------------------------------------------------------------------------------


@operation("grant_receipt")
def grant_receipt(params: m.GrantPath) -> Any:
    """The grant's signed consent receipt, for its resident, its department and its office only
    (decided from the chain's view: :func:`ledger.receipts.reader_of`)."""
    from ledger.receipts import build, reader_of

    ledger = services().ledger
    reader_of(ledger.view, params.grant_id, caller().address)  # anyone else: 404, as for no grant
    language = "en" if _language() == content.ENGLISH else "zh-CN"
    document = build(ledger, params.grant_id, signer=ledger.account(ledger.settings.anchorer), language=language)
    return m.ConsentReceipt.model_validate(document)
# -- residents' rights requests (ledger.rights) --------------------------------------------------


def _rights_listed(views: list[Any], query: m.RightsRequestsQuery) -> m.RightsRequestList:
    wanted = [
        v for v in views
        if (query.status == "all" or (query.status == "open") == v.open)
        and (query.kind is None or v.kind == query.kind) and (query.overdue is None or v.overdue == query.overdue)
    ]  # fmt: skip
    return m.RightsRequestList(requests=[m.RightsRequest.of(v) for v in wanted])


@operation("audit_rights_requests")
def audit_rights_requests(query: m.RightsRequestsQuery) -> m.RightsRequestList:
    return _rights_listed(services().rights.office_queue(caller().org_id), query)


@operation("audit_rights_request")
def audit_rights_request(params: m.RightsRequestPath) -> m.RightsRequest:
    mine = {v.request_id: v for v in services().rights.office_queue(caller().org_id)}
    if params.request_id not in mine:
        raise NotFoundError(f"no request {params.request_id} of your office")
    return m.RightsRequest.of(mine[params.request_id])


@operation("resident_rights_requests")
def resident_rights_requests(query: m.RightsRequestsQuery) -> m.RightsRequestList:
    return _rights_listed(services().rights.of_resident(caller().address), query)
# -- webhooks (ledger.webhooks): a department's subscriptions and their deliveries ------------------------


@operation("department_webhooks")
def department_webhooks() -> m.WebhookSubscriptionList:
    views = services().webhooks.subscriptions(caller().address)
    return m.WebhookSubscriptionList(subscriptions=[m.WebhookSubscription.of(v) for v in views])


@operation("department_webhook_create")
def department_webhook_create(body: m.WebhookSubscriptionRequest) -> m.WebhookSubscriptionCreated:
    with fields(url="url", kinds="kinds"):
        made = services().webhooks.create(caller().address, body.url, body.kinds)
    return m.WebhookSubscriptionCreated(**m.WebhookSubscription.fields_of(made.subscription), secret=made.secret)


@operation("department_webhook_delete")
def department_webhook_delete(params: m.SubscriptionPath) -> m.WebhookSubscription:
    return m.WebhookSubscription.of(services().webhooks.remove(caller().address, params.subscription_id))


@operation("department_webhook_deliveries")
def department_webhook_deliveries(params: m.SubscriptionPath, query: m.WebhookDeliveriesQuery) -> m.WebhookDeliveryList:
    views = services().webhooks.deliveries(
        caller().address, subscription_id=params.subscription_id, state=query.state, limit=query.limit, attempts=True
    )
    return m.WebhookDeliveryList(deliveries=[m.WebhookDelivery.of(v) for v in views])
# -- consent requests (ledger.requests) -----------------------------------------------------------


@operation("department_requests")
def department_requests(query: m.RequestsQuery) -> m.ConsentRequestList:
    views = services().requests.list(department=caller().org_id, status=query.status)
    return m.ConsentRequestList(requests=[m.ConsentRequest.of(v) for v in views])


@operation("department_request_create")
def department_request_create(body: m.ConsentRequestBody) -> m.ConsentRequest:
    chosen = sorted({parse_category(c) for c in body.categories})
    answer_by = None
    if body.answer_by is not None:
        answer_by = (parse_date(body.answer_by.isoformat()) + 86_400) * 1000
    with fields(valid_until="validUntil", answer_by="answerBy", resident="resident", categories="categories",
                reason="reason", purpose="purpose"):  # fmt: skip
        request_id = services().requests.ask(
            caller().address, body.resident, chosen, body.purpose, LegalBasis[body.legal_basis.upper().replace("-", "_")],
            parse_date(body.valid_until.isoformat()) + 86_400, body.reason, answer_by=answer_by,
        )  # fmt: skip
    return m.ConsentRequest.of(services().requests.show(request_id))


@operation("department_request")
def department_request(params: m.RequestPath) -> m.ConsentRequest:
    """One of my department's requests; another department's (or none) answers 404."""
    try:
        view = services().requests.show(params.request_id)
    except NotFoundError:
        view = None
    if view is None or view.department.lower() != caller().org_id.lower():
        raise NotFoundError(f"your department sent no consent request {params.request_id}")
    return m.ConsentRequest.of(view)
