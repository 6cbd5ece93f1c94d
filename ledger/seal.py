"""Seals: rows the chain cannot vouch for, vouched for by a key the database does not hold.

Some rows are facts only this installation knows: which account a label or a web log-in
stands for, an API token, an organisation's name, the access log's newest leaves before
a checkpoint covers them, the log's recorded size, the last integrity check. A seal is an
HMAC-SHA256 over such a row, under a key derived from the keystore password (which never
enters the database). Whoever holds the key tells a row this installation wrote from one
written by someone who could only edit the database: a forged, edited or moved row has no
valid seal.

A seal cannot tell a row put back as it was earlier (a restored backup, a replayed row):
for the access log the checkpoints on chain catch that; for the rest,
``docs/reliability.md`` says what is and is not detected.

Consensus-adjacent: the encoding below is how existing seals were made. Never change it
silently; a new encoding needs a new :data:`SEAL_FORMAT`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

SEAL_FORMAT = b"gridledger-seal/1"


class Sealer:
    """Makes and checks seals with one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a seal key has at least 32 bytes")
        self._key = key

    @classmethod
    def from_password(cls, password: str) -> Sealer:
        """The installation's sealer: its key is HMAC-SHA256(password, SEAL_FORMAT)."""
        return cls(hmac.new(password.encode("utf-8"), SEAL_FORMAT, hashlib.sha256).digest())

    def seal(self, kind: str, *values: Any) -> bytes:
        """The seal of a row of ``kind`` with ``values`` (strings, integers, booleans, None)."""
        body = json.dumps([kind, *values], ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return hmac.digest(self._key, body, "sha256")

    def check(self, seal: Any, kind: str, *values: Any) -> bool:
        """Whether ``seal`` is the seal of these values. Never raises: a missing seal, a seal
        of the wrong type or values that cannot be encoded are simply not valid."""
        if not isinstance(seal, (bytes, bytearray, memoryview)):
            return False
        try:
            expected = self.seal(kind, *values)
        except (TypeError, ValueError):
            return False
        return hmac.compare_digest(bytes(seal), expected)

    def leaf(self, leaf_hash: bytes) -> bytes:
        """The seal of an access-log leaf, over its RFC 9162 leaf hash (the hot path: one
        HMAC per logged read)."""
        return hmac.digest(self._key, b"leaf:" + leaf_hash, "sha256")

    def check_leaf(self, seal: Any, leaf_hash: Any) -> bool:
        if not isinstance(seal, (bytes, bytearray, memoryview)) or not isinstance(
            leaf_hash, (bytes, bytearray, memoryview)
        ):
            return False
        return hmac.compare_digest(bytes(seal), self.leaf(bytes(leaf_hash)))


# What each sealed table's seal covers: the one place the row -> values rule lives, for
# the code that writes a row and the code that checks it. A row is a model instance or a
# result row with the same attribute names.

SEALED: dict[str, Callable[[Any], tuple[Any, ...]]] = {
    "accounts": lambda r: (r.address, r.label, r.kind),
    "org_profiles": lambda r: (r.org_id, r.code, r.name_zh, r.name_en),
    "web_users": lambda r: (r.id, r.username, r.password_hash, r.address, r.display_name, bool(r.disabled)),
    "api_tokens": lambda r: (r.id, r.token_hash, r.name, r.address, r.org_id, r.role, bool(r.revoked_at)),
    "verify_runs": lambda r: (r.id, r.at, r.exit_code, r.by, r.summary),
    "restores": lambda r: (
        r.id, r.at, r.backup_at, r.backup_block, r.restored_block, r.log_size, r.resumed_at, r.manifest_sha256,
    ),  # fmt: skip
    "log_gaps": lambda r: (r.start_seq, r.end_seq, r.restore_id, r.checkpoint_index, r.checkpoint_tx),
    # residents' rights requests (ledger.rights): what was asked, by whom, for whom, and when
    "rights_requests": lambda r: (
        r.request_id, r.kind, r.resident, r.record_id, r.access_seq, r.field, r.proposed, r.comment, r.asked_by,
        r.asked_at, r.due_at,
    ),  # fmt: skip
}

# The resident's inbox (ledger.inbox): a read mark, bound to its resident and its item.
SEALED["inbox_seen"] = lambda r: (r.resident, r.item_key, r.seen_at)

# The incremental audit (ledger.audit.incremental): how far it has gone, and what it goes on from.
SEALED["audit_marks"] = lambda r: (r.id, r.at, r.chain_index, r.size, r.root, r.state)


def row_seal(sealer: Sealer, table: str, row: Any) -> bytes:
    """The seal of ``row`` of ``table`` (one of :data:`SEALED`)."""
    return sealer.seal(table, *SEALED[table](row))


def row_sealed(sealer: Sealer, table: str, row: Any) -> bool:
    """Whether ``row`` carries its valid seal (never raises).

    An organisation's profile sealed before migration 0010 carries the seal of its single
    name (``legacy_name``): it is valid when that seal is, and its two names are exactly
    what :func:`split_legacy_name` makes of it (so neither can be edited on its own)."""
    try:
        values = SEALED[table](row)
        legacy = getattr(row, "legacy_name", None) if table == "org_profiles" else None
        if legacy is not None:
            if split_legacy_name(legacy, row.code) != (row.name_zh, row.name_en):
                return False
            values = (row.org_id, row.code, legacy)
    except (AttributeError, TypeError, ValueError):
        return False
    return sealer.check(getattr(row, "seal", None), table, *values)


def _cjk(text: str) -> bool:
    return any("\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef" for ch in text)


def split_legacy_name(name: str, code: str) -> tuple[str, str]:
    """The Chinese and the English name in an organisation's single name of before 0010:
    "民政科 Civil Affairs" -> ("民政科", "Civil Affairs"), split at the first space after
    which there is no Chinese and before which there is; a name that does not split is
    both (an empty one: the code). Consensus-adjacent: migration 0010 split the stored
    names with this rule (its own copy) and old seals are checked with it; never change it."""
    text = name.strip()
    if not text:
        return code, code
    for i, ch in enumerate(text):
        if ch.isspace():
            head, tail = text[:i].strip(), text[i:].strip()
            if head and tail and _cjk(head) and not _cjk(tail) and any(c.isascii() and c.isalpha() for c in tail):
                return head, tail
    return text, text


def log_head_seal(sealer: Sealer, size: int, last_leaf_hash: bytes | None) -> bytes:
    """The seal of the log's recorded size, bound to its last leaf: lowering the size and
    deleting the newest leaves (past the last checkpoint) leaves a seal that does not fit."""
    return sealer.seal("log_head", int(size), None if last_leaf_hash is None else bytes(last_leaf_hash).hex())


def log_head_sealed(sealer: Sealer, seal: Any, size: int, last_leaf_hash: bytes | None) -> bool:
    """Whether ``seal`` is the log's recorded size with this last leaf (never raises)."""
    if not isinstance(seal, (bytes, bytearray, memoryview)):
        return False
    return hmac.compare_digest(bytes(seal), log_head_seal(sealer, size, last_leaf_hash))


#: The first migration with seals: rows written before it are sealed once, when the
#: installation is upgraded across it (``gridledger init``), and never again.
SEALS_SINCE = "0006"


def adopt_unsealed(store: Any, sealer: Sealer) -> dict[str, int]:
    """Seals the rows an installation wrote before seals existed, as they are at the upgrade
    (the one moment they are taken on trust; ``docs/reliability.md``). Returns how many
    rows of each table were sealed."""
    from sqlalchemy import select, update

    from .store.models import AccessEvent, Account, ApiToken, LogHead, OrgProfile, WebUser

    sealed: dict[str, int] = {}
    with store.session() as session, session.begin():
        for table, model in (("accounts", Account), ("org_profiles", OrgProfile), ("web_users", WebUser),
                             ("api_tokens", ApiToken)):  # fmt: skip
            rows = list(session.scalars(select(model).where(model.seal.is_(None))))
            for row in rows:
                row.seal = row_seal(sealer, table, row)
            sealed[table] = len(rows)
        leaves = session.execute(select(AccessEvent.seq, AccessEvent.leaf_hash).where(AccessEvent.seal.is_(None))).all()
        for seq, digest in leaves:
            session.execute(update(AccessEvent).where(AccessEvent.seq == seq).values(seal=sealer.leaf(bytes(digest))))
        sealed["access_log"] = len(leaves)
        head = session.get(LogHead, 1)
        if head is not None and head.size > 0 and head.seal is None:
            last = session.get(AccessEvent, head.size - 1)
            head.seal = log_head_seal(sealer, head.size, None if last is None else bytes(last.leaf_hash))
            sealed["log_head"] = 1
    return sealed
