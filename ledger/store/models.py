"""Typed SQLAlchemy 2.0 models of the off-chain store.

Three kinds of table live here:

* off-chain facts the chain must never hold (organisation names, account labels);
* the outbox of signed raw transactions, with nonces and receipts;
* tables filled by the indexer from contract events (``chain_events`` and the
  projections built from them, such as ``members``). Pages and audits read these,
  never the chain per request.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Key/value facts about this store, such as the deployment it is bound to."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Account(Base):
    """An account whose key gridledger holds in its keystore. Never the key itself."""

    __tablename__ = "accounts"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    label: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # governance | member | resident
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)  # ledger.seal: address, label, kind


class OrgProfile(Base):
    """The off-chain side of an organisation: its code and its name in each language.

    ``legacy_name`` is the single mixed name ("民政科 Civil Affairs") a row made before
    migration 0010 was sealed with; the migration split it into ``name_zh`` and ``name_en``
    and kept it so the old seal can still be checked (:func:`ledger.seal.row_sealed`). It is
    None for every row sealed with both names (made or renamed since)."""

    __tablename__ = "org_profiles"
    __table_args__ = (CheckConstraint("length(name_zh) > 0 AND length(name_en) > 0", name="ck_org_profiles_names"),)

    org_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    legacy_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)  # ledger.seal: org_id, code, name_zh, name_en


class NonceCursor(Base):
    """The next nonce gridledger will sign with, per sending account."""

    __tablename__ = "nonce_cursors"

    sender: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)


class OutboxTx(Base):
    """A signed raw transaction, stored with the domain change that caused it.

    status: queued (stored, not yet sent) -> sent -> mined | reverted; conflict when
    the account's nonce was used by a transaction this outbox did not send (a fault,
    reported; its receipt is still asked for, so it settles if the write is on chain).
    A sent or mined transaction whose block the node lost goes back to sent and is
    broadcast again with the same bytes, so it lands with the same hash.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("sender", "nonce", name="uq_outbox_sender_nonce"),
        Index("ix_outbox_status", "status", "id"),
        # recover() asks for the newest block with a receipt every cycle: without this
        # index that is a scan of the whole outbox, slower as it grows.
        Index("ix_outbox_block", "block_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw_tx: Mapped[bytes] = mapped_column(LargeBinary)
    to_address: Mapped[str | None] = mapped_column(String(42))
    purpose: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    send_count: Mapped[int] = mapped_column(Integer, default=0)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    contract_address: Mapped[str | None] = mapped_column(String(42))
    error_name: Mapped[str | None] = mapped_column(String(120))
    error_detail: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)


class IndexCursor(Base):
    """How far the indexer has read: the last block it finished, and that block's hash."""

    __tablename__ = "index_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))


class SeenBlock(Base):
    """Hashes of blocks the indexer read events from (and window ends), to find a fork."""

    __tablename__ = "seen_blocks"

    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_hash: Mapped[str] = mapped_column(String(66))


class ChainEvent(Base):
    """A decoded contract event, as read by the indexer."""

    __tablename__ = "chain_events"
    __table_args__ = (
        UniqueConstraint("block_number", "log_index", name="uq_chain_events_position"),
        Index("ix_chain_events_contract_event", "contract", "event"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66), index=True)
    contract: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(60))
    args: Mapped[str] = mapped_column(Text)  # JSON, bytes as 0x-hex


class Organisation(Base):
    """An organisation as the chain has it (projection of Membership events)."""

    __tablename__ = "organisations"

    org_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    department_kind: Mapped[str | None] = mapped_column(String(20))
    parent_id: Mapped[str | None] = mapped_column(String(66), index=True)
    threshold: Mapped[int] = mapped_column(Integer, default=0)
    active_signers: Mapped[int] = mapped_column(Integer, default=0)
    created_block: Mapped[int] = mapped_column(BigInteger)
    created_tx: Mapped[str] = mapped_column(String(66))


class Member(Base):
    """An account's membership as the chain has it (projection of Membership events)."""

    __tablename__ = "members"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.org_id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))
    added_block: Mapped[int] = mapped_column(BigInteger)
    updated_block: Mapped[int] = mapped_column(BigInteger)


# -- records (issue: records, signatures, consent) -------------------------------------------


class Record(Base):
    """A resident's record as the community holds it (off chain). Its versions hold content."""

    __tablename__ = "records"

    record_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    committee_id: Mapped[str] = mapped_column(String(66), index=True)
    subject: Mapped[str] = mapped_column(String(42), index=True)
    category: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(42))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    erase_reason: Mapped[str | None] = mapped_column(Text)


class RecordVersion(Base):
    """One version: content and salt (personal data, deleted on erasure) and its commitment."""

    __tablename__ = "record_versions"
    __table_args__ = (UniqueConstraint("record_id", "version", name="uq_record_versions_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.record_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[str | None] = mapped_column(Text)  # canonical JSON; NULL once erased
    salt: Mapped[str | None] = mapped_column(String(66))  # NULL once erased
    content_hash: Mapped[str] = mapped_column(String(66))
    prev_hash: Mapped[str] = mapped_column(String(66))
    created_by: Mapped[str] = mapped_column(String(42))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    tx_hash: Mapped[str] = mapped_column(String(66))


class Approval(Base):
    """A committee member's EIP-712 RecordApproval signature over one version."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("record_id", "version", "signer", name="uq_approvals_signer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.record_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(66))
    signer: Mapped[str] = mapped_column(String(42))
    signature: Mapped[str] = mapped_column(String(132))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ResidentHint(Base):
    """What a list may show to tell residents apart (:mod:`ledger.hints`): the ID number and
    the address masked, each with the record version it was taken from. Never the full
    values; cleared when that record is erased. Display only: nothing decides from it."""

    __tablename__ = "resident_hints"

    resident: Mapped[str] = mapped_column(String(42), primary_key=True)
    id_number_masked: Mapped[str | None] = mapped_column(String(18))
    id_record_id: Mapped[str | None] = mapped_column(String(66), index=True)
    id_version: Mapped[int | None] = mapped_column(Integer)
    address_masked: Mapped[str | None] = mapped_column(String(200))
    address_record_id: Mapped[str | None] = mapped_column(String(66), index=True)
    address_version: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GrantTerms(Base):
    """A consent grant as issued (off chain): the full terms whose hash is on chain."""

    __tablename__ = "grants"

    grant_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    resident: Mapped[str] = mapped_column(String(42), index=True)
    department: Mapped[str] = mapped_column(String(66), index=True)
    categories: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[int] = mapped_column(Integer)
    legal_basis: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[int] = mapped_column(BigInteger)
    valid_until: Mapped[int] = mapped_column(BigInteger)
    terms: Mapped[str] = mapped_column(Text)  # canonical JSON of the full terms
    terms_hash: Mapped[str] = mapped_column(String(66))
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | withdrawn | revoked
    relayer: Mapped[str | None] = mapped_column(String(42))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status_reason: Mapped[str | None] = mapped_column(Text)
    tx_hash: Mapped[str] = mapped_column(String(66))  # the issuing transaction
    status_tx: Mapped[str | None] = mapped_column(String(66))  # the withdrawing or revoking one


class ChainRecordVersion(Base):
    """A record version as the chain has it (projection of RecordLedger events)."""

    __tablename__ = "chain_record_versions"

    record_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(66))
    prev_hash: Mapped[str] = mapped_column(String(66))
    committee_id: Mapped[str] = mapped_column(String(66), index=True)
    subject: Mapped[str] = mapped_column(String(42), index=True)
    category: Mapped[int] = mapped_column(Integer)
    committer: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    certified_tx: Mapped[str | None] = mapped_column(String(66))
    signers: Mapped[str | None] = mapped_column(Text)  # JSON list of addresses
    erased: Mapped[bool] = mapped_column(default=False)


class ChainGrant(Base):
    """A grant as the chain has it (projection of ConsentRegistry events)."""

    __tablename__ = "chain_grants"

    grant_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    resident: Mapped[str] = mapped_column(String(42), index=True)
    department: Mapped[str] = mapped_column(String(66), index=True)
    categories: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[int] = mapped_column(Integer)
    legal_basis: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[int] = mapped_column(BigInteger)
    valid_until: Mapped[int] = mapped_column(BigInteger)
    terms_hash: Mapped[str] = mapped_column(String(66))
    status: Mapped[str] = mapped_column(String(12))  # active | withdrawn | revoked
    relayer: Mapped[str | None] = mapped_column(String(42))
    issued_block: Mapped[int] = mapped_column(BigInteger)
    issued_tx: Mapped[str] = mapped_column(String(66))
    status_block: Mapped[int] = mapped_column(BigInteger)
    status_tx: Mapped[str] = mapped_column(String(66))


# -- the access log (issue: verifiable access log) ----------------------------------------------


class LogHead(Base):
    """One row: how many events the access log holds (the next sequence number), and how
    many leaves have their complete subtree hashes stored in ``log_nodes``. ``seal`` binds
    the size to the last leaf (:func:`ledger.seal.log_head_seal`)."""

    __tablename__ = "log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    hashed: Mapped[int] = mapped_column(BigInteger)
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)


class AccessEvent(Base):
    """One leaf of the access log. ``leaf`` (canonical JSON) is the truth; the other
    columns index it for queries and are checked against it by the audit."""

    __tablename__ = "access_log"
    __table_args__ = (
        UniqueConstraint("resident", "resident_seq", name="uq_access_log_resident_seq"),
        Index("ix_access_log_org_time", "organisation", "time"),
        Index("ix_access_log_time", "time"),
        Index("ix_access_log_record", "record_id"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    resident: Mapped[str] = mapped_column(String(42))
    resident_seq: Mapped[int] = mapped_column(BigInteger)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)
    time: Mapped[int] = mapped_column(BigInteger)  # milliseconds since the epoch, UTC
    accessor: Mapped[str] = mapped_column(String(42))
    organisation: Mapped[str | None] = mapped_column(String(66))
    record_id: Mapped[str | None] = mapped_column(String(66))
    action: Mapped[str] = mapped_column(String(12))  # read | review
    outcome: Mapped[str] = mapped_column(String(10))  # allowed | refused
    basis: Mapped[str | None] = mapped_column(String(12))  # grant | duty | emergency
    grant_id: Mapped[str | None] = mapped_column(String(66))
    disclose_on: Mapped[str | None] = mapped_column(String(10))  # YYYY-MM-DD, deferred disclosure
    justification: Mapped[str | None] = mapped_column(Text)  # its hash is in the leaf
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)  # ledger.seal: over leaf_hash


class LogNode(Base):
    """The hash of a complete subtree of the log: leaves [idx·2^level, (idx+1)·2^level)."""

    __tablename__ = "log_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LogCheckpoint(Base):
    """A checkpoint of the log sent to AccessLogAnchor: queued -> anchored (a refused one is
    deleted, so its size can be anchored again; the outbox keeps the refusal)."""

    __tablename__ = "log_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(String(66))
    prev_size: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    anchored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    chain_index: Mapped[int | None] = mapped_column(BigInteger)


class WorkerLease(Base):
    """Which worker does a job only one may do at a time (``anchoring``), until when.

    Times are milliseconds since the epoch (UTC) by the holder's clock; ``expires_at`` 0 means
    released. Taken and renewed only by conditional updates (:mod:`ledger.lease`)."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))  # host:pid:random
    acquired_at: Mapped[int] = mapped_column(BigInteger)
    renewed_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class EmergencyReview(Base):
    """An office admin's signed decision on an emergency access (also a leaf of the log)."""

    __tablename__ = "emergency_reviews"

    access_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    decision: Mapped[str] = mapped_column(String(10))  # approve | flag
    note: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(42))
    statement: Mapped[str] = mapped_column(Text)  # the canonical JSON that was signed
    signature: Mapped[str] = mapped_column(String(132))
    review_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- the web app's own tables ----------------------------------------------------------------


class WebUser(Base):
    """A person who logs in to the web app, acting as one account (whose key is held here).

    What they may do is never stored here: it is asked of the chain (``ledger.view``) on
    every request. The row is sealed (:data:`ledger.seal.SEALED`); a row without its valid
    seal is refused like a wrong password."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(42), index=True)
    display_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled: Mapped[bool] = mapped_column(default=False)
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)  # ledger.seal.SEALED["web_users"]


class ApiToken(Base):
    """A token for another system: only its SHA-256 is kept; scoped to the organisation and
    role its account had on chain when it was made, and refused once the chain's membership
    no longer matches, or when the row does not carry its valid seal."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(42), index=True)
    org_id: Mapped[str] = mapped_column(String(66))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)  # ledger.seal.SEALED["api_tokens"]


class WebSession(Base):
    """A logged-in browser. The session cookie (signed with the web app's secret key, which
    is not in the database) carries the user id and a random session id; only the id's
    SHA-256 is kept here. A request is served only while its row lives: logging out deletes
    it, a new password or disabling the user deletes all of the user's rows."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LoginThrottle(Base):
    """Failed log-ins counted per client address (``kind`` "client") and per user name
    (``kind`` "account", known or not), for the growing delays of :mod:`webapp.throttle`.
    A lane with no failure for a while is forgotten."""

    __tablename__ = "login_throttles"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    first_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class VerifyRun(Base):
    """One run of ``gridledger verify all`` (or the office's integrity check): when, by whom,
    its exit code (0 clean, 1 findings, 2 could not check) and the counts per finding
    code as JSON. Sealed, so the dashboard's "last check" cannot be written from the
    database alone."""

    __tablename__ = "verify_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)  # milliseconds since the epoch, UTC
    exit_code: Mapped[int] = mapped_column(Integer)
    by: Mapped[str] = mapped_column(String(66))  # "cli", "schedule", or the admin's address
    summary: Mapped[str] = mapped_column(Text)  # canonical JSON
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)


# -- backup and restore (issue: nothing acknowledged is lost) --------------------------------


class Restore(Base):
    """A ``gridledger restore``: which backup, and the chain's blocks whose off-chain rows it
    could not bring back (``backup_block`` < block <= ``restored_block``). Sealed: a restore
    written into the database cannot pass off a deletion as a loss."""

    __tablename__ = "restores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger)  # milliseconds since the epoch, UTC
    backup_at: Mapped[int] = mapped_column(BigInteger)  # when the backup was taken
    backup_block: Mapped[int] = mapped_column(BigInteger)  # the chain's head when it was taken
    restored_block: Mapped[int] = mapped_column(BigInteger)  # the chain's head at the restore
    log_size: Mapped[int] = mapped_column(BigInteger)  # events the backup held
    resumed_at: Mapped[int] = mapped_column(BigInteger)  # the sequence number the log went on from
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)  # ledger.seal.SEALED["restores"]


class LogGap(Base):
    """Events ``start_seq``..``end_seq - 1`` of the access log, anchored on chain (checkpoint
    ``checkpoint_index`` of size ``end_seq``) but lost with a restore; the log's subtree
    hashes beside them come from the chain (:mod:`ledger.loggap`). Sealed."""

    __tablename__ = "log_gaps"

    start_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    end_seq: Mapped[int] = mapped_column(BigInteger)
    restore_id: Mapped[int] = mapped_column(ForeignKey("restores.id"), index=True)
    checkpoint_index: Mapped[int] = mapped_column(BigInteger)
    checkpoint_tx: Mapped[str] = mapped_column(String(66))
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)  # ledger.seal.SEALED["log_gaps"]


# -- the resident's inbox (issue 13: notifications) ------------------------------------------------


class InboxSeen(Base):
    """An item of a resident's inbox the resident has seen (:mod:`ledger.inbox`). The items
    themselves are derived from the log and the chain, never stored; this says only which of
    them the resident has read. Sealed: a row written behind the installation's back does not
    count, so an edit cannot make a new item look read."""

    __tablename__ = "inbox_seen"

    resident: Mapped[str] = mapped_column(String(42), primary_key=True)
    item_key: Mapped[str] = mapped_column(String(80), primary_key=True)  # ledger.inbox.Item.key
    seen_at: Mapped[int] = mapped_column(BigInteger)  # milliseconds since the epoch, UTC
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)  # ledger.seal.SEALED["inbox_seen"]
# -- residents' rights requests (ledger.rights) ------------------------------------------------


class RightsRequest(Base):
    """A resident's request to correct or delete a record, or an objection to an entry of their
    history, and the decision on it. What it asks (field, value, comment) and the decision's
    reason are personal data: here only, never on chain. The asking is sealed
    (:data:`ledger.seal.SEALED`); the decision is a signed statement and a leaf of the access
    log (``decision_seq``) that ``gridledger verify`` checks the row against."""

    __tablename__ = "rights_requests"

    request_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # ledger.rights.RequestKind
    status: Mapped[str] = mapped_column(String(10))  # ledger.rights.RequestStatus
    resident: Mapped[str] = mapped_column(String(42), index=True)
    record_id: Mapped[str | None] = mapped_column(String(66), index=True)
    category: Mapped[int | None] = mapped_column(Integer)
    committee_id: Mapped[str | None] = mapped_column(String(66))  # the record's committee (routing)
    office_id: Mapped[str | None] = mapped_column(String(66))  # the office that decides (routing)
    access_seq: Mapped[int | None] = mapped_column(BigInteger)  # an objection: the entry objected to
    field: Mapped[str | None] = mapped_column(String(64))  # a correction: the field
    proposed: Mapped[str | None] = mapped_column(Text)  # a correction: the value, canonical JSON
    comment: Mapped[str] = mapped_column(Text)
    asked_by: Mapped[str] = mapped_column(String(42))
    asked_at: Mapped[int] = mapped_column(BigInteger)  # ms since the epoch
    due_at: Mapped[int] = mapped_column(BigInteger)  # ms since the epoch
    draft_version: Mapped[int | None] = mapped_column(Integer)  # a correction: the version drafted
    drafted_by: Mapped[str | None] = mapped_column(String(42))
    outcome: Mapped[str | None] = mapped_column(String(16))  # ledger.rights.RequestOutcome
    basis: Mapped[str | None] = mapped_column(String(32))  # a refused deletion: ledger.rights.RefusalBasis
    reason: Mapped[str | None] = mapped_column(Text)
    decider: Mapped[str | None] = mapped_column(String(42))
    decided_at: Mapped[int | None] = mapped_column(BigInteger)
    statement: Mapped[str | None] = mapped_column(Text)  # the canonical JSON the decider signed
    signature: Mapped[str | None] = mapped_column(String(132))
    decision_seq: Mapped[int | None] = mapped_column(BigInteger)  # the decision's leaf in the access log
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)  # ledger.seal.SEALED["rights_requests"]

    __table_args__ = (
        UniqueConstraint("decision_seq", name="uq_rights_requests_decision_seq"),
        Index("ix_rights_requests_status_due", "status", "due_at"),
    )
# -- webhooks for department systems (issue 13: notifications) ---------------------------------


class WebhookSubscription(Base):
    """A department system's endpoint for signed webhooks (:mod:`ledger.webhooks`).

    The signing secret is not stored: it is derived from the keystore password and
    ``secret_salt`` (:func:`ledger.webhooks.secret_of`). Sealed (id, department, url, kinds,
    salt, active), so an edited row (another URL, another department) is never sent to.
    Times are milliseconds since the epoch (UTC)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    department: Mapped[str] = mapped_column(String(66), index=True)
    url: Mapped[str] = mapped_column(Text)
    kinds: Mapped[str] = mapped_column(String(200))  # event kinds, sorted, comma-separated
    secret_salt: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(42))
    created_at: Mapped[int] = mapped_column(BigInteger)
    removed_by: Mapped[str | None] = mapped_column(String(42))
    removed_at: Mapped[int | None] = mapped_column(BigInteger)
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)


class WebhookDelivery(Base):
    """One event for one subscription: the durable outbox of webhooks. ``id`` is the
    idempotency id sent as ``webhook-id`` on every attempt; ``dedupe_key`` names the event
    (``grant.withdrawn:0x…``), so enqueuing the same event twice yields one row.

    state: pending -> delivered | dead (after the last attempt; replay makes it pending
    again, same id) | cancelled (its subscription was removed). ``claimed_by`` and
    ``claimed_until``: the worker sending it now (a per-row lease). Times are milliseconds since the epoch (UTC)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "dedupe_key", name="uq_webhook_deliveries_dedupe"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_department", "department", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id"), index=True)
    department: Mapped[str] = mapped_column(String(66))
    kind: Mapped[str] = mapped_column(String(40))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)  # the body sent, canonical JSON
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_attempt_at: Mapped[int | None] = mapped_column(BigInteger)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(40))
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)
    dead_at: Mapped[int | None] = mapped_column(BigInteger)
    replays: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[int | None] = mapped_column(BigInteger)


class WebhookAttempt(Base):
    """One attempt to deliver a webhook: when, the HTTP status (None when no answer came)
    and the error code (:class:`ledger.webhooks.AttemptError`, None when delivered)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(40))
# -- consent requests (ledger.requests) ---------------------------------------------------------


class ConsentRequest(Base):
    """A department's request that a resident grant it consent, and the resident's answer.
    Ids and codes only: the reason is the department's own words about its purpose, and a
    decline's reason the resident's. Sealed (``ledger.requests``) over what was asked; an
    approval's grant carries the request id in its terms (the chain holds their hash)."""

    __tablename__ = "consent_requests"

    request_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    resident: Mapped[str] = mapped_column(String(42), index=True)
    department: Mapped[str] = mapped_column(String(66), index=True)  # org id
    office: Mapped[str] = mapped_column(String(66), index=True)  # the department's office (fixed on chain)
    officer: Mapped[str] = mapped_column(String(42))  # who asked
    categories: Mapped[int] = mapped_column(BigInteger)  # bitmask, as on chain
    purpose: Mapped[int] = mapped_column(Integer)
    legal_basis: Mapped[int] = mapped_column(Integer)
    valid_until: Mapped[int] = mapped_column(BigInteger)  # seconds since the epoch, the grant's end
    reason: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[int] = mapped_column(BigInteger, index=True)  # milliseconds since the epoch
    answer_by: Mapped[int] = mapped_column(BigInteger)  # milliseconds; waiting past it is expired
    status: Mapped[str] = mapped_column(String(12), default="waiting")  # waiting | approved | declined
    decided_at: Mapped[int | None] = mapped_column(BigInteger)  # milliseconds
    decided_by: Mapped[str | None] = mapped_column(String(42))  # the resident
    relayer: Mapped[str | None] = mapped_column(String(42))  # the helper who took the resident through it
    decline_reason: Mapped[str | None] = mapped_column(Text)
    grant_id: Mapped[str | None] = mapped_column(String(66), unique=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66))  # the grant's issuing transaction
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        CheckConstraint("status IN ('waiting', 'approved', 'declined')", name="ck_consent_requests_status"),
        Index("ix_consent_requests_resident_status", "resident", "status"),
    )


# -- the incremental audit (ledger.audit.incremental) -----------------------------------------


class AuditMark(Base):
    """How far the office's audit has gone: the anchored checkpoint (index, size, root) up to
    which every event was judged and checked, and what the next run goes on from (the tree's
    frontier at that size, the departments' recent daily reads). Sealed
    (:data:`ledger.seal.SEALED`): a mark written or edited in the database is not believed,
    and the next audit runs in full. The newest row is the mark; older rows are its history."""

    __tablename__ = "audit_marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger)  # milliseconds since the epoch, UTC
    chain_index: Mapped[int] = mapped_column(Integer)  # the checkpoint's index on chain
    size: Mapped[int] = mapped_column(BigInteger)  # events covered: seq 0 .. size - 1
    root: Mapped[str] = mapped_column(String(66))
    state: Mapped[str] = mapped_column(Text)  # canonical JSON: docs/formats.md, "Audit marks"
    seal: Mapped[bytes | None] = mapped_column(LargeBinary)
