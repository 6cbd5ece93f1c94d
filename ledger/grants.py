"""A grant's status: the one rule for what a grant is now, for everyone who decides or shows it.

The chain says whether a grant exists and whether it was withdrawn or revoked
(``ConsentRegistry.grantOf``, read through :class:`ledger.chainview.ChainView`); time says
whether it has started or ended: ``validFrom <= now < validUntil``, as ``ConsentRegistry.
isActive`` has it. The database is a cache of the chain and never decides a status: a grant
the chain does not know yet is ``pending``, whatever its row says.

The clock is the chain's (the head's timestamp) unless one is given, so that tests can
put a grant at each of its boundaries.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from .chainview import ChainStatus, ChainView, GrantState

#: Seconds since the epoch, as the chain counts them.
Clock = Callable[[], int]


class GrantStatus(StrEnum):
    """What a grant is now. In the API and the exports: never respell."""

    PENDING = "pending"  # sent, not yet on chain
    NOT_YET_VALID = "not-yet-valid"  # on chain, before its validFrom
    ACTIVE = "active"
    EXPIRED = "expired"  # at or after its validUntil
    WITHDRAWN = "withdrawn"  # by the resident
    REVOKED = "revoked"  # by the office


#: Statuses after which a grant can never be used again.
ENDED = frozenset({GrantStatus.EXPIRED, GrantStatus.WITHDRAWN, GrantStatus.REVOKED})
#: Statuses of a grant the chain still holds active (now or from its first day): the resident
#: can withdraw it and the office revoke it.
IN_FORCE = frozenset({GrantStatus.NOT_YET_VALID, GrantStatus.ACTIVE})


class GrantFacts(Protocol):
    """What a status is decided from (a :class:`GrantState`, or an indexed row in a check)."""

    @property
    def valid_from(self) -> int: ...
    @property
    def valid_until(self) -> int: ...
    @property
    def status(self) -> str: ...


def window_at(valid_from: int, valid_until: int, at: int) -> GrantStatus:
    """Where ``at`` falls in a grant's window: not yet valid, active or expired."""
    if at < valid_from:
        return GrantStatus.NOT_YET_VALID
    if at >= valid_until:
        return GrantStatus.EXPIRED
    return GrantStatus.ACTIVE


def status_of(grant: GrantFacts | None, at: int) -> GrantStatus:
    """A grant's status at ``at`` (seconds) from the chain's view of it (None: the chain does
    not know it, so it is pending). Withdrawn and revoked outrank time."""
    if grant is None or grant.status == ChainStatus.NONE:
        return GrantStatus.PENDING
    if grant.status == ChainStatus.WITHDRAWN:
        return GrantStatus.WITHDRAWN
    if grant.status == ChainStatus.REVOKED:
        return GrantStatus.REVOKED
    return window_at(grant.valid_from, grant.valid_until, at)


class Grants:
    """Grant statuses as the chain has them, at the chain's time or ``clock``'s (thread-safe:
    the view is)."""

    def __init__(self, view: ChainView, clock: Clock | None = None) -> None:
        self.view = view
        self._clock = clock

    def now(self) -> int:
        """The clock: the chain head's timestamp unless one was given. Raises :class:`NodeError`."""
        return self._clock() if self._clock is not None else self.view.head()[1]

    def state(self, grant_id: str) -> GrantState | None:
        return self.view.grant(grant_id)

    def status(self, grant_id: str, *, at: int | None = None) -> GrantStatus:
        """The grant's status now (or at ``at``). Raises :class:`NodeError`."""
        return status_of(self.state(grant_id), self.now() if at is None else at)
