"""Integrity of the database against the chain: records and grants.

The chain is read afresh (events in bounded windows), never taken from the indexed
tables, which live in the same database a tamperer could edit. Each stored version's
commitment is recomputed from its content and salt; each grant's terms hash from its
terms. Writes still waiting in the outbox are not findings: they are counted apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import select

from . import formats
from .context import Ledger
from .errors import LedgerError
from .outbox import PENDING
from .projections import Event
from .store.models import GrantTerms, OutboxTx, Record, RecordVersion

# Record findings
CONTENT_EDITED = "content-edited"  # content or salt no longer give the on-chain commitment
VERSION_MISSING = "version-missing"  # the chain has a version of a known record that the database lacks
NEVER_ANCHORED = "never-anchored"  # the database has a version (or grant) the chain never received
NO_CONTENT = "no-content"  # an on-chain version whose content is gone (or unknown) without an erasure
ERASURE_NOT_ANCHORED = "erasure-not-anchored"  # erased in the database, not on chain
CONTENT_AFTER_ERASURE = "content-after-erasure"  # erased on chain, content still stored
# Grant findings
TERMS_EDITED = "terms-edited"
FIELDS_DIFFER = "fields-differ"
STATUS_DIFFERS = "status-differs"
UNKNOWN_GRANT = "unknown-grant"


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str  # record id or grant id
    version: int | None
    detail: str


@dataclass
class Report:
    checked: int = 0
    pending: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _events(ledger: Ledger, contract: str, events: list[Event] | None) -> list[Event]:
    """``contract``'s events from ``events`` (already read from the chain), or read afresh."""
    return [e for e in (ledger.indexer().fetch_all() if events is None else events) if e.contract == contract]


def _pending(ledger: Ledger) -> set[str]:
    with ledger.store.session() as session:
        return set(session.scalars(select(OutboxTx.tx_hash).where(OutboxTx.status.in_(PENDING))))


def verify_records(ledger: Ledger, events: list[Event] | None = None) -> Report:
    chain: dict[tuple[str, int], str] = {}
    erased_on_chain: set[str] = set()
    for e in _events(ledger, "RecordLedger", events):
        if e.name == "RecordCommitted":
            chain[(e.args["recordId"], int(e.args["version"]))] = e.args["contentHash"]
        elif e.name == "RecordErased":
            erased_on_chain.add(e.args["recordId"])
    pending = _pending(ledger)
    report = Report()
    with ledger.store.session() as session:
        records = {r.record_id: r for r in session.scalars(select(Record))}
        versions = session.scalars(select(RecordVersion).order_by(RecordVersion.record_id, RecordVersion.version)).all()
    stored: set[tuple[str, int]] = set()
    for row in versions:
        key = (row.record_id, row.version)
        stored.add(key)
        record = records.get(row.record_id)
        erased = record is not None and record.erased_at is not None
        if key not in chain:
            if row.tx_hash in pending:
                report.pending += 1
            else:
                report.findings.append(
                    Finding(NEVER_ANCHORED, row.record_id, row.version, "stored version has no commitment on chain")
                )
            continue
        report.checked += 1
        if row.record_id in erased_on_chain:
            if row.content is not None or row.salt is not None:
                report.findings.append(
                    Finding(
                        CONTENT_AFTER_ERASURE,
                        row.record_id,
                        row.version,
                        "erased on chain, but content or salt is still stored",
                    )
                )
            continue
        if row.content is None or row.salt is None:
            kind = ERASURE_NOT_ANCHORED if erased else NO_CONTENT
            detail = (
                "erased here, not on chain" if erased else "content or salt is missing and the record was not erased"
            )
            report.findings.append(Finding(kind, row.record_id, row.version, detail))
            continue
        try:
            recomputed = "0x" + formats.commitment(json.loads(row.content), bytes.fromhex(row.salt[2:])).hex()
        except (ValueError, LedgerError) as exc:
            report.findings.append(Finding(CONTENT_EDITED, row.record_id, row.version, f"content unreadable: {exc}"))
            continue
        if recomputed != chain[key]:
            report.findings.append(
                Finding(
                    CONTENT_EDITED,
                    row.record_id,
                    row.version,
                    f"content and salt give {recomputed[:18]}…, the chain has {chain[key][:18]}…",
                )
            )
    for record_id, version in sorted(set(chain) - stored):
        if record_id in erased_on_chain and record_id in records:
            report.findings.append(
                Finding(VERSION_MISSING, record_id, version, "the version row of an erased record is gone")
            )
        elif record_id in records:
            report.findings.append(Finding(VERSION_MISSING, record_id, version, "on chain, but no row in the database"))
        else:
            report.findings.append(
                Finding(NO_CONTENT, record_id, version, "on chain, but the database has no such record")
            )
    return report


def verify_grants(ledger: Ledger, events: list[Event] | None = None) -> Report:
    chain: dict[str, dict[str, object]] = {}
    for e in _events(ledger, "ConsentRegistry", events):
        if e.name == "GrantIssued":
            chain[e.args["grantId"]] = {**e.args, "status": "active"}
        elif e.name == "GrantWithdrawn" and e.args["grantId"] in chain:
            chain[e.args["grantId"]]["status"] = "withdrawn"
        elif e.name == "GrantRevoked" and e.args["grantId"] in chain:
            chain[e.args["grantId"]]["status"] = "revoked"
    pending = _pending(ledger)
    report = Report()
    with ledger.store.session() as session:
        grants = session.scalars(select(GrantTerms).order_by(GrantTerms.created_at)).all()
    for grant in grants:
        on_chain = chain.get(grant.grant_id)
        if on_chain is None:
            if grant.tx_hash in pending:
                report.pending += 1
            else:
                report.findings.append(
                    Finding(NEVER_ANCHORED, grant.grant_id, None, "stored grant was never issued on chain")
                )
            continue
        report.checked += 1
        try:
            recomputed = "0x" + formats.terms_hash(json.loads(grant.terms)).hex()
        except ValueError as exc:
            recomputed = f"unreadable ({exc})"
        if recomputed != on_chain["termsHash"]:
            report.findings.append(
                Finding(TERMS_EDITED, grant.grant_id, None, "the stored terms do not give the on-chain hash")
            )
        stored_fields = {
            "resident": grant.resident, "department": grant.department, "categories": grant.categories,
            "purpose": grant.purpose, "legalBasis": grant.legal_basis, "validFrom": grant.valid_from,
            "validUntil": grant.valid_until,
        }  # fmt: skip
        differing = sorted(k for k, v in stored_fields.items() if on_chain[k] != v)
        if differing:
            report.findings.append(
                Finding(FIELDS_DIFFER, grant.grant_id, None, f"differ from the chain: {', '.join(differing)}")
            )
        if grant.status != on_chain["status"] and grant.status_tx not in pending:
            report.findings.append(
                Finding(
                    STATUS_DIFFERS,
                    grant.grant_id,
                    None,
                    f"stored as {grant.status}, the chain has {on_chain['status']}",
                )
            )
    known = {g.grant_id for g in grants}
    for grant_id in sorted(set(chain) - known):
        report.findings.append(Finding(UNKNOWN_GRANT, grant_id, None, "issued on chain, unknown to the database"))
    return report
