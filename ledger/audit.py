"""The office's audit: accesses against grants, emergency reviews, anomalies, and the
integrity of the log, records and grants against the chain.

Findings are computed from the leaves (the truth), never from their index columns,
in one pass over the log. Integrity reads the chain afresh (events in bounded
windows), never the tables a tamperer could edit.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from eth_account.messages import encode_defunct
from sqlalchemy import Table, select

from . import formats
from .access import CHINA, now_ms
from .accesslog import AccessLog, Draft, justification_hash
from .categories import Category
from .context import Ledger
from .errors import ConflictError, InputError, LedgerError, NotFoundError
from .history import Scope
from .merkle import Frontier, leaf_hash
from .projections import Event
from .store.models import AccessEvent, ChainGrant, EmergencyReview, LogCheckpoint, Member, Organisation, OrgProfile

REVIEW_FORMAT = "gridledger-review/1"
DECISIONS = ("approve", "flag")
CHUNK = 20_000

# Access findings
OUTSIDE_CATEGORIES = "outside-categories"
OUTSIDE_TIME = "outside-time"
AFTER_EXPIRY = "after-expiry"
AFTER_WITHDRAWAL = "after-withdrawal"
AFTER_REVOCATION = "after-revocation"
WRONG_DEPARTMENT = "wrong-department"
WRONG_RESIDENT = "wrong-resident"
UNKNOWN_GRANT = "unknown-grant"
EMERGENCY_UNREVIEWED = "emergency-unreviewed"
EMERGENCY_FLAGGED = "emergency-flagged"
REFUSED = "refused-attempt"
VOLUME_ANOMALY = "volume-anomaly"
# Log integrity findings
LEAF_MISSING = "leaf-missing"
LEAF_MOVED = "leaf-moved"
LEAF_HASH_MISMATCH = "leaf-hash-mismatch"
INDEX_MISMATCH = "index-mismatch"
CHECKPOINT_MISMATCH = "checkpoint-mismatch"
CHECKPOINT_NOT_ON_CHAIN = "checkpoint-not-on-chain"
BEYOND_HEAD = "leaf-beyond-head"

SEVERITY = {
    OUTSIDE_CATEGORIES: "high", OUTSIDE_TIME: "high", AFTER_EXPIRY: "high", AFTER_WITHDRAWAL: "high",
    AFTER_REVOCATION: "high", WRONG_DEPARTMENT: "high", WRONG_RESIDENT: "high", UNKNOWN_GRANT: "high",
    EMERGENCY_UNREVIEWED: "medium", EMERGENCY_FLAGGED: "high", REFUSED: "info", VOLUME_ANOMALY: "medium",
}  # fmt: skip
ANOMALY_FACTOR = 3.0
ANOMALY_MIN_EXCESS = 20
ANOMALY_MIN_DAYS = 3


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    detail: str
    seq: int | None = None
    time: int | None = None  # ms
    organisation: str | None = None
    resident: str | None = None
    record_id: str | None = None
    grant_id: str | None = None


@dataclass
class Audit:
    scope: Scope
    events: int = 0
    in_scope: int = 0
    findings: list[Finding] = field(default_factory=list)
    per_day: dict[tuple[str, str], int] = field(default_factory=dict)  # (organisation, day) -> allowed reads
    integrity: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def counts(self) -> Counter[str]:
        return Counter(f.kind for f in self.findings)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "high" for f in self.findings) and all(
            v.get("ok", True) for v in self.integrity.values()
        )


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, CHINA).date().isoformat()


def _leaves(log: AccessLog) -> Iterator[tuple[int, bytes, bytes, dict[str, Any]]]:
    """(row seq, leaf bytes, stored leaf hash, row columns) in order, in chunks."""
    table = cast(Table, AccessEvent.__table__)
    columns = (table.c.resident, table.c.organisation, table.c.time, table.c.outcome, table.c.basis, table.c.grant_id)
    last = -1
    while True:
        with log.store.engine.connect() as connection:
            rows = connection.execute(
                select(table.c.seq, table.c.leaf, table.c.leaf_hash, *columns)
                .where(table.c.seq > last)
                .order_by(table.c.seq)
                .limit(CHUNK)
            ).all()
        if not rows:
            return
        for row in rows:
            yield (
                row[0],
                bytes(row[1]),
                bytes(row[2]),
                dict(zip(("resident", "organisation", "time", "outcome", "basis", "grantId"), row[3:], strict=True)),
            )
        last = rows[-1][0]


def run(ledger: Ledger, scope: Scope | None = None, *, integrity: bool = True) -> Audit:
    """The whole audit: one pass over the log, grants from the indexed tables, and (with
    ``integrity``) the log, records and grants against the chain."""
    began = time.perf_counter()
    scope = scope or Scope()
    log = AccessLog(ledger.store)
    audit = Audit(scope)
    low, high = scope.window_ms()
    with ledger.store.session() as session:
        grants = {g.grant_id: g for g in session.scalars(select(ChainGrant))}
    head = log.size()
    chain_events = ledger.indexer().fetch_all() if integrity else []  # read afresh, once, for all three checks
    checkpoints = _chain_checkpoints(chain_events)
    by_size = {size: (index, root) for index, size, root in checkpoints}
    frontier = Frontier()
    reviews: dict[int, str] = {}
    emergencies: dict[int, dict[str, Any]] = {}
    log_findings: list[Finding] = []
    expected = 0
    for seq, raw, stored_hash, columns in _leaves(log):
        audit.events += 1
        digest = leaf_hash(raw)
        if integrity:
            if seq != expected:
                log_findings.append(
                    Finding(LEAF_MISSING, "high", f"leaves {expected}..{seq - 1} are missing", expected)
                )
                expected = seq
            if seq >= head:
                log_findings.append(Finding(BEYOND_HEAD, "high", "a leaf beyond the log's recorded size", seq))
            if digest != stored_hash:
                log_findings.append(
                    Finding(LEAF_HASH_MISMATCH, "high", "the leaf does not hash to its stored hash", seq)
                )
            frontier.append(digest)
            expected += 1
            if frontier.size in by_size:
                index, root = by_size[frontier.size]
                if frontier.root() != root:
                    log_findings.append(Finding(
                        CHECKPOINT_MISMATCH, "high",
                        f"the first {frontier.size} leaves no longer give anchored checkpoint #{index}'s root: "
                        "a leaf before it was edited, deleted, inserted or moved", seq,
                    ))  # fmt: skip
        leaf = json.loads(raw)
        if integrity:
            if leaf.get("seq") != seq:
                log_findings.append(
                    Finding(LEAF_MOVED, "high", f"row #{seq} holds the leaf of #{leaf.get('seq')}", seq)
                )
            if any(columns[k] != leaf.get(k) for k in columns):
                log_findings.append(Finding(INDEX_MISMATCH, "high", "the row's columns disagree with its leaf", seq))
        if leaf.get("action") == "review" and leaf.get("reviewOf") is not None:
            reviews[int(leaf["reviewOf"])] = str(leaf.get("decision"))
            continue
        t = int(leaf["time"])
        if (scope.resident and leaf["resident"] != scope.resident) or (
            scope.department and leaf["organisation"] != scope.department
        ):
            continue
        if (low is not None and t < low) or (high is not None and t >= high):
            continue
        audit.in_scope += 1
        _check_access(audit, leaf, grants, emergencies)
    for seq, leaf in emergencies.items():
        decision = reviews.get(seq)
        if decision is None:
            audit.findings.append(_finding(EMERGENCY_UNREVIEWED, leaf, "emergency access awaiting an office review"))
        elif decision == "flag":
            audit.findings.append(_finding(EMERGENCY_FLAGGED, leaf, "emergency access flagged by the office's review"))
    _anomalies(audit)
    if integrity:
        audit.integrity["log"] = _log_integrity(ledger, log_findings, checkpoints, frontier.size, head)
        from .verify import verify_grants, verify_records

        reports = (("records", verify_records(ledger, chain_events)), ("grants", verify_grants(ledger, chain_events)))
        for name, report in reports:
            audit.integrity[name] = {
                "ok": report.ok, "checked": report.checked, "pending": report.pending,
                "findings": [{"kind": f.kind, "subject": f.subject, "version": f.version, "detail": f.detail}
                             for f in report.findings],
            }  # fmt: skip
    audit.findings.sort(key=lambda f: (f.seq is None, -(f.seq or 0)))
    audit.seconds = time.perf_counter() - began
    return audit


def _finding(kind: str, leaf: dict[str, Any], detail: str) -> Finding:
    return Finding(
        kind, SEVERITY[kind], detail, leaf["seq"], leaf["time"], leaf["organisation"], leaf["resident"],
        leaf["recordId"], leaf["grantId"],
    )  # fmt: skip


def _check_access(
    audit: Audit, leaf: dict[str, Any], grants: dict[str, ChainGrant], emergencies: dict[int, Any]
) -> None:
    if leaf["outcome"] == "refused":
        audit.findings.append(_finding(REFUSED, leaf, f"refused: {leaf.get('reason')}"))
        return
    key = (leaf["organisation"] or "-", _day(leaf["time"]))
    audit.per_day[key] = audit.per_day.get(key, 0) + 1
    if leaf["basis"] == "emergency":
        emergencies[leaf["seq"]] = leaf
        return
    if leaf["basis"] != "grant":
        return
    grant = grants.get(leaf["grantId"] or "")
    if grant is None:
        audit.findings.append(_finding(UNKNOWN_GRANT, leaf, "read under a grant the chain does not know"))
        return
    seconds = leaf["time"] // 1000
    problems = []
    if grant.resident != leaf["resident"]:
        problems.append((WRONG_RESIDENT, "the grant is another resident's"))
    if grant.department != leaf["organisation"]:
        problems.append((WRONG_DEPARTMENT, "the grant is to another department"))
    if leaf["category"] is None or not grant.categories >> int(Category[leaf["category"].upper()]) & 1:
        problems.append((OUTSIDE_CATEGORIES, f"{leaf['category']} records are outside the grant's categories"))
    if seconds >= grant.valid_until:
        problems.append((AFTER_EXPIRY, "read after the grant expired"))
    elif seconds < grant.valid_from:
        problems.append((OUTSIDE_TIME, "read before the grant's start"))
    block = leaf.get("block")
    if grant.status in ("withdrawn", "revoked") and (block is None or block >= grant.status_block):
        kind = AFTER_WITHDRAWAL if grant.status == "withdrawn" else AFTER_REVOCATION
        problems.append((kind, f"read after the grant was {grant.status} (block {grant.status_block})"))
    for kind, detail in problems:
        audit.findings.append(_finding(kind, leaf, detail))


def _anomalies(audit: Audit) -> None:
    """A department's day far above its usual: more than ANOMALY_FACTOR times the median
    of its other days, and at least ANOMALY_MIN_EXCESS reads above it."""
    days: dict[str, dict[str, int]] = defaultdict(dict)
    for (org, day), count in audit.per_day.items():
        days[org][day] = count
    for org, counts in days.items():
        if len(counts) <= ANOMALY_MIN_DAYS:
            continue
        for day, count in counts.items():
            usual = statistics.median(c for d, c in counts.items() if d != day)
            if count > ANOMALY_FACTOR * usual and count - usual >= ANOMALY_MIN_EXCESS:
                audit.findings.append(Finding(
                    VOLUME_ANOMALY, SEVERITY[VOLUME_ANOMALY], f"{count} reads on {day}; usually {usual:g} a day",
                    organisation=org,
                ))  # fmt: skip


def _chain_checkpoints(events: list[Event]) -> list[tuple[int, int, bytes]]:
    """(index, size, root) of every checkpoint, from the chain's events."""
    found = []
    for event in events:
        if event.contract == "AccessLogAnchor" and event.name == "CheckpointAppended":
            root = event.args["root"]
            root = bytes(root) if isinstance(root, (bytes, bytearray)) else formats.from_hex(root)
            found.append((int(event.args["index"]), int(event.args["size"]), root))
    return sorted(found)


def _log_integrity(
    ledger: Ledger, findings: list[Finding], checkpoints: list[tuple[int, int, bytes]], leaves: int, head: int
) -> dict[str, Any]:
    if leaves < head:
        findings.append(Finding(LEAF_MISSING, "high", f"the log records {head} events; {leaves} leaves are stored"))
    on_chain = {size: root for _i, size, root in checkpoints}
    with ledger.store.session() as session:
        claimed = list(session.scalars(select(LogCheckpoint).where(LogCheckpoint.status == "anchored")))
    for row in claimed:
        if on_chain.get(row.size) != formats.from_hex(row.root):
            findings.append(Finding(CHECKPOINT_NOT_ON_CHAIN, "high", f"checkpoint of size {row.size} is not on chain"))
    for index, size, _root in checkpoints:
        if size > leaves:
            findings.append(Finding(
                CHECKPOINT_MISMATCH, "high",
                f"anchored checkpoint #{index} covers {size} events; the database holds {leaves} leaves",
            ))  # fmt: skip
    newest = max(on_chain, default=0)
    return {
        "ok": not findings, "leaves": leaves, "checkpoints": len(checkpoints), "anchored": newest,
        "findings": [{"kind": f.kind, "seq": f.seq, "detail": f.detail} for f in findings],
    }  # fmt: skip


# -- emergency reviews ------------------------------------------------------------------------


def review(ledger: Ledger, seq: int, decision: str, note: str, *, reviewer: str) -> EmergencyReview:
    """An office admin's signed decision on an emergency access, logged as a leaf."""
    if decision not in DECISIONS:
        raise InputError(f"expected one of: {', '.join(DECISIONS)}", field="decision")
    if not note.strip():
        raise InputError("say why, for the record", field="note")
    log = AccessLog(ledger.store)
    event = log.event(seq)
    leaf = json.loads(bytes(event.leaf))
    if leaf["basis"] != "emergency" or leaf["outcome"] != "allowed" or leaf["action"] != "read":
        raise InputError(f"access event #{seq} is not an emergency read", field="seq")
    account = ledger.account(reviewer)
    with ledger.store.session() as session:
        if session.get(EmergencyReview, seq) is not None:
            raise ConflictError(f"access event #{seq} has been reviewed already")
        member = session.get(Member, account.address)
        department = session.get(Organisation, leaf["organisation"]) if leaf["organisation"] else None
    if (
        member is None
        or member.status != "active"
        or member.role != "office-admin"
        or department is None
        or member.org_id != department.parent_id
    ):
        raise LedgerError("only an active admin of the office governing the department reviews its emergency reads")
    moment = now_ms()
    statement = {
        "format": REVIEW_FORMAT, "accessSeq": seq, "accessLeafHash": formats.to_hex(leaf_hash(bytes(event.leaf))),
        "decision": decision, "noteHash": justification_hash(note), "reviewer": account.address,
        "time": moment,
    }  # fmt: skip
    body = formats.canonical_json(statement)
    signature = account.sign_message(encode_defunct(body)).signature
    appended = log.record(Draft(
        action="review", outcome="allowed", resident=leaf["resident"], accessor=account.address, time=moment,
        record_id=leaf["recordId"], category=leaf["category"], organisation=member.org_id, basis="duty",
        justification=note, review_of=seq, decision=decision,
    ))  # fmt: skip
    row = EmergencyReview(
        access_seq=seq, decision=decision, note=note, reviewer=account.address, statement=body.decode(),
        signature=formats.to_hex(signature), review_seq=appended.seq,
    )  # fmt: skip
    with ledger.store.session() as session, session.begin():
        session.add(row)
    return row


def unreviewed(ledger: Ledger) -> list[AccessEvent]:
    with ledger.store.session() as session:
        done = set(session.scalars(select(EmergencyReview.access_seq)))
        rows = session.scalars(
            select(AccessEvent).where(AccessEvent.basis == "emergency", AccessEvent.outcome == "allowed",
                                      AccessEvent.action == "read").order_by(AccessEvent.seq)
        )  # fmt: skip
        return [r for r in rows if r.seq not in done]


# -- reports ----------------------------------------------------------------------------------

CSV_COLUMNS = ("kind", "severity", "seq", "time", "organisation", "resident", "record_id", "grant_id", "detail")


def org_codes(ledger: Ledger) -> dict[str, str]:
    with ledger.store.session() as session:
        return {p.org_id: p.code for p in session.scalars(select(OrgProfile))}


def finding_row(finding: Finding, codes: dict[str, str]) -> list[str]:
    when = datetime.fromtimestamp(finding.time / 1000, CHINA).isoformat(timespec="seconds") if finding.time else ""
    org = codes.get(finding.organisation or "", finding.organisation or "")
    return [
        finding.kind, finding.severity, "" if finding.seq is None else str(finding.seq), when, org,
        finding.resident or "", finding.record_id or "", finding.grant_id or "", finding.detail,
    ]  # fmt: skip


def to_csv(ledger: Ledger, audit: Audit) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    codes = org_codes(ledger)
    for finding in audit.findings:
        writer.writerow(finding_row(finding, codes))
    for name, part in audit.integrity.items():
        for f in part.get("findings", []):
            writer.writerow([f["kind"], "high", f.get("seq") or "", "", "", "", f.get("subject") or "", "",
                             f"{name}: {f['detail']}"])  # fmt: skip
    return out.getvalue()


CJK_FONT = "STSong-Light"  # a CID font PDF readers supply: Chinese prints without shipping a font file


def _pdf_text(text: str) -> str:
    """Paragraph markup for plain ``text``: escaped (names and details are data, not markup),
    Latin in the style's font and runs of Chinese in the CJK font."""
    from xml.sax.saxutils import escape

    return re.sub(r"([^\x00-\u2fff]+)", rf'<font name="{CJK_FONT}">\1</font>', escape(text))


def to_pdf(ledger: Ledger, audit: Audit, path: Path) -> None:
    """A printable report (A4, Chinese-capable font built into PDF readers)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    styles = getSampleStyleSheet()
    codes = org_codes(ledger)
    scope = audit.scope.json()
    story: list[Any] = [
        Paragraph(_pdf_text("gridledger audit report / 审计报告"), styles["Title"]),
        Paragraph(
            _pdf_text(
                f"Generated {datetime.now(CHINA).isoformat(timespec='seconds')}; scope: "
                + ", ".join(f"{k} {codes.get(v, v)}" for k, v in scope.items() if v)
                + (" whole log" if not any(scope.values()) else "")
            ),
            styles["Normal"],
        ),
        Paragraph(
            _pdf_text(f"{audit.events} events in the log, {audit.in_scope} in scope; {len(audit.findings)} findings."),
            styles["Normal"],
        ),
        Spacer(1, 4 * mm),
        Paragraph(_pdf_text("Integrity / 完整性"), styles["Heading2"]),
    ]
    for name, part in audit.integrity.items():
        verdict = "intact" if part.get("ok") else f"{len(part.get('findings', []))} problem(s)"
        story.append(Paragraph(_pdf_text(f"{name}: {verdict}"), styles["Normal"]))
    story += [Spacer(1, 4 * mm), Paragraph(_pdf_text("Findings by kind / 发现"), styles["Heading2"])]
    for kind, count in sorted(audit.counts().items()):
        story.append(Paragraph(_pdf_text(f"{kind}: {count}"), styles["Normal"]))
    story += [Spacer(1, 4 * mm), Paragraph(_pdf_text("Findings / 明细"), styles["Heading2"])]
    cell = styles["BodyText"]
    cell.fontSize = 7
    cell.leading = 9
    header = ["kind", "severity", "seq", "time", "organisation", "detail"]
    rows = [[Paragraph(_pdf_text(c), cell) for c in header]]
    for finding in audit.findings[:2_000]:
        full = finding_row(finding, codes)
        rows.append(
            [Paragraph(_pdf_text(str(c)), cell) for c in (full[0], full[1], full[2], full[3], full[4], full[8])]
        )
    table = Table(rows, repeatRows=1, colWidths=[38 * mm, 18 * mm, 16 * mm, 42 * mm, 40 * mm, 110 * mm])
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))  # fmt: skip
    story.append(table)
    if len(audit.findings) > 2_000:
        story.append(Paragraph(_pdf_text(f"… {len(audit.findings) - 2_000} more in the CSV export."), styles["Normal"]))
    SimpleDocTemplate(str(path), pagesize=landscape(A4), title="gridledger audit report").build(story)


def parse_day(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"expected a date as YYYY-MM-DD; got {text!r}", field=field) from None


def scope_of(
    ledger: Ledger, *, start: str | None, end: str | None, department: str | None, resident: str | None
) -> Scope:
    from .membership import org_id

    dept = None
    if department:
        dept = formats.to_hex(org_id(department))
        with ledger.store.session() as session:
            if session.get(Organisation, dept) is None:
                raise NotFoundError(f"no organisation {department!r} on chain")
    return Scope(
        start=parse_day(start, "from"), end=parse_day(end, "to"), department=dept,
        resident=ledger.address_of(resident) if resident else None,
    )  # fmt: skip
