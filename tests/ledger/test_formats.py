"""Consensus-critical formats against known-answer vectors (tests/vectors/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak

from ledger import eip712, formats

VECTORS = Path(__file__).parents[1] / "vectors"


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def _typed(data: dict[str, Any]) -> dict[str, Any]:
    """The JSON form back to what eip712 takes: 0x-hex bytes32 fields as bytes."""
    message = {
        k: bytes.fromhex(v[2:]) if isinstance(v, str) and v.startswith("0x") and len(v) == 66 else v
        for k, v in data["message"].items()
    }
    return {**data, "message": message}


@pytest.mark.parametrize("vector", _load("commitment.json")["commitments"], ids=lambda v: v["contentHash"][:10])
def test_commitment_vectors(vector: dict[str, Any]) -> None:
    assert formats.canonical_json(vector["content"]).decode() == vector["jcs"]
    assert "0x" + formats.body_hash(vector["content"]).hex() == vector["bodyHash"]
    assert (
        "0x" + formats.commitment(vector["content"], bytes.fromhex(vector["salt"][2:])).hex() == vector["contentHash"]
    )


def test_terms_hash_vector() -> None:
    (vector,) = _load("commitment.json")["terms"]
    assert "0x" + formats.terms_hash(vector["terms"]).hex() == vector["termsHash"]


def test_canonical_json_ignores_key_order_and_a_new_salt_unlinks() -> None:
    a = {"b": [1, 2], "a": "王"}
    assert formats.canonical_json(a) == formats.canonical_json({"a": "王", "b": [1, 2]})
    assert formats.commitment(a, formats.new_salt()) != formats.commitment(a, formats.new_salt())


def test_salt_must_be_32_bytes() -> None:
    with pytest.raises(formats.LedgerError, match="salt must be 32 bytes"):
        formats.content_hash(b"short", bytes(32))


def test_eip712_specification_example() -> None:
    vector = _load("eip712-mail.json")
    assert "0x" + eip712.digest(vector["typedData"]).hex() == vector["expected"]["digest"]
    signature = eip712.sign(Account.from_key(keccak(text="cow")), vector["typedData"])
    assert "0x" + signature[:32].hex() == vector["expected"]["r"]
    assert "0x" + signature[32:64].hex() == vector["expected"]["s"]
    assert signature[64] == vector["expected"]["v"]


@pytest.mark.parametrize("case", _load("eip712.json")["cases"], ids=lambda c: c["type"])
def test_gridledger_typed_data_vectors(case: dict[str, Any]) -> None:
    data = _typed(case["typedData"])
    assert "0x" + eip712.digest(data).hex() == case["digest"]
    assert "0x" + eip712.sign(Account.from_key(keccak(text="cow")), data).hex() == case["signature"]
    assert eip712.recover(data, bytes.fromhex(case["signature"][2:])) == case["signer"]


def test_record_ledger_computes_the_same_approval_digest(ledger) -> None:  # type: ignore[no-untyped-def]
    contract = ledger.contract("RecordLedger")
    domain = eip712.Domain(eip712.RECORD_LEDGER_NAME, ledger.settings.chain_id, contract.address)
    record_id, content_hash = formats.new_id(), keccak(text="content")
    ours = eip712.digest(eip712.record_approval(domain, record_id, 3, content_hash))
    assert contract.functions.approvalDigest(record_id, 3, content_hash).call() == ours
    fields = contract.functions.eip712Domain().call()
    assert (fields[1], fields[2], fields[3], fields[4]) == (
        eip712.RECORD_LEDGER_NAME,
        "1",
        ledger.settings.chain_id,
        contract.address,
    )
