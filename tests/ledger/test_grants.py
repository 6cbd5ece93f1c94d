"""A grant's status (ledger.grants) at each of its boundaries, with an injected clock, from the
chain's view of it (a stand-in view here: the rule is pure)."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.chainview import ChainStatus, GrantState
from ledger.grants import ENDED, IN_FORCE, Grants, GrantStatus, status_of, window_at

START, END = 1_000, 2_000
GRANT = "0x" + "ab" * 32


def state(status: ChainStatus = ChainStatus.ACTIVE) -> GrantState:
    return GrantState(GRANT, "0x" + "11" * 20, "0x" + "22" * 32, 0b1, 1, 1, START, END, "0x" + "00" * 32, status, None)


class View:
    """What Grants asks of a ChainView: the grant, and the head (number, timestamp)."""

    def __init__(self, grant: GrantState | None, stamp: int = 0) -> None:
        self.found, self.stamp = grant, stamp
        self.asked: list[str] = []

    def grant(self, grant_id: str) -> GrantState | None:
        self.asked.append(grant_id)
        return self.found

    def head(self) -> tuple[int, int]:
        return 7, self.stamp


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (START - 1, GrantStatus.NOT_YET_VALID),
        (START, GrantStatus.ACTIVE),  # validFrom is the first valid second
        (END - 1, GrantStatus.ACTIVE),
        (END, GrantStatus.EXPIRED),  # validUntil is exclusive, as ConsentRegistry.isActive has it
        (END + 86_400, GrantStatus.EXPIRED),
    ],
)
def test_an_active_grant_at_each_boundary(at: int, expected: GrantStatus) -> None:
    clock = [at]
    grants = Grants(View(state()), clock=lambda: clock[0])  # type: ignore[arg-type]
    assert grants.status(GRANT) == expected
    assert status_of(state(), at) == expected == window_at(START, END, at)


@pytest.mark.parametrize("at", [START - 1, START, END - 1, END])
@pytest.mark.parametrize(("chain", "expected"), [(ChainStatus.WITHDRAWN, GrantStatus.WITHDRAWN),
                                                  (ChainStatus.REVOKED, GrantStatus.REVOKED)])  # fmt: skip
def test_withdrawn_and_revoked_outrank_time(at: int, chain: ChainStatus, expected: GrantStatus) -> None:
    assert Grants(View(state(chain)), clock=lambda: at).status(GRANT) == expected  # type: ignore[arg-type]
    assert expected in ENDED


@pytest.mark.parametrize("found", [None, state(ChainStatus.NONE)])
def test_a_grant_the_chain_does_not_know_is_pending(found: GrantState | None) -> None:
    assert Grants(View(found), clock=lambda: START).status(GRANT) == GrantStatus.PENDING  # type: ignore[arg-type]


def test_the_clock_is_the_chain_heads_unless_given() -> None:
    view: Any = View(state(), stamp=END)
    assert Grants(view).status(GRANT) == GrantStatus.EXPIRED
    assert Grants(view).status(GRANT, at=START) == GrantStatus.ACTIVE
    assert view.asked == [GRANT, GRANT]  # the chain's view is asked, never a database row


def test_status_values_are_the_ones_on_the_wire() -> None:
    assert [s.value for s in GrantStatus] == ["pending", "not-yet-valid", "active", "expired", "withdrawn", "revoked"]


def test_every_status_is_pending_in_force_or_ended() -> None:
    """Withdraw and revoke are offered for a grant in force, a future one included."""
    assert {GrantStatus.NOT_YET_VALID, GrantStatus.ACTIVE} == IN_FORCE and not IN_FORCE & ENDED
    assert IN_FORCE | ENDED | {GrantStatus.PENDING} == set(GrantStatus)
