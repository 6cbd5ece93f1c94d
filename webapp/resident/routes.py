"""The resident's pages: my records, my permissions (grants), who used my data, download.

Everything is scoped to the logged-in resident's own address (``current_actor()``); no
route takes a resident id, and a grant id or log sequence number in the URL that is not
the resident's own gives 404, so ids cannot be probed.

A resident reading their own records is not an access by someone else and is not logged
(see docs/decisions.md). Every "verified" mark is computed here, on each request, from the
library's data: a record version's commitment is recomputed from its content and salt and
compared with the commitment the chain holds; an access entry's inclusion proof is checked
against the anchored checkpoint's root.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from dataclasses import replace as replace_entry
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ledger import formats
from ledger.access import CHINA, now_ms, today
from ledger.accesslog import canonical_leaf
from ledger.categories import Category
from ledger.consent import GrantView, LegalBasis, parse_date
from ledger.errors import ConsentRequestConflict, InputError, LedgerError, NotAllowed, NotFoundError, VerificationError
from ledger.grants import IN_FORCE, GrantStatus
from ledger.history import (
    Entry,
    History,
    HistoryFindingKind,
    own_event,
    proof_document,
    resident_history,
)
from ledger.inbox import Item as InboxItem
from ledger.inbox import LinkKind
from ledger.merkle import leaf_hash, verify_inclusion
from ledger.requests import RequestView

from .. import content
from .. import rights as rights_view
from ..errors import status_of
from ..i18n import CATEGORY_NAMES, PURPOSE_NAMES, name_of
from ..names import display_names, org_name, short_address
from ..presentation import (
    RESIDENT,
    answer_day,
    decision_name,
    grant_note,
    history_finding,
    inbox_sentence,
    invalid,
    refusal_name,
    request_outcome_name,
    request_problem,
    request_sentence,
)
from ..presentation import error as presentation_error
from ..security import Actor, current_actor, require_roles
from ..services import services
from . import queries
from .forms import CorrectionForm, GrantForm, HistoryFilter, RequestAnswerForm, RequestCommentForm

bp = Blueprint("resident", __name__, template_folder="templates")
bp.before_request(require_roles("resident"))

PAGE_SIZE = 20  # a page a person reads through, not a table
NEWEST_ON_HOME = 3
RECENT_DAYS = 30
EXPORT_FORMAT = "gridledger-my-data/1"
MAX_SEQ = 2**63 - 1

NAV = [
    ("resident.home", _l("Home")),
    ("resident.records", _l("My records")),
    ("resident.grants", _l("My permissions")),
    ("resident.history", _l("Who used my data")),
    ("resident.download", _l("Download")),
]



@bp.context_processor
def _navigation() -> dict[str, Any]:
    return {"nav": NAV}


def _actor() -> Actor:
    actor = current_actor()
    if actor is None:  # require_roles ran first; this never happens
        abort(403)
    return actor


def _chinese() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "zh"


def _join(names: list[str]) -> str:
    if _chinese():
        return "、".join(names)
    if len(names) <= 1:
        return "".join(names)
    return _("%(first)s and %(last)s", first=", ".join(names[:-1]), last=names[-1])


def _day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).astimezone(CHINA).date().isoformat()


def _last_day(valid_until: int) -> str:
    """The last day a grant can be used: ``validUntil`` is the first moment it cannot."""
    return _day(valid_until - 1)


def _local(iso: str) -> str:
    """A stored time (ISO, UTC when it carries no zone) in China time, to the minute."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


# -- names of organisations and people ---------------------------------------------------------


@dataclass
class Names:
    orgs: dict[str, str]  # organisation id -> name
    codes: dict[str, str]  # organisation id -> public code
    people: dict[str, str] = field(default_factory=dict)  # address -> name

    def org(self, org_id: str | None) -> str:
        if not org_id:
            return _("an unknown organisation")
        return self.orgs.get(org_id) or self.codes.get(org_id) or _("an unknown organisation")

    def person(self, address: str | None) -> str:
        if not address:
            return ""
        return self.people.get(address) or short_address(address)

    def learn_people(self, addresses: set[str]) -> None:
        """Names for ``addresses`` (see :func:`webapp.names.display_names`)."""
        wanted = {a for a in addresses if a and a not in self.people}
        self.people.update(display_names(wanted))


def _names() -> Names:
    profiles = queries.org_profiles()
    return Names({p.org_id: org_name(p) for p in profiles}, {p.org_id: p.code for p in profiles})


def _departments(actor: Actor) -> list[tuple[str, str]]:
    """(code, name) of the departments under the office over the resident's committee."""
    if actor.office_id is None:
        return []
    return sorted(((p.code, org_name(p)) for p in queries.departments_under(actor.office_id)), key=lambda c: c[1])


def _history_orgs(actor: Actor, names: Names) -> list[tuple[str, str]]:
    """(organisation id, name) a resident can filter the history by: the departments under
    their office, their own committee and the office itself."""
    choices: list[tuple[str, str]] = []
    if actor.office_id is not None:
        ids = queries.department_ids_under(actor.office_id)
        choices = sorted(((i, names.org(i)) for i in ids), key=lambda c: c[1])
    for own in (actor.org_id, actor.office_id):
        if own and own not in {c[0] for c in choices}:
            choices.append((own, names.org(own)))
    return choices


# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionItem:
    version: int
    content: Any
    facts: list[content.Row]
    check: str  # verified | mismatch | pending | erased
    certified: bool
    on_chain: bool
    approvals: int
    signers: list[str]
    created_at: str
    content_hash: str
    salt: str | None = None

    @property
    def changed(self) -> str:
        return _local(self.created_at)


@dataclass(frozen=True)
class RecordItem:
    record_id: str
    category: str  # slug
    erased: bool
    threshold: int
    head: VersionItem
    older: list[VersionItem]

    @property
    def status(self) -> str:
        if self.erased:
            return "erased"
        if self.head.certified:
            return "certified"
        return "waiting" if self.head.on_chain else "recording"


def _record_items(actor: Actor, names: Names) -> list[RecordItem]:
    """The resident's records as the chain confirms them (:meth:`ledger.records.Records.
    of_subject`): a version's content is shown only when it gives the chain's commitment."""
    views = services().records.of_subject(actor.address)
    ids = [v.record_id for v in views]
    salts = queries.salts_of(ids)
    thresholds = queries.committee_thresholds()
    names.learn_people({s for v in views for ver in v.versions for s in ver.signers})
    items = []
    for view in views:
        versions = [
            VersionItem(
                version=ver.version,
                content=ver.content,
                facts=content.fields(view.category, ver.content) if ver.content is not None else [],
                check=ver.check,
                certified=ver.certified,
                on_chain=ver.on_chain,
                approvals=len(ver.approvals),
                signers=[names.person(s) for s in ver.signers],
                created_at=ver.created_at,
                content_hash=ver.content_hash,
                salt=salts.get((view.record_id, ver.version)) if ver.check == "verified" else None,
            )
            for ver in view.versions
        ]
        items.append(
            RecordItem(
                record_id=view.record_id,
                category=view.category.slug,
                erased=view.erased,
                threshold=thresholds.get(view.committee_id, 0),
                head=versions[-1],
                older=list(reversed(versions[:-1])),
            )
        )
    return items


# -- grants ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantItem:
    grant_id: str
    status: str
    sentence: str
    note: str
    department: str
    categories: list[str]
    purpose: int
    purpose_text: str
    legal_basis: int
    valid_from: int
    valid_until: int
    relayer: str | None
    issued_tx: str | None
    terms: dict[str, Any] | None
    since: str = ""  # the first day, China time
    until: str = ""  # the last day it can be used, China time


def grant_sentence(
    department: str, categories: list[str], purpose: int, until: str, status: GrantStatus = GrantStatus.ACTIVE
) -> str:
    """What a permission means, in one plain sentence."""
    values = {
        "department": department,
        "categories": _join([str(CATEGORY_NAMES.get(c, c)) for c in categories]),
        "purpose": name_of(PURPOSE_NAMES, purpose),
        "until": until,
    }
    if status in (GrantStatus.ACTIVE, GrantStatus.NOT_YET_VALID):  # the note says when a future one starts
        return _(
            "%(department)s may use your %(categories)s records for %(purpose)s, up to and including %(until)s.",
            **values,
        )
    if status == GrantStatus.PENDING:
        return _(
            "%(department)s will be able to use your %(categories)s records for %(purpose)s, up to and including "
            "%(until)s, as soon as the permission is on the chain.",
            **values,
        )
    if status == GrantStatus.EXPIRED:
        return _(
            "%(department)s was allowed to use your %(categories)s records for %(purpose)s, up to and including "
            "%(until)s.",
            **values,
        )
    # withdrawn or revoked: it ended before its last day (the note says how)
    return _("%(department)s was allowed to use your %(categories)s records for %(purpose)s.", **values)


def _grant_item(grant: GrantView, names: Names) -> GrantItem:
    terms = grant.terms or {}
    department = names.orgs.get(grant.department) or str((terms.get("controller") or {}).get("name") or "")
    department = department or names.org(grant.department)
    categories = [c.slug for c in grant.categories]
    purpose_text = str((terms.get("purpose") or {}).get("text") or "")
    return GrantItem(
        grant_id=grant.grant_id,
        status=grant.status,
        sentence=grant_sentence(department, categories, grant.purpose, _last_day(grant.valid_until), grant.status),
        note=grant_note(grant.status) if grant.status != GrantStatus.ACTIVE else "",
        department=department,
        categories=categories,
        purpose=grant.purpose,
        purpose_text=purpose_text,
        legal_basis=grant.legal_basis,
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
        relayer=names.person(grant.relayer) if grant.relayer else None,
        issued_tx=grant.issued_tx,
        terms=grant.terms,
        since=_day(grant.valid_from),
        until=_last_day(grant.valid_until),
    )


def _grants(actor: Actor, names: Names) -> list[GrantItem]:
    views = [g for g in services().consent.list(resident=actor.address) if g.resident.lower() == actor.address.lower()]
    names.learn_people({g.relayer for g in views if g.relayer})
    return [_grant_item(g, names) for g in reversed(views)]  # newest first


# -- history -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryItem:
    seq: int
    resident_seq: int
    withheld: bool
    disclose_on: str | None
    leaf_hash: str
    proof: str  # verified | failed | unanchored
    leaf: dict[str, Any] | None
    time: int | None = None
    organisation: str = ""
    person: str = ""
    category: str | None = None
    action: str = "read"
    outcome: str = "allowed"
    reason: str = ""
    basis: str | None = None
    purpose: int | None = None
    grant_id: str | None = None
    review_of: int | None = None
    decision: str = ""
    justification: str | None = None  # the written reason (emergency) or the office's note (review)
    review: str | None = None  # for an emergency read: approve | flag once the office reviewed it
    review_of_number: int | None = None  # for a review: the reviewed entry's own number (resident_seq)
    objection: Any = None  # the resident's objection to this use (webapp.rights.RequestItem), once made


def proof_state(entry: Entry, checkpoint: dict[str, Any] | None) -> str:
    """Checks the entry's inclusion proof against the anchored checkpoint's root; for a
    shown entry, also that the details shown hash to the leaf the proof is about."""
    if checkpoint is None or entry.seq >= int(checkpoint["size"]):
        return "unanchored"
    if entry.proof is None:
        return "failed"
    try:
        digest = formats.from_hex(entry.leaf_hash)
        if entry.leaf is not None and leaf_hash(canonical_leaf(entry.leaf)) != digest:
            return "failed"
        verify_inclusion(
            entry.seq,
            int(checkpoint["size"]),
            digest,
            [formats.from_hex(h) for h in entry.proof],
            formats.from_hex(checkpoint["root"]),
        )
    except (VerificationError, ValueError, LedgerError):
        return "failed"
    return "verified"


def _reviews(history: History) -> tuple[dict[int, str], dict[int, int]]:
    """The office's decisions on the emergency reads among the shown entries, and the
    resident's own numbers of the reads the shown reviews are about."""
    shown = [e.seq for e in history.entries if e.leaf is not None and e.leaf.get("basis") == "emergency"]
    reviewed = [int(e.leaf["reviewOf"]) for e in history.entries if e.leaf and e.leaf.get("reviewOf") is not None]
    return queries.review_decisions(shown), queries.resident_numbers(reviewed, history.resident)


def _entry_items(history: History, names: Names) -> list[EntryItem]:
    names.learn_people({str(e.leaf.get("accessor")) for e in history.entries if e.leaf})
    decisions, numbers = _reviews(history)
    altered = {f.seq for f in history.findings if f.kind == HistoryFindingKind.JUSTIFICATION_ALTERED}
    items = []
    for entry in history.entries:
        leaf = entry.leaf
        state = proof_state(entry, history.checkpoint)
        justification = entry.justification
        if entry.seq in altered:
            state = "failed"  # the reason stored is not the one logged (its hash is in the leaf): not shown
        base = dict(
            seq=entry.seq, resident_seq=entry.resident_seq, withheld=entry.withheld, disclose_on=entry.disclose_on,
            leaf_hash=entry.leaf_hash, proof=state, leaf=leaf,
        )  # fmt: skip
        if leaf is None:
            items.append(EntryItem(**base))  # type: ignore[arg-type]
            continue
        items.append(
            EntryItem(
                **base,  # type: ignore[arg-type]
                time=leaf.get("time"),
                organisation=names.org(leaf.get("organisation")),
                person=names.person(leaf.get("accessor")),
                category=leaf.get("category"),
                action=str(leaf.get("action") or "read"),
                outcome=str(leaf.get("outcome") or "allowed"),
                reason=refusal_name(leaf.get("reason") or "", RESIDENT) or _("Refused.")
                if leaf.get("outcome") == "refused"
                else "",
                basis=leaf.get("basis"),
                purpose=leaf.get("purpose"),
                grant_id=leaf.get("grantId"),
                review_of=leaf.get("reviewOf"),
                decision=decision_name(leaf.get("decision"), RESIDENT),
                justification=justification,
                review=decisions.get(entry.seq),
                review_of_number=numbers.get(int(leaf["reviewOf"])) if leaf.get("reviewOf") is not None else None,
            )
        )
    return items


def _findings(history: History) -> list[str]:
    """The history's findings as warnings a resident can act on."""
    return [history_finding(finding) for finding in history.findings]


def _recent_count(actor: Actor) -> int:
    since = now_ms() - RECENT_DAYS * 86_400_000
    return queries.accesses_since(actor.address, since, disclosed_by=today().isoformat())


# -- pages -------------------------------------------------------------------------------------


@bp.get("/")
def home() -> Any:
    actor = _actor()
    names = _names()
    record_count = queries.record_count(actor.address)
    grants = services().consent.list(resident=actor.address)
    active = sum(1 for g in grants if g.status == GrantStatus.ACTIVE)
    history = resident_history(services().ledger, actor.address, log=services().log, limit=NEWEST_ON_HOME)
    return render_template(
        "resident/home.html",
        waiting=waiting_requests(actor, names),
        answered=answered_requests(actor, names),
        answer_form=RequestAnswerForm(formdata=None),
        record_count=record_count,
        active_grants=active,
        recent=_recent_count(actor),
        recent_days=RECENT_DAYS,
        newest=with_objections(actor, _entry_items(history, names)),
        findings=_findings(history),
        checkpoint=history.checkpoint,
    )


@bp.get("/records")
def records() -> Any:
    actor = _actor()
    return render_template("resident/records.html", records=_record_items(actor, _names()))


@bp.get("/grants")
def grants() -> Any:
    actor = _actor()
    return render_template("resident/grants.html", grants=_grants(actor, _names()))


_FIELD_OF = {
    "department": "department",
    "categories": "categories",
    "purpose": "purpose",
    "valid_until": "until",
    "date": "until",
    "purpose_text": "purpose_text",
}


@bp.route("/grants/new", methods=["GET", "POST"])
def new_grant() -> Any:
    actor = _actor()
    departments = _departments(actor)
    form = GrantForm(departments=departments)
    if request.method == "POST" and not request.form.get("back") and form.validate():
        department_name = dict(departments)[form.department.data]
        until = form.until_day()
        summary = grant_sentence(
            department_name, [c.slug for c in form.chosen_categories()], int(form.chosen_purpose()), until.isoformat()
        )
        if form.confirmed.data != "1":
            form.confirmed.data = "1"
            return render_template("resident/confirm_grant.html", form=form, summary=summary)
        try:
            grant_id, _tx = services().consent.issue(
                resident=actor.address,
                department=form.department.data,
                categories=form.chosen_categories(),
                purpose=form.chosen_purpose(),
                legal_basis=LegalBasis.CONSENT,
                # The form asks for the last day: the grant ends when the next day begins.
                valid_until=parse_date((until + timedelta(days=1)).isoformat()),
                purpose_text=(form.purpose_text.data or "").strip(),
            )
        except InputError as exc:
            target = getattr(form, _FIELD_OF.get(exc.field or "", ""), None)
            if target is None:
                form.form_errors.append(invalid(exc.code, exc.params))
            else:
                target.errors = [*target.errors, invalid(exc.code, exc.params)]
            form.confirmed.data = ""
            return render_template("resident/new_grant.html", form=form), 400
        flash(_("Done. %(summary)s", summary=summary), "success")
        return redirect(url_for("resident.grants", _anchor=f"grant-{grant_id}"))
    form.confirmed.data = ""
    status = 400 if request.method == "POST" and not request.form.get("back") else 200
    return render_template("resident/new_grant.html", form=form), status


@bp.post("/grants/<grant_id>/withdraw")
def withdraw_grant(grant_id: str) -> Any:
    actor = _actor()
    key = grant_id.strip().lower()
    mine = {g.grant_id: g for g in services().consent.list(resident=actor.address)}
    grant = mine.get(key)
    if grant is None or grant.status not in IN_FORCE or grant.resident.lower() != actor.address.lower():
        abort(404)
    services().consent.withdraw(grant.grant_id)
    item = _grant_item(grant, _names())
    flash(
        _(
            "You withdrew the permission. %(department)s can no longer use your records under it.",
            department=item.department,
        ),
        "success",
    )
    return redirect(url_for("resident.grants", _anchor=f"grant-{grant.grant_id}"))


@bp.get("/history")
def history() -> Any:
    actor = _actor()
    names = _names()
    organisations = _history_orgs(actor, names)
    form = HistoryFilter(formdata=request.args, organisations=organisations)
    form.validate()
    department = form.department.data if form.department.data and not form.department.errors else None
    category = None
    if form.category.data and not form.category.errors:
        category = int(Category[form.category.data.upper()])
    before = request.args.get("before", type=int)
    if before is not None and not 0 <= before <= MAX_SEQ:
        before = None
    found = resident_history(
        services().ledger,
        actor.address,
        log=services().log,
        limit=PAGE_SIZE,
        before=before,
        department=department,
        category=category,
    )
    entries = with_objections(actor, _entry_items(found, names))
    filtered = department is not None or category is not None
    if filtered:
        # A placeholder found by a filter would tell who (or which records) the legal hold
        # is about: placeholders are shown only in the unfiltered history, and the page does
        # not say how many a filter left out (that would tell it too).
        entries = [e for e in entries if not e.withheld]
    filters = {
        k: v
        for k, v in {"department": department, "category": form.category.data if category is not None else None}.items()
        if v
    }
    older = url_for("resident.history", before=found.next_before, **filters) if found.next_before is not None else None
    newest = url_for("resident.history", **filters) if before is not None else None
    return render_template(
        "resident/history.html",
        form=form,
        entries=entries,
        findings=_findings(found),
        checkpoint=found.checkpoint,
        filtered=filtered,
        older=older,
        newest=newest,
    )


def _attachment(document: dict[str, Any], filename: str) -> Response:
    body = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/history/<int:seq>/proof.json")
def proof(seq: int) -> Any:
    actor = _actor()
    if seq > MAX_SEQ:  # beyond what the log's numbers (64-bit) can be
        abort(404)
    try:
        own_event(services().log, seq, actor.address)
    except NotFoundError:
        abort(404)
    try:
        document = proof_document(services().ledger, seq, log=services().log, resident=actor.address)
    except NotFoundError:
        flash(_("This access is not on the chain yet. Try again in a few seconds."), "warning")
        return redirect(url_for("resident.history"))
    return _attachment(document, f"gridledger-proof-{seq}.json")


# -- download ----------------------------------------------------------------------------------


def _my_data(actor: Actor, names: Names) -> dict[str, Any]:
    """Everything the resident may take away: records with content, grants with terms,
    the access history with proofs and the checkpoint they lead to."""
    records = _record_items(actor, names)
    grants = _grants(actor, names)
    history = resident_history(services().ledger, actor.address, log=services().log)
    shown = {item.seq: item for item in _entry_items(history, names)}
    entries = [
        {
            "seq": e.seq,
            "residentSeq": e.resident_seq,
            "leaf": e.leaf,
            "leafHash": e.leaf_hash,
            "disclosureDate": e.disclose_on,
            "proof": e.proof,
            "justification": shown[e.seq].justification,
            "checkedAgainstChain": shown[e.seq].proof,
        }  # fmt: skip
        for e in history.entries
    ]
    ledger = services().ledger
    return {
        "format": EXPORT_FORMAT,
        "exportedAt": datetime.now(CHINA).isoformat(timespec="seconds"),
        "chainId": ledger.settings.chain_id,
        "contracts": {
            "RecordLedger": ledger.deployment.address("RecordLedger"),
            "ConsentRegistry": ledger.deployment.address("ConsentRegistry"),
            "AccessLogAnchor": ledger.deployment.address("AccessLogAnchor"),
        },
        "resident": {
            "address": actor.address,
            "name": actor.display_name,
            "committee": {"id": actor.org_id, "code": actor.org_code, "name": org_name(actor)},
        },
        "records": [
            {
                "recordId": r.record_id,
                "category": r.category,
                "erased": r.erased,
                "versions": [
                    {
                        "version": v.version,
                        "content": v.content,
                        "fields": [{"path": f.path, "label": f.label, "value": f.value} for f in v.facts],
                        "salt": v.salt,
                        "contentHash": v.content_hash,
                        "onChain": v.on_chain,
                        "certified": v.certified,
                        "checkedAgainstChain": v.check,
                        "createdAt": v.created_at,
                    }
                    for v in [*reversed(r.older), r.head]
                ],
            }
            for r in records
        ],
        "grants": [
            {
                "grantId": g.grant_id,
                "department": g.department,
                "categories": g.categories,
                "purpose": g.purpose,
                "legalBasis": g.legal_basis,
                "validFrom": g.valid_from,
                "validUntil": g.valid_until,
                "lastDay": g.until,
                "status": g.status,
                "relayedBy": g.relayer,
                "issuedTx": g.issued_tx,
                "terms": g.terms,
            }
            for g in grants
        ],
        "history": {
            "checkpoint": history.checkpoint,
            "entries": entries,
            "findings": [{"kind": f.kind, "seq": f.seq, "detail": f.detail} for f in history.findings],
        },
        "howToVerify": {
            "record": "contentHash = keccak256(abi.encode(salt, keccak256(JCS(content)))) (JCS: RFC 8785); "
            "compare it with RecordLedger's commitment of that record id and version.",
            "history": "each entry's proof leads to history.checkpoint, anchored in AccessLogAnchor; "
            "'gridledger verify proof FILE --rpc-url URL' checks one entry (download its proof from the history "
            "page) against any node of the chain, with no database.",
        },
    }


@bp.get("/download")
def download() -> Any:
    _actor()
    return render_template("resident/download.html")


@bp.get("/download/my-data.json")
def export() -> Any:
    actor = _actor()
    document = _my_data(actor, _names())
    return _attachment(document, f"gridledger-my-data-{today().isoformat()}.json")


@bp.get("/download/printable")
def printable() -> Any:
    actor = _actor()
    names = _names()
    records = _record_items(actor, names)
    grants = _grants(actor, names)
    history = resident_history(services().ledger, actor.address, log=services().log)
    return render_template(
        "resident/printable.html",
        records=records,
        grants=grants,
        entries=_entry_items(history, names),
        findings=_findings(history),
        checkpoint=history.checkpoint,
        printed_at=datetime.now(CHINA).strftime("%Y-%m-%d %H:%M"),
    )


# -- consent receipts ---------------------------------------------------------------------------


@bp.get("/grants/<grant_id>/receipt.json")
def grant_receipt(grant_id: str) -> Any:
    """My permission as a consent record I can keep and have checked against the chain."""
    from ledger.receipts import ReceiptReader

    from ..receipts import receipt_download

    return receipt_download(grant_id, _actor().address, ReceiptReader.RESIDENT, back=url_for("resident.grants"))


# -- the inbox (issue 13: notifications) --------------------------------------------------------
#
# Items are derived by the library (ledger.inbox) from the verified history and the chain's
# grants; what is stored is which of them the resident has read. Showing the inbox writes
# nothing (no GET writes): the page's script posts the keys it showed (``/inbox/seen``), and
# "Mark all as read" is a plain form. Only the logged-in resident marks their own inbox (the
# library checks it on chain), so a grid worker helping them never does.

INBOX_PAGE = 30  # items on one page of the inbox


@dataclass(frozen=True)
class InboxEntry:
    key: str
    kind: str
    sentence: str
    href: str
    unread: bool
    at: str = ""  # for a use of the data: the time of day it happened (China time), beside its sentence


def _inbox_href(item: InboxItem) -> str:
    if item.link.kind == LinkKind.HISTORY_ENTRY:
        seq = int(item.link.ref)  # the page of the history that starts at this entry
        return url_for("resident.history", before=seq + 1, _anchor=f"entry-{seq}")
    if item.link.kind == LinkKind.CONSENT_REQUEST:  # answered on the home page, waiting ones first
        return url_for("resident.home", _anchor=f"request-{item.link.ref[2:14]}")
    return url_for("resident.grants", _anchor=f"grant-{item.link.ref}")


def _inbox_entries(items: list[InboxItem], names: Names) -> list[InboxEntry]:
    return [
        InboxEntry(
            item.key, item.kind, inbox_sentence(item, names.org), _inbox_href(item), item.unread,
            at=_local_time(item.params.get("time")) if item.link.kind == LinkKind.HISTORY_ENTRY else "",
        )  # fmt: skip
        for item in items
    ]


def _local_time(ms: Any) -> str:
    if not isinstance(ms, int):
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(CHINA).strftime("%H:%M")


def header_unread() -> int | None:
    """The unread count for the page header: a logged-in, active resident's only (one
    query, once per request); None for everyone else and when it cannot be asked."""
    if "inbox_unread" in g:
        return g.inbox_unread  # type: ignore[no-any-return]
    count = None
    try:
        actor = current_actor()
        if actor is not None and actor.acts_as("resident"):
            count = services().inbox.unread_count(actor.address)
    except LedgerError:
        count = None  # the page still renders; the count comes back with the chain
    g.inbox_unread = count
    return count


@bp.app_context_processor
def _inbox_header() -> dict[str, Any]:
    return {"inbox_unread": header_unread}


@bp.get("/inbox")
def inbox() -> Any:
    actor = _actor()
    listing = services().inbox.items(actor.address)
    start = request.args.get("start", default=0, type=int)
    if not 0 <= start < max(len(listing.items), 1):
        start = 0
    shown = listing.items[start : start + INBOX_PAGE]
    older = url_for("resident.inbox", start=start + INBOX_PAGE) if start + INBOX_PAGE < len(listing.items) else None
    newer = url_for("resident.inbox") if start else None
    return render_template(
        "resident/inbox.html",
        entries=_inbox_entries(shown, _names()),
        unread=listing.unread,
        seen_keys=[item.key for item in shown if item.unread],
        findings=[history_finding(f) for f in listing.findings],
        older=older,
        newer=newer,
    )


def _inbox_done(message: str | None) -> Any:
    """After marking: the new count for the page's script, else back to the inbox."""
    if request.accept_mimetypes.best == "application/json":
        g.pop("inbox_unread", None)
        return jsonify({"unread": header_unread()})
    if message:
        flash(message, "success")
    return redirect(url_for("resident.inbox"))


@bp.post("/inbox/seen")
def inbox_seen() -> Any:
    """Marks read the items the inbox page showed (its script posts their keys)."""
    actor = _actor()
    keys = request.form.getlist("key")
    if not keys or len(keys) > INBOX_PAGE:
        abort(400)
    try:
        services().inbox.mark_read(actor.address, keys, by=actor.address)
    except InputError:
        abort(400)  # an item that is not (or no longer) the resident's: nothing is marked
    return _inbox_done(None)


@bp.post("/inbox/read-all")
def inbox_read_all() -> Any:
    actor = _actor()
    services().inbox.mark_all_read(actor.address, by=actor.address)
    return _inbox_done(_("Everything in your messages is marked as read."))
# -- residents' rights requests (ledger.rights) ----------------------------------------------
# Ask for a correction or deletion of one's own record, object to an entry of one's own
# history, and follow the answers. Records and entries are the resident's own as the chain
# (or the entry's leaf) says; anything else is a 404.

NAV.append(("resident.requests", _l("My requests")))


def _own_record(actor: Actor, record_id: str) -> RecordItem:
    """The resident's own record, not erased (else 404)."""
    key = record_id.strip().lower()
    found = next((r for r in _record_items(actor, _names()) if r.record_id == key), None)
    if found is None or found.erased:
        abort(404)
    return found


# -- consent requests (ledger.requests) ---------------------------------------------------------


@dataclass(frozen=True)
class RequestItem:
    request_id: str
    status: str
    sentence: str
    department: str
    answer_by: str  # the last day to answer, China time
    decline_reason: str | None
    grant_id: str | None


def _request_item(found: RequestView, names: Names) -> RequestItem:
    department = names.org(found.department)
    return RequestItem(
        request_id=found.request_id,
        status=found.status,
        sentence=request_sentence(department, [c.slug for c in found.categories], found.valid_until, found.reason),
        department=department,
        answer_by=answer_day(found.answer_by),
        decline_reason=found.decline_reason,
        grant_id=found.grant_id,
    )


def waiting_requests(actor: Actor, names: Names) -> list[RequestItem]:
    """The resident's requests waiting for an answer, soonest due first (their own only)."""
    mine = services().requests.waiting_for(actor.address)
    return [_request_item(r, names) for r in mine if r.resident.lower() == actor.address.lower()]


def answered_requests(actor: Actor, names: Names) -> list[RequestItem]:
    mine = services().requests.recent_outcomes(actor.address)
    return [_request_item(r, names) for r in mine if r.resident.lower() == actor.address.lower()]


def _my_request(actor: Actor, request_id: str) -> RequestView:
    """A request to this resident; 404 for any other id (no probing)."""
    try:
        found = services().requests.show(request_id)
    except (InputError, NotFoundError):
        abort(404)
    if found.resident.lower() != actor.address.lower():
        abort(404)
    return found


def _request_error(form: Any, exc: LedgerError) -> None:
    """A refused request: an input error beside its field, anything else above the form."""
    target = getattr(form, exc.field, None) if isinstance(exc, InputError) and exc.field else None
    message = presentation_error(exc, RESIDENT)
    if target is None:
        form.form_errors.append(message)
    else:
        target.errors = [*target.errors, message]


@bp.route("/records/<record_id>/correction", methods=["GET", "POST"])
def ask_correction(record_id: str) -> Any:
    actor = _actor()
    record = _own_record(actor, record_id)
    category = Category[record.category.upper()]
    form = CorrectionForm(fields=rights_view.field_choices(category))
    if request.method == "POST" and form.validate():
        try:
            made = services().rights.ask_correction(
                record.record_id, field=form.field.data, value=form.value.data, comment=form.comment.data or "",
                actor=actor.address,
            )  # fmt: skip
        except LedgerError as exc:
            _request_error(form, exc)
            return render_template("resident/ask_correction.html", form=form, record=record), status_of(exc)[0]
        flash(_("Your request is sent to your residents’ committee. They answer by %(day)s; you can follow it "
                "under “My requests”.", day=rights_view.day_of(made.due_at)), "success")  # fmt: skip
        return redirect(url_for("resident.requests", _anchor=f"request-{made.request_id}"))
    status = 400 if request.method == "POST" else 200
    return render_template("resident/ask_correction.html", form=form, record=record), status


@bp.route("/records/<record_id>/deletion", methods=["GET", "POST"])
def ask_deletion(record_id: str) -> Any:
    actor = _actor()
    record = _own_record(actor, record_id)
    form = RequestCommentForm()
    if request.method == "POST" and form.validate():
        try:
            made = services().rights.ask_deletion(record.record_id, comment=form.comment.data or "",
                                                  actor=actor.address)  # fmt: skip
        except LedgerError as exc:
            _request_error(form, exc)
            return render_template("resident/ask_deletion.html", form=form, record=record), status_of(exc)[0]
        flash(_("Your request is sent to your subdistrict office. They answer by %(day)s; you can follow it under "
                "“My requests”.", day=rights_view.day_of(made.due_at)), "success")  # fmt: skip
        return redirect(url_for("resident.requests", _anchor=f"request-{made.request_id}"))
    status = 400 if request.method == "POST" else 200
    return render_template("resident/ask_deletion.html", form=form, record=record), status


@bp.post("/history/<int:seq>/object")
def object_to(seq: int) -> Any:
    """“I did not expect this”: an objection to an entry of the resident's own history."""
    actor = _actor()
    if seq > MAX_SEQ:
        abort(404)
    try:
        own_event(services().log, seq, actor.address)
    except NotFoundError:
        abort(404)
    form = RequestCommentForm()
    if not form.validate():
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
        return redirect(url_for("resident.history", _anchor=f"entry-{seq}"))
    try:
        made = services().rights.object_to(seq, comment=form.comment.data or "", actor=actor.address)
    except NotFoundError:
        abort(404)
    except LedgerError as exc:
        flash(presentation_error(exc, RESIDENT), "error")
        return redirect(url_for("resident.history", _anchor=f"entry-{seq}"))
    flash(_("Thank you. Your subdistrict office looks into this use of your data and answers by %(day)s. The "
            "answer is shown beside the entry.", day=rights_view.day_of(made.due_at)), "success")  # fmt: skip
    return redirect(url_for("resident.history", _anchor=f"entry-{seq}"))


@bp.get("/requests")
def requests() -> Any:
    actor = _actor()
    mine = services().rights.of_resident(actor.address)
    names = display_names(rights_view.people(mine))
    return render_template("resident/requests.html", requests=rights_view.items(mine, names),
                           due_days=services().rights.due_days)  # fmt: skip


def with_objections(actor: Actor, entries: list[EntryItem]) -> list[EntryItem]:
    """Each use of the data with the resident's objection to it (and its answer), and each
    decision on a request worded as such."""
    objections = services().rights.objections_of(actor.address)
    shown = []
    for e in entries:
        if e.leaf is not None and e.action == "decide":
            e = replace_entry(e, decision=request_outcome_name(e.leaf.get("decision"), RESIDENT))
        shown.append(replace_entry(e, objection=rights_view.item(objections[e.seq]) if e.seq in objections else None))
    return shown


@bp.post("/consent-requests/<request_id>/approve")
def approve_request(request_id: str) -> Any:
    actor = _actor()
    found = _my_request(actor, request_id)
    if not RequestAnswerForm().validate_on_submit():
        abort(400)
    item = _request_item(found, _names())
    try:
        grant_id = services().requests.approve(found.request_id, actor.address)
    except (NotAllowed, ConsentRequestConflict) as refused:
        flash(request_problem(refused.code, refused.params, RESIDENT), "error")
        return redirect(url_for("resident.home"))
    flash(_("Done. You gave the permission: %(sentence)s You can withdraw it at any time.", sentence=item.sentence),
          "success")  # fmt: skip
    return redirect(url_for("resident.grants", _anchor=f"grant-{grant_id}"))


@bp.post("/consent-requests/<request_id>/decline")
def decline_request(request_id: str) -> Any:
    actor = _actor()
    found = _my_request(actor, request_id)
    form = RequestAnswerForm()
    if not form.validate_on_submit():
        flash(" ".join(str(e) for e in form.reason.errors) or _("That did not work. Try again."), "error")
        return redirect(url_for("resident.home"))
    item = _request_item(found, _names())
    try:
        services().requests.decline(found.request_id, actor.address, reason=form.reason.data)
    except (NotAllowed, ConsentRequestConflict) as refused:
        flash(request_problem(refused.code, refused.params, RESIDENT), "error")
        return redirect(url_for("resident.home"))
    flash(_("You said no. %(department)s was told, and gets no permission from this request.",
            department=item.department), "success")  # fmt: skip
    return redirect(url_for("resident.home"))
