"""Organisations and members: what the CLI, the demo and the web app call.

Each operation validates its input off chain, then in one database transaction
records the off-chain facts (names, labels) and the signed transaction in the
outbox. The call is simulated first (``preflight``), so a forbidden or invalid
change is refused with the contract's own error name and nothing is written.
Reads come from the indexed tables, never from the chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session

from .context import Ledger
from .errors import LedgerError, NotFoundError
from .membership import DepartmentKind, Role, org_id
from .outbox import Call
from .seal import row_seal, split_legacy_name
from .store.models import Account, Member, Organisation, OrgProfile


@dataclass(frozen=True)
class OrgNames:
    """An organisation's name in each language the pages speak (kept off chain, sealed).

    Both are required: a page in Chinese shows ``zh``, one in English ``en``, never both glued
    together."""

    zh: str
    en: str

    def __post_init__(self) -> None:
        zh, en = (self.zh or "").strip(), (self.en or "").strip()
        if not zh or not en:
            raise LedgerError(
                f"an organisation needs a Chinese and an English name; got zh={self.zh!r}, en={self.en!r}"
            )
        object.__setattr__(self, "zh", zh)
        object.__setattr__(self, "en", en)

    def for_locale(self, locale: object) -> str:
        """The name for ``locale`` ("zh-CN", "zh_Hans_CN", a babel Locale, "en"): Chinese for
        any Chinese locale, else English."""
        return self.zh if str(locale or "").lower().startswith("zh") else self.en

    @classmethod
    def split(cls, name: str, code: str = "?") -> OrgNames:
        """The two names in a single mixed one ("民政科 Civil Affairs"), as migration 0010 split
        the stored names; a name that does not split is both."""
        return cls(*split_legacy_name(name, code))

    @classmethod
    def of(cls, value: OrgNames | str, code: str = "?") -> OrgNames:
        return value if isinstance(value, OrgNames) else cls.split(value, code)

    @classmethod
    def of_profile(cls, profile: object) -> OrgNames:
        """The names of an ``org_profiles`` row (or anything with ``name_zh`` and ``name_en``)."""
        return cls(getattr(profile, "name_zh"), getattr(profile, "name_en"))  # noqa: B009


@dataclass(frozen=True)
class OrgView:
    org_id: str
    code: str | None
    names: OrgNames | None
    kind: str
    department_kind: str | None
    parent_code: str | None
    threshold: int
    active_signers: int
    members: int


@dataclass(frozen=True)
class MemberView:
    address: str
    label: str | None
    org_code: str | None
    role: str
    status: str


class Organisations:
    """Changes to the organisation tree and its members, and queries over it."""

    def __init__(self, ledger: Ledger, *, wait: bool = True, timeout: float = 60.0) -> None:
        self.ledger = ledger
        self.wait = wait
        self.timeout = timeout

    # -- writes --------------------------------------------------------------------

    def create_office(self, code: str, name: OrgNames | str, admin_label: str, *, registrar: str = "governance") -> str:
        """``name``: both names, or a single mixed one split as :meth:`OrgNames.split` does."""
        oid = org_id(code)
        signer = self.ledger.account(registrar)
        admin = self.ledger.new_account(admin_label, "member")
        return self._submit(signer, self.ledger.membership.create_office(oid, admin.address), profile=(oid, code, name))

    def create_committee(
        self,
        code: str,
        name: OrgNames | str,
        office_code: str,
        member_labels: Sequence[str],
        threshold: int,
        *,
        actor: str | None = None,
    ) -> str:
        if len(set(member_labels)) != len(member_labels):
            raise LedgerError("a committee's members must be distinct accounts")
        if not 1 <= threshold <= len(member_labels):
            raise LedgerError(
                f"the signing threshold must be between 1 and the number of members ({len(member_labels)}); got {threshold}"
            )
        oid, office = org_id(code), org_id(office_code)
        signer = self._actor(actor, office)
        members = [self.ledger.new_account(label, "member").address for label in member_labels]
        return self._submit(
            signer, self.ledger.membership.create_committee(oid, office, members, threshold), profile=(oid, code, name)
        )

    def create_department(
        self, code: str, name: OrgNames | str, office_code: str, kind: DepartmentKind, *, actor: str | None = None
    ) -> str:
        oid, office = org_id(code), org_id(office_code)
        signer = self._actor(actor, office)
        return self._submit(
            signer, self.ledger.membership.create_department(oid, office, kind), profile=(oid, code, name)
        )

    def add_member(self, label: str, org_code: str, role: Role, *, actor: str | None = None) -> str:
        oid = org_id(org_code)
        signer = self._actor(actor, oid)
        kind = "resident" if role == Role.RESIDENT else "member"
        account = self.ledger.new_account(label, kind)
        return self._submit(signer, self.ledger.membership.add_member(account.address, oid, role))

    def suspend(self, who: str, *, actor: str | None = None) -> str:
        address = self.ledger.address_of(who)
        return self._submit(self._actor(actor, self._org_of(address)), self.ledger.membership.suspend(address))

    def reinstate(self, who: str, *, actor: str | None = None) -> str:
        address = self.ledger.address_of(who)
        return self._submit(self._actor(actor, self._org_of(address)), self.ledger.membership.reinstate(address))

    def revoke(self, who: str, *, actor: str | None = None) -> str:
        address = self.ledger.address_of(who)
        return self._submit(self._actor(actor, self._org_of(address)), self.ledger.membership.revoke(address))

    def set_threshold(self, committee_code: str, threshold: int, *, actor: str | None = None) -> str:
        oid = org_id(committee_code)
        return self._submit(self._actor(actor, oid), self.ledger.membership.set_threshold(oid, threshold))

    def rename(self, code: str, names: OrgNames) -> None:
        """Gives organisation ``code`` new names (off chain: no transaction), sealed anew."""
        with self.ledger.store.session() as session, session.begin():
            row = session.scalar(select(OrgProfile).where(OrgProfile.code == code))
            if row is None:
                raise NotFoundError(f"no organisation with code {code!r} here; see 'gridledger org list'")
            row.name_zh, row.name_en, row.legacy_name = names.zh, names.en, None
            row.seal = row_seal(self.ledger.sealer, "org_profiles", row)

    def _submit(
        self, signer: LocalAccount, call: Call, *, profile: tuple[bytes, str, OrgNames | str] | None = None
    ) -> str:
        """Stores ``call`` with the organisation's profile, if any (see :meth:`Ledger.submit`)."""
        names = None if profile is None else OrgNames.of(profile[2], profile[1])

        def rows(session: Session, _tx_hash: str) -> None:
            if profile is not None and names is not None:
                oid, code, _name = profile
                row = OrgProfile(org_id="0x" + oid.hex(), code=code, name_zh=names.zh, name_en=names.en)
                row.seal = row_seal(self.ledger.sealer, "org_profiles", row)
                session.merge(row)

        return self.ledger.submit(signer, call, rows, wait=self.wait, timeout=self.timeout)

    def _actor(self, actor: str | None, oid: bytes) -> LocalAccount:
        """The account to sign with: the one named, else an active admin of the office
        governing ``oid`` whose key this installation holds."""
        if actor is not None:
            return self.ledger.account(actor)
        office = self._governing_office("0x" + oid.hex())
        with self.ledger.store.session() as session:
            candidates = session.scalars(
                select(Member.address)
                .join(Account, Account.address == Member.address)
                .where(Member.org_id == office, Member.role == "office-admin", Member.status == "active")
                .order_by(Member.added_block)
            ).all()
        for address in candidates:
            if self.ledger.keys.has(address):
                return self.ledger.keys.account(address)
        raise NotFoundError("no active admin of the governing office whose key is held here; name one with --as")

    def _governing_office(self, oid_hex: str) -> str:
        with self.ledger.store.session() as session:
            org = session.get(Organisation, oid_hex)
        if org is None:
            raise NotFoundError(f"no organisation {oid_hex} on chain (yet); see 'gridledger org list'")
        return oid_hex if org.kind == "office" else str(org.parent_id)

    def _org_of(self, address: str) -> bytes:
        with self.ledger.store.session() as session:
            member = session.get(Member, address)
        if member is None:
            raise NotFoundError(f"{address} is not a member on chain (yet); see 'gridledger member list'")
        return bytes.fromhex(member.org_id[2:])

    # -- what an office governs (the chain's answer) ---------------------------------

    def governed_by(self, office_id: str) -> dict[str, str]:
        """The office and the organisations under it, id -> kind, as the chain has them: the
        indexed tables propose the candidates, the chain confirms each one's parent (an
        organisation moved under this office in the database is not this office's)."""
        office_id = office_id.lower()
        with self.ledger.store.session() as session:
            candidates = set(
                session.scalars(select(Organisation.org_id).where(Organisation.parent_id == office_id))
            )
        view = self.ledger.view
        found = view.organisation(office_id)
        governed = {office_id: found.kind} if found is not None and found.kind == "office" else {}
        for candidate in sorted(candidates):
            org = view.organisation(candidate)
            if org is not None and org.parent_id == office_id:
                governed[org.org_id] = org.kind
        return governed

    def resident_of_office(self, address: str, office_id: str) -> bool:
        """Whether ``address`` is a resident of a committee under ``office_id``, on chain."""
        view = self.ledger.view
        member = view.member(address)
        if member is None or member.role != "resident":
            return False
        committee = view.organisation(member.org_id)
        return committee is not None and committee.parent_id == office_id.lower()

    # -- reads (indexed tables) ------------------------------------------------------

    def organisations(self) -> list[OrgView]:
        with self.ledger.store.session() as session:
            profiles = {p.org_id: p for p in session.scalars(select(OrgProfile))}
            orgs = session.scalars(select(Organisation).order_by(Organisation.created_block)).all()
            counts: dict[str, int] = {}
            for (oid,) in session.execute(select(Member.org_id)):
                counts[oid] = counts.get(oid, 0) + 1
        views = []
        for org in orgs:
            profile = profiles.get(org.org_id)
            parent = profiles.get(org.parent_id or "")
            views.append(
                OrgView(
                    org.org_id,
                    profile.code if profile else None,
                    OrgNames.of_profile(profile) if profile else None,
                    org.kind,
                    org.department_kind,
                    parent.code if parent else None,
                    org.threshold,
                    org.active_signers,
                    counts.get(org.org_id, 0),
                )
            )
        return views

    def members(self, org_code: str | None = None) -> list[MemberView]:
        with self.ledger.store.session() as session:
            query = (
                select(Member, Account.label, OrgProfile.code)
                .outerjoin(Account, Account.address == Member.address)
                .outerjoin(OrgProfile, OrgProfile.org_id == Member.org_id)
                .order_by(Member.added_block, Member.address)
            )
            if org_code is not None:
                query = query.where(Member.org_id == "0x" + org_id(org_code).hex())
            return [MemberView(m.address, label, code, m.role, m.status) for m, label, code in session.execute(query)]

    def exists(self, code: str) -> bool:
        with self.ledger.store.session() as session:
            return session.get(Organisation, "0x" + org_id(code).hex()) is not None

    def is_member(self, label: str) -> bool:
        with self.ledger.store.session() as session:
            address = session.scalar(select(Account.address).where(Account.label == label))
            return address is not None and session.get(Member, address) is not None
