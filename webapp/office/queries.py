"""What the office pages read from the store besides the library's services: the newest
accesses that concern the office, and its departments' grants in one query.

The access log can hold millions of events: every query on it is bounded (newest first by
its primary key, with a ``LIMIT``), nothing here loads the whole log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

from ledger.categories import from_mask
from ledger.consent import GrantView
from ledger.store.models import AccessEvent, ChainGrant, EmergencyReview, GrantTerms, Member

from ..services import services

#: Accesses shown on the dashboard, newest first.
RECENT = 20
GRANT_STATUSES = ("active", "expired", "withdrawn", "revoked", "pending")


@dataclass(frozen=True)
class AccessRow:
    """One read of the log as the dashboard shows it (from the leaf, the truth)."""

    seq: int
    time: int
    accessor: str
    organisation: str | None
    resident: str
    record_id: str | None
    category: str | None
    basis: str | None
    outcome: str
    reason: str | None
    grant_id: str | None
    reviewed: bool


def recent_accesses(org_ids: Iterable[str], committee_ids: Iterable[str], limit: int = RECENT) -> list[AccessRow]:
    """The newest reads by the office's organisations, or of the residents of its
    committees (a department of another office trying to read them included)."""
    orgs = list(org_ids)
    residents = select(Member.address).where(Member.org_id.in_(list(committee_ids)), Member.role == "resident")
    query = (
        select(AccessEvent)
        .where(
            AccessEvent.action == "read", or_(AccessEvent.organisation.in_(orgs), AccessEvent.resident.in_(residents))
        )
        .order_by(AccessEvent.seq.desc())
        .limit(limit)
    )
    with services().ledger.store.session() as db:
        events = list(db.scalars(query))
        emergencies = [e.seq for e in events if e.basis == "emergency"]
        reviewed = set(
            db.scalars(select(EmergencyReview.access_seq).where(EmergencyReview.access_seq.in_(emergencies)))
        )
    rows = []
    for event in events:
        leaf: dict[str, Any] = json.loads(bytes(event.leaf))
        rows.append(
            AccessRow(
                seq=event.seq,
                time=int(leaf.get("time", event.time)),
                accessor=str(leaf.get("accessor", event.accessor)),
                organisation=leaf.get("organisation"),
                resident=str(leaf.get("resident", event.resident)),
                record_id=leaf.get("recordId"),
                category=leaf.get("category"),
                basis=leaf.get("basis"),
                outcome=str(leaf.get("outcome", event.outcome)),
                reason=leaf.get("reason"),
                grant_id=leaf.get("grantId"),
                reviewed=event.seq in reviewed,
            )  # fmt: skip
        )
    return rows


def grants(department_ids: list[str], status: str | None, limit: int) -> tuple[list[GrantView], int]:
    """The grants to the given departments, newest first, with their status as the chain
    has it (``pending`` while the chain has not confirmed the grant yet), and how many
    there are in all. Expiry is judged by this server's clock, which the chain's follows."""
    if not department_ids:
        return [], 0
    now = int(time.time())
    query = (
        select(GrantTerms, ChainGrant)
        .outerjoin(ChainGrant, ChainGrant.grant_id == GrantTerms.grant_id)
        .where(GrantTerms.department.in_(department_ids))
    )
    if status == "pending":
        query = query.where(ChainGrant.grant_id.is_(None))
    elif status == "active":
        query = query.where(ChainGrant.status == "active", ChainGrant.valid_until > now)
    elif status == "expired":
        query = query.where(ChainGrant.status == "active", ChainGrant.valid_until <= now)
    elif status in ("withdrawn", "revoked"):
        query = query.where(ChainGrant.status == status)
    with services().ledger.store.session() as db:
        total = int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)
        found = db.execute(query.order_by(GrantTerms.created_at.desc(), GrantTerms.grant_id).limit(limit)).all()
    views = []
    for terms, chain in found:
        base: Any = chain or terms
        if chain is None:
            shown = "pending"
        elif chain.status == "active" and now >= chain.valid_until:
            shown = "expired"
        else:
            shown = chain.status
        views.append(
            GrantView(
                grant_id=terms.grant_id,
                resident=base.resident,
                department=base.department,
                department_code=None,
                categories=from_mask(base.categories),
                purpose=base.purpose,
                legal_basis=base.legal_basis,
                valid_from=base.valid_from,
                valid_until=base.valid_until,
                status=shown,
                relayer=base.relayer,
                terms=None,
                issued_tx=chain.issued_tx if chain else None,
            )  # fmt: skip
        )
    return views, total
