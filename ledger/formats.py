"""Record commitments, ids and term hashes.

Consensus-critical: these bytes are compared with what is on chain. Never change them
silently; they are pinned by the known-answer vectors in ``tests/vectors/``.

* canonical JSON: RFC 8785 (JCS), package ``rfc8785``;
* ``bodyHash = keccak256(JCS(content))``;
* ``contentHash = keccak256(abi.encode(bytes32 salt, bytes32 bodyHash))`` with a random
  32-byte salt per version, kept off chain. Deleting content and salt (erasure) leaves
  the commitment unlinkable to any content;
* ``termsHash = keccak256(JCS(terms))`` for consent grants;
* record and grant ids: 32 random bytes, never derived from personal data.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import rfc8785
from eth_abi import encode as abi_encode
from eth_utils import keccak

from .errors import InputError, Invalid, LedgerError


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON of ``value`` (UTF-8 bytes)."""
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise LedgerError(f"the value cannot be written as canonical JSON: {exc}") from exc


def body_hash(content: Any) -> bytes:
    return keccak(canonical_json(content))


def content_hash(salt: bytes, body: bytes) -> bytes:
    """The on-chain commitment of one record version."""
    _require_32("salt", salt)
    _require_32("bodyHash", body)
    return keccak(abi_encode(["bytes32", "bytes32"], [salt, body]))


def commitment(content: Any, salt: bytes) -> bytes:
    return content_hash(salt, body_hash(content))


def terms_hash(terms: Any) -> bytes:
    return keccak(canonical_json(terms))


def new_salt() -> bytes:
    return secrets.token_bytes(32)


def new_id() -> bytes:
    """A random 32-byte id for a record or a grant."""
    return secrets.token_bytes(32)


def to_hex(value: bytes) -> str:
    """``0x``-prefixed lowercase hex, the form ids and hashes take in tables and JSON."""
    return "0x" + value.hex()


def from_hex(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


_ID = re.compile(r"0x[0-9a-f]{64}")


def parse_id(text: str, *, field: str, what: str) -> str:
    """A 32-byte id as typed by a person: ``0x`` and 64 hex digits, returned lowercase."""
    raw = text.strip().lower()
    if _ID.fullmatch(raw) is None:
        raise InputError(
            f"a {what} is 0x followed by 64 hex digits; got {text!r}",
            code=Invalid.BAD_ID,
            field=field,
            params={"what": what, "value": text},
        )
    return raw


def _require_32(name: str, value: bytes) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise LedgerError(
            f"{name} must be 32 bytes; got {len(value) if isinstance(value, (bytes, bytearray)) else type(value).__name__}"
        )
