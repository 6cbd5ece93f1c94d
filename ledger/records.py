"""Records: collect once, certify k of n, erase by crypto-shredding.

A record belongs to a residents' committee and is about one resident (its subject).
Each version's content is validated against its category's JSON Schema, stored off
chain with a fresh random salt, and committed on chain as
``contentHash = keccak256(abi.encode(salt, keccak256(JCS(content))))``.

Committee members sign ``RecordApproval(recordId, version, contentHash)`` (EIP-712);
signatures are checked as they arrive, and when k valid ones are in, ``certify`` is
sent. A signature binds one version and its hash: a newer version needs new ones.

Erasure deletes the content and salt of every version (SQLite overwrites freed pages:
``secure_delete``) and records the erasure on chain; the commitments stay, unlinkable.

Writes go through the outbox in the same database transaction as the rows they
belong to. Who may commit, sign and certify is the chain's to say: the library's own
checks before a write (which give a plain refusal instead of a reverted transaction) ask
the chain view (:class:`ledger.chainview.ChainView`) for the record's committee, subject,
category and head, the accounts' membership and the committee's threshold, never the
``records``, ``members`` or ``organisations`` tables, and they check what the contract
checks, no more and no less. The view may be a moment behind the chain, so a *no* is asked
again at a fresh head before it is believed; the contract still decides every write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from . import eip712, formats, hints
from .categories import Category, allows_several, validate
from .chain import Call, ContractCalls
from .chainview import RecordState
from .context import Ledger
from .errors import ConflictError, ContractRevert, InputError, Invalid, LedgerError, NotFoundError, VerificationError
from .formats import from_hex, parse_id, to_hex
from .store.models import Approval, ChainRecordVersion, Member, Record, RecordVersion, utcnow

ZERO32 = b"\x00" * 32

GAS_COMMIT = 300_000  # measured: 157,353 for version 1
GAS_CERTIFY_BASE = 120_000
GAS_CERTIFY_PER_SIGNATURE = 30_000
GAS_ERASE = 100_000


class RecordExists(ConflictError):
    """The resident already has a live record of a category that allows one per resident:
    change it with a new version (:meth:`Records.update`) instead of making a second one."""

    def __init__(self, record_id: str, subject: str, category: Category) -> None:
        self.record_id = record_id
        self.subject = subject
        self.category = category
        super().__init__(
            f"{subject} already has a {category.slug} record ({record_id}) in this committee; "
            "update that record with a new version instead of creating another"
        )


class RecordCalls(ContractCalls):
    """Calls to the RecordLedger contract, ready for the outbox."""

    def commit(
        self, record_id: bytes, version: int, content_hash: bytes, prev_hash: bytes, subject: str, category: int
    ) -> Call:
        args = [record_id, version, content_hash, prev_hash, to_checksum_address(subject), category]
        return self._call("commit", args, GAS_COMMIT, "records.commit")

    def certify(self, record_id: bytes, version: int, signatures: list[bytes]) -> Call:
        gas = GAS_CERTIFY_BASE + GAS_CERTIFY_PER_SIGNATURE * len(signatures)
        return self._call("certify", [record_id, version, signatures], gas, "records.certify")

    def erase(self, record_id: bytes, reason_hash: bytes) -> Call:
        return self._call("erase", [record_id, reason_hash], GAS_ERASE, "records.erase")


@dataclass(frozen=True)
class VersionView:
    version: int
    content: dict[str, Any] | None
    content_hash: str
    prev_hash: str
    created_by: str
    created_at: str
    on_chain: bool
    certified: bool
    signers: list[str]
    approvals: list[str]
    #: Set by :meth:`Records.of_subject`: verified (content and salt give the chain's
    #: commitment) | mismatch | pending (not on chain yet) | erased; "" when not checked.
    check: str = ""


@dataclass(frozen=True)
class RecordView:
    record_id: str
    committee_id: str
    subject: str
    category: Category
    erased: bool
    versions: list[VersionView]

    @property
    def head(self) -> VersionView:
        return self.versions[-1]


@dataclass(frozen=True)
class SignOutcome:
    approvals: int
    threshold: int
    certify_tx: str | None


class Records:
    def __init__(self, ledger: Ledger, *, wait: bool = True, timeout: float = 60.0) -> None:
        self.ledger = ledger
        self.wait = wait
        self.timeout = timeout
        self.calls = RecordCalls(ledger.contract("RecordLedger"))
        self.domain = eip712.Domain(eip712.RECORD_LEDGER_NAME, ledger.settings.chain_id, self.calls.address)

    # -- writes ----------------------------------------------------------------------

    def add(self, *, actor: str, subject: str, category: Category, content: Any) -> tuple[str, str]:
        """Creates a record about ``subject`` in the actor's committee. Returns (record id, tx)."""
        validate(category, content)
        signer = self.ledger.account(actor)
        committee = self._committee_of(signer.address)
        subject_address = self.ledger.address_of(subject)
        self._require_member(
            subject_address, committee, ("resident",), "the subject must be an active resident of the committee"
        )
        if not allows_several(category):
            found = self.existing(subject_address, category, committee=committee)
            if found is not None:
                raise RecordExists(found, subject_address, category)
        record_id = formats.new_id()
        salt = formats.new_salt()
        content_hash = formats.commitment(content, salt)
        call = self.calls.commit(record_id, 1, content_hash, ZERO32, subject_address, int(category))

        def rows(session: Any, tx_hash: str) -> None:
            session.add(
                Record(
                    record_id=to_hex(record_id),
                    committee_id=committee,
                    subject=subject_address,
                    category=int(category),
                    created_by=signer.address,
                )
            )
            session.flush()
            session.add(self._version_row(record_id, 1, content, salt, content_hash, ZERO32, signer.address, tx_hash))
            hints.note_version(
                session, subject=subject_address, category=category, record_id=to_hex(record_id), version=1,
                content=content,
            )  # fmt: skip

        tx = self._submit(signer, call, rows)
        return to_hex(record_id), tx

    def update(
        self,
        record_id: str,
        content: Any,
        *,
        actor: str,
        expected_version: int | None = None,
        also: Callable[[Any, str, int], None] | None = None,
    ) -> tuple[int, str]:
        """Adds version head+1. With ``expected_version`` (the version the caller loaded),
        a record changed since then is refused with :class:`ConflictError`. ``also(session,
        tx_hash, version)`` writes rows of its own in the same transaction (a resident's
        correction request this version answers, :mod:`ledger.rights`)."""
        record = self._record(record_id)
        state = self._chain_record(record.record_id)
        if record.erased_at is not None or state.erased:
            raise LedgerError(f"record {record_id} was erased; it cannot change")
        category = Category(state.category)
        validate(category, content)
        signer = self.ledger.account(actor)
        self._require_member(
            signer.address,
            state.committee_id,
            ("committee-member", "grid-worker"),
            "only an active committee member or grid worker of the record's committee may update it",
        )
        self._require_member(  # the contract asks it of every version, not only the first
            state.subject,
            state.committee_id,
            ("resident",),
            "the record's resident is no longer an active resident of its committee: no new version can be added",
        )
        head = self._head_row(record.record_id)
        head_version, head_hash = head.version, head.content_hash
        if state.version > head_version:  # newer versions whose content a restore lost: build on the chain's
            head_version, head_hash = state.version, state.content_hash
        if expected_version is not None and expected_version != head_version:
            raise ConflictError(
                f"record changed since you loaded it: you loaded version {expected_version}, "
                f"it is now at version {head_version}"
            )
        salt = formats.new_salt()
        content_hash = formats.commitment(content, salt)
        version = head_version + 1
        rid = from_hex(record.record_id)
        call = self.calls.commit(rid, version, content_hash, from_hex(head_hash), state.subject, state.category)

        def rows(session: Any, tx_hash: str) -> None:
            session.add(
                self._version_row(
                    rid, version, content, salt, content_hash, from_hex(head_hash), signer.address, tx_hash
                )
            )
            hints.note_version(
                session, subject=record.subject, category=state.category, record_id=record.record_id,
                version=version, content=content,
            )  # fmt: skip
            if also is not None:
                also(session, tx_hash, version)

        return version, self._submit(signer, call, rows)

    def sign(self, record_id: str, *, signer: str, version: int | None = None) -> SignOutcome:
        """Signs the head version with a custodial key, then certifies when k are in."""
        record = self._record(record_id)
        head = self._head_row(record.record_id)
        version = head.version if version is None else version
        account = self.ledger.account(signer)
        data = eip712.record_approval(self.domain, from_hex(record.record_id), version, from_hex(head.content_hash))
        signature = eip712.sign(account, data)
        return self.add_signature(record.record_id, version, signature, submitter=account)

    def add_signature(
        self, record_id: str, version: int, signature: bytes, *, submitter: LocalAccount | None = None
    ) -> SignOutcome:
        """Checks and stores a signature made anywhere; certifies when k valid ones are in.

        Refused: a version that is not the head or not yet on chain, a signature over other
        data or by someone who is not an active member of the record's committee."""
        record = self._record(record_id)
        head = self._head_row(record.record_id)
        if version != head.version:
            raise ConflictError(
                f"record changed since you loaded it: version {version} is not the newest ({head.version})"
            )
        state = self._chain_head(record.record_id, version, head.content_hash)
        data = eip712.record_approval(self.domain, from_hex(state.record_id), version, from_hex(state.content_hash))
        try:
            signer = eip712.recover(data, signature)
        except Exception as exc:  # noqa: BLE001 - any malformed signature
            raise InputError(
                f"not a valid signature: {exc}",
                code=Invalid.BAD_SIGNATURE,
                field="signature",
                params={"problem": str(exc)},
            ) from None
        if int.from_bytes(signature[32:64], "big") > _SECP256K1_HALF_N:
            raise InputError(
                "high-s signature: use the low-s form (EIP-2)", code=Invalid.HIGH_S_SIGNATURE, field="signature"
            )
        self._require_member(
            signer,
            state.committee_id,
            ("committee-member",),
            f"{signer} is not an active member of the record's committee",
        )
        with self.ledger.store.session() as session, session.begin():
            exists = session.scalar(
                select(Approval.id).where(
                    Approval.record_id == record.record_id, Approval.version == version, Approval.signer == signer
                )
            )
            if exists is None:
                session.add(
                    Approval(
                        record_id=record.record_id,
                        version=version,
                        content_hash=state.content_hash,
                        signer=signer,
                        signature=to_hex(signature),
                    )
                )
        approvals = self._valid_approvals(state)
        threshold = self._threshold(state.committee_id)
        certify_tx = None
        if len(approvals) >= threshold:
            certify_tx = self.certify(record.record_id, actor=submitter.address if submitter else None)
        return SignOutcome(len(approvals), threshold, certify_tx)

    def certify(self, record_id: str, *, actor: str | None = None) -> str:
        """Sends ``certify`` with the stored signatures the chain would count, sorted by
        signer address, as ``actor`` (else any member of the committee whose key is held)."""
        record = self._record(record_id)
        head = self._head_row(record.record_id)
        state = self._chain_head(record.record_id, head.version, head.content_hash)
        approvals = self._valid_approvals(state)
        threshold = self._threshold(state.committee_id)
        if len(approvals) < threshold:
            raise LedgerError(f"{len(approvals)} of {threshold} signatures so far; certification needs {threshold}")
        ordered = sorted(approvals, key=lambda a: int(a.signer, 16))
        if actor:
            signer = self.ledger.account(actor)
            self._require_member(
                signer.address,
                state.committee_id,
                ("committee-member", "grid-worker"),
                "only an active committee member or grid worker of the record's committee may send its certification",
            )
        else:
            signer = self._any_member_key(state.committee_id)
        call = self.calls.certify(from_hex(state.record_id), state.version, [from_hex(a.signature) for a in ordered])

        def rows(session: Any, _tx_hash: str) -> None:  # the certified version's hints (a store made before them)
            if head.content is not None:
                hints.note_stored(
                    session, subject=record.subject, category=state.category, record_id=record.record_id,
                    version=head.version, stored=head.content,
                )  # fmt: skip

        return self._submit(signer, call, rows)

    def erase(
        self, record_id: str, reason: str, *, actor: str, also: Callable[[Any, str], None] | None = None
    ) -> str:
        """Deletes content and salts of every version and records the erasure on chain.
        ``also(session, tx_hash)`` writes rows of its own in the same transaction (a
        resident's deletion request decided by this erasure, :mod:`ledger.rights`)."""
        if not reason.strip():
            raise InputError("give the legal reason for the erasure", code=Invalid.REQUIRED, field="reason")
        record = self._record(record_id)
        if record.erased_at is not None:
            raise LedgerError(f"record {record_id} is already erased")
        signer = self.ledger.account(actor)
        call = self.calls.erase(from_hex(record.record_id), keccak(text=reason))

        def rows(session: Any, tx_hash: str) -> None:
            stored = session.get(Record, record.record_id)
            stored.erased_at = utcnow()
            stored.erase_reason = reason
            for version in session.scalars(select(RecordVersion).where(RecordVersion.record_id == record.record_id)):
                version.content = None
                version.salt = None
            hints.clear_record(session, record.record_id)
            if also is not None:
                also(session, tx_hash)

        return self._submit(signer, call, rows)

    # -- reads -----------------------------------------------------------------------

    def existing(self, subject: str, category: Category, *, committee: str | None = None) -> str | None:
        """The id of the subject's live (not erased) record of ``category``, in ``committee``
        when given, as the chain has it; None when there is none. For a category that allows
        several (:func:`ledger.categories.allows_several`), the oldest.

        The tables only suggest candidates (records and indexed versions naming the subject);
        each one's subject, category, committee and erasure are the chain's. A record whose
        first version is not on chain yet is not counted."""
        address = self.ledger.address_of(subject)
        with self.ledger.store.session() as session:
            candidates = list(
                session.scalars(
                    select(Record.record_id).where(Record.subject == address).order_by(Record.created_at)
                ).all()
            )
            for rid in session.scalars(
                select(ChainRecordVersion.record_id).where(ChainRecordVersion.subject == address).distinct()
            ):
                if rid not in candidates:
                    candidates.append(rid)
        view = self.ledger.view
        wanted = committee.lower() if committee is not None else None
        for record_id in candidates:
            state = view.record(record_id)
            if state is None or state.erased or state.subject != address or state.category != int(category):
                continue
            if wanted is not None and state.committee_id != wanted:
                continue
            return record_id
        return None

    def show(self, record_id: str) -> RecordView:
        """The record with every version, content included, for the service's own use (a
        signer's diff, verification). People see content only through
        :meth:`ledger.access.Access.read`, which logs the read first."""
        record = self._record(record_id)
        with self.ledger.store.session() as session:
            versions = session.scalars(
                select(RecordVersion).where(RecordVersion.record_id == record.record_id).order_by(RecordVersion.version)
            ).all()
            chain = {
                c.version: c
                for c in session.scalars(
                    select(ChainRecordVersion).where(ChainRecordVersion.record_id == record.record_id)
                )
            }
            approvals: dict[int, list[str]] = {}
            for a in session.scalars(select(Approval).where(Approval.record_id == record.record_id)):
                approvals.setdefault(a.version, []).append(a.signer)
        views = []
        for v in versions:
            on_chain = chain.get(v.version)
            views.append(VersionView(
                version=v.version, content=json.loads(v.content) if v.content else None, content_hash=v.content_hash,
                prev_hash=v.prev_hash, created_by=v.created_by, created_at=v.created_at.isoformat(),
                on_chain=on_chain is not None and on_chain.content_hash == v.content_hash,
                certified=bool(on_chain and on_chain.certified_tx),
                signers=json.loads(on_chain.signers) if on_chain and on_chain.signers else [],
                approvals=sorted(approvals.get(v.version, [])),
            ))  # fmt: skip
        return RecordView(
            record.record_id,
            record.committee_id,
            record.subject,
            Category(record.category),
            record.erased_at is not None,
            views,
        )

    def checked_content(self, record_id: str, version: int) -> Any:
        """The stored content of a version once it matches its commitment on chain, for what
        the service shows after a logged read that covered another version (a signer's diff
        of a pending version, a prefilled update form). Raises :class:`VerificationError`
        when it does not match (the database was altered) and :class:`NotFoundError` when the
        version is not stored, or not on chain yet."""
        key = parse_id(record_id, field="record_id", what="record id")
        with self.ledger.store.session() as session:
            row = session.scalars(
                select(RecordVersion).where(RecordVersion.record_id == key, RecordVersion.version == version)
            ).first()
        if row is None or row.content is None or row.salt is None:
            raise NotFoundError(f"version {version} of record {key} is not stored")
        view = self.ledger.view
        expected: list[str | None] = [None]

        def committed() -> bool:
            expected[0] = view.version_hash(key, version)
            return expected[0] is not None

        if not self._believed(committed) or expected[0] is None:
            raise NotFoundError(f"version {version} of record {key} is not on chain yet")
        try:
            content = json.loads(row.content)
        except (TypeError, ValueError) as exc:
            raise VerificationError(f"version {version} of record {key}: its stored content cannot be read") from exc
        if content_check(content, row.salt, expected[0]) != "verified":
            raise VerificationError(
                f"version {version} of record {key}: its stored content does not match its commitment on chain "
                "(the database was altered; run 'gridledger verify all')"
            )
        return content

    def of_subject(self, subject: str) -> list[RecordView]:
        """The subject's own records, as the chain confirms them (what a resident is shown of
        their own data): only records whose subject on chain is ``subject``, whatever the
        database says, and each version's content only when its content and salt give the
        commitment the chain holds (``check`` says which; the content of a version that is
        not on chain yet, or does not match, is never handed out)."""
        address = self.ledger.address_of(subject)
        with self.ledger.store.session() as session:
            ids = session.scalars(
                select(Record.record_id).where(Record.subject == address).order_by(Record.created_at)
            ).all()
        view = self.ledger.view
        own = []
        for record_id in ids:
            state = view.record(record_id)
            if state is None or state.subject != address:
                continue  # not on chain yet, or the database names the wrong resident
            found = self.show(record_id)
            with self.ledger.store.session() as session:
                salts = dict(
                    session.execute(
                        select(RecordVersion.version, RecordVersion.salt).where(RecordVersion.record_id == record_id)
                    ).all()
                )
            versions = []
            for v in found.versions:
                expected = view.version_hash(record_id, v.version)
                check = content_check(v.content, salts.get(v.version), expected)
                versions.append(replace(v, check=check, content=v.content if check == "verified" else None))
            own.append(replace(found, subject=state.subject, erased=state.erased, versions=versions))
        return own

    # -- helpers ---------------------------------------------------------------------

    def _submit(self, signer: LocalAccount, call: Call, rows: Any) -> str:
        """:meth:`Ledger.submit`, with a concurrent change reported as a conflict."""
        try:
            return self.ledger.submit(signer, call, rows, wait=self.wait, timeout=self.timeout)
        except ContractRevert as revert:
            if revert.name in ("RecordLedgerStaleVersion", "RecordLedgerStalePrevHash"):
                raise ConflictError(f"record changed since you loaded it ({revert})") from revert
            raise
        except IntegrityError as exc:
            raise ConflictError("record changed since you loaded it: another version was stored first") from exc

    @staticmethod
    def _version_row(
        record_id: bytes,
        version: int,
        content: Any,
        salt: bytes,
        content_hash: bytes,
        prev: bytes,
        author: str,
        tx_hash: str,
    ) -> RecordVersion:
        return RecordVersion(
            record_id=to_hex(record_id),
            version=version,
            content=formats.canonical_json(content).decode(),
            salt=to_hex(salt),
            content_hash=to_hex(content_hash),
            prev_hash=to_hex(prev),
            created_by=author,
            tx_hash=tx_hash,
        )

    def _record(self, record_id: str) -> Record:
        key = parse_id(record_id, field="record_id", what="record id")
        with self.ledger.store.session() as session:
            record = session.get(Record, key)
        if record is None:
            raise NotFoundError(f"no record {key}")
        return record

    def _head_row(self, record_id: str) -> RecordVersion:
        with self.ledger.store.session() as session:
            row = session.scalars(
                select(RecordVersion)
                .where(RecordVersion.record_id == record_id)
                .order_by(RecordVersion.version.desc())
                .limit(1)
            ).first()
        if row is None:
            raise NotFoundError(f"record {record_id} has no versions")
        return row

    # -- what the chain says (the checks before a write) --------------------------------

    def _believed(self, check: Callable[[], bool]) -> bool:
        """``check()`` against the chain view; a *no* is asked again at a fresh head first
        (the view's head may be a moment old, and what makes it a yes may be newer)."""
        if check():
            return True
        view = self.ledger.view
        view.head(newer_than=view.head()[0])
        return check()

    def _chain_record(self, record_id: str, *, at_least: int = 1) -> RecordState:
        """``RecordLedger.head`` of the record (its committee, subject, category, head),
        at a head of the chain that has version ``at_least`` when the chain has it."""
        view = self.ledger.view
        found: list[RecordState | None] = [None]

        def known() -> bool:
            found[0] = view.record(record_id)
            return found[0] is not None and found[0].version >= at_least

        self._believed(known)
        if found[0] is None:
            raise NotFoundError(f"record {record_id} is not on chain yet; try again once its first version is")
        return found[0]

    def _chain_head(self, record_id: str, version: int, content_hash: str) -> RecordState:
        """The record on chain, refusing what ``certify`` refuses: an erased record, and a
        ``version`` that is not the chain's head with this commitment, or already certified."""
        state = self._chain_record(record_id, at_least=version)
        if state.erased:
            raise LedgerError(f"record {record_id} was erased")
        if state.version < version:
            raise LedgerError(f"version {version} of record {record_id} is not on chain yet; sign it once it is")
        if state.version > version:
            raise ConflictError(
                f"record changed since you loaded it: the chain is at version {state.version}, not {version}"
            )
        if state.content_hash != content_hash.lower():
            raise LedgerError(
                f"version {version} of record {record_id} has another fingerprint on chain than the one stored here "
                "(the database was altered; run 'gridledger verify all'): it cannot be signed"
            )
        if state.certified_version == version:
            raise LedgerError(f"version {version} of record {record_id} is already certified")
        return state

    def _acts_for(self, address: str, committee: str, roles: tuple[str, ...]) -> bool:
        """``Membership``: ``address`` is active in ``committee`` with one of ``roles``."""
        view = self.ledger.view

        def fits() -> bool:
            member = view.member(address)
            return member is not None and member.org_id == committee.lower() and member.acts_as(*roles)

        return self._believed(fits)

    def _committee_of(self, address: str) -> str:
        """The committee a new record of ``address`` belongs to (the contract: the committer's)."""
        view = self.ledger.view
        found: list[str | None] = [None]

        def collects() -> bool:
            member = view.member(address)
            found[0] = member.org_id if member is not None else None
            return member is not None and member.acts_as("committee-member", "grid-worker")

        if not self._believed(collects) or found[0] is None:
            raise LedgerError(f"{address} is not an active committee member or grid worker: only they collect records")
        return found[0]

    def _require_member(self, address: str, committee: str, roles: tuple[str, ...], message: str) -> None:
        if not self._acts_for(address, committee, roles):
            raise LedgerError(message)

    def _threshold(self, committee: str) -> int:
        """The committee's k, as ``certify`` reads it from ``Membership``."""
        org = self.ledger.view.organisation(committee)
        if org is None or org.kind != "committee":
            raise NotFoundError(f"no committee {committee} on chain")
        return org.threshold

    def _valid_approvals(self, state: RecordState) -> list[Approval]:
        """The stored approvals of the chain's head version that ``certify`` would count: a
        well-formed low-s signature over the chain's commitment, by an active committee
        member of the record's committee, once per signer. (A row edited in the database,
        its signer or its signature, is not counted: the signature itself is checked.)"""
        with self.ledger.store.session() as session:
            rows = session.scalars(
                select(Approval)
                .where(
                    Approval.record_id == state.record_id,
                    Approval.version == state.version,
                    Approval.content_hash == state.content_hash,
                )
                .order_by(Approval.id)
            ).all()
        data = eip712.record_approval(
            self.domain, from_hex(state.record_id), state.version, from_hex(state.content_hash)
        )
        counted: dict[str, Approval] = {}
        for approval in rows:
            try:
                signature = from_hex(approval.signature)
                signer = eip712.recover(data, signature)
            except Exception:  # noqa: BLE001 - a malformed stored signature counts for nothing
                continue
            if (
                signer != approval.signer
                or signer in counted
                or int.from_bytes(signature[32:64], "big") > _SECP256K1_HALF_N
                or not self._acts_for(signer, state.committee_id, ("committee-member",))
            ):
                continue
            counted[signer] = approval
        return list(counted.values())

    def _any_member_key(self, committee: str) -> LocalAccount:
        """A held key of an active committee member or grid worker of ``committee`` (the
        table names the candidates; the chain confirms the one chosen)."""
        with self.ledger.store.session() as session:
            addresses = session.scalars(
                select(Member.address).where(
                    Member.org_id == committee, Member.role.in_(("committee-member", "grid-worker"))
                )
            ).all()
        for address in addresses:
            if self.ledger.keys.has(address) and self._acts_for(
                address, committee, ("committee-member", "grid-worker")
            ):
                return self.ledger.keys.account(address)
        raise NotFoundError("no key of an active member of the committee is held here; name one with --as")

    def count(self) -> int:
        with self.ledger.store.session() as session:
            return int(session.scalar(select(func.count()).select_from(Record)) or 0)


class Check(StrEnum):
    """What :func:`content_check` found. In the API: never respell."""

    VERIFIED = "verified"
    MISMATCH = "mismatch"
    PENDING = "pending"  # no commitment on chain
    ERASED = "erased"  # no content or salt


def content_check(content: Any, salt: str | None, chain_hash: str | None) -> Check:
    """Whether a version's (parsed) content and salt give the commitment the chain holds."""
    if chain_hash is None:
        return Check.PENDING
    if content is None or salt is None:
        return Check.ERASED
    try:
        recomputed = to_hex(formats.commitment(content, from_hex(salt)))
    except (TypeError, ValueError, LedgerError):
        return Check.MISMATCH
    return Check.VERIFIED if recomputed == chain_hash.lower() else Check.MISMATCH


_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
