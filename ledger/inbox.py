"""A resident's inbox: what they should know about, derived from what the ledger already holds.

Nothing of an item is stored. Each *source* (:class:`Source`) is a small function that derives
the items of its kind, on request, from the data the resident's other pages already trust, and
the query of the same items' keys for the header's count:

* reads of the resident's data (and refused attempts, and the office's reviews of an
  emergency read): the entries of :func:`ledger.history.resident_history`, the same source
  and the same disclosure rule as "Who used my data". An entry is the leaf's, not the row's;
  one under legal hold is not an item before its disclosure date, and from that date it is
  one, timed at the start of that day (China time), so it arrives as new. A database edit
  cannot hide or invent one without a finding: the history's findings come with the items.
* permissions (grants) ending within :data:`ENDING_WITHIN`: the resident's grants as the
  chain has them (``ConsentRegistry.grantOf`` through the chain view; a row the chain does
  not know is no grant), in force and with ``validUntil`` at most seven days after the
  inbox's clock (:func:`ledger.grants.status_of`). Timed when its last seven days began (or
  when it began, if it was shorter).

What is stored is what the resident has read: one row per item read (``inbox_seen``: the
resident, the item's :attr:`Item.key`, when), sealed (:mod:`ledger.seal`). An item is unread
while it has no validly sealed row. Per-item marks rather than a time up to which all is read:
items arrive late (a read under legal hold on its disclosure date, a grant when its last week
begins, a log entry a moment after its time), and a mark by time would swallow them. Only the
resident marks their own inbox: the chain must say the account marking is the resident
themself, active; a grid worker helping them does not mark it.

The unread count for the page header is one SQL statement: each source also gives the keys of
its items as a query over the columns the audit checks against the chain and the leaves
(``access_log.resident`` and ``disclose_on``; ``chain_grants``), joined with the read marks,
whose seals are checked here. The inbox page itself is derived from the verified data.

The clock (``now``: milliseconds since the epoch) is injectable; it decides today's date for
disclosure and the grants' windows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import String, and_, cast, literal, or_, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select

from .access import CHINA, now_ms
from .accesslog import AccessLog
from .categories import from_mask
from .chainview import ChainStatus
from .context import Ledger
from .errors import InputError, Invalid, LedgerError
from .grants import IN_FORCE, status_of
from .history import Finding, resident_history
from .requests import ConsentRequests, ConsentStatus
from .seal import row_seal, row_sealed
from .store.models import AccessEvent, ChainGrant, ConsentRequest, InboxSeen

#: A permission ending within this much of now is an item.
ENDING_WITHIN = timedelta(days=7)
#: The longest key an item may have (the column's width).
MAX_KEY = 80


class ItemKind(StrEnum):
    """What an inbox item is about (:attr:`Item.kind`), with :attr:`Item.params`; the web app
    words each one. In the API: never respell."""

    #: someone used the resident's data; params: seq, number, organisation, category, basis,
    #: purpose, grant, day (China date), time (the leaf's, milliseconds)
    DATA_READ = "data-read"
    #: someone asked to and was refused; params as for DATA_READ, and reason (a Refusal)
    READ_REFUSED = "read-refused"
    #: the office checked an emergency use; params: seq, number, organisation, decision, reviewOf, day
    READ_REVIEWED = "read-reviewed"
    #: a permission ends within 7 days; params: grant, department, categories, purpose, lastDay
    GRANT_ENDING = "grant-ending"
    #: a department asks for a permission, waiting for the resident's answer; params: request,
    #: department, categories, purpose, validUntil (seconds), reason, answerBy (milliseconds)
    CONSENT_REQUEST = "consent-request"
    #: a request of the resident's (a correction, a deletion, an objection) was decided; params
    #: as for DATA_READ, and decision (a ledger.rights.RequestOutcome), reviewOf
    REQUEST_DECIDED = "request-decided"


ITEM_KINDS = tuple(ItemKind)


class LinkKind(StrEnum):
    """Where an item leads (:attr:`Link.kind`); the web app makes the address."""

    HISTORY_ENTRY = "history-entry"  # ref: the log's sequence number
    GRANT = "grant"  # ref: the grant id
    CONSENT_REQUEST = "consent-request"  # ref: the request id (answered on the resident's home page)


@dataclass(frozen=True)
class Link:
    kind: LinkKind
    ref: str


@dataclass(frozen=True)
class Item:
    """One thing the resident should know about."""

    kind: ItemKind
    key: str  # stable: the same item has the same key on every request ("access:<seq>", "grant-ending:<id>")
    time: int  # milliseconds since the epoch: when it arrived in the inbox
    params: dict[str, Any]
    link: Link
    unread: bool = True


@dataclass
class Listing:
    """The resident's inbox now: items newest first, and what the history found wrong."""

    resident: str
    items: list[Item] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def unread(self) -> int:
        return sum(1 for item in self.items if item.unread)


@dataclass(frozen=True)
class Context:
    """What a source is asked with: the resident (address), the clock's now, and today (China)."""

    ledger: Ledger
    log: AccessLog
    resident: str
    now: int  # milliseconds since the epoch
    findings: list[Finding]

    @property
    def today(self) -> date:
        return datetime.fromtimestamp(self.now / 1000, UTC).astimezone(CHINA).date()


@dataclass(frozen=True)
class Source:
    """One kind of item: ``items`` derives them from trusted data (the page); ``keys`` selects
    the keys of the same items from checked index columns, as one column ``key`` (the header's
    count, in one statement with the other sources')."""

    items: Callable[[Context], Iterable[Item]]
    keys: Callable[[Context], Select[Any]]


def _day_start_ms(day: str) -> int | None:
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        return None
    return int(datetime.combine(parsed, time(), CHINA).timestamp() * 1000)


def _day_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(CHINA).date().isoformat()


# -- sources -------------------------------------------------------------------------------------


def _access_key(seq: int) -> str:
    return f"access:{seq}"


def history_items(ctx: Context) -> Iterable[Item]:
    """The resident's history entries shown in full (not under legal hold) as items."""
    history = resident_history(ctx.ledger, ctx.resident, log=ctx.log, on=ctx.today)
    ctx.findings.extend(history.findings)
    for entry in history.entries:
        leaf = entry.leaf
        if leaf is None:
            continue  # under legal hold: not an item before its date
        at = int(leaf.get("time") or 0)
        if entry.disclose_on:
            at = max(at, _day_start_ms(entry.disclose_on) or at)  # it arrives on its disclosure day
        params: dict[str, Any] = {
            "seq": entry.seq, "number": entry.resident_seq + 1, "organisation": leaf.get("organisation"),
            "category": leaf.get("category"), "basis": leaf.get("basis"), "purpose": leaf.get("purpose"),
            "grant": leaf.get("grantId"), "day": _day_of(int(leaf.get("time") or 0)), "time": leaf.get("time"),
        }  # fmt: skip
        if leaf.get("action") == "review":
            kind = ItemKind.READ_REVIEWED
            params.update(decision=leaf.get("decision"), reviewOf=leaf.get("reviewOf"))
        elif leaf.get("action") == "decide":  # the signed decision on one of the resident's requests
            kind = ItemKind.REQUEST_DECIDED
            params.update(decision=leaf.get("decision"), reviewOf=leaf.get("reviewOf"))
        elif leaf.get("outcome") == "refused":
            kind = ItemKind.READ_REFUSED
            params["reason"] = leaf.get("reason")
        else:
            kind = ItemKind.DATA_READ
        yield Item(kind, _access_key(entry.seq), at, params, Link(LinkKind.HISTORY_ENTRY, str(entry.seq)))


def history_keys(ctx: Context) -> Select[Any]:
    prefix = literal("access:", String)
    return select((prefix + cast(AccessEvent.seq, String)).label("key")).where(
        AccessEvent.resident == ctx.resident,
        or_(AccessEvent.disclose_on.is_(None), AccessEvent.disclose_on <= ctx.today.isoformat()),
    )


def _grant_key(grant_id: str) -> str:
    return f"grant-ending:{grant_id}"


def ending_grants(ctx: Context) -> Iterable[Item]:
    """The resident's grants in force, as the chain has them, that end within 7 days."""
    view = ctx.ledger.view
    now_s = ctx.now // 1000
    window = int(ENDING_WITHIN.total_seconds())
    with ctx.ledger.store.session() as session:
        ids = list(session.scalars(select(ChainGrant.grant_id).where(ChainGrant.resident == ctx.resident)))
    for grant_id in ids:
        state = view.grant(grant_id)  # the chain's word, not the row's
        if state is None or state.resident.lower() != ctx.resident.lower():
            continue
        if status_of(state, now_s) not in IN_FORCE or state.valid_until - now_s > window:
            continue
        at = max(state.valid_until - window, state.valid_from) * 1000
        params = {
            "grant": grant_id, "department": state.department, "categories": [c.slug for c in from_mask(state.categories)],
            "purpose": state.purpose, "lastDay": _day_of(state.valid_until * 1000 - 1),
        }  # fmt: skip
        yield Item(ItemKind.GRANT_ENDING, _grant_key(grant_id), at, params, Link(LinkKind.GRANT, grant_id))


def ending_grant_keys(ctx: Context) -> Select[Any]:
    now_s = ctx.now // 1000
    prefix = literal("grant-ending:", String)
    return select((prefix + ChainGrant.grant_id).label("key")).where(
        ChainGrant.resident == ctx.resident,
        ChainGrant.status == ChainStatus.ACTIVE.value,
        and_(ChainGrant.valid_until > now_s, ChainGrant.valid_until <= now_s + int(ENDING_WITHIN.total_seconds())),
    )


def _consent_request_key(request_id: str) -> str:
    return f"consent-request:{request_id}"


def waiting_requests(ctx: Context) -> Iterable[Item]:
    """Departments' requests for a permission waiting for the resident's answer (the library's
    own view of them: sealed rows only, expiry by the inbox's clock)."""
    for r in ConsentRequests(ctx.ledger, now=lambda: ctx.now).waiting_for(ctx.resident):
        if r.resident.lower() != ctx.resident.lower():
            continue
        params = {
            "request": r.request_id, "department": r.department, "categories": [c.slug for c in r.categories],
            "purpose": r.purpose, "validUntil": r.valid_until, "reason": r.reason, "answerBy": r.answer_by,
        }  # fmt: skip
        yield Item(ItemKind.CONSENT_REQUEST, _consent_request_key(r.request_id), r.asked_at, params,
                   Link(LinkKind.CONSENT_REQUEST, r.request_id))  # fmt: skip


def waiting_request_keys(ctx: Context) -> Select[Any]:
    prefix = literal("consent-request:", String)
    return select((prefix + ConsentRequest.request_id).label("key")).where(
        ConsentRequest.resident == ctx.resident,
        ConsentRequest.status == str(ConsentStatus.WAITING),
        ConsentRequest.answer_by > ctx.now,
    )


#: The inbox's sources, in no particular order (items are sorted by time). Adding a kind of
#: item: a member of :class:`ItemKind`, a function deriving its items, the query of its keys.
SOURCES: tuple[Source, ...] = (
    Source(history_items, history_keys),
    Source(ending_grants, ending_grant_keys),
    Source(waiting_requests, waiting_request_keys),
)


# -- the inbox -----------------------------------------------------------------------------------


class Inbox:
    """A resident's inbox: items derived on request, read marks stored (thread-safe)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        log: AccessLog | None = None,
        now: Callable[[], int] | None = None,
        sources: Sequence[Source] = SOURCES,
    ) -> None:
        self.ledger = ledger
        self.log = log or ledger.log
        self._now = now or now_ms
        self.sources = tuple(sources)

    def _context(self, resident: str, findings: list[Finding] | None = None) -> Context:
        return Context(self.ledger, self.log, self.ledger.address_of(resident), self._now(), findings or [])

    def items(self, resident: str) -> Listing:
        """The resident's items, newest first, each marked unread or not, with the history's
        findings. Raises :class:`NodeError` when the chain cannot be asked."""
        ctx = self._context(resident)
        found = [item for source in self.sources for item in source.items(ctx)]
        read = self._read_keys(ctx.resident, [item.key for item in found])
        items = [item if item.key not in read else _read(item) for item in found]
        items.sort(key=lambda item: (item.time, item.key), reverse=True)
        return Listing(ctx.resident, items, ctx.findings)

    def unread_count(self, resident: str) -> int:
        """How many items are unread, from one statement over the sources' index queries and
        the read marks (each seal checked): cheap enough for every page's header. The page
        (:meth:`items`) is the verified answer; the two differ only after a database edit,
        which ``gridledger verify`` reports."""
        ctx = self._context(resident)
        keys = union_all(*(source.keys(ctx) for source in self.sources)).subquery()
        query = select(keys.c.key, InboxSeen.resident, InboxSeen.item_key, InboxSeen.seen_at, InboxSeen.seal).outerjoin(
            InboxSeen, and_(InboxSeen.resident == ctx.resident, InboxSeen.item_key == keys.c.key)
        )
        with self.ledger.store.engine.connect() as connection:
            rows = connection.execute(query).all()
        sealer = self.ledger.sealer
        return sum(1 for row in rows if row.item_key is None or not row_sealed(sealer, "inbox_seen", row))

    def mark_read(self, resident: str, keys: Iterable[str], *, by: str) -> int:
        """Marks these items of the resident's read, as the resident ``by`` themself. Keys that
        are not the resident's items now are refused (:class:`InputError`); returns how many
        were newly marked. Raises :class:`LedgerError` when ``by`` is not the resident, active,
        as the chain has it."""
        wanted = list(dict.fromkeys(keys))
        for key in wanted:
            if not isinstance(key, str) or not key or len(key) > MAX_KEY:
                raise InputError("not an inbox item", code=Invalid.BAD_ID, field="keys",
                                 params={"what": "inbox item", "value": str(key)[:MAX_KEY]})  # fmt: skip
        ctx = self._require_resident(resident, by)
        present = {item.key for source in self.sources for item in source.items(ctx)}
        for key in wanted:
            if key not in present:
                raise InputError(f"you have no inbox item {key}", code=Invalid.BAD_ID, field="keys",
                                 params={"what": "inbox item", "value": key})  # fmt: skip
        return self._mark(ctx, wanted)

    def mark_all_read(self, resident: str, *, by: str) -> int:
        """Marks every item of the resident's inbox now read (as :meth:`mark_read`)."""
        ctx = self._require_resident(resident, by)
        return self._mark(ctx, [item.key for source in self.sources for item in source.items(ctx)])

    # -- helpers ---------------------------------------------------------------------------

    def _require_resident(self, resident: str, by: str) -> Context:
        ctx = self._context(resident)
        actor = self.ledger.address_of(by)
        member = self.ledger.view.member(actor)
        if actor.lower() != ctx.resident.lower() or member is None or not member.acts_as("resident"):
            raise LedgerError(f"{actor} may not mark {ctx.resident}'s inbox read: only the resident themself, active")
        return ctx

    def _read_keys(self, resident: str, keys: list[str]) -> set[str]:
        """Which of ``keys`` the resident has read (marks with a valid seal)."""
        if not keys:
            return set()
        sealer = self.ledger.sealer
        found: set[str] = set()
        with self.ledger.store.session() as session:
            for start in range(0, len(keys), 500):
                rows = session.scalars(
                    select(InboxSeen).where(
                        InboxSeen.resident == resident, InboxSeen.item_key.in_(keys[start : start + 500])
                    )
                )
                found.update(row.item_key for row in rows if row_sealed(sealer, "inbox_seen", row))
        return found

    def _mark(self, ctx: Context, keys: list[str]) -> int:
        """Writes a sealed read mark for each key not validly marked yet (an unsealed row, an
        edit, is replaced)."""
        sealer = self.ledger.sealer
        for attempt in range(2):
            done = self._read_keys(ctx.resident, keys)
            fresh = [key for key in keys if key not in done]
            if not fresh:
                return 0
            try:
                with self.ledger.store.session() as session, session.begin():
                    for key in fresh:
                        row = session.get(InboxSeen, (ctx.resident, key))
                        if row is None:
                            row = InboxSeen(resident=ctx.resident, item_key=key, seen_at=ctx.now)
                            session.add(row)
                        row.seen_at = ctx.now
                        row.seal = row_seal(sealer, "inbox_seen", row)
            except IntegrityError:
                if attempt:
                    raise
                continue  # another request of the resident's marked some of them first: once more
            return len(fresh)
        return 0


def _read(item: Item) -> Item:
    return Item(item.kind, item.key, item.time, item.params, item.link, unread=False)
