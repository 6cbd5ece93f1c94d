"""EIP-712 typed data for the signatures gridledger asks for.

Consensus-critical: the contracts recompute these digests. Pinned by the EIP-712
specification's own example and by vectors in ``tests/vectors/eip712.json``; chain
tests compare the digests with the contracts' own.

Types (the strings the contracts' TYPEHASHes are made from):

* ``RecordApproval(bytes32 recordId,uint32 version,bytes32 contentHash)``, domain
  "gridledger RecordLedger" / "1": a committee member approves one version;
* ``Grant(bytes32 grantId,address resident,bytes32 department,uint64 categories,uint16 purpose,
  uint8 legalBasis,uint64 validFrom,uint64 validUntil,bytes32 termsHash,uint256 nonce,uint256 deadline)``,
  domain "gridledger ConsentRegistry" / "1": a resident issues a grant through a relayer;
* ``Withdraw(bytes32 grantId,uint256 nonce,uint256 deadline)``, same domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

RECORD_LEDGER_NAME = "gridledger RecordLedger"
CONSENT_REGISTRY_NAME = "gridledger ConsentRegistry"
VERSION = "1"

DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
RECORD_APPROVAL_TYPE = [
    {"name": "recordId", "type": "bytes32"},
    {"name": "version", "type": "uint32"},
    {"name": "contentHash", "type": "bytes32"},
]
GRANT_TYPE = [
    {"name": "grantId", "type": "bytes32"},
    {"name": "resident", "type": "address"},
    {"name": "department", "type": "bytes32"},
    {"name": "categories", "type": "uint64"},
    {"name": "purpose", "type": "uint16"},
    {"name": "legalBasis", "type": "uint8"},
    {"name": "validFrom", "type": "uint64"},
    {"name": "validUntil", "type": "uint64"},
    {"name": "termsHash", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
WITHDRAW_TYPE = [
    {"name": "grantId", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


@dataclass(frozen=True)
class Domain:
    name: str
    chain_id: int
    verifying_contract: str
    version: str = VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


def typed_data(domain: Domain, primary: str, fields: list[dict[str, str]], message: dict[str, Any]) -> dict[str, Any]:
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, primary: fields},
        "primaryType": primary,
        "domain": domain.to_json(),
        "message": message,
    }


def record_approval(domain: Domain, record_id: bytes, version: int, content_hash: bytes) -> dict[str, Any]:
    return typed_data(
        domain,
        "RecordApproval",
        RECORD_APPROVAL_TYPE,
        {"recordId": record_id, "version": version, "contentHash": content_hash},
    )


def grant(
    domain: Domain,
    *,
    grant_id: bytes,
    resident: str,
    department: bytes,
    categories: int,
    purpose: int,
    legal_basis: int,
    valid_from: int,
    valid_until: int,
    terms_hash: bytes,
    nonce: int,
    deadline: int,
) -> dict[str, Any]:
    return typed_data(domain, "Grant", GRANT_TYPE, {
        "grantId": grant_id, "resident": to_checksum_address(resident), "department": department,
        "categories": categories, "purpose": purpose, "legalBasis": legal_basis, "validFrom": valid_from,
        "validUntil": valid_until, "termsHash": terms_hash, "nonce": nonce, "deadline": deadline,
    })  # fmt: skip


def withdraw(domain: Domain, *, grant_id: bytes, nonce: int, deadline: int) -> dict[str, Any]:
    return typed_data(domain, "Withdraw", WITHDRAW_TYPE, {"grantId": grant_id, "nonce": nonce, "deadline": deadline})


def digest(data: dict[str, Any]) -> bytes:
    """The 32-byte digest that is signed: keccak256(0x1901 ‖ domainSeparator ‖ hashStruct)."""
    message = encode_typed_data(full_message=data)
    return keccak(b"\x19" + message.version + message.header + message.body)


def sign(account: LocalAccount, data: dict[str, Any]) -> bytes:
    """A 65-byte signature r ‖ s ‖ v (v = 27 or 28), as the contracts take it."""
    return bytes(account.sign_message(encode_typed_data(full_message=data)).signature)


def recover(data: dict[str, Any], signature: bytes) -> str:
    """The address that made ``signature`` over ``data`` (raises on a malformed one)."""
    return str(Account.recover_message(encode_typed_data(full_message=data), signature=signature))
