"""Leaves written with orjson are RFC 8785 byte for byte: ``canonical_leaf`` over thousands
of generated leaves (every shape a :class:`Draft`'s leaf can take, nasty strings, integers
at and past JSON's safe range, and values a leaf never holds) against ``rfc8785.dumps``."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
import rfc8785

from ledger.access import ReadBasis
from ledger.accesslog import LEAF_FIELDS, Action, Draft, Outcome, canonical_leaf
from ledger.errors import LedgerError, Refusal

SAFE = 2**53 - 1
# Strings that tell JSON encoders apart: every control character, quotes and backslashes,
# DEL, the JavaScript line separators, non-ASCII across the planes, byte-order marks,
# non-characters, combining marks, and lone surrogates (which no UTF-8 can hold).
NASTY = [chr(c) for c in range(0x20)] + [
    '"', "\\", "/", "\x7f", "\u0080", "\u009f", "\u00e9", "\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff",
    "\U00010000", "\U0001f600", "\U0010ffff", "王", "健康", "e\u0301", "\u200b", "<script>", "</", "\ud800",
    "\udfff", "\U0001d11e", "\u00a0",
]  # fmt: skip
INTS = [0, 1, -1, 2, 255, 2**31, 2**32, SAFE - 1, SAFE, -SAFE, SAFE + 1, -SAFE - 1, 2**63, -(2**63), 2**64, 10**30]


def _string(rng: random.Random) -> str:
    shape = rng.randrange(5)
    if shape == 0:
        return "0x" + rng.randbytes(rng.choice((16, 20, 32))).hex()
    if shape == 1:  # code points from every plane, surrogates included
        return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(1, 8)))
    if shape == 2:
        return "".join(rng.choice(NASTY) for _ in range(rng.randrange(1, 6)))
    if shape == 3:
        return rng.choice(["", "health", "grant", "2026-12-04", "no-active-grant", *[str(r) for r in Refusal]])
    return "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randrange(0, 40)))


def _utf8(text: str) -> str:
    """``text`` without surrogates (a justification is hashed as UTF-8)."""
    return "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)


def _int(rng: random.Random) -> int:
    return rng.choice(INTS) if rng.random() < 0.3 else rng.randrange(-SAFE, SAFE + 1)


def _value(rng: random.Random) -> Any:
    """Any value a leaf might be handed, including those no Draft makes."""
    shape = rng.randrange(10)
    if shape < 4:
        return _string(rng)
    if shape < 7:
        return _int(rng)
    if shape == 7:
        return None
    if shape == 8:
        return rng.choice([True, False, ReadBasis.GRANT, Action.REVIEW, Outcome.REFUSED, Refusal.NO_DUTY])
    return rng.choice([0.0, -0.0, 1.0, 0.1, 1e21, 1e-7, 2.5, [1, "a"], {"b": 1, "a": None}])


def _draft_leaf(rng: random.Random) -> dict[str, Any]:
    """A leaf as a Draft makes it: every optional field either None or of its type."""

    def maybe(make: Any) -> Any:
        return None if rng.random() < 0.3 else make()

    draft = Draft(
        action=rng.choice(list(Action)), outcome=rng.choice(list(Outcome)), resident=_string(rng),
        accessor=_string(rng), time=_int(rng), record_id=maybe(lambda: _string(rng)),
        category=maybe(lambda: _string(rng)), organisation=maybe(lambda: _string(rng)),
        basis=maybe(lambda: rng.choice(list(ReadBasis))), grant_id=maybe(lambda: _string(rng)),
        purpose=maybe(lambda: _int(rng)), reason=maybe(lambda: rng.choice([*Refusal, _string(rng)])),
        justification=maybe(lambda: _utf8(_string(rng))),
        disclose_on=maybe(lambda: _string(rng)), block=maybe(lambda: _int(rng)), review_of=maybe(lambda: _int(rng)),
        decision=maybe(lambda: _string(rng)), nonce=_string(rng),
    )  # fmt: skip
    return draft.leaf(_int(rng), _int(rng))


def _expected(leaf: dict[str, Any]) -> bytes | None:
    """RFC 8785's bytes, or None where it refuses the leaf."""
    try:
        return bytes(rfc8785.dumps(leaf))
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return None


def _assert_canonical(leaf: dict[str, Any]) -> None:
    expected = _expected(leaf)
    if expected is None:
        with pytest.raises(LedgerError):
            canonical_leaf(leaf)
    else:
        assert canonical_leaf(leaf) == expected, leaf


def test_generated_draft_leaves_are_rfc8785_byte_for_byte() -> None:
    rng = random.Random(8785)
    refused = 0
    for _ in range(4_000):
        leaf = _draft_leaf(rng)
        refused += _expected(leaf) is None
        _assert_canonical(leaf)
    assert 0 < refused < 4_000  # both sides of the fallback were exercised


def test_leaves_holding_any_value_are_rfc8785_byte_for_byte() -> None:
    """Leaves read back from the database may hold anything an editor wrote there."""
    rng = random.Random(2028)
    for _ in range(3_000):
        leaf = _draft_leaf(rng)
        for name in rng.sample(LEAF_FIELDS, rng.randrange(1, 4)):
            leaf[name] = _value(rng)
        if rng.random() < 0.1:  # keys of its own: above U+FFFF, UTF-16 order is not code point order
            for key in rng.sample(["extra", "é", "\U0001f600", "\uff61", "\ue000", "Z"], rng.randrange(1, 4)):
                leaf[key] = _value(rng)
        if rng.random() < 0.1:
            leaf.pop(rng.choice(LEAF_FIELDS))
        _assert_canonical(leaf)


def test_orjson_writes_every_nasty_string_as_rfc8785_does() -> None:
    """The premise of the fast path, character by character: every string orjson writes
    at all, it writes as RFC 8785 does; those it refuses RFC 8785 refuses too."""
    for text in NASTY + [chr(c) for c in range(0x800)] + ["\u2028\u2029" * 3, "a\x00b\x1fc\x7f"]:
        leaf = dict.fromkeys(LEAF_FIELDS, text)
        try:
            written = orjson.dumps(leaf, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            assert _expected(leaf) is None, repr(text)
        else:
            assert written == _expected(leaf), repr(text)
