"""The subdistrict office: its organisations and members, the audit of every access
(dashboard, findings, emergency reviews, integrity, exports) and revoking grants.

Everything an office admin sees or changes is under their own office (``actor.office_id``):
an organisation, member, grant or access event of another office is answered with 404,
so ids cannot be probed. Writes go through the library's services, signed with the
admin's own key; the audit is the library's (:mod:`ledger.audit`).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from web3 import Web3

from ledger import access as access_rules
from ledger import audit, verify
from ledger.access import CHINA, today
from ledger.consent import GrantView
from ledger.errors import ConflictError, ContractRevert, InputError, LedgerError, NotFoundError
from ledger.history import anchored_checkpoint, bundle
from ledger.membership import ROLES_BY_KIND, DepartmentKind, OrgKind, Role
from ledger.organisations import OrgNames, OrgView
from ledger.rights import RefusalBasis, RequestKind, RequestOutcome
from ledger.store.models import (
    AccessEvent,
    Member,
)

from .. import presentation
from .. import rights as rights_view
from ..i18n import ROLE_NAMES, name_of
from ..names import display_names, org_name
from ..presentation import FINDING_NAMES, invalid, refusal_basis_name, status_name
from ..security import Actor, current_actor, require_roles
from ..services import services
from . import queries, report
from .forms import (
    DEPARTMENT_KINDS,
    MAX_SEARCH,
    ROLE_CHOICES,
    CommitteeForm,
    DeletionDecisionForm,
    DepartmentForm,
    GrantFilterForm,
    MemberFilterForm,
    MemberForm,
    ObjectionDecisionForm,
    ReplayForm,
    ReviewForm,
    RevokeForm,
    ScopeForm,
    ThresholdForm,
    split_labels,
)

bp = Blueprint("office", __name__, template_folder="templates")
bp.before_request(require_roles("office-admin"))

CHART_DAYS = (7, 14, 30, 90)
DEFAULT_CHART_DAYS = 14
DEFAULT_AUDIT_DAYS = 30
MAX_SHOWN = 500  # findings shown on a page; the exports hold all
MEMBERS_PAGE = 50  # members a page, by organisation, role and label
GRANTS_PAGE = 50  # grants a page, newest first
#: What the members list is showing (its filters and page), kept by the forms posted from it.
MEMBER_LIST_ARGS = ("q", "org", "role", "status", "page")

INTEGRITY_PARTS = {
    "chain": _l("Indexed chain data"), "records": _l("Records"), "grants": _l("Grants"), "log": _l("Access log"),
    "seals": _l("Log-ins, names and labels"),
}  # fmt: skip


NAV = [
    ("office.home", _l("Dashboard")),
    ("office.organisations", _l("Organisations")),
    ("office.members", _l("Members")),
    ("office.grants", _l("Grants")),
    ("office.audit", _l("Audit")),
    ("office.reviews", _l("Emergency reviews")),
    ("office.export", _l("Exports")),
    ("office.throttles", _l("Log-in throttles")),
    ("office.consent_requests", _l("Consent requests")),
]


@bp.context_processor
def _navigation() -> dict[str, Any]:
    return {
        "nav": NAV,
        "department_kind_name": lambda k: str(DEPARTMENT_KINDS.get(k, k or "")),
        "integrity_part_name": lambda p: str(INTEGRITY_PARTS.get(p, p)),
    }


# -- the office and what is under it --------------------------------------------------------


@dataclass
class Office:
    """The actor's office and the organisations under it (from the indexed tables)."""

    id: str
    code: str
    names: OrgNames | None
    orgs: dict[str, OrgView]  # org id -> view, the office itself included
    elsewhere: dict[str, OrgView] = field(default_factory=dict)  # other offices' organisations, to name them
    by_code: dict[str, OrgView] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_code = {v.code: v for v in self.orgs.values() if v.code}

    @property
    def name(self) -> str:
        """The office's name in the page's language."""
        return org_name(self.names) if self.names is not None else self.code

    @property
    def departments(self) -> list[OrgView]:
        return [v for v in self.orgs.values() if v.kind == "department"]

    @property
    def committees(self) -> list[OrgView]:
        return [v for v in self.orgs.values() if v.kind == "committee"]

    @property
    def department_ids(self) -> list[str]:
        return [v.org_id for v in self.departments]

    def name_of(self, org_id: str | None) -> str:
        view = self.orgs.get(org_id or "") or self.elsewhere.get(org_id or "")
        if view is None:
            return org_id or ""
        return org_name(view)


def actor() -> Actor:
    found = current_actor()
    assert found is not None and found.office_id is not None  # require_roles ran first
    return found


def office() -> Office:
    if "office" in g:
        return g.office  # type: ignore[no-any-return]
    me = actor()
    office_id = str(me.office_id)
    under = set(services().orgs.governed_by(office_id))  # the chain's answer, not the tables'
    every = services().orgs.organisations()
    views = {v.org_id: v for v in every if v.org_id in under}
    others = {v.org_id: v for v in every if v.org_id not in under}
    g.office = Office(office_id, me.org_code or "", me.org_names, views, others)
    return g.office


def org_or_404(code: str) -> OrgView:
    found = office().by_code.get(code)
    if found is None:
        abort(404)
    return found


def member_or_404(address: str) -> Member:
    if not Web3.is_address(address):
        abort(404)
    member = queries.member(Web3.to_checksum_address(address))
    on_chain = services().ledger.view.member(Web3.to_checksum_address(address))
    if member is None or on_chain is None or on_chain.org_id not in office().orgs:
        abort(404)
    return member


def grant_or_404(grant_id: str) -> GrantView:
    try:
        view = services().consent.show(grant_id)
    except (InputError, NotFoundError):
        abort(404)
    if view.department not in office().department_ids:
        abort(404)
    return view


def emergency_or_404(seq: int) -> AccessEvent:
    event = queries.access_event(seq)
    if (
        event is None
        or event.basis != "emergency"
        or event.outcome != "allowed"
        or event.action != "read"
        or event.organisation not in office().department_ids
    ):
        abort(404)
    return event


def resident_of_office(address: str) -> bool:
    return services().orgs.resident_of_office(address, office().id)


def to_ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; they are stored in UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=CHINA).timestamp() * 1000)


def labels_taken(labels: list[str]) -> list[str]:
    """Labels that cannot name a new member: the installation's own service accounts
    (governance, the anchorer), and accounts that are or were a member (the chain refuses
    those too, but only after a key was made)."""
    if not labels:
        return []
    rows = queries.labels_and_members(labels)
    return sorted(label for label, kind, member in rows if member is not None or kind not in ("member", "resident"))


# -- errors of the library, onto the form ---------------------------------------------------

#: Contract errors a form field can explain, by the field they belong to.
CONTRACT_FIELDS = {
    "MembershipOrganisationExists": ("code", _l("An organisation with this code exists already.")),
    "MembershipAccountExists": (
        "label",
        _l("This account is already a member (now or in the past). Choose another label."),
    ),
    "MembershipRoleNotAllowed": ("role", _l("This role does not fit this kind of organisation.")),
    "MembershipInvalidThreshold": (
        "threshold",
        _l("k must be between 1 and the number of active signing members."),
    ),
}
CONTRACT_MESSAGES = {
    "MembershipUnauthorized": _l("Only an active admin of the office governing it may change this."),
    "MembershipInvalidThreshold": _l(
        "The committee would have fewer active signing members than the signatures it needs (k). Lower k first."
    ),
    "MembershipLastAdmin": _l("This is the office's last active admin: add another admin first."),
    "MembershipInvalidStatus": _l("The member's status does not allow this change."),
    "MembershipUnknownAccount": _l("There is no such member."),
}


def contract_message(exc: ContractRevert) -> str:
    message = CONTRACT_MESSAGES.get(exc.name)
    return str(message) if message is not None else _("The chain refused this change: %(error)s", error=str(exc))


def attach_error(form: FlaskForm, exc: LedgerError, fields: dict[str, str] | None = None) -> bool:
    """Puts a library error beside the field it is about; False when no field fits."""
    fields = fields or {}
    if isinstance(exc, ContractRevert) and exc.name in CONTRACT_FIELDS:
        name, message = CONTRACT_FIELDS[exc.name]
        target = getattr(form, fields.get(name, name), None)
        if target is not None:
            target.errors = [*target.errors, str(message)]
            return True
    if isinstance(exc, InputError) and exc.field:
        target = getattr(form, fields.get(exc.field, exc.field), None)
        if target is not None:
            target.errors = [*target.errors, invalid(exc.code, exc.params)]
            return True
    return False


def refused_message(exc: LedgerError) -> str:
    if isinstance(exc, ContractRevert):
        return contract_message(exc)
    if isinstance(exc, InputError):
        return invalid(exc.code, exc.params)
    return str(exc)


def acceptable(exc: LedgerError) -> bool:
    """Errors a person can act on (bad input, a refusal, a conflict), as opposed to an
    unreachable chain or a broken installation, which go to the error pages."""
    return isinstance(exc, (InputError, ContractRevert, ConflictError)) or type(exc) is LedgerError


# -- dashboard -----------------------------------------------------------------------------


def chart_data(days: int) -> dict[str, Any]:
    """Accesses per department per day (China time) with their outcome: one SQL aggregate
    over the log's (organisation, time) index, however long the log is."""
    depts = office().departments
    last = today()
    first = last - timedelta(days=days - 1)
    labels = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    counts: dict[tuple[str, str, str], int] = {}
    if depts:
        counts = queries.reads_per_day(
            [d.org_id for d in depts], day_start_ms(first), day_start_ms(last + timedelta(days=1))
        )
    return {
        "days": labels,
        "departments": [
            {
                "code": d.code,
                "name": org_name(d),
                "allowed": [counts.get((d.org_id, day_, "allowed"), 0) for day_ in labels],
                "refused": [counts.get((d.org_id, day_, "refused"), 0) for day_ in labels],
            }
            for d in depts
        ],
        "labels": {"allowed": _("allowed"), "refused": _("refused"), "accesses": _("Accesses")},
    }


def dashboard_figures() -> dict[str, Any]:
    of = office()
    ids = list(of.orgs)
    committees = [v.org_id for v in of.committees]
    departments = of.department_ids
    counts = queries.dashboard_counts(ids, committees, departments, since_ms=day_start_ms(today()))
    roles = dict(counts.roles)
    residents = int(roles.pop("resident", 0))
    return {
        "committees": len(of.committees),
        "departments": len(of.departments),
        "members": sum(int(v) for v in roles.values()),
        "residents": residents,
        "records": counts.records,
        "certified": counts.certified,
        "pending": counts.records - counts.certified,
        "grants": counts.grants,
        "allowed_today": int(counts.outcomes.get("allowed", 0)),
        "refused_today": int(counts.outcomes.get("refused", 0)),
    }


def last_integrity() -> dict[str, Any] | None:
    """The newest integrity run (the office's button or a scheduled ``gridledger verify all``),
    for the pages: when, by whom, its result per part; ``trusted`` False when its seal does
    not hold (someone wrote it into the database: it says nothing)."""
    found = verify.last_run(services().ledger)
    if found is None:
        return None
    run, sealed = found
    try:
        summary = json.loads(run.summary)
        counts: dict[str, dict[str, int]] = summary["findings"]
        parts = {
            name: {"ok": not counts.get(name), "kinds": counts.get(name, {}), "checked": summary["checked"].get(name)}
            for name in summary["parts"]
        }  # fmt: skip
        problems = list(summary.get("problems", []))
        seconds = summary.get("seconds")
    except (TypeError, ValueError, KeyError, AttributeError):
        sealed, parts, problems, seconds = False, {}, [], None
    return {
        "at": run.at, "by": run.by, "exit_code": run.exit_code, "ok": sealed and run.exit_code == 0,
        "unchecked": bool(problems), "trusted": sealed, "parts": parts, "seconds": seconds,
    }  # fmt: skip


def pending_reviews() -> list[AccessEvent]:
    mine = set(office().department_ids)
    return [e for e in audit.unreviewed(services().ledger) if e.organisation in mine]


@bp.get("/")
def home() -> Any:
    try:
        days = int(request.args.get("days", DEFAULT_CHART_DAYS))
    except ValueError:
        days = DEFAULT_CHART_DAYS
    if days not in CHART_DAYS:
        days = DEFAULT_CHART_DAYS
    ledger = services().ledger
    on_chain = ledger.view.checkpoint()
    found = anchored_checkpoint(ledger, services().log)
    checkpoint = None
    if on_chain is not None and found is not None:
        checkpoint = {
            "size": on_chain.size,
            "root": on_chain.root,
            "tx_hash": found["txHash"],
            "block_number": found["block"],
            "anchored_at": on_chain.anchored_at * 1000,
        }
    of = office()
    recent = queries.recent_accesses(of.orgs, [v.org_id for v in of.committees])
    return render_template(
        "office/home.html",
        office=of,
        recent=recent,
        names=display_names({r.accessor for r in recent} | {r.resident for r in recent}),
        figures=dashboard_figures(),
        health=access_rules.health(
            services().log, ledger.view, services().access.limit
        ),  # fresh, not the reads' cached one
        checkpoint=checkpoint,
        pending=len(pending_reviews()),
        rights_overdue=overdue_requests(),
        integrity=last_integrity(),
        chart=chart_data(days),
        days=days,
        chart_days=CHART_DAYS,
    )


# -- organisations -------------------------------------------------------------------------


def _render_organisations(
    committee_form: CommitteeForm | None = None, department_form: DepartmentForm | None = None, status: int = 200
) -> Any:
    of = office()
    rows = sorted(
        of.orgs.values(), key=lambda v: ({"office": 0, "committee": 1, "department": 2}[v.kind], v.code or "")
    )
    return (
        render_template(
            "office/organisations.html",
            office=of,
            rows=rows,
            committee_form=committee_form or CommitteeForm(prefix="committee"),
            department_form=department_form or DepartmentForm(prefix="department"),
        ),
        status,
    )


@bp.get("/organisations")
def organisations() -> Any:
    return _render_organisations()


def _names(form: CommitteeForm | DepartmentForm) -> OrgNames:
    """The two names the form was given (both required by the form)."""
    return OrgNames(form.name_zh.data.strip(), form.name_en.data.strip())


@bp.post("/organisations/committee")
def create_committee() -> Any:
    form = CommitteeForm(prefix="committee")
    if form.validate_on_submit() and not _refuse_taken(form.members, split_labels(form.members.data)):
        code = form.code.data.strip()
        try:
            services().orgs.create_committee(
                code,
                _names(form),
                office().code,
                split_labels(form.members.data),
                int(form.threshold.data),
                actor=actor().address,
            )
        except LedgerError as exc:
            if not acceptable(exc):
                raise
            if not attach_error(form, exc, {"label": "members"}):
                flash(refused_message(exc), "error")
        else:
            flash(_("The committee %(name)s was created.", name=org_name(_names(form))), "success")
            return redirect(url_for("office.organisation", code=code))
    return _render_organisations(committee_form=form, status=400)


@bp.post("/organisations/department")
def create_department() -> Any:
    form = DepartmentForm(prefix="department")
    if form.validate_on_submit():
        code = form.code.data.strip()
        try:
            kind = DepartmentKind[form.kind.data.upper().replace("-", "_")]
            services().orgs.create_department(code, _names(form), office().code, kind, actor=actor().address)
        except LedgerError as exc:
            if not acceptable(exc):
                raise
            if not attach_error(form, exc):
                flash(refused_message(exc), "error")
        else:
            flash(_("The department %(name)s was created.", name=org_name(_names(form))), "success")
            return redirect(url_for("office.organisation", code=code))
    return _render_organisations(department_form=form, status=400)


def _refuse_taken(target: Any, labels: list[str]) -> bool:
    """Puts an error beside ``target`` when a label is taken; True when it did."""
    taken = labels_taken(labels)
    if taken:
        target.errors = [
            *target.errors,
            _(
                "Already used by an account here (now or in the past): %(labels)s. Choose another label.",
                labels=", ".join(taken),
            ),
        ]
    return bool(taken)


def _render_organisation(view: OrgView, form: ThresholdForm | None = None, status: int = 200) -> Any:
    if form is None:
        form = ThresholdForm(data={"threshold": view.threshold} if view.kind == "committee" else None)
    members = services().orgs.members(view.code) if view.code else []
    return (
        render_template(
            "office/organisation.html",
            org=view,
            form=form,
            members=members,
            names=display_names({m.address for m in members}),
        ),
        status,
    )


@bp.get("/organisations/<code>")
def organisation(code: str) -> Any:
    return _render_organisation(org_or_404(code))


@bp.post("/organisations/<code>/threshold")
def set_threshold(code: str) -> Any:
    view = org_or_404(code)
    if view.kind != "committee":
        abort(404)
    form = ThresholdForm()
    if form.validate_on_submit():
        k = int(form.threshold.data)
        if k > view.active_signers:
            form.threshold.errors = [
                _("k must be between 1 and the number of active signing members (%(n)s).", n=view.active_signers)
            ]
        else:
            try:
                services().orgs.set_threshold(code, k, actor=actor().address)
            except LedgerError as exc:
                if not acceptable(exc):
                    raise
                if not attach_error(form, exc):
                    flash(refused_message(exc), "error")
            else:
                flash(
                    _("%(name)s now needs %(k)s signatures to certify a record.", name=org_name(view), k=k),
                    "success",
                )
                return redirect(url_for("office.organisation", code=code))
    return _render_organisation(view, form, 400)


# -- members -------------------------------------------------------------------------------


def _member_form() -> MemberForm:
    form = MemberForm(prefix="member")
    of = office()
    form.organisation.choices = [("", _("Choose…"))] + [
        (v.code, f"{org_name(v)} ({v.code})") for v in sorted(of.orgs.values(), key=lambda v: v.code or "") if v.code
    ]
    form.role.choices = [("", _("Choose…"))] + [(r, name_of(ROLE_NAMES, r)) for r in ROLE_CHOICES]
    return form


def _page_asked() -> int:
    """The page the query string asks for (1 when it names none, or not a number)."""
    return max(request.args.get("page", 1, type=int) or 1, 1)


def _ignore_unknown(form: FlaskForm) -> list[str]:
    """Checks a filter form read from the query string. A value that is not one of a field's
    choices, or a search too long, is dropped (the list is shown without it) and a message
    says so: a hand-edited or stale link never ends in an error page."""
    form.validate()
    notes = []
    for f in form:
        if not f.errors:
            continue
        if f.type == "SearchField":
            notes.append(_("The search text is longer than %(n)s characters, so it was ignored.", n=MAX_SEARCH))
        else:
            value = str(f.raw_data[0]) if f.raw_data else ""
            value = value if len(value) <= 40 else value[:40] + "…"
            notes.append(
                _(
                    "%(filter)s: “%(value)s” is not one of the choices, so it was ignored.",
                    filter=f.label.text,
                    value=value,
                )
            )
        f.data = ""
        f.errors = []
    return notes


def _kept(form: FlaskForm) -> dict[str, str]:
    """The filters in force, for the links to other pages of the same list."""
    return {f.name: str(f.data) for f in form if f.data}


def _member_filters() -> tuple[MemberFilterForm, list[str]]:
    of = office()
    chosen = request.args.get("org") or None
    if chosen is not None:
        org_or_404(chosen)  # another office's organisation, or none: not found, as for every id
    form = MemberFilterForm(request.args)
    form.org.choices = [("", _("All organisations"))] + [
        (v.code, org_name(v)) for v in sorted(of.orgs.values(), key=lambda v: v.code or "") if v.code
    ]
    form.role.choices = [("", _("Every role"))] + [(r, name_of(ROLE_NAMES, r)) for r in ROLE_CHOICES]
    form.status.choices = [("", _("Any status"))] + [(s, status_name(s)) for s in queries.MEMBER_STATUSES]
    return form, _ignore_unknown(form)


def _render_members(form: MemberForm | None = None, status: int = 200) -> Any:
    """The members list, a page at a time, with its filters (from the query string, also
    when the add-member form posted from a filtered page comes back with field errors)."""
    of = office()
    filters, notes = _member_filters()
    chosen = filters.org.data or None
    paged = queries.members(
        [of.by_code[chosen].org_id] if chosen else [v.org_id for v in of.by_code.values()],
        role=filters.role.data or None,
        status=filters.status.data or None,
        search=filters.q.data or None,
        page=_page_asked(),
        per_page=MEMBERS_PAGE,
    )
    kept = _kept(filters)
    here = {**kept, "page": str(paged.page)} if paged.page > 1 else kept
    if form is None:
        form = _member_form()
        if chosen:
            form.organisation.data = chosen
    return (
        render_template(
            "office/members.html",
            office=of,
            members=paged.rows,
            paged=paged,
            filters=filters,
            notes=notes,
            kept=kept,
            here=here,
            form=form,
            names=display_names({m.address for m in paged.rows}),
        ),
        status,
    )


@bp.get("/members")
def members() -> Any:
    return _render_members()


@bp.post("/members")
def add_member() -> Any:
    form = _member_form()
    if form.validate_on_submit():
        view = org_or_404(form.organisation.data)
        role = Role[form.role.data.upper().replace("-", "_")]
        if role not in ROLES_BY_KIND[OrgKind[view.kind.upper()]]:
            form.role.errors = [_("This role does not fit this kind of organisation.")]
        elif not _refuse_taken(form.label, [form.label.data.strip()]):
            label = form.label.data.strip()
            try:
                services().orgs.add_member(label, view.code or "", role, actor=actor().address)
            except LedgerError as exc:
                if not acceptable(exc):
                    raise
                if not attach_error(form, exc):
                    flash(refused_message(exc), "error")
            else:
                flash(_("%(label)s was added to %(org)s.", label=label, org=org_name(view)), "success")
                return redirect(url_for("office.members", org=view.code))
    return _render_members(form, 400)


CHANGES = {
    "suspend": (_l("%(who)s was suspended."), "suspend"),
    "reinstate": (_l("%(who)s was reinstated."), "reinstate"),
    "revoke": (_l("%(who)s was revoked for good."), "revoke"),
}


@bp.post("/members/<address>/<change>")
def change_member(address: str, change: str) -> Any:
    if change not in CHANGES:
        abort(404)
    member = member_or_404(address)
    who = display_names({member.address}).get(member.address, member.address)
    message, method = CHANGES[change]
    if member.address == actor().address:
        flash(_("You cannot change your own membership: ask another admin of the office."), "error")
    else:
        try:
            getattr(services().orgs, method)(member.address, actor=actor().address)
        except LedgerError as exc:
            if not acceptable(exc):
                raise
            flash(refused_message(exc), "error")
        else:
            flash(str(message) % {"who": who}, "success")
    profile_code = office().orgs[member.org_id].code
    back = request.form.get("back")
    if back == "organisation" and profile_code:
        return redirect(url_for("office.organisation", code=profile_code))
    listed: dict[str, Any] = {k: v[:200] for k in MEMBER_LIST_ARGS if (v := request.args.get(k))}
    if listed:  # back to the page of the list the admin was on (the list checks them again)
        return redirect(url_for("office.members", **listed))
    return redirect(url_for("office.members", org=profile_code))


# -- grants --------------------------------------------------------------------------------


@bp.get("/grants")
def grants() -> Any:
    of = office()
    chosen = request.args.get("department") or None
    departments = of.department_ids
    if chosen is not None:
        view = org_or_404(chosen)  # another office's, or none: not found, as for every id
        if view.kind != "department":
            abort(404)
        departments = [view.org_id]
    form = GrantFilterForm(request.args)
    form.department.choices = [("", _("All departments"))] + [(d.code, org_name(d)) for d in of.departments if d.code]
    form.status.choices = [("", _("Any status"))] + [(s, status_name(s)) for s in queries.GRANT_STATUSES]
    notes = _ignore_unknown(form)
    paged = queries.grants(
        departments, form.status.data or None, search=form.q.data or None, page=_page_asked(), per_page=GRANTS_PAGE
    )
    return render_template(
        "office/grants.html",
        office=of,
        form=form,
        notes=notes,
        kept=_kept(form),
        grants=paged.rows,
        paged=paged,
        names=display_names({g_.resident for g_ in paged.rows}),
    )


def _render_grant(view: GrantView, form: RevokeForm | None = None, status: int = 200) -> Any:
    reason = queries.grant_status_reason(view.grant_id)
    return (
        render_template(
            "office/grant.html",
            grant=view,
            form=form or RevokeForm(),
            reason=reason,
            office=office(),
            names=display_names({view.resident}),
        ),
        status,
    )


@bp.get("/grants/<grant_id>")
def grant(grant_id: str) -> Any:
    return _render_grant(grant_or_404(grant_id))


@bp.post("/grants/<grant_id>/revoke")
def revoke_grant(grant_id: str) -> Any:
    view = grant_or_404(grant_id)
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            services().consent.revoke(view.grant_id, form.reason.data.strip(), actor=actor().address)
        except LedgerError as exc:
            if not acceptable(exc):
                raise
            if not attach_error(form, exc):
                flash(refused_message(exc), "error")
        else:
            flash(_("The grant was revoked. The department can no longer use it."), "success")
            return redirect(url_for("office.grant", grant_id=view.grant_id))
    return _render_grant(view, form, 400)


# -- audit ---------------------------------------------------------------------------------


def _scope_form(*, with_kind: bool) -> ScopeForm:
    of = office()
    args = request.args
    if "department" in args and args["department"]:
        view = org_or_404(args["department"])
        if view.kind != "department":
            abort(404)
    defaults = {}
    if "from" not in args and "to" not in args:
        defaults = {"start": today() - timedelta(days=DEFAULT_AUDIT_DAYS - 1), "end": today()}
    form = ScopeForm(args, **defaults)
    form.department.choices = [("", _("All departments"))] + [(d.code, org_name(d)) for d in of.departments if d.code]
    kinds = [("", _("Every kind"))] + [(k, str(v)) for k, v in FINDING_NAMES.items()]
    form.kind.choices = kinds if with_kind else [("", "")]
    return form


@dataclass(frozen=True)
class _Scoped:
    scope: audit.Scope
    department: str | None
    resident: str | None


def _scope(form: ScopeForm) -> _Scoped | None:
    """The library's scope for a valid form; None (with field errors) otherwise."""
    if not form.validate():
        return None
    resident = (form.resident.data or "").strip() or None
    department = form.department.data or None
    address = None
    if resident:
        try:
            address = services().ledger.address_of(resident)
        except (LedgerError, ValueError):
            address = None
        if address is None or not resident_of_office(address):
            form.resident.errors = [_("No resident of this office has this label or address.")]
            return None
    try:
        scope = audit.scope_of(
            services().ledger,
            start=form.start.data.isoformat() if form.start.data else None,
            end=form.end.data.isoformat() if form.end.data else None,
            department=department,
            resident=address,
        )
    except InputError as exc:
        attach_error(form, exc, {"from": "start", "to": "end"})
        return None
    return _Scoped(scope, department, address)


def _mine(findings: list[audit.Finding]) -> list[audit.Finding]:
    """The findings about this office: its organisations' accesses, or its residents'."""
    orgs = office().orgs
    return [f for f in findings if f.organisation in orgs or (f.resident and resident_of_office(f.resident))]


def _run(scoped: _Scoped, *, integrity: bool) -> audit.Audit:
    # Pages are GETs, which write nothing: the worker keeps the index up to the chain's head.
    result = audit.run(services().ledger, scoped.scope, integrity=integrity, catch_up=False)
    return replace(result, findings=_mine(result.findings))


@bp.get("/audit", endpoint="audit")
def audit_page() -> Any:
    form = _scope_form(with_kind=True)
    scoped = _scope(form)
    result = None
    if scoped is not None:
        result = _run(scoped, integrity=False)
    return _render_audit(form, result, kind=form.kind.data, status=200 if scoped is not None else 400)


def _render_audit(
    form: ScopeForm, result: audit.Audit | None, *, kind: str | None = None, status: int = 200,
    incremental: bool = False,
) -> Any:  # fmt: skip
    findings = [] if result is None else result.findings
    if kind:
        findings = [f for f in findings if f.kind == kind]
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    shown = findings[:MAX_SHOWN]
    named = {f.grant_id for f in shown if f.grant_id}
    ours = queries.grants_among(named, office().department_ids)
    return render_template(
        "office/audit.html",
        our_grants=ours,
        office=office(),
        form=form,
        result=result,
        incremental=incremental,
        findings=shown,
        total=len(findings),
        counts=counts,
        names=display_names({f.resident for f in shown if f.resident}),
        integrity=last_integrity(),
    ), status


@bp.post("/audit/incremental")
def run_incremental() -> Any:
    """The events since the last audit (:func:`ledger.audit.incremental`), shown on the audit
    page: its findings about this office, what it covered, and whether it marked anew."""
    result = audit.incremental(services().ledger)
    result = replace(result, findings=_mine(result.findings))
    if result.exit_code == 2:
        flash(_("The audit could not check the new events against the chain: a setting was missing. See below."),
              "error")  # fmt: skip
    elif result.integrity is not None and not result.integrity.ok:
        flash(_("The audit found entries of the log changed behind the ledger's back. Run the integrity check."),
              "error")  # fmt: skip
    return _render_audit(_scope_form(with_kind=True), result, incremental=True)


@bp.post("/audit/integrity")
def run_integrity() -> Any:
    ledger = services().ledger
    report = verify.verify(ledger)
    verify.record_run(ledger, report, by=actor().address)
    if report.exit_code == 0:
        flash(_("Integrity check done: the database matches the chain."), "success")
    elif report.exit_code == 2:
        flash(_("The integrity check could not finish: the chain or a setting was missing. See below."), "error")
    else:
        flash(_("Integrity check done: problems were found. See below."), "error")
    return redirect(url_for("office.audit", _anchor="integrity"))


# -- emergency reviews ---------------------------------------------------------------------


def _review_rows(events: list[AccessEvent]) -> list[dict[str, Any]]:
    rows = []
    for event in events:
        leaf = json.loads(bytes(event.leaf))
        rows.append({"event": event, "leaf": leaf})
    return rows


def _render_reviews(forms: dict[int, ReviewForm] | None = None, status: int = 200) -> Any:
    of = office()
    pending = pending_reviews()
    forms = dict(forms or {})
    for event in pending:
        forms.setdefault(event.seq, ReviewForm(prefix=f"r{event.seq}", formdata=None))
    done = queries.reviewed_emergencies(of.department_ids)
    reviewed = [
        {"review": r, "event": e, "leaf": json.loads(bytes(e.leaf)), "at": to_ms(r.created_at)} for r, e in done
    ]
    addresses = {e.accessor for e in pending} | {e.resident for e in pending}
    addresses |= {r["event"].accessor for r in reviewed} | {r["review"].reviewer for r in reviewed}
    addresses |= {r["event"].resident for r in reviewed}
    return (
        render_template(
            "office/reviews.html",
            office=of,
            pending=_review_rows(pending),
            forms=forms,
            reviewed=reviewed,
            names=display_names(addresses),
        ),
        status,
    )


@bp.get("/reviews")
def reviews() -> Any:
    return _render_reviews()


@bp.post("/reviews/<int:seq>")
def review(seq: int) -> Any:
    emergency_or_404(seq)
    form = ReviewForm(prefix=f"r{seq}")
    if form.validate_on_submit():
        decision = "flag" if form.flag.data else "approve"
        try:
            audit.review(services().ledger, seq, decision, form.note.data.strip(), reviewer=actor().address)
        except LedgerError as exc:
            if not acceptable(exc):
                raise
            if not attach_error(form, exc):
                flash(refused_message(exc), "error")
                return redirect(url_for("office.reviews"))
        else:
            if decision == "approve":
                flash(_("Emergency access #%(seq)s was approved.", seq=seq), "success")
            else:
                flash(_("Emergency access #%(seq)s was flagged. It stays in the audit findings.", seq=seq), "warning")
            return redirect(url_for("office.reviews"))
    return _render_reviews({seq: form}, 400)


# -- exports -------------------------------------------------------------------------------


def _file_stem(kind: str, scoped: _Scoped) -> str:
    parts = ["gridledger", kind, office().code or "office"]
    if scoped.department:
        parts.append(scoped.department)
    if scoped.scope.start:
        parts.append(scoped.scope.start.isoformat())
    if scoped.scope.end:
        parts.append("to-" + scoped.scope.end.isoformat())
    return "-".join(parts)


def _render_export(form: ScopeForm, status: int = 200) -> Any:
    return render_template("office/export.html", office=office(), form=form), status


@bp.get("/export")
def export() -> Any:
    form = _scope_form(with_kind=False)
    if request.args:
        form.validate()
    return _render_export(form)


@bp.get("/export/<kind>")
def download(kind: str) -> Any:
    if kind not in ("csv", "pdf", "bundle"):
        abort(404)
    form = _scope_form(with_kind=False)
    scoped = _scope(form)
    if scoped is None:
        return _render_export(form, 400)
    ledger = services().ledger
    if kind == "bundle":
        if scoped.department is None and scoped.resident is None:
            form.department.errors = [_("A bundle covers one department or one resident: choose one.")]
            return _render_export(form, 400)
        try:
            document = bundle(ledger, scoped.scope, ledger.account(ledger.settings.anchorer), log=services().log)
        except NotFoundError:
            flash(_("Nothing is anchored on the chain yet. Try again in a minute."), "error")
            return _render_export(form, 409)
        except InputError as exc:
            attach_error(form, exc, {"from": "start", "to": "end"})
            return _render_export(form, 400)
        body = (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
        return send_file(
            io.BytesIO(body),
            mimetype="application/json",
            as_attachment=True,
            download_name=_file_stem("bundle", scoped) + ".json",
        )
    result = _run(scoped, integrity=bool(form.integrity.data))
    ctx = _report_context(result, scoped)
    if kind == "csv":
        return send_file(
            io.BytesIO(report.to_csv(result, ctx)),
            mimetype="text/csv",
            as_attachment=True,
            download_name=_file_stem("audit", scoped) + ".csv",
        )
    return send_file(
        io.BytesIO(report.to_pdf(result, ctx)),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=_file_stem("audit", scoped) + ".pdf",
    )


def _report_context(result: audit.Audit, scoped: _Scoped) -> report.Context:
    """The exports' names are the audit page's: organisations in the page's language, residents
    as the office sees them (unmasked, as on the audit page)."""
    of = office()
    me = actor()
    ledger = services().ledger
    residents = {f.resident for f in result.findings if f.resident} | ({scoped.resident} if scoped.resident else set())
    return report.Context(
        office_id=of.id, office_name=of.name, generated_by=me.display_name,
        generated_at=access_rules.now_ms(), organisations=set(of.orgs), residents=display_names(residents),
        codes=audit.org_codes(ledger), part_name=lambda p: str(INTEGRITY_PARTS.get(p, p)),
        checkpoint=anchored_checkpoint(ledger, services().log), department=scoped.department,
        resident=scoped.resident,
    )  # fmt: skip


# -- log-in throttles ------------------------------------------------------------------------
# (webapp.throttle) Failed log-ins per client address and per user name, with their delays.


def _throttle_is_mine(lane: queries.ThrottleLane) -> bool:
    """A user name of a web user whose account acts for another office (on chain) is that
    office's to see; client addresses and names of nobody in an office are every office's."""
    if lane.address is None:
        return True
    view = services().ledger.view
    member = view.member(lane.address)
    org = None if member is None else view.organisation(member.org_id)
    return org is None or org.office == actor().office_id


@bp.get("/throttles")
def throttles() -> Any:
    from ..throttle import now, rules

    lanes = [lane for lane in queries.login_throttles(rules(), now()) if _throttle_is_mine(lane)]
    return render_template("office/throttles.html", lanes=lanes, rules=rules())


@bp.post("/throttles/clear")
def clear_throttle() -> Any:
    from ..throttle import Lane, now, rules

    kind, key = request.form.get("kind", ""), request.form.get("key", "")
    if kind not in {lane.value for lane in Lane}:
        abort(404)
    lane = queries.login_throttle(Lane(kind), key, rules(), now())
    if lane is None or not _throttle_is_mine(lane):
        abort(404)
    queries.clear_login_throttle(Lane(kind), key)
    flash(_("Cleared: %(who)s may try again at once.", who=key))
    return redirect(url_for("office.throttles"))


# -- consent receipts ---------------------------------------------------------------------------


@bp.get("/grants/<grant_id>/receipt.json")
def grant_receipt(grant_id: str) -> Any:
    """A grant to one of my office's departments as a consent record."""
    from ledger.receipts import ReceiptReader

    from ..receipts import receipt_download

    return receipt_download(grant_id, actor().address, ReceiptReader.OFFICE, back=url_for("office.grants"))
# -- residents' rights requests (ledger.rights) ----------------------------------------------
# Deletions and objections to decide (erase or refuse with its legal basis; upheld or not), and
# every request of the office's residents with its due date; overdue ones are counted on the
# dashboard. Who may decide is the chain's to say (the library checks it again).

NAV.insert(next(i for i, item in enumerate(NAV) if item[0] == "office.reviews") + 1,
           ("office.requests_page", _l("Residents' requests")))  # fmt: skip


def _office_requests() -> list[Any]:
    return services().rights.office_queue(office().id)


def _request_or_404(request_id: str) -> Any:
    try:
        found = services().rights.get(request_id)
    except (NotFoundError, InputError):
        abort(404)
    if found.request_id not in {r.request_id for r in _office_requests()}:
        abort(404)
    return found


def _deletion_form(request_id: str, *, empty: bool = False) -> DeletionDecisionForm:
    prefix = f"d{request_id[2:14]}"
    form = DeletionDecisionForm(prefix=prefix, formdata=None) if empty else DeletionDecisionForm(prefix=prefix)
    form.basis.choices = [("", _l("— choose when refusing —"))] + [
        (str(b), refusal_basis_name(b)) for b in RefusalBasis
    ]
    return form


def _render_requests(forms: dict[str, Any] | None = None, status: int = 200) -> Any:
    views = _office_requests()
    forms = dict(forms or {})
    for v in views:
        if v.open and v.kind == RequestKind.DELETION:
            forms.setdefault(v.request_id, _deletion_form(v.request_id, empty=True))
        elif v.open and v.kind == RequestKind.OBJECTION:
            forms.setdefault(v.request_id, ObjectionDecisionForm(prefix=f"o{v.request_id[2:14]}", formdata=None))
    shown = rights_view.items(views, display_names(rights_view.people(views)))
    return render_template(
        "office/requests.html", office=office(), forms=forms,
        to_decide=[r for r in shown if r.open and r.kind != RequestKind.CORRECTION],
        others=[r for r in shown if not (r.open and r.kind != RequestKind.CORRECTION)],
        overdue=sum(1 for r in shown if r.overdue),
    ), status  # fmt: skip


@bp.get("/requests")
def requests_page() -> Any:
    return _render_requests()


@bp.post("/requests/<request_id>")
def decide_request(request_id: str) -> Any:
    found = _request_or_404(request_id)
    if found.kind == RequestKind.DELETION:
        form: Any = _deletion_form(found.request_id)
        if form.validate_on_submit():
            try:
                if form.erase.data:
                    services().rights.erase(found.request_id, form.reason.data.strip(), actor=actor().address)
                    flash(_("The record is erased, and the resident is told."), "success")
                else:
                    services().rights.refuse(found.request_id, form.basis.data or "", form.reason.data.strip(),
                                             actor=actor().address)  # fmt: skip
                    flash(_("The deletion is refused, and the resident reads why."), "success")
            except LedgerError as exc:
                if not acceptable(exc) and not isinstance(exc, ConflictError):
                    raise
                if not attach_error(form, exc):
                    flash(presentation.error(exc), "error")
                    return redirect(url_for("office.requests_page"))
            else:
                return redirect(url_for("office.requests_page", _anchor=f"request-{found.request_id}"))
    elif found.kind == RequestKind.OBJECTION:
        form = ObjectionDecisionForm(prefix=f"o{found.request_id[2:14]}")
        if form.validate_on_submit():
            outcome = RequestOutcome.UPHELD if form.upheld.data else RequestOutcome.NOT_UPHELD
            try:
                services().rights.answer(found.request_id, outcome, form.reason.data.strip(), actor=actor().address)
            except LedgerError as exc:
                if not acceptable(exc) and not isinstance(exc, ConflictError):
                    raise
                if not attach_error(form, exc):
                    flash(presentation.error(exc), "error")
                    return redirect(url_for("office.requests_page"))
            else:
                flash(_("The objection is answered; the resident sees the answer beside the entry."), "success")
                return redirect(url_for("office.requests_page", _anchor=f"request-{found.request_id}"))
    else:
        abort(404)  # corrections are the committee's
    return _render_requests({found.request_id: form}, 400)


def overdue_requests() -> int:
    """The office's overdue residents' requests (the dashboard's card)."""
    return len(services().rights.overdue(office().id))
# -- webhooks (ledger.webhooks): dead letters and recent deliveries of the office's departments ---

#: Recent deliveries shown beside the dead letters, newest first.
RECENT_DELIVERIES = 50

NAV.append(("office.webhooks", _l("Webhooks")))


@bp.get("/webhooks")
def webhooks() -> Any:
    return _render_webhooks()


def _render_webhooks(status: int = 200) -> Any:
    hooks = services().webhooks
    me = actor().address
    dead = hooks.deliveries(me, state="dead", attempts=True, limit=MAX_SHOWN)
    recent = hooks.deliveries(me, attempts=True, limit=RECENT_DELIVERIES)
    return (
        render_template(
            "office/webhooks.html", office=office(), dead=dead, recent=recent, subscriptions=hooks.subscriptions(me),
        ),
        status,
    )  # fmt: skip


@bp.post("/webhooks/<delivery_id>/replay")
def replay_webhook(delivery_id: str) -> Any:
    hooks = services().webhooks
    try:
        found = hooks.delivery(actor().address, delivery_id)
    except NotFoundError:
        abort(404)
    if not ReplayForm().validate_on_submit():
        abort(400)
    try:
        hooks.replay(actor().address, found.id)
    except ConflictError:
        flash(_("This delivery cannot be sent again: it is no longer a failed one, or its subscription was "
                "removed or changed."), "error")  # fmt: skip
        return redirect(url_for("office.webhooks"))
    flash(_("Delivery %(id)s will be sent again within a few seconds, with the same id.", id=found.id), "success")
    return redirect(url_for("office.webhooks"))
# -- consent requests per department (ledger.requests) -------------------------------------------


@bp.get("/consent-requests")
def consent_requests() -> Any:
    """Per department of this office: requests asked, approved, declined, expired, waiting,
    and the median time residents took to answer."""
    of = office()
    found = {s.department: s for s in services().requests.stats(of.id)}
    rows = []
    for dept in of.departments:
        stats = found.get(dept.org_id)
        rows.append({"department": dept, "stats": stats})
    return render_template("office/consent_requests.html", rows=rows)
