"""What the API's routes read from the store directly: organisation profiles (codes and names,
for showing) and a department's page of its access events.

The events are selected and paged in SQL by their columns (indexed on organisation and time),
but those columns are a cache an editor can change: the routes show each row only through its
leaf (:func:`ledger.history.organisation_leaf`), which decides whose it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select

from ledger.store import Store
from ledger.store.models import AccessEvent, OrgProfile, Record

_EVENTS = cast(Table, AccessEvent.__table__)
_RECORDS = cast(Table, Record.__table__)
_e = _EVENTS.c


@dataclass(frozen=True)
class Profile:
    """An organisation as the API names it: its code, its English name (``name``, as the API
    has always given it) and its name in each language the pages speak."""

    code: str
    name: str
    name_zh: str


def profile(store: Store, org_id: str) -> Profile | None:
    with store.session() as db:
        found = db.get(OrgProfile, org_id)
        return Profile(found.code, found.name_en, found.name_zh) if found is not None else None


def profiles(store: Store, org_ids: Iterable[str]) -> dict[str, Profile]:
    """Code and name of each of these organisations that has a profile, by id."""
    wanted = sorted(set(org_ids))
    if not wanted:
        return {}
    with store.session() as db:
        found = db.scalars(select(OrgProfile).where(OrgProfile.org_id.in_(wanted)))
        return {p.org_id: Profile(p.code, p.name_en, p.name_zh) for p in found}


def department_events(
    store: Store, org_id: str, *, limit: int, before: int | None, outcome: str | None, category: int | None
) -> list[Any]:
    """Up to ``limit + 1`` rows (seq, leaf, justification) of the organisation's events, newest
    first, older than event ``before`` when it is the organisation's own (another's reveals
    nothing): one more than asked, so the caller knows whether a next page exists."""
    query = select(_e.seq, _e.leaf, _e.justification).where(_e.organisation == org_id)
    params: dict[str, Any] = {}
    if before is not None:
        at = select(_e.time).where(_e.seq == bindparam("before"), _e.organisation == org_id).scalar_subquery()
        query = query.where(_e.time <= at, ~((_e.time == at) & (_e.seq >= bindparam("before"))))
        params["before"] = before
    if outcome is not None:
        query = query.where(_e.outcome == outcome)
    if category is not None:
        query = query.join(_RECORDS, _RECORDS.c.record_id == _e.record_id).where(_RECORDS.c.category == category)
    query = query.order_by(_e.time.desc(), _e.seq.desc()).limit(limit + 1)
    with store.engine.connect() as connection:
        return list(connection.execute(query, params).all())
