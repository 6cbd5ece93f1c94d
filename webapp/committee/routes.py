"""Residents' committee members and grid workers: collect records once, sign them k of n,
follow the committee's record activity, and relay a resident's permission when the
resident is present.

Everything here is scoped to the actor's committee as the chain has it (:mod:`.scope`):
a record the chain does not have in this committee, or a resident it does not have as an
active resident of this one, is a 404, so ids cannot be probed, and whatever the tables
say. Record content is only shown after :meth:`ledger.access.Access.read` has logged a
duty read, and only as the answer to a POST the member sent by pressing a button (a
record's "show the content", the update's "open the form", the signing queue's "show the
changes"): no GET writes, and no URL serves content. Reloading such an answer, or
switching the language on it, shows nothing and logs nothing (the GET of the same URL
leads back to the page without content, and a form sent again is recognised by its
``opening``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from ledger.access import CHINA, Disclosure, today
from ledger.categories import Category, allows_several, validate
from ledger.chainview import ChainView, MemberState
from ledger.consent import LegalBasis, Purpose
from ledger.errors import (
    AccessRefused,
    ConflictError,
    ConsentRequestConflict,
    InputError,
    LedgerError,
    NotAllowed,
    NotFoundError,
    Refusal,
    RequestConflict,
    VerificationError,
)
from ledger.grants import IN_FORCE
from ledger.records import RecordExists
from ledger.rights import RequestKind, RequestStatus

from .. import errors as web_errors
from .. import presentation
from .. import rights as rights_view
from ..content import changes as content_changes
from ..content import fields as content_fields
from ..i18n import CATEGORY_NAMES, PURPOSE_NAMES
from ..names import display_names, org_name, resident_names
from ..presentation import STAFF, invalid, refusal_name, request_problem, request_sentence
from ..security import Actor, current_actor, require_roles
from ..services import services
from . import queries, scope
from .forms import (
    AskForResidentForm,
    ChooseForm,
    DeclineForm,
    RelayAnswerForm,
    RelayGrantForm,
    RelayWithdrawForm,
    ShowChangesForm,
    ShowContentForm,
    SignForm,
    record_form,
)
from .schemaform import (
    CONTENT,
    attach,
    build,
    count_errors,
    formdata_of,
    locate,
    parse_path,
    rows_in,
    schema_errors,
)

bp = Blueprint("committee", __name__, template_folder="templates")
bp.before_request(require_roles("committee-member", "grid-worker"))

QUEUE_PAGE = 10  # a page a member goes through at one sitting
HISTORY_PAGE = 50
RECENT = 8  # the overview's latest records
MAX_GRANT_YEARS = 5
OPENINGS_KEPT = 32  # buttons remembered as pressed, per session (a reload re-sends one of the last few)

NAV = [
    ("committee.home", _l("Overview")),
    ("committee.residents", _l("Residents")),
    ("committee.new_record", _l("New record")),
    ("committee.queue", _l("Signing queue")),
    ("committee.history", _l("History")),
]


@bp.context_processor
def _navigation() -> dict[str, Any]:
    return {"nav": NAV}


def me() -> Actor:
    actor = current_actor()
    if actor is None or actor.org_id is None:  # require_roles ran first; this is for the type checker
        abort(403)
    return actor


def store() -> Any:
    return services().ledger.store.session()


def chain() -> ChainView:
    return services().ledger.view


def _resident_or_404(actor: Actor, address: str) -> MemberState:
    member = scope.resident(chain(), str(actor.org_id), address)
    if member is None:
        abort(404)
    return member


def _record_or_404(actor: Actor, record_id: str) -> scope.CommitteeRecord:
    with store() as db:
        row = queries.stored_record(db, record_id)
    found = scope.record(chain(), str(actor.org_id), record_id, row)
    if found is None:
        abort(404)
    return found


def _summary(db: Any, actor: Actor) -> queries.Summary:
    """The committee's figures, with its rule (k of n) as the chain has it."""
    found = queries.summary(db, str(actor.org_id))
    committee = scope.committee(chain(), str(actor.org_id))
    return replace(
        found,
        threshold=committee.threshold if committee else 0,
        signers=committee.active_signers if committee else 0,
    )


def _first_opening(opening: str | None) -> bool:
    """False when this button of this page was pressed before in this session: the browser
    sent the same form again (a reload of the page it answered). Nothing is shown then, and
    nothing logged. (A client that sends no ``opening`` reads each time it asks.)"""
    if not opening:
        return True
    pressed = list(session.get("opened", []))
    if opening in pressed:
        return False
    session["opened"] = [*pressed, opening][-OPENINGS_KEPT:]
    return True


def _refusal(refused: AccessRefused) -> str:
    """A refused duty read in plain words (the refusal itself is in the access log)."""
    if refused.reason == Refusal.ANCHORING_STALLED:
        return _(
            "Record content cannot be shown right now: the access log has not been anchored on the chain for too "
            "long, and nothing is shown that could not be proved logged. This resumes by itself; try again in a few "
            "minutes, or call the office."
        )
    if refused.reason == Refusal.RECORD_ALTERED:
        return _(
            "The content stored here does not match the record's fingerprint on the chain: someone changed the "
            "database, so nothing is shown. The refusal is logged as access #%(seq)d; tell the subdistrict office.",
            seq=refused.seq or 0,
        )
    if refused.reason == Refusal.CONTENT_LOST:
        return _(
            "The content of this version was lost when the office restored its database from a backup: enter it "
            "again as a new version. The refusal is logged as access #%(seq)d.",
            seq=refused.seq or 0,
        )
    if refused.seq is not None:
        return _("The read was refused and the refusal is logged as access #%(seq)d: %(reason)s", seq=refused.seq,
                 reason=refusal_name(refused.reason, STAFF))  # fmt: skip
    return _("The read was refused: %(reason)s", reason=refusal_name(refused.reason, STAFF))


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


# -- overview ------------------------------------------------------------------------------


@bp.get("/")
def home() -> Any:
    actor = me()
    with store() as db:
        summary = _summary(db, actor)
        mine = len(queries.queue(db, str(actor.org_id), actor.address)) if actor.role == "committee-member" else None
        recent = scope.records(chain(), str(actor.org_id), queries.records(db, str(actor.org_id)), limit=RECENT)
        shown = display_names({r.subject for r in recent}, db=db)
    return render_template("committee/home.html", summary=summary, mine=mine, recent=recent, names=shown)


# -- residents -----------------------------------------------------------------------------


@bp.get("/residents/")
def residents() -> Any:
    actor = me()
    query = request.args.get("q", "")[:100]
    with store() as db:
        rows = scope.residents(chain(), str(actor.org_id), queries.residents(db, str(actor.org_id), query))
    return render_template("committee/residents.html", rows=rows, q=query)


@bp.get("/residents/<address>")
def resident(address: str) -> Any:
    actor = me()
    member = _resident_or_404(actor, address)
    with store() as db:
        candidates = queries.records(db, str(actor.org_id), member.address)
        rows = scope.records(chain(), str(actor.org_id), candidates, subject=member.address)
        named = resident_names({member.address}, db=db)[member.address]
        threshold = _summary(db, actor).threshold
    return render_template(
        "committee/resident.html",
        member=member,
        name=named.name,
        login=named.login,
        rows=rows,
        threshold=threshold,
    )


# -- submitting and updating records ---------------------------------------------------------


def _choose_page(form: ChooseForm, status: int = 200) -> Any:
    return render_template("committee/choose.html", form=form), status


@bp.route("/records/new", methods=["GET", "POST"])
def new_record() -> Any:
    actor = me()
    with store() as db:
        people = scope.residents(chain(), str(actor.org_id), queries.residents(db, str(actor.org_id)))
    given = {k: v for k, v in request.args.items() if k in ("resident", "category") and v}
    choose = ChooseForm(formdata=MultiDict(given) if given else None)
    choose.resident.choices = [("", _("— choose —"))] + [(p.address, p.shown) for p in people]
    choose.resident.render_kw = {"data-filter": _("Type a name or log-in id to narrow the list")}
    if "resident" not in given or "category" not in given:
        if request.args.get("chosen"):  # the form was sent half filled in (not a link naming the resident)
            choose.validate()
        return _choose_page(choose)
    try:
        category = Category[given["category"].strip().upper().replace("-", "_")]
    except KeyError:
        choose.category.errors = [_("Choose one of the kinds of record.")]
        return _choose_page(choose, 400)
    member = _resident_or_404(actor, given["resident"])
    with store() as db:
        name = display_names({member.address}, db=db)[member.address]
    if not allows_several(category):
        existing = services().records.existing(member.address, category, committee=str(actor.org_id))
        if existing is not None:
            return _exists_page(category, member, name, existing)

    if request.method == "GET":
        form = record_form(category, rows_in(MultiDict(), category))
        return _record_form_page("new", form, category, member=member, name=name)

    more = request.form.get("more")
    form = record_form(category, rows_in(request.form, category, more=more))
    if more or not form.validate_on_submit():
        return _record_form_page("new", form, category, member=member, name=name)
    content, groups, problems = _content(category, form)
    if content is None:
        return _record_form_page("new", form, category, member=member, name=name, groups=groups, problems=problems)
    try:
        validate(category, content)
        record_id, _tx = services().records.add(
            actor=actor.address, subject=member.address, category=category, content=content
        )
    except RecordExists as exists:  # made meanwhile, by someone else
        return _exists_page(category, member, name, exists.record_id)
    except LedgerError as exc:
        groups, problems, status = _write_error(category, form, exc)
        return _record_form_page(
            "new", form, category, member=member, name=name, groups=groups, problems=problems, status=status
        )
    flash(
        _(
            "The %(category)s record of %(name)s is saved and its fingerprint is on chain. "
            "It now waits for the signatures of committee members.",
            category=CATEGORY_NAMES[category.slug],
            name=name,
        ),
        "success",
    )
    return redirect(url_for("committee.record", record_id=record_id))


def _exists_page(category: Category, member: MemberState, name: str, record_id: str) -> Any:
    """The resident has this kind of record already: the way to update it, and for a form
    posted anyway (or a record made meanwhile), 409 and nothing saved."""
    posted = request.method == "POST"
    page = render_template(
        "committee/exists.html", category=category, member=member, name=name, record_id=record_id, posted=posted
    )
    return page, 409 if posted else 200


@bp.route("/records/<record_id>/edit", methods=["GET", "POST"])
def edit_record(record_id: str) -> Any:
    """GET: what the member is about to do, and the button that opens the form with the
    current content (a logged read, :func:`edit_open`). POST: saves the filled-in form."""
    actor = me()
    record = _record_or_404(actor, record_id)
    if record.erased:
        flash(_("This record was erased; it cannot be changed."), "error")
        return redirect(url_for("committee.record", record_id=record.record_id))
    category = record.category
    with store() as db:
        name = display_names({record.subject}, db=db)[record.subject]
        head = queries.versions(db, record.record_id)[0]

    if request.method == "GET":
        return render_template(
            "committee/edit.html", record=record, category=category, name=name, head=head,
            open_form=ShowContentForm(formdata=None)
        )

    more = request.form.get("more")
    form = record_form(category, rows_in(request.form, category, more=more))
    try:
        loaded = int(form.expected_version.data or "")
    except ValueError:
        abort(400)
    page: dict[str, Any] = {"record": record, "name": name, "loaded": loaded}
    correction = _correction_of(record, request.form.get("rights_request"))  # a resident's correction request
    page["rights_request"] = correction
    if more or not form.validate_on_submit():
        return _record_form_page("edit", form, category, **page)
    content, groups, problems = _content(category, form)
    if content is None:
        return _record_form_page("edit", form, category, groups=groups, problems=problems, **page)
    stored = services().records.show(record.record_id).head  # compared, not shown
    if stored.version == loaded and stored.content == content:
        problems = [_("Nothing was changed: there is no new version to save.")]
        return _record_form_page("edit", form, category, problems=problems, status=400, **page)
    try:
        validate(category, content)
        if correction is not None:  # the version answers the resident's request, linked in its transaction
            version = services().rights.draft(
                correction.request_id, actor=actor.address, content=content, expected_version=loaded
            )
        else:
            version, _tx = services().records.update(
                record.record_id, content, actor=actor.address, expected_version=loaded
            )
    except LedgerError as exc:
        groups, problems, status = _write_error(category, form, exc)
        if isinstance(exc, ConflictError) and not isinstance(exc, RequestConflict):
            problems = [
                _(
                    "Someone changed this record since you opened it (you opened version %(loaded)d; it is now at "
                    "version %(now)d). Nothing was saved. Open the newest version and make your change again.",
                    loaded=loaded,
                    now=services().records.show(record.record_id).head.version,
                )
            ]
        return _record_form_page(
            "edit", form, category, groups=groups, problems=problems, status=status, conflict=status == 409, **page
        )
    flash(
        _(
            "Version %(version)d is saved and on chain. It now waits for the signatures of committee members.",
            version=version,
        ),
        "success",
    )
    return redirect(url_for("committee.record", record_id=record.record_id))


@bp.get("/records/<record_id>/edit/open")
def edit_open_again(record_id: str) -> Any:
    """No URL serves content: reloading the opened form by its address, or switching the
    language on it, comes back to the page that opens it; opening it again is a new read."""
    actor = me()
    return redirect(url_for("committee.edit_record", record_id=_record_or_404(actor, record_id).record_id))


@bp.post("/records/<record_id>/edit/open")
def edit_open(record_id: str) -> Any:
    """The update form, prefilled with the current content once the read is logged (a
    committee review, basis "duty"): prefilling shows the content to the member."""
    actor = me()
    record = _record_or_404(actor, record_id)
    again = redirect(url_for("committee.edit_record", record_id=record.record_id))
    if record.erased:
        flash(_("This record was erased; it cannot be changed."), "error")
        return redirect(url_for("committee.record", record_id=record.record_id))
    opened = ShowContentForm()
    if not opened.validate_on_submit():
        abort(400)
    if not _first_opening(opened.opening.data):
        flash(_("The form is not kept: to change the record, open the form again (that view is logged too)."),
              "warning")  # fmt: skip
        return again
    try:
        disclosure = services().access.read(record.record_id, accessor=actor.address, basis="duty")
    except AccessRefused as refused:
        flash(_refusal(refused), "error")
        return redirect(url_for("committee.record", record_id=record.record_id))
    category = record.category
    with store() as db:
        name = display_names({record.subject}, db=db)[record.subject]
    head = services().records.show(record.record_id).head
    try:  # the read checked the version it covers; the form shows the newest, checked too
        content = services().records.checked_content(record.record_id, head.version)
    except VerificationError:
        flash(_("The stored content does not match its fingerprint on the chain: the database was altered. "
                "Nothing is shown; tell the office."), "error")  # fmt: skip
        return redirect(url_for("committee.record", record_id=record.record_id))
    except NotFoundError:
        flash(_("The newest version is not on the chain yet. Open the form again in a moment."), "warning")
        return again
    formdata, rows = formdata_of(category, content or {})
    formdata["expected_version"] = str(head.version)
    form = record_form(category, rows, formdata)
    return _record_form_page("edit", form, category, record=record, name=name, loaded=head.version,
                             disclosure=disclosure)  # fmt: skip


def _content(category: Category, form: Any) -> tuple[dict[str, Any] | None, dict[str, list[str]], list[str]]:
    """The content of a posted record form; or None, with every error placed beside its
    field (``groups``: errors about a whole group of fields; ``problems``: the rest)."""
    inner = form[CONTENT].form
    built = build(category, inner)
    found = list(built.errors.items())
    for path, message in schema_errors(category, built.content):
        if any(path == bad or path.startswith((bad + ".", bad + "[")) for bad in built.errors):
            continue  # already told: not a number
        found.append((path, message))
    groups: dict[str, list[str]] = {}
    problems: list[str] = []
    for path, message in found:
        _place(category, inner, path, message, built.row_of, groups, problems)
    return (None if found else built.content), groups, problems


def _place(
    category: Category,
    inner: Any,
    path: str,
    message: str,
    row_of: dict[str, list[int]],
    groups: dict[str, list[str]],
    problems: list[str],
) -> None:
    target = locate(category, inner, path, row_of) if path else None
    if target is None:
        problems.append(f"{path}: {message}" if path else message)
    else:
        attach(target, message, groups)


def _write_error(category: Category, form: Any, exc: LedgerError) -> tuple[dict[str, list[str]], list[str], int]:
    """A refused write: an input error beside its field, anything else above the form."""
    groups: dict[str, list[str]] = {}
    problems: list[str] = []
    status, _code = web_errors.status_of(exc)
    if isinstance(exc, InputError) and exc.field and parse_path(exc.field):
        _place(category, form[CONTENT].form, exc.field, presentation.error(exc), {}, groups, problems)
    else:
        problems.append(presentation.error(exc))
    return groups, problems, status


def _record_form_page(mode: str, form: Any, category: Category, *, status: int = 200, **context: Any) -> Any:
    groups = context.setdefault("groups", {})
    problems = context.setdefault("problems", [])
    context.setdefault("disclosure", None)
    context.setdefault("open_form", ShowContentForm(formdata=None) if mode == "edit" else None)
    error_count = count_errors(form[CONTENT].form) + sum(len(g) for g in groups.values())
    if status == 200 and (problems or error_count or form.errors):
        status = 400
    return (
        render_template(
            "committee/record_form.html", mode=mode, form=form, category=category, error_count=error_count, **context
        ),
        status,
    )


# -- a record ------------------------------------------------------------------------------


def _record_page(actor: Actor, record: scope.CommitteeRecord, disclosure: Disclosure | None = None) -> Any:
    category = record.category
    with store() as db:
        versions = queries.versions(db, record.record_id)
        summary = _summary(db, actor)
        people = {record.subject, record.created_by}
        for v in versions:
            people.update({v.created_by, *v.signers, *v.approvals})
        shown = display_names(people, db=db)
    head = versions[0]
    lines = changes = None
    pending_head = None
    if disclosure is not None:
        lines = content_fields(category, disclosure.content)
        if head.version > disclosure.version:
            # An update waits for signatures: show what it changes (the read above covers it).
            view = services().records.show(record.record_id)
            pending_head = view.head.version
            changes = content_changes(category, disclosure.content, view.head.content)[0]
    can_sign = (
        actor.role == "committee-member"
        and not record.erased
        and head.on_chain
        and not head.certified_tx
        and actor.address not in head.approvals
    )
    return render_template(
        "committee/record.html",
        record=record,
        category=category,
        versions=versions,
        head=head,
        names=shown,
        threshold=summary.threshold,
        signers=summary.signers,
        disclosure=disclosure,
        lines=lines,
        changes=changes,
        pending_head=pending_head,
        can_sign=can_sign,
        show_form=ShowContentForm(formdata=None),
        sign_form=SignForm(formdata=None, version=str(head.version), back="record"),
        corrections=_corrections_of(record.record_id),
        opening_form=lambda: ShowContentForm(formdata=None),
    )


@bp.get("/records/<record_id>")
def record(record_id: str) -> Any:
    actor = me()
    return _record_page(actor, _record_or_404(actor, record_id))


@bp.get("/records/<record_id>/content")
def record_content_again(record_id: str) -> Any:
    """No URL serves content: reloading it, or switching the language on the page that showed
    it, comes back to the record page; showing the content again is a new, logged read."""
    actor = me()
    return redirect(url_for("committee.record", record_id=_record_or_404(actor, record_id).record_id))


@bp.post("/records/<record_id>/content")
def record_content(record_id: str) -> Any:
    """Shows the content after logging the read (a committee review, basis "duty")."""
    actor = me()
    found = _record_or_404(actor, record_id)
    if found.erased:
        flash(_("This record was erased: there is no content to show."), "error")
        return redirect(url_for("committee.record", record_id=found.record_id))
    pressed = ShowContentForm()
    if not pressed.validate_on_submit():
        abort(400)
    if not _first_opening(pressed.opening.data):
        flash(_("This page is not kept: to see the content again, show it again (that view is logged too)."),
              "warning")  # fmt: skip
        return redirect(url_for("committee.record", record_id=found.record_id))
    try:
        disclosure = services().access.read(found.record_id, accessor=actor.address, basis="duty")
    except AccessRefused as refused:
        flash(_refusal(refused), "error")
        return redirect(url_for("committee.record", record_id=found.record_id))
    return _record_page(actor, found, disclosure)


# -- signing -------------------------------------------------------------------------------


@dataclass
class QueueEntry:
    item: queries.QueueItem
    name: str
    author: str
    changes: list[Any] | None = None
    unchanged: int = 0
    first: bool = False
    refused: str | None = None


@bp.get("/queue")
def queue() -> Any:
    """What waits for signatures, without content: a member shows each one's changes (a
    logged read, :func:`record_changes`) before signing it."""
    actor = me()
    signer = actor.role == "committee-member"
    with store() as db:
        items = queries.queue(db, str(actor.org_id), actor.address if signer else None)
        summary = _summary(db, actor)
        page = _page()
        pages = max(1, -(-len(items) // QUEUE_PAGE))
        page = min(page, pages)
        shown = scope.records(chain(), str(actor.org_id), items[(page - 1) * QUEUE_PAGE : page * QUEUE_PAGE])
        names = display_names({i.subject for i in shown} | {i.created_by for i in shown}, db=db)
    entries = [QueueEntry(item, names[item.subject], names[item.created_by]) for item in shown]
    return render_template(
        "committee/queue.html",
        entries=entries,
        total=len(items),
        page=page,
        pages=pages,
        signer=signer,
        threshold=summary.threshold,
        forms={e.item.record_id: ShowChangesForm(formdata=None, version=str(e.item.version)) for e in entries},
    )


@bp.get("/records/<record_id>/changes")
def record_changes_again(record_id: str) -> Any:
    """No URL serves content: the changes shown once lead back to the signing queue."""
    _record_or_404(me(), record_id)
    return redirect(url_for("committee.queue"))


@bp.post("/records/<record_id>/changes")
def record_changes(record_id: str) -> Any:
    """What the newest version of a record in the signing queue changes, once the read is
    logged (a committee review, basis "duty"), with the button that signs it."""
    actor = me()
    if actor.role != "committee-member":
        abort(403)  # the queue shows changes to those who sign them
    found = _record_or_404(actor, record_id)
    pressed = ShowChangesForm()
    if not pressed.validate_on_submit():
        abort(400)
    back = redirect(url_for("committee.queue"))
    if found.erased:
        flash(_("This record was erased: there is nothing to sign."), "error")
        return back
    if not _first_opening(pressed.opening.data):
        flash(_("This page is not kept: to see the changes again, show them again (that view is logged too)."),
              "warning")  # fmt: skip
        return back
    with store() as db:
        waiting = queries.queue(db, str(actor.org_id), actor.address, record_id=found.record_id)
        summary = _summary(db, actor)
        names = display_names({found.subject} | {i.created_by for i in waiting}, db=db)
    if not waiting:  # signed, certified or replaced meanwhile: nothing to read for
        flash(_("Nothing of this record waits for your signature any more."), "warning")
        return back
    item = replace(waiting[0], subject=found.subject, category=found.category)
    entry = QueueEntry(item, names[found.subject], names[item.created_by])
    disclosure = _review(actor, entry)
    return render_template(
        "committee/changes.html",
        entry=entry,
        disclosure=disclosure,
        newer=str(item.version) != pressed.version.data,
        threshold=summary.threshold,
    )


def _review(actor: Actor, entry: QueueEntry) -> Disclosure | None:
    """The diff of a queued version against the one before it, after logging the read."""
    try:
        disclosure = services().access.read(entry.item.record_id, accessor=actor.address, basis="duty")
    except AccessRefused as refused:
        entry.refused = _refusal(refused)
        return None
    except NotFoundError:
        entry.refused = _("This record has no content to show.")
        return None
    # The read checked the version it covers; what the sign button certifies is checked too.
    records, rid, version = services().records, entry.item.record_id, entry.item.version
    try:
        new = records.checked_content(rid, version)
        old = records.checked_content(rid, version - 1) if version > 1 else None
    except VerificationError:
        entry.refused = _(
            "The stored content does not match its fingerprint on the chain: the database was altered. "
            "Nothing is shown. Do not sign it; tell the office."
        )
        return disclosure
    except NotFoundError:
        entry.refused = _("This version is no longer stored.")
        return disclosure
    entry.first = version == 1
    entry.changes, entry.unchanged = content_changes(entry.item.category, old, new)
    return disclosure


@bp.post("/records/<record_id>/sign")
def sign(record_id: str) -> Any:
    actor = me()
    if actor.role != "committee-member":
        abort(403)  # grid workers collect and relay; only committee members certify
    found = _record_or_404(actor, record_id)
    form = SignForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        version = int(form.version.data)
    except ValueError:
        abort(400)
    back = (
        url_for("committee.record", record_id=found.record_id)
        if form.back.data == "record"
        else url_for("committee.queue")
    )
    with store() as db:
        versions = {v.version: v for v in queries.versions(db, found.record_id)}
        already = queries.has_signed(db, found.record_id, version, actor.address)
    head = max(versions) if versions else 0
    on_chain = scope.head(chain(), found.record_id, at_least=version)
    if found.erased:
        flash(_("This record was erased: there is nothing to sign."), "error")
        return redirect(back)
    if version != head:
        flash(
            _(
                "This record changed since you loaded the page: version %(version)d is no longer the newest. "
                "Look at version %(head)d before you sign.",
                version=version,
                head=head,
            ),
            "error",
        )
        return redirect(back)
    if on_chain is not None and on_chain.certified_version == version:
        flash(_("Version %(version)d is already certified.", version=version), "warning")
        return redirect(back)
    if on_chain is None or on_chain.version < version:
        flash(_("Version %(version)d is not on chain yet. Sign it in a moment.", version=version), "warning")
        return redirect(back)
    if already:
        flash(_("You have already signed version %(version)d. A signature counts once.", version=version), "warning")
        return redirect(back)
    try:
        outcome = services().records.sign(found.record_id, signer=actor.address, version=version)
    except ConflictError:
        flash(_("This record changed while you were signing. Look at the newest version and sign again."), "error")
        return redirect(back)
    except LedgerError as exc:
        flash(_("Your signature was not accepted: %(reason)s", reason=presentation.error(exc)), "error")
        return redirect(back)
    if outcome.certify_tx:
        settle_corrections(found.record_id)
        flash(
            _(
                "Signed (%(m)d of %(k)d). The record is now certified on chain.",
                m=outcome.approvals,
                k=outcome.threshold,
            ),
            "success",
        )
    else:
        flash(
            _(
                "Signed (%(m)d of %(k)d). It is certified once %(k)d committee members have signed.",
                m=outcome.approvals,
                k=outcome.threshold,
            ),
            "success",
        )
    return redirect(back)


# -- history -------------------------------------------------------------------------------


@bp.get("/history")
def history() -> Any:
    actor = me()
    page = _page()
    with store() as db:
        found = queries.history(db, str(actor.org_id), HISTORY_PAGE + 1, (page - 1) * HISTORY_PAGE)
        more = len(found) > HISTORY_PAGE
        events = scope.records(chain(), str(actor.org_id), found[:HISTORY_PAGE])
        shown = display_names({e.subject for e in events} | {e.who for e in events if e.who}, db=db)
    return render_template("committee/history.html", events=events, names=shown, page=page, more=more)


# -- relaying a resident's permission --------------------------------------------------------


def _grant_form(actor: Actor, *, fresh: bool = False) -> RelayGrantForm:
    form = RelayGrantForm(formdata=None) if fresh else RelayGrantForm()
    with store() as db:
        form.department.choices = [("", _("— choose —"))] + queries.departments(db, actor.office_id)
    form.categories.choices = [(c.slug, CATEGORY_NAMES[c.slug]) for c in Category]
    return form


def _relay_page(
    actor: Actor,
    member: MemberState,
    form: RelayGrantForm,
    *,
    withdraw_errors: dict[str, list[str]] | None = None,
    status: int = 200,
    answer_errors: dict[str, list[str]] | None = None,
) -> Any:
    grants = [
        g for g in services().consent.list(resident=member.address) if scope.grant_of(chain(), g.grant_id, member.address)
    ]
    grants.sort(key=lambda g: g.valid_from, reverse=True)
    with store() as db:
        shown = display_names({member.address} | {g.relayer for g in grants if g.relayer}, db=db)
        departments = queries.org_names(db)
    return (
        render_template(
            "committee/relay.html",
            member=member,
            name=shown[member.address],
            names=shown,
            form=form,
            grants=grants,
            departments=departments,
            withdraw_form=RelayWithdrawForm(formdata=None, prefix="withdraw"),
            withdraw_errors=withdraw_errors or {},
            waiting=_waiting_requests(member, shown[member.address]),
            answer_form=RelayAnswerForm(formdata=None, prefix="answer"),
            answer_errors=answer_errors or {},
        ),
        status,
    )


def _join(items: Any) -> str:
    language = get_locale()
    return ("、" if language is not None and language.language == "zh" else ", ").join(items)


def _until(text: str) -> tuple[int | None, str | None]:
    """The last day of a permission -> its end (exclusive: the start of the next day, China
    time, as the resident's own form, the API and the CLI make it), or an error."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None, _("Enter a date as YYYY-MM-DD.")
    if day <= today():
        return None, _("Choose a day after today.")
    if day > today() + timedelta(days=366 * MAX_GRANT_YEARS):
        return None, _("At most %(years)d years ahead.", years=MAX_GRANT_YEARS)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=CHINA)
    return int(end.timestamp()), None


@bp.route("/residents/<address>/relay-grant", methods=["GET", "POST"])
def relay_grant(address: str) -> Any:
    actor = me()
    member = _resident_or_404(actor, address)
    form = _grant_form(actor)
    if request.method == "GET" or not form.validate_on_submit():
        return _relay_page(actor, member, form, status=400 if request.method == "POST" else 200)
    until, problem = _until(form.valid_until.data or "")
    if problem:
        form.valid_until.errors = [problem]
        return _relay_page(actor, member, form, status=400)
    assert until is not None
    categories = [Category[slug.upper()] for slug in form.categories.data or []]
    purpose = Purpose(int(form.purpose.data))
    try:
        grant_id, _tx = services().consent.issue(
            resident=member.address,
            department=form.department.data,
            categories=categories,
            purpose=purpose,
            legal_basis=LegalBasis.CONSENT,
            valid_until=until,
            purpose_text=(form.purpose_text.data or "").strip(),
            relayer=actor.address,
        )
    except InputError as exc:
        target = {"categories": form.categories, "valid_until": form.valid_until, "department": form.department}
        message = invalid(exc.code, exc.params)
        if exc.field in target:
            target[exc.field].errors = [message]
        else:
            form.purpose_text.errors = [message]
        return _relay_page(actor, member, form, status=400)
    with store() as db:
        name = display_names({member.address}, db=db)[member.address]
        department = dict(queries.departments(db, actor.office_id)).get(form.department.data, form.department.data)
    day = form.valid_until.data.strip()
    flash(
        _(
            "Sent with %(name)s's own signature: %(department)s may use their %(categories)s records for "
            "%(purpose)s until %(day)s. %(name)s can withdraw this at any time.",
            name=name,
            department=department,
            categories=_join(str(CATEGORY_NAMES[c.slug]) for c in categories),
            purpose=PURPOSE_NAMES[int(purpose)],
            day=day,
        ),
        "success",
    )
    return redirect(url_for("committee.relay_grant", address=member.address, granted=grant_id))


@bp.post("/residents/<address>/grants/<grant_id>/withdraw")
def relay_withdraw(address: str, grant_id: str) -> Any:
    actor = me()
    member = _resident_or_404(actor, address)
    try:
        grant = services().consent.show(grant_id)
    except (NotFoundError, InputError):
        abort(404)
    if not scope.grant_of(chain(), grant.grant_id, member.address):  # the chain's, whatever the table says
        abort(404)
    form = RelayWithdrawForm(prefix="withdraw")
    if not form.validate_on_submit():
        errors = [str(e) for e in form.present.errors] or [_("Tick the box to confirm.")]
        return _relay_page(
            actor, member, _grant_form(actor, fresh=True), withdraw_errors={grant.grant_id: errors}, status=400
        )
    if grant.status not in IN_FORCE:
        flash(_("This permission is no longer active: there is nothing to withdraw."), "warning")
        return redirect(url_for("committee.relay_grant", address=member.address))
    services().consent.withdraw(grant.grant_id, relayer=actor.address)
    with store() as db:
        name = display_names({member.address}, db=db)[member.address]
    flash(
        _(
            "Withdrawn with %(name)s's own signature. From now on the department can no longer use these records "
            "under this permission.",
            name=name,
        ),
        "success",
    )
    return redirect(url_for("committee.relay_grant", address=member.address))


# -- residents' rights requests (ledger.rights) ----------------------------------------------
# Corrections residents asked for, beside their record and in a list oldest first: a committee
# member drafts the corrected version (the edit form, opened with the value asked for: a
# logged read) or declines with a reason the resident reads. A grid worker (or member) asks
# for a correction or deletion on a resident's behalf, with the resident present.

NAV.append(("committee.corrections", _l("Corrections asked")))


def _corrections_of(record_id: str) -> list[Any]:
    views = [v for v in services().rights.of_record(record_id) if v.kind == RequestKind.CORRECTION]
    return rights_view.items(views, display_names(rights_view.people(views)))


def _correction_of(record: scope.CommitteeRecord, request_id: str | None) -> Any:
    """The correction request ``request_id`` about ``record`` (404 when it is not one)."""
    if not request_id:
        return None
    try:
        found = services().rights.get(request_id)
    except (NotFoundError, InputError):
        abort(404)
    if found.kind != RequestKind.CORRECTION or found.record_id != record.record_id:
        abort(404)
    return rights_view.item(found)


def settle_corrections(record_id: str) -> None:
    """A certification may settle a correction that asked for it (:meth:`ledger.rights.Rights.settle`)."""
    for view in services().rights.of_record(record_id):
        if view.status == RequestStatus.DRAFTED:
            for done in services().rights.settle(view.request_id):
                flash(_("The resident’s correction request is answered: corrected in version %(n)d.",
                        n=done.draft_version or 0), "success")  # fmt: skip


@bp.get("/corrections")
def corrections() -> Any:
    actor = me()
    views = services().rights.committee_queue(str(actor.org_id))
    return render_template(
        "committee/corrections.html", requests=rights_view.items(views, display_names(rights_view.people(views))),
        opening_form=lambda: ShowContentForm(formdata=None),
    )  # fmt: skip


@bp.post("/records/<record_id>/corrections/<request_id>/draft")
def draft_correction(record_id: str, request_id: str) -> Any:
    """The update form, prefilled with the record's current content and the value the
    resident asked for, once the read is logged (a committee review, on duty)."""
    actor = me()
    if actor.role != "committee-member":
        abort(403)
    record = _record_or_404(actor, record_id)
    correction = _correction_of(record, request_id)
    back = redirect(url_for("committee.record", record_id=record.record_id))
    if record.erased or not correction.open:
        flash(_("This request is answered already."), "warning")
        return back
    opened = ShowContentForm()
    if not opened.validate_on_submit():
        abort(400)
    if not _first_opening(opened.opening.data):
        flash(_("The form is not kept: to change the record, open the form again (that view is logged too)."),
              "warning")  # fmt: skip
        return back
    try:
        disclosure = services().access.read(record.record_id, accessor=actor.address, basis="duty")
    except AccessRefused as refused:
        flash(_refusal(refused), "error")
        return back
    try:
        content, loaded = services().rights.correction_content(correction.request_id)
    except VerificationError:
        flash(_("The stored content does not match its fingerprint on the chain: the database was altered. "
                "Nothing is shown; tell the office."), "error")  # fmt: skip
        return back
    except NotFoundError:
        flash(_("The newest version is not on the chain yet. Open the form again in a moment."), "warning")
        return back
    with store() as db:
        name = display_names({record.subject}, db=db)[record.subject]
    formdata, rows = formdata_of(record.category, content)
    formdata["expected_version"] = str(loaded)
    form = record_form(record.category, rows, formdata)
    return _record_form_page("edit", form, record.category, record=record, name=name, loaded=loaded,
                             disclosure=disclosure, rights_request=correction)  # fmt: skip


@bp.post("/records/<record_id>/corrections/<request_id>/decline")
def decline_correction(record_id: str, request_id: str) -> Any:
    actor = me()
    if actor.role != "committee-member":
        abort(403)
    record = _record_or_404(actor, record_id)
    correction = _correction_of(record, request_id)
    form = DeclineForm()
    back = redirect(url_for("committee.record", record_id=record.record_id, _anchor=f"request-{correction.request_id}"))
    if not form.validate_on_submit():
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
        return back
    try:
        services().rights.decline(correction.request_id, form.reason.data or "", actor=actor.address)
    except LedgerError as exc:
        flash(presentation.error(exc), "error")
        return back
    flash(_("The request is declined. The resident reads your reason under “My requests”."), "success")
    return back


@bp.route("/residents/<address>/records/<record_id>/ask", methods=["GET", "POST"])
def ask_for_resident(address: str, record_id: str) -> Any:
    """A correction or deletion asked on the resident's behalf, with the resident present."""
    actor = me()
    member = _resident_or_404(actor, address)
    record = _record_or_404(actor, record_id)
    if record.subject != member.address or record.erased:
        abort(404)
    with store() as db:
        name = display_names({member.address}, db=db)[member.address]
    form = AskForResidentForm(fields=rights_view.field_choices(record.category))
    if request.method == "POST" and form.validate_on_submit():
        try:
            if form.kind.data == "deletion":
                made = services().rights.ask_deletion(record.record_id, comment=form.comment.data or "",
                                                      actor=actor.address)  # fmt: skip
            else:
                made = services().rights.ask_correction(
                    record.record_id, field=form.field.data or "", value=form.value.data or "",
                    comment=form.comment.data or "", actor=actor.address,
                )  # fmt: skip
        except LedgerError as exc:
            target = getattr(form, exc.field, None) if isinstance(exc, InputError) and exc.field else None
            if target is None:
                form.form_errors.append(presentation.error(exc))
            else:
                target.errors = [*target.errors, presentation.error(exc)]
            return render_template("committee/ask_for_resident.html", form=form, record=record, member=member,
                                   name=name), web_errors.status_of(exc)[0]  # fmt: skip
        flash(_("The request is recorded for %(name)s, due by %(day)s.", name=name,
                day=rights_view.day_of(made.due_at)), "success")  # fmt: skip
        return redirect(url_for("committee.resident", address=member.address))
    status = 400 if request.method == "POST" else 200
    return render_template("committee/ask_for_resident.html", form=form, record=record, member=member,
                           name=name), status  # fmt: skip
# -- consent requests, answered with the resident present (ledger.requests) ---------------------


def _waiting_requests(member: MemberState, name: str) -> list[dict[str, Any]]:
    """The resident's requests waiting for an answer, each as one sentence naming them."""
    found = [r for r in services().requests.waiting_for(member.address) if r.resident == member.address]
    return [
        {
            "request": r,
            "sentence": request_sentence(org_name(r.department), [c.slug for c in r.categories], r.valid_until,
                                         r.reason, STAFF, name=name),  # fmt: skip
        }
        for r in found
    ]


def _relay_answer(address: str, request_id: str, approve: bool) -> Any:
    actor = me()
    member = _resident_or_404(actor, address)  # an active resident of my committee, as the chain has it
    try:
        found = services().requests.show(request_id)
    except (NotFoundError, InputError):
        abort(404)
    if found.resident != member.address:
        abort(404)
    form = RelayAnswerForm(prefix="answer")
    if not form.validate_on_submit():
        errors = [str(e) for e in [*form.present.errors, *form.reason.errors]] or [_("Tick the box to confirm.")]
        return _relay_page(actor, member, _grant_form(actor, fresh=True),
                           answer_errors={found.request_id: errors}, status=400)  # fmt: skip
    try:
        if approve:
            grant_id = services().requests.approve(found.request_id, member.address, relayer=actor.address)
        else:
            services().requests.decline(found.request_id, member.address, reason=form.reason.data,
                                        relayer=actor.address)  # fmt: skip
    except (NotAllowed, ConsentRequestConflict) as refused:
        flash(request_problem(refused.code, refused.params), "error")
        return redirect(url_for("committee.relay_grant", address=member.address))
    with store() as db:
        name = display_names({member.address}, db=db)[member.address]
    if approve:
        flash(_("Approved with %(name)s's own signature. The department now has the permission; %(name)s can "
                "withdraw it at any time.", name=name), "success")  # fmt: skip
        return redirect(url_for("committee.relay_grant", address=member.address, granted=grant_id))
    flash(_("Declined for %(name)s. The department gets no permission from this request.", name=name), "success")
    return redirect(url_for("committee.relay_grant", address=member.address))


@bp.post("/residents/<address>/requests/<request_id>/approve")
def relay_approve(address: str, request_id: str) -> Any:
    return _relay_answer(address, request_id, approve=True)


@bp.post("/residents/<address>/requests/<request_id>/decline")
def relay_decline(address: str, request_id: str) -> Any:
    return _relay_answer(address, request_id, approve=False)
