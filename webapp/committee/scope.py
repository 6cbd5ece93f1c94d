"""What belongs to the committee, as the chain says: the gate of every committee page.

The tables are a cache of the chain and an editor can change them, so they only name
candidates: a record is the committee's when ``RecordLedger.head`` says so (its committee,
and its subject and category, come from there), a resident is when ``Membership`` has them
active with the role resident in the committee. A candidate the chain does not confirm is
left out of a list, and its page answers 404, as a record of another committee does.

Lists stay fast for a committee with thousands of records: the queries select and page
candidates in SQL, and only the rows a page shows are confirmed, one answer each from the
chain view, which remembers answers in memory until the chain's own events say they
changed (so only the first look after a start asks the node, once per record). Figures
(how many records, residents, signatures) are counted in the tables: they show no one, and
``gridledger verify`` reports tables that differ from the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from web3 import Web3

from ledger.categories import Category
from ledger.chainview import ChainView, MemberState, OrgState, RecordState
from ledger.store.models import Record

T = TypeVar("T")


class _Person(Protocol):
    @property
    def address(self) -> str: ...


class _RecordRow(Protocol):
    @property
    def record_id(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def category(self) -> Category: ...


P = TypeVar("P", bound=_Person)
R = TypeVar("R", bound=_RecordRow)


class _Asker:
    """Asks the chain view, and once per page asks again at a fresh head when the chain
    did not know something: what was committed a moment ago may be newer than the head
    the view last read."""

    def __init__(self, view: ChainView) -> None:
        self.view = view
        self.refreshed = False

    def __call__(self, ask: Callable[[], T | None]) -> T | None:
        found = ask()
        if found is None and not self.refreshed:
            self.view.head(newer_than=self.view.head()[0])
            self.refreshed = True
            found = ask()
        return found


def record_id_of(text: str) -> str | None:
    raw = text.strip().lower()
    if not raw.startswith("0x") or len(raw) != 66 or any(c not in "0123456789abcdef" for c in raw[2:]):
        return None
    return raw


@dataclass(frozen=True)
class CommitteeRecord:
    """A record of the committee: what it is from the chain, who collected it from the store."""

    record_id: str
    subject: str  # the chain's
    category: Category  # the chain's
    erased: bool  # erased on chain, or here (its content is gone)
    created_by: str  # who collected it, as stored (shown; it decides nothing)


def record(view: ChainView, org_id: str, record_id: str, row: Record | None) -> CommitteeRecord | None:
    """The committee's record ``record_id`` (stored as ``row``), else None."""
    key = record_id_of(record_id)
    if key is None or row is None:
        return None
    state = _Asker(view)(lambda: view.record(key))
    if state is None or state.committee_id != org_id.lower():
        return None
    erased = state.erased or row.erased_at is not None
    return CommitteeRecord(state.record_id, state.subject, Category(state.category), erased, row.created_by)


def resident(view: ChainView, org_id: str, address: str) -> MemberState | None:
    """The active resident of the committee at ``address``, else None."""
    if not Web3.is_address(address):
        return None
    member = _Asker(view)(lambda: view.member(address))
    if member is None or member.org_id != org_id.lower() or not member.acts_as("resident"):
        return None
    return member


def residents(view: ChainView, org_id: str, rows: Iterable[P]) -> list[P]:
    """The rows of the committee's active residents, in order."""
    ask = _Asker(view)
    kept = []
    for row in rows:
        member = ask(lambda: view.member(row.address))  # noqa: B023 - called at once
        if member is not None and member.org_id == org_id.lower() and member.acts_as("resident"):
            kept.append(row)
    return kept


def records(view: ChainView, org_id: str, rows: Iterable[R], *, subject: str | None = None,
            limit: int | None = None) -> list[R]:  # fmt: skip
    """The rows of the committee's records, in order, with the chain's subject and category;
    with ``subject``, only that resident's; the first ``limit`` (the rest are not asked)."""
    ask = _Asker(view)
    kept: list[R] = []
    for row in rows:
        if limit is not None and len(kept) >= limit:
            break
        state = ask(lambda: view.record(row.record_id))  # noqa: B023 - called at once
        if state is None or state.committee_id != org_id.lower():
            continue
        if subject is not None and state.subject != subject:
            continue
        kept.append(replace(row, subject=state.subject, category=Category(state.category)))  # type: ignore[type-var]
    return kept


def head(view: ChainView, record_id: str, *, at_least: int) -> RecordState | None:
    """The record's head on chain, at a fresh head of the chain when the view's is behind
    version ``at_least`` (committed a moment ago); None when the chain has no version of it."""
    state = view.record(record_id)
    if state is None or state.version < at_least:
        view.head(newer_than=view.head()[0])
        state = view.record(record_id)
    return state


def committee(view: ChainView, org_id: str) -> OrgState | None:
    """The committee as the chain has it (its threshold and active signers)."""
    org = view.organisation(org_id)
    return org if org is not None and org.kind == "committee" else None


def grant_of(view: ChainView, grant_id: str, resident_address: str) -> bool:
    """Whether the chain has ``grant_id`` as a grant of ``resident_address``."""
    key = record_id_of(grant_id)
    if key is None:
        return False
    grant = _Asker(view)(lambda: view.grant(key))
    return grant is not None and grant.resident == resident_address
