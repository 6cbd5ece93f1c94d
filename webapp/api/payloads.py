"""The JSON the API returns, built from the library's views (shapes in :mod:`.openapi`).

Names are camelCase; ids and hashes 0x-hex; times of access events in milliseconds since
the epoch (as in the log's leaves), grant validity in seconds (as on chain)."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

from ledger.audit import Finding as AuditFinding
from ledger.consent import GrantView, LegalBasis, Purpose
from ledger.history import Entry, History
from ledger.history import Finding as HistoryFinding
from ledger.records import RecordView
from ledger.store.models import AccessEvent


def code_name(kind: type[enum.IntEnum], code: int) -> dict[str, Any]:
    try:
        name = kind(code).name.lower().replace("_", "-")
    except ValueError:
        name = str(code)
    return {"code": code, "name": name}


def grant(view: GrantView) -> dict[str, Any]:
    terms = view.terms or {}
    purpose = terms.get("purpose") if isinstance(terms.get("purpose"), dict) else {}
    return {
        "grantId": view.grant_id,
        "resident": view.resident,
        "department": {"id": view.department, "code": view.department_code},
        "categories": [c.slug for c in view.categories],
        "purpose": code_name(Purpose, view.purpose),
        "purposeText": (purpose or {}).get("text") or "",
        "legalBasis": code_name(LegalBasis, view.legal_basis),
        "validFrom": view.valid_from,
        "validUntil": view.valid_until,
        "status": view.status,
        "relayer": view.relayer,
        "issuedTx": view.issued_tx,
        "terms": view.terms,
    }


def timestamp(text: str) -> str:
    """An RFC 3339 time with its offset. The store writes UTC; SQLite hands it back naive."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def record(view: RecordView) -> dict[str, Any]:
    certified = [v.version for v in view.versions if v.certified]
    return {
        "recordId": view.record_id,
        "category": view.category.slug,
        "committee": view.committee_id,
        "erased": view.erased,
        "headVersion": view.versions[-1].version if view.versions else None,
        "certifiedVersion": max(certified) if certified else None,
        "versions": [
            {
                "version": v.version,
                "content": v.content,
                "check": v.check,
                "contentHash": v.content_hash,
                "prevHash": v.prev_hash,
                "createdAt": timestamp(v.created_at),
                "onChain": v.on_chain,
                "certified": v.certified,
                "signers": v.signers,
            }
            for v in view.versions
        ],
    }


def history_entry(entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "residentSeq": entry.resident_seq,
        "withheld": entry.withheld,
        "disclosureDate": entry.disclose_on,
        "leafHash": entry.leaf_hash,
        "leaf": entry.leaf,
        "proof": entry.proof,
        "anchored": entry.proof is not None,
    }


def history_finding(finding: HistoryFinding) -> dict[str, Any]:
    return {"kind": finding.kind, "seq": finding.seq, "detail": finding.detail}


def history(found: History, organisations: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "resident": found.resident,
        "checkpoint": found.checkpoint,
        "entries": [history_entry(e) for e in found.entries],
        "findings": [history_finding(f) for f in found.findings],
        "organisations": organisations,
        "nextBefore": found.next_before,
    }


def access_event(leaf: dict[str, Any], justification: str | None) -> dict[str, Any]:
    """A department's own access event, from its leaf (the truth)."""
    return {
        "seq": leaf["seq"],
        "time": leaf["time"],
        "resident": leaf["resident"],
        "accessor": leaf["accessor"],
        "recordId": leaf.get("recordId"),
        "category": leaf.get("category"),
        "action": leaf["action"],
        "outcome": leaf["outcome"],
        "reason": leaf.get("reason"),
        "basis": leaf.get("basis"),
        "grantId": leaf.get("grantId"),
        "purpose": leaf.get("purpose"),
        "disclosureDate": leaf.get("disclosureDate"),
        "block": leaf.get("block"),
        "justification": justification,
    }


def audit_finding(finding: AuditFinding, codes: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": finding.kind,
        "severity": finding.severity,
        "detail": finding.detail,
        "seq": finding.seq,
        "time": finding.time,
        "organisation": finding.organisation,
        "organisationCode": codes.get(finding.organisation or ""),
        "resident": finding.resident,
        "recordId": finding.record_id,
        "grantId": finding.grant_id,
    }


def emergency(event: AccessEvent, codes: dict[str, str]) -> dict[str, Any]:
    leaf = json.loads(bytes(event.leaf))
    return {
        "seq": event.seq,
        "time": leaf["time"],
        "resident": leaf["resident"],
        "accessor": leaf["accessor"],
        "organisation": leaf["organisation"],
        "organisationCode": codes.get(leaf["organisation"] or ""),
        "recordId": leaf.get("recordId"),
        "category": leaf.get("category"),
        "purpose": leaf.get("purpose"),
        "justification": event.justification,
    }
