"""No personal data on chain.

Seeds 1,000 residents with realistic zh_CN names, ID numbers, phone numbers and
addresses (Faker), each registered by a grid worker, with an identity record and a
consent grant made through the library. Then scans the calldata of every transaction
and every event log of every block since the deployment for every seeded value:
as UTF-8, as the hex text of its UTF-8, and (for numbers) as a big-endian integer.

The residents are seeded a quarter at a time, each quarter on the world as it was built
and scanned for the values of all 1,000: four tests that the workers share, where one
kept a single worker busy for up to 166 s.
"""

from __future__ import annotations

import random
import time

import pytest
from faker import Faker

from ledger.categories import Category
from ledger.chain import rpc
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.membership import Role
from ledger.organisations import Organisations
from ledger.records import Records

RESIDENTS = 1_000
PARTS = 4


def _needles(value: str) -> list[bytes]:
    raw = value.encode("utf-8")
    found = [raw, raw.hex().encode(), raw.hex().upper().encode()]
    digits = value.rstrip("X")
    if digits.isdigit() and len(digits) >= 8:
        number = int(digits)
        found.append(number.to_bytes((number.bit_length() + 7) // 8, "big"))
    return found


def _found_in(needles: set[bytes], haystack: bytes) -> list[bytes]:
    """The needles that occur in ``haystack``, sorted: the same answer as asking
    ``needle in haystack`` of each, without a scan of the whole haystack per needle (about
    14,000 of them over a few MB took 10 s). Every window of the shortest needle's width is
    put in a set once; a needle whose first bytes are not among them occurs nowhere, and
    only the rest are searched for in full."""
    width = min(len(n) for n in needles)
    windows = {haystack[i : i + width] for i in range(len(haystack) - width + 1)}
    return sorted(n for n in needles if n[:width] in windows and n in haystack)


@pytest.mark.slow
@pytest.mark.parametrize("part", range(PARTS))
def test_no_seeded_personal_value_appears_in_any_calldata_or_log(part: int, ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    fake = Faker("zh_CN")
    Faker.seed(20261121)
    everyone = [
        {
            "name": fake.name(),
            "id_number": fake.ssn(),
            "phone": fake.phone_number(),
            "address": fake.address().replace("\n", " "),
        }
        for _ in range(RESIDENTS)
    ]
    share = range(part * RESIDENTS // PARTS, (part + 1) * RESIDENTS // PARTS)
    people = [everyone[i] for i in share]
    orgs = Organisations(ledger, wait=False)
    labels = [f"privacy-resident-{i:04d}" for i in share]  # labels are not personal data
    hashes = [orgs.add_member(label, world.committee, Role.RESIDENT, actor=world.grid_worker) for label in labels]
    ledger.sync(hashes, timeout=300)

    records = Records(ledger, wait=False)
    consent = Consent(ledger, wait=False)
    until = int(time.time()) + 86_400 * 365
    writes = []
    for label, person in zip(labels, people, strict=True):
        gender = "female" if int(person["id_number"][16]) % 2 == 0 else "male"
        birth = f"{person['id_number'][6:10]}-{person['id_number'][10:12]}-{person['id_number'][12:14]}"
        content = {
            "name": person["name"],
            "id_number": person["id_number"],
            "gender": gender,
            "birth_date": birth,
            "phone": person["phone"],
        }
        writes.append(
            records.add(actor=world.grid_worker, subject=label, category=Category.IDENTITY, content=content)[1]
        )
        writes.append(
            consent.issue(
                resident=label,
                department=world.department,
                categories=[Category.IDENTITY],
                purpose=Purpose.SOCIAL_ASSISTANCE,
                legal_basis=LegalBasis.CONSENT,
                valid_until=until,
                purpose_text=f"为{person['name']}办理低保, {person['address']}",
            )[1]
        )
    ledger.sync(writes, timeout=600)
    assert ledger.outbox.counts().get("mined", 0) >= 3 * len(people)

    needles = {n for person in everyone for value in person.values() for n in _needles(value)}
    head = ledger.w3.eth.block_number
    blobs: list[bytes] = []
    for number in range(ledger.deployment.block, head + 1):
        block = rpc(ledger.w3, "eth_getBlockByNumber", [hex(number), True])
        for _ in range(40):  # Anvil may report a new head a moment before it serves that block
            if block is not None:
                break
            time.sleep(0.05)
            block = rpc(ledger.w3, "eth_getBlockByNumber", [hex(number), True])
        assert block is not None, f"the node does not serve block {number} of {head}"
        blobs.extend(bytes.fromhex(tx["input"][2:]) for tx in block["transactions"])
    for start in range(ledger.deployment.block, head + 1, 2_000):
        for log in rpc(ledger.w3, "eth_getLogs", [{"fromBlock": hex(start), "toBlock": hex(min(start + 1_999, head))}]):
            blobs.append(b"".join(bytes.fromhex(t[2:]) for t in log["topics"]) + bytes.fromhex(log["data"][2:]))
    assert len(blobs) > 6 * len(people)  # calldata and logs of every write were scanned
    chain_bytes = b"\x00".join(blobs)
    known = bytes.fromhex(ledger.address_of(labels[0])[2:])  # on chain: the scan must find it
    found = _found_in(needles | {known}, chain_bytes)
    leaks = [n for n in found if n != known]
    assert leaks == [], f"{len(leaks)} personal values found on chain, e.g. {leaks[:3]}"
    # The scan itself works: a value known to be on chain is found.
    assert known in found and known in chain_bytes


def test_the_scan_finds_exactly_what_a_plain_search_finds() -> None:
    rng = random.Random(20261207)
    haystack = b"\x00".join(rng.randbytes(rng.randrange(50, 400)) for _ in range(200))
    needles = {haystack[i : i + rng.randrange(5, 40)] for i in rng.sample(range(len(haystack) - 40), 300)}
    needles |= {rng.randbytes(rng.randrange(5, 40)) for _ in range(300)}  # almost surely absent
    needles |= {b"\x00" + haystack[:7], haystack[-5:]}  # across a joint, at the very end
    assert _found_in(needles, haystack) == sorted(n for n in needles if n in haystack)
