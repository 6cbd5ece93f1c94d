"""Department officers (civil affairs, health, public security, social security): the grants
given to my department, opening a record under a grant or in an emergency, and my
department's access history.

A record's content is shown only as the answer to the POST that read it through
:meth:`ledger.access.Access.read`, which checks the basis on chain and logs the read
before handing the content out. No URL serves content: reloading or sharing a link never
shows a record again without a new, logged read.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ledger.access import CHINA
from ledger.categories import Category, parse_category
from ledger.consent import GrantView, LegalBasis, Purpose
from ledger.errors import AccessRefused, InputError, Invalid, LedgerError, NotFoundError, Refusal
from ledger.grants import GrantStatus
from ledger.requests import REQUEST_PURPOSES, ConsentStatus

from .. import content
from ..i18n import CATEGORY_NAMES, PURPOSE_NAMES, name_of
from ..names import display_names, org_name
from ..presentation import (
    RESIDENT,
    consent_request_status_name,
    grant_status_name,
    invalid,
    refusal_sentence,
    request_sentence,
)
from ..security import Actor, current_actor, require_roles
from ..services import services
from . import queries
from .forms import ID_PATTERN, AskForm, EmergencyForm, GrantFilter, HistoryFilter, OpenRecordForm, RequestFilter

bp = Blueprint("department", __name__, template_folder="templates")
bp.before_request(require_roles("department-officer"))

GRANTS_PAGE = 20  # grants a page, newest first

DEPARTMENT_KINDS = {
    "civil-affairs": _l("Civil affairs"),
    "health": _l("Health"),
    "public-security": _l("Public security"),
    "social-security": _l("Social security"),
    "other": _l("Other department"),
}


NAV = [
    ("department.home", _l("Overview")),
    ("department.grants", _l("Grants to my department")),
    ("department.emergency", _l("Emergency access")),
    ("department.history", _l("Access history")),
    ("department.requests", _l("Requests for permission")),
]


@bp.context_processor
def _navigation() -> dict[str, Any]:
    return {
        "nav": NAV,
        "department_kind_name": lambda kind: str(DEPARTMENT_KINDS.get(kind, kind or "")),
    }


def _actor() -> Actor:
    actor = current_actor()
    assert actor is not None and actor.org_id is not None  # require_roles let us in
    return actor


def _is_police(actor: Actor) -> bool:
    return actor.department_kind == "public-security"


def _my_grants(actor: Actor) -> list[GrantView]:
    if not actor.org_code:
        return []
    return services().consent.list(department=actor.org_code)


def _my_grant(actor: Actor, grant_id: str) -> GrantView:
    """A grant given to my department; 404 for anything else (no probing of others' ids)."""
    if not ID_PATTERN.match(grant_id or ""):
        abort(404)
    try:
        grant = services().consent.show(grant_id)
    except LedgerError:
        abort(404)
    if grant.department.lower() != (actor.org_id or "").lower():
        abort(404)
    return grant


def _visible_record(actor: Actor, record_id: str) -> queries.RecordMeta:
    """A record's metadata, for a record my department could read: one of a committee under
    my office (emergency), or of a resident who gave my department a grant. 404 otherwise."""
    if not ID_PATTERN.match(record_id or ""):
        abort(404)
    meta = queries.record_meta(record_id.lower())
    if meta is None or meta.erased:
        abort(404)
    if meta.office_id != actor.office_id and not _has_granted(actor, meta.subject):
        abort(404)
    return meta


def _in_my_office(actor: Actor, record_id: str) -> bool:
    meta = queries.record_meta(record_id)
    return meta is not None and not meta.erased and meta.office_id == actor.office_id


def _has_granted(actor: Actor, resident: str) -> bool:
    """Whether the resident ever gave my department a grant: candidates from the table, each
    confirmed by the chain (whose grant it is, to whom)."""
    candidates = queries.grant_ids_from(resident, str(actor.org_id))
    view = services().ledger.view
    for grant_id in candidates:
        found = view.grant(grant_id)
        if found is not None and found.resident == resident and found.department == str(actor.org_id).lower():
            return True
    return False


# -- pages -----------------------------------------------------------------------------------


@bp.get("/")
def home() -> Any:
    actor = _actor()
    grants = _my_grants(actor)
    assert actor.org_id is not None
    return render_template(
        "department/home.html",
        active_grants=sum(1 for g in grants if g.status == GrantStatus.ACTIVE),
        today=queries.reads_since(actor.org_id, queries.start_of_today_ms()),
        health=services().access.health(),
        police=_is_police(actor),
    )


@bp.get("/grants")
def grants() -> Any:
    """The grants to my department, newest first, a page at a time, filtered by resident,
    category, status and validity (GET parameters, kept by the pager's links). With no
    status asked, the active ones (``show=all``, the older link, means every status)."""
    actor = _actor()
    found = list(reversed(_my_grants(actor)))  # newest first
    args = request.args.copy()
    if "status" not in args:
        args["status"] = "" if args.get("show") == "all" else "active"
    filters = GrantFilter(args)
    filters.category.choices = [("", _("All categories"))] + [(c.slug, _category(c.slug)) for c in Category]
    filters.status.choices = [("", _("All statuses"))] + [(s, grant_status_name(s)) for s in GrantStatus]
    matching = _filtered(found, filters) if filters.validate() else []
    pages = max(1, -(-len(matching) // GRANTS_PAGE))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    shown = matching[(page - 1) * GRANTS_PAGE : page * GRANTS_PAGE]
    names = display_names((g.resident for g in shown), masked=True)
    codes = queries.account_codes(g.resident for g in shown)
    hints = queries.resident_hints(g.resident for g in shown)
    records = queries.records_of(g.resident for g in shown if g.status == GrantStatus.ACTIVE)
    rows = []
    for grant in shown:
        covered = [
            r
            for r in records
            if grant.status == GrantStatus.ACTIVE and r.subject == grant.resident and r.category in grant.categories
        ]
        rows.append(
            {
                "grant": grant,
                "resident": names.get(grant.resident, ""),
                "code": codes.get(grant.resident, ""),
                "hint": hints.get(grant.resident, queries.Hint("", "")),
                "records": covered,
            }
        )
    kept = {name: value for name, value in filters.data.items() if value}
    if not filters.status.data:
        kept["status"] = ""  # "all statuses" must survive paging, not fall back to "active"
    return render_template(
        "department/grants.html",
        rows=rows,
        filters=filters,
        kept=kept,
        matching=len(matching),
        active_count=sum(1 for g in found if g.status == GrantStatus.ACTIVE),
        total=len(found),
        page=page,
        pages=pages,
    )


def _filtered(grants: list[GrantView], filters: GrantFilter) -> list[GrantView]:
    """The grants the (valid) filters keep, in the order given."""
    if filters.resident.data:
        named = queries.residents_named(filters.resident.data, {g.resident for g in grants})
        grants = [g for g in grants if g.resident in named]
    if filters.category.data:
        category = parse_category(filters.category.data)
        grants = [g for g in grants if category in g.categories]
    if filters.status.data:
        grants = [g for g in grants if g.status == filters.status.data]
    if filters.ending_within.data:
        now = int(time.time())
        end = now + int(filters.ending_within.data) * 86_400
        grants = [g for g in grants if now < g.valid_until <= end]
    if filters.valid_on.data:
        day = date.fromisoformat(filters.valid_on.data)
        start = int(datetime(day.year, day.month, day.day, tzinfo=CHINA).timestamp())
        grants = [g for g in grants if g.valid_from < start + 86_400 and g.valid_until > start]
    return grants


@bp.get("/records/<record_id>")
def record(record_id: str) -> Any:
    """A record's metadata and the form to open it (never its content)."""
    actor = _actor()
    meta = _visible_record(actor, record_id)
    form = OpenRecordForm(formdata=None)
    chosen = request.args.get("grant")
    if chosen:
        form.grant_id.data = _my_grant(actor, chosen).grant_id
    if request.args.get("basis") == "emergency":
        form.basis.data = "emergency"
    return _record_page(actor, meta, form)


def _record_page(actor: Actor, meta: queries.RecordMeta, form: OpenRecordForm, status: int = 200) -> Any:
    covering = [
        g
        for g in _my_grants(actor)
        if g.resident == meta.subject and g.status == GrantStatus.ACTIVE and meta.category in g.categories
    ]
    chosen = None
    if form.grant_id.data:
        chosen = next((g for g in _my_grants(actor) if g.grant_id == form.grant_id.data), None)
    return (
        render_template(
            "department/record.html",
            meta=meta,
            resident=display_names([meta.subject], masked=True).get(meta.subject, ""),
            covering=covering,
            chosen=chosen,
            form=form,
            police=_is_police(actor),
            in_my_office=meta.office_id == actor.office_id,
        ),
        status,
    )


@bp.post("/records/<record_id>/open")
def open_record(record_id: str) -> Any:
    """Opens a record: the library checks the basis, logs the read, and only then is the
    content rendered, as the answer to this POST (never at a URL of its own)."""
    actor = _actor()
    if not ID_PATTERN.match(record_id or ""):
        abort(404)
    record_id = record_id.lower()
    form = OpenRecordForm()
    grant_id = (form.grant_id.data or "").lower() or None
    if grant_id is not None:
        _my_grant(actor, grant_id)  # another department's grant: 404 before any read
    if not form.validate_on_submit():
        return _record_page(actor, _visible_record(actor, record_id), form, 400)
    basis = form.basis.data
    return _read(
        actor,
        record_id,
        form,
        basis=basis,
        grant_id=grant_id if basis == "grant" else None,
        on_input_error=lambda: _record_page(actor, _visible_record(actor, record_id), form, 400),
    )


@bp.route("/emergency", methods=["GET", "POST"])
def emergency() -> Any:
    """An emergency read of a record known by its id: justified, logged, reviewed by the office."""
    actor = _actor()
    form = EmergencyForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("department/emergency.html", form=form, police=_is_police(actor)), status

    def again() -> Any:
        return render_template("department/emergency.html", form=form, police=_is_police(actor)), 400

    return _read(actor, form.record_id.data.lower(), form, basis="emergency", grant_id=None, on_input_error=again)


def _read(actor: Actor, record_id: str, form: Any, *, basis: str, grant_id: str | None, on_input_error: Any) -> Any:
    justification = (form.justification.data or "").strip() or None
    try:
        got = services().access.read(
            record_id,
            accessor=actor.address,
            basis=basis,
            grant_id=grant_id,
            justification=justification,
            disclose_on=form.disclosure_date(),
        )
    except AccessRefused as refused:
        grant = None
        if grant_id is not None:
            grant = _my_grant(actor, grant_id)
        return (
            render_template(
                "department/refused.html",
                reason=refused.reason,
                explanation=refusal_sentence(refused.reason),
                seq=refused.seq,
                basis=basis,
                grant=grant,
                record_id=record_id,
                can_try_emergency=refused.reason in (Refusal.NO_ACTIVE_GRANT, Refusal.GRANT_NOT_ACTIVE)
                and _in_my_office(actor, record_id),
            ),
            403,
        )
    except NotFoundError:
        if isinstance(form, EmergencyForm):
            form.record_id.errors.append(_("There is no record with this id (or it was erased)."))
            return render_template("department/emergency.html", form=form, police=_is_police(actor)), 404
        abort(404)
    except InputError as wrong:
        _attach(form, wrong)
        return on_input_error()
    meta = queries.record_meta(got.record_id)
    grant = _my_grant(actor, got.grant_id) if got.grant_id else None
    return render_template(
        "department/disclosure.html",
        got=got,
        meta=meta,
        resident=display_names([meta.subject], masked=True).get(meta.subject, "") if meta else "",
        rows=content.fields(got.category, got.content),
        grant=grant,
        justification=justification,
        disclose_on=form.disclosure_date(),
    )


def _attach(form: Any, error: InputError) -> None:
    """The library's input error beside its field, in plain words (from its code, never its
    English)."""
    if error.field == "disclose_on" and error.code == Invalid.NOT_PERMITTED:
        message = _("Only a public security department can delay what the resident is told.")
    elif error.field == "justification" and error.code == Invalid.TOO_LONG:
        message = _("The justification is too long.")
    elif error.field == "justification":
        message = _("Write the justification: what happened and why you need this record.")
    else:
        message = invalid(error.code, error.params)
    target = getattr(form, error.field or "", None)
    if target is None or not hasattr(target, "errors"):
        target = form.justification
    target.errors = [*target.errors, message]


# -- history ---------------------------------------------------------------------------------


@bp.get("/history")
def history() -> Any:
    actor = _actor()
    assert actor.org_id is not None
    filters = HistoryFilter(request.args)
    filters.category.choices = [("", _("All categories"))] + [(c.slug, _category(c.slug)) for c in Category]
    category: Category | None = None
    outcome: str | None = None
    if filters.validate():
        if filters.category.data:
            category = parse_category(filters.category.data)
        outcome = filters.outcome.data or None
    before = request.args.get("before", type=int)
    page = queries.history(actor.org_id, before=before, category=category, outcome=outcome)
    officers = display_names(e.accessor for e in page.events)
    residents = display_names((e.resident for e in page.events), masked=True)
    keep: dict[str, Any] = {
        k: v for k, v in (("category", category.slug if category else None), ("outcome", outcome)) if v
    }
    return render_template(
        "department/history.html",
        page=page,
        officers=officers,
        residents=residents,
        filters=filters,
        older_url=url_for("department.history", before=page.older, **keep) if page.older is not None else None,
        newest_url=url_for("department.history", **keep) if before is not None else None,
    )


def _category(slug: str) -> str:
    return name_of(CATEGORY_NAMES, slug)


# -- consent receipts ---------------------------------------------------------------------------


@bp.get("/grants/<grant_id>/receipt.json")
def grant_receipt(grant_id: str) -> Any:
    """A grant to my department as a consent record: what the department can show it holds."""
    from ledger.receipts import ReceiptReader

    from ..receipts import receipt_download

    return receipt_download(grant_id, _actor().address, ReceiptReader.DEPARTMENT, back=url_for("department.grants"))
# -- consent requests (ledger.requests) ---------------------------------------------------------


def _candidates(actor: Actor, words: str) -> list[dict[str, Any]]:
    """The residents of my office the words name, each with the masked name and hints the
    grants list shows (never a full name or ID number)."""
    found = sorted(queries.residents_named(words, queries.residents_of_office(str(actor.office_id))))
    names = display_names(found, masked=True)
    codes = queries.account_codes(found)
    hints = queries.resident_hints(found)
    return [
        {"address": a, "name": names.get(a, ""), "code": codes.get(a, ""), "hint": hints.get(a, queries.Hint("", ""))}
        for a in found
    ]


def _ask_form() -> AskForm:
    form = AskForm()
    form.categories.choices = [(c.slug, _category(c.slug)) for c in Category]
    form.purpose.choices = [("", _("— choose —"))] + [(str(int(p)), name_of(PURPOSE_NAMES, int(p))) for p in REQUEST_PURPOSES]
    return form


def _day_end(text: str) -> int:
    """The last day (China time) -> the first second after it."""
    day = date.fromisoformat(text)
    return int((datetime(day.year, day.month, day.day, tzinfo=CHINA) + timedelta(days=1)).timestamp())


@bp.route("/requests/new", methods=["GET", "POST"])
def ask() -> Any:
    """Ask a resident for permission: name the resident, say what and why, check, send."""
    actor = _actor()
    form = _ask_form()
    if request.method == "GET" or request.form.get("back") or not form.validate_on_submit():
        form.confirmed.data = ""
        status = 400 if request.method == "POST" and not request.form.get("back") else 200
        return render_template("department/ask.html", form=form, candidates=[]), status
    candidates = _candidates(actor, form.resident.data)
    chosen = next((c for c in candidates if c["address"].lower() == (form.chosen.data or "").lower()), None)
    if chosen is None and len(candidates) == 1:
        chosen = candidates[0]
    if chosen is None:
        if not candidates:
            form.resident.errors = [_("No resident of your subdistrict office has this name, ID ending, code or address.")]
        form.confirmed.data = ""
        return render_template("department/ask.html", form=form, candidates=candidates), 400
    form.chosen.data = chosen["address"]
    categories = [parse_category(slug) for slug in form.categories.data]
    sentence = request_sentence(org_name(actor), [c.slug for c in categories], _day_end(form.valid_until.data),
                                form.reason.data, RESIDENT)  # fmt: skip
    if form.confirmed.data != "1":
        form.confirmed.data = "1"
        return render_template("department/ask_confirm.html", form=form, resident=chosen, sentence=sentence)
    answer_by = _day_end(form.answer_by.data) * 1000 if form.answer_by.data else None
    try:
        request_id = services().requests.ask(
            actor.address, chosen["address"], categories, Purpose(int(form.purpose.data)), LegalBasis.CONSENT,
            _day_end(form.valid_until.data), form.reason.data, answer_by=answer_by,
        )  # fmt: skip
    except InputError as wrong:
        target = getattr(form, wrong.field if wrong.field in ("categories", "purpose", "valid_until", "answer_by",
                                                                "reason") else "resident")  # fmt: skip
        target.errors = [*target.errors, invalid(wrong.code, wrong.params)]
        form.confirmed.data = ""
        return render_template("department/ask.html", form=form, candidates=[]), 400
    flash(_("The request is sent. The resident sees it on their page: %(sentence)s", sentence=sentence), "success")
    return redirect(url_for("department.requests", _anchor=f"request-{request_id[2:14]}"))


@bp.get("/requests")
def requests() -> Any:
    """My department's requests, newest first, with their status."""
    actor = _actor()
    filters = RequestFilter(request.args)
    filters.status.choices = [("", _("All statuses"))] + [(s.value, consent_request_status_name(s)) for s in ConsentStatus]
    status = filters.status.data if filters.validate() and filters.status.data else None
    found = services().requests.list(department=str(actor.org_id), status=status)
    names = display_names((r.resident for r in found), masked=True)
    codes = queries.account_codes(r.resident for r in found)
    hints = queries.resident_hints(r.resident for r in found)
    rows = [{"request": r, "resident": names.get(r.resident, ""), "code": codes.get(r.resident, ""),
             "hint": hints.get(r.resident, queries.Hint("", ""))} for r in found]  # fmt: skip
    return render_template("department/requests.html", rows=rows, filters=filters)
