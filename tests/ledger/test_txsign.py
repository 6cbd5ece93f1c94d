"""The outbox's transaction signer makes exactly eth-account's bytes (consensus-critical)."""

from __future__ import annotations

import random

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from ledger._internal.txsign import sign_legacy


@pytest.mark.parametrize("seed", range(200))
def test_same_bytes_and_hash_as_eth_account(seed: int) -> None:
    rng = random.Random(seed)
    account = Account.from_key(rng.randbytes(32))
    to = None if seed % 10 == 0 else rng.randbytes(20)
    fields = {
        "nonce": rng.choice([0, 1, rng.randrange(2**20), rng.randrange(2**63)]),
        "gasPrice": rng.choice([0, 1, rng.randrange(10**12)]),
        "gas": rng.randrange(21_000, 30_000_000),
        "value": rng.choice([0, rng.randrange(10**20)]),
        "data": rng.randbytes(rng.choice([0, 4, 36, 100, 1_000])),
        "chainId": rng.choice([1, 31337, 20261, 2**31 - 1]),
    }
    reference = account.sign_transaction({**fields, **({"to": to_checksum_address(to)} if to else {})})
    ours = sign_legacy(
        bytes(account.key),
        nonce=fields["nonce"],
        gas_price=fields["gasPrice"],
        gas=fields["gas"],
        to=to,
        value=fields["value"],
        data=fields["data"],
        chain_id=fields["chainId"],
    )
    assert ours.raw == bytes(reference.raw_transaction)
    assert ours.hash == bytes(reference.hash)
    assert Account.recover_transaction(ours.raw) == account.address


def test_a_recipient_must_be_twenty_bytes() -> None:
    with pytest.raises(ValueError, match="20 bytes"):
        sign_legacy(b"\x01" * 32, nonce=0, gas_price=0, gas=21_000, to=b"\x00" * 19, value=0, data=b"", chain_id=1)
