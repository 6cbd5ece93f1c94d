"""Projections: how each contract event changes the indexed tables.

The indexer applies them in chain order, one window per database transaction, and
replays them all from ``chain_events`` after a fork. Pages and audits read the tables
they fill, never the chain per request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .membership import DepartmentKind, OrgKind, Role, Status, name_of
from .store.models import ChainGrant, ChainRecordVersion, Member, Organisation


@dataclass(frozen=True)
class Event:
    contract: str
    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str


Projector = Callable[[Session, Event], None]


# -- Membership -------------------------------------------------------------------------------


def _on_org_created(session: Session, e: Event) -> None:
    kind = OrgKind(e.args["kind"])
    dept = DepartmentKind(e.args["departmentKind"])
    session.add(
        Organisation(
            org_id=e.args["orgId"],
            kind=name_of(kind),
            department_kind=name_of(dept) if dept else None,
            parent_id=e.args["parentId"] if kind != OrgKind.OFFICE else None,
            threshold=0,
            active_signers=0,
            created_block=e.block_number,
            created_tx=e.tx_hash,
        )
    )
    session.flush()  # members reference it; organisations are few, members are many


def _counts_as_signer(member: Member) -> bool:
    return member.role == name_of(Role.COMMITTEE_MEMBER) and member.status == name_of(Status.ACTIVE)


def _on_member_added(session: Session, e: Event) -> None:
    member = Member(
        address=e.args["account"],
        org_id=e.args["orgId"],
        role=name_of(Role(e.args["role"])),
        status=name_of(Status.ACTIVE),
        added_block=e.block_number,
        updated_block=e.block_number,
    )
    session.add(member)
    if _counts_as_signer(member):
        org = session.get(Organisation, member.org_id)
        if org is not None:
            org.active_signers += 1


def _status_change(status: Status) -> Projector:
    def apply(session: Session, e: Event) -> None:
        member = session.get(Member, e.args["account"])
        if member is None:
            return
        org = session.get(Organisation, member.org_id)
        before = _counts_as_signer(member)
        member.status = name_of(status)
        member.updated_block = e.block_number
        after = _counts_as_signer(member)
        if org is not None and before != after:
            org.active_signers += 1 if after else -1

    return apply


def _on_threshold(session: Session, e: Event) -> None:
    org = session.get(Organisation, e.args["orgId"])
    if org is not None:
        org.threshold = int(e.args["threshold"])


MEMBERSHIP_PROJECTORS: dict[tuple[str, str], Projector] = {
    ("Membership", "OrganisationCreated"): _on_org_created,
    ("Membership", "MemberAdded"): _on_member_added,
    ("Membership", "MemberSuspended"): _status_change(Status.SUSPENDED),
    ("Membership", "MemberReinstated"): _status_change(Status.ACTIVE),
    ("Membership", "MemberRevoked"): _status_change(Status.REVOKED),
    ("Membership", "ThresholdChanged"): _on_threshold,
}


# -- RecordLedger ---------------------------------------------------------------------------


def _on_record_committed(session: Session, e: Event) -> None:
    session.add(
        ChainRecordVersion(
            record_id=e.args["recordId"],
            version=int(e.args["version"]),
            content_hash=e.args["contentHash"],
            prev_hash=e.args["prevHash"],
            committee_id=e.args["committeeId"],
            subject=e.args["subject"],
            category=int(e.args["category"]),
            committer=e.args["committer"],
            block_number=e.block_number,
            tx_hash=e.tx_hash,
            erased=False,
        )
    )


def _on_record_certified(session: Session, e: Event) -> None:
    row = session.get(ChainRecordVersion, (e.args["recordId"], int(e.args["version"])))
    if row is not None:
        row.certified_tx = e.tx_hash
        row.signers = json.dumps(e.args["signers"])


def _on_record_erased(session: Session, e: Event) -> None:
    for row in session.scalars(select(ChainRecordVersion).where(ChainRecordVersion.record_id == e.args["recordId"])):
        row.erased = True


# -- ConsentRegistry --------------------------------------------------------------------------


def _on_grant_issued(session: Session, e: Event) -> None:
    relayer = e.args["relayer"]
    session.add(
        ChainGrant(
            grant_id=e.args["grantId"],
            resident=e.args["resident"],
            department=e.args["department"],
            categories=int(e.args["categories"]),
            purpose=int(e.args["purpose"]),
            legal_basis=int(e.args["legalBasis"]),
            valid_from=int(e.args["validFrom"]),
            valid_until=int(e.args["validUntil"]),
            terms_hash=e.args["termsHash"],
            status="active",
            relayer=None if int(relayer, 16) == 0 else relayer,
            issued_block=e.block_number,
            issued_tx=e.tx_hash,
            status_block=e.block_number,
            status_tx=e.tx_hash,
        )
    )


def _grant_status(status: str) -> Projector:
    def apply(session: Session, e: Event) -> None:
        row = session.get(ChainGrant, e.args["grantId"])
        if row is not None:
            row.status = status
            row.status_block = e.block_number
            row.status_tx = e.tx_hash

    return apply


REBUILT_TABLES = (Member, Organisation, ChainRecordVersion, ChainGrant)

PROJECTORS: dict[tuple[str, str], Projector] = {
    **MEMBERSHIP_PROJECTORS,
    ("RecordLedger", "RecordCommitted"): _on_record_committed,
    ("RecordLedger", "RecordCertified"): _on_record_certified,
    ("RecordLedger", "RecordErased"): _on_record_erased,
    ("ConsentRegistry", "GrantIssued"): _on_grant_issued,
    ("ConsentRegistry", "GrantWithdrawn"): _grant_status("withdrawn"),
    ("ConsentRegistry", "GrantRevoked"): _grant_status("revoked"),
}
