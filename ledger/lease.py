"""Leases: of several workers, exactly one does a job that must have one doer at a time.

The job is the worker's active part, anchoring the access log (:data:`ANCHORING`): two
anchorers would prove checkpoints from the same base, race on the log's subtree hashes and
spend each other's nonces. A lease is a row of ``worker_leases``: who holds it and when it
expires. The holder renews it every :data:`RENEW_EVERY` seconds and it lasts :data:`TTL`
seconds from each renewal; anyone may take it once it has expired, so ``kill -9`` of the holder
hands the job on within about ``TTL + TRY_EVERY`` seconds. The invariant, and what keeps it:

**No two holders do the job at once, and no work is lost or done twice across a takeover.**

* Taking and renewing are conditional updates, each in one transaction ("free, expired or
  mine"; "mine"): of two contenders, one wins.
* The holder stops before anyone else could take over: it counts the lease as held until
  ``TTL - MARGIN`` seconds (its monotonic clock) after the *start* of its last successful
  renewal, while the others see it expire ``TTL`` seconds after that start (their wall clock).
  A failed renewal ends it at once.
* A fence: the job writes its results only in a transaction that first confirms that the row
  still names its holder (:meth:`Lease.fence`, a no-op ``UPDATE`` that takes the row's lock). A
  holder paused past its expiry and overtaken cannot commit, and the new holder, which reads
  the job's state only after taking the row, sees everything the old one committed.
* On PostgreSQL, also a session-level advisory lock (``pg_try_advisory_lock``) on a connection
  of its own, held as long as the lease: while the holder's session lives nobody else gets it,
  however the hosts' clocks disagree; the server frees it the moment the process dies, and ends
  the session (so frees it too) once the holder has not renewed for ``2 × TTL`` seconds
  (``idle_session_timeout``, PostgreSQL 14+), so a frozen holder is taken over as well. Its key
  comes from the schema and the lease's name, so installations sharing a database do not shut
  each other out.

Every clock is injectable (``clock`` for the times written to the row, ``monotonic`` for the
holder's own deadline), so tests control time instead of sleeping.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Table, case, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import LeaseLost
from .store import Store
from .store.models import WorkerLease

#: The worker's lease: its holder anchors the access log and runs the indexer.
ANCHORING = "anchoring"
TTL = 5.0  # seconds a lease lasts after each renewal
RENEW_EVERY = 1.5  # seconds between the holder's renewals: three chances within one TTL
MARGIN = 1.0  # seconds before others could see it expire that the holder already stops
TRY_EVERY = 1.0  # seconds between a standby's looks at the row

_LEASES = cast(Table, WorkerLease.__table__)


def holder_id() -> str:
    """This process, as a lease names it: ``host:pid:random`` (the random part tells a
    restarted process with a reused pid from the one before)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True)
class LeaseState:
    """A lease row as stored. Times in milliseconds since the epoch; ``expires_at`` 0: released."""

    name: str
    holder: str
    acquired_at: int
    renewed_at: int
    expires_at: int

    def live(self, now_ms: int) -> bool:
        return now_ms < self.expires_at

    @property
    def released(self) -> bool:
        return self.expires_at == 0


class Lease:
    """One process's side of the lease ``name``: take it, renew it, fence work with it."""

    def __init__(
        self,
        store: Store,
        name: str = ANCHORING,
        *,
        holder: str | None = None,
        ttl: float = TTL,
        margin: float = MARGIN,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < margin < ttl:
            raise ValueError("the margin must be positive and shorter than the lease")
        self.store = store
        self.name = name
        self.holder = holder or holder_id()
        self.ttl = ttl
        self.margin = margin
        self._clock = clock
        self._monotonic = monotonic
        self._holding = False
        self._valid_until = 0.0
        self._lock: Connection | None = None  # PostgreSQL: the advisory lock's session
        self._postgres = store.engine.dialect.name == "postgresql"

    # -- what this process may do ------------------------------------------------------

    @property
    def holding(self) -> bool:
        """Taken and neither lost nor released (it may be overdue for renewal: see :meth:`held`)."""
        return self._holding

    def held(self) -> bool:
        """True while this process may do the job: taken, and still short of its own deadline."""
        return self._holding and self._monotonic() < self._valid_until

    # -- taking, renewing, giving up ---------------------------------------------------

    def acquire(self) -> bool:
        """Takes the lease if nobody holds it, it expired, or it is already ours. Returns
        whether it is held now. Cheap when someone else holds it: one read, no write."""
        started, now = self._monotonic(), self._now_ms()
        found = self.state()
        if found is not None and found.holder != self.holder and found.live(now):
            self._drop()  # someone else's (if it was ours, it is no more)
            return False
        if self._postgres and not self._lock_session():
            self._holding = False
            return False  # its holder's session lives on, whatever the row (or our clock) says
        try:
            with self.store.engine.begin() as connection:
                taken = _rowcount(
                    connection.execute(
                        update(_LEASES)
                        .where(
                            _LEASES.c.name == self.name,
                            or_(_LEASES.c.holder == self.holder, _LEASES.c.expires_at <= now),
                        )
                        .values(
                            holder=self.holder,
                            acquired_at=case((_LEASES.c.holder == self.holder, _LEASES.c.acquired_at), else_=now),
                            renewed_at=now,
                            expires_at=now + self._ttl_ms,
                        )
                    )
                )
                if (
                    taken == 0
                    and connection.execute(select(_LEASES.c.name).where(_LEASES.c.name == self.name)).first() is None
                ):
                    connection.execute(
                        insert(_LEASES).values(
                            name=self.name, holder=self.holder, acquired_at=now, renewed_at=now,
                            expires_at=now + self._ttl_ms,
                        )
                    )  # fmt: skip
                    taken = 1
        except IntegrityError:
            taken = 0  # another process inserted the first row at the same moment: theirs
        except BaseException:
            self._unlock_session()
            raise
        if taken != 1:
            self._drop()
            return False
        self._holding, self._valid_until = True, started + self.ttl - self.margin
        return True

    def renew(self) -> bool:
        """Extends the lease by :attr:`ttl` from now. False when it is no longer ours (taken
        over, or never held); a failure to renew (the database, or on PostgreSQL the lock's
        session, away) drops it and raises. Either way the job stops at once."""
        if not self._holding:
            return False
        started, now = self._monotonic(), self._now_ms()
        try:
            if self._lock is not None:
                self._lock.execute(text("SELECT 1"))  # the session, and so the advisory lock, lives
            with self.store.engine.begin() as connection:
                renewed = _rowcount(
                    connection.execute(
                        update(_LEASES)
                        .where(_LEASES.c.name == self.name, _LEASES.c.holder == self.holder)
                        .values(renewed_at=now, expires_at=now + self._ttl_ms)
                    )
                )
        except BaseException:
            self._drop()
            raise
        if renewed != 1:
            self._drop()
            return False
        self._valid_until = started + self.ttl - self.margin
        return True

    def release(self) -> None:
        """Gives the lease up (on a clean stop), so another worker takes it at its next look."""
        if not self._holding:
            self._unlock_session()
            return
        self._holding = False
        try:
            with self.store.engine.begin() as connection:
                connection.execute(
                    update(_LEASES)
                    .where(_LEASES.c.name == self.name, _LEASES.c.holder == self.holder)
                    .values(expires_at=0)
                )
        finally:
            self._unlock_session()

    def fence(self, session: Session) -> None:
        """Raises :class:`LeaseLost` unless the row still names this holder. Call it first in
        the transaction that writes the job's results: it takes the row's lock, so a takeover
        waits for that transaction, and a holder overtaken meanwhile commits nothing."""
        confirmed = _rowcount(
            session.execute(
                update(_LEASES)
                .where(_LEASES.c.name == self.name, _LEASES.c.holder == self.holder)
                .values(renewed_at=_LEASES.c.renewed_at)
            )
        )
        if not self._holding or confirmed != 1:
            found = self.state()
            raise LeaseLost(
                f"the {self.name} lease is held by {found.holder if found else 'nobody'}, not by {self.holder}: "
                "this worker stopped that job"
            )

    # -- reading -----------------------------------------------------------------------

    def state(self) -> LeaseState | None:
        """The lease's row, or None when nobody has ever taken it."""
        return read_lease(self.store, self.name)

    def now_ms(self) -> int:
        """Now by this lease's clock, in the row's unit."""
        return self._now_ms()

    # -- internals ---------------------------------------------------------------------

    @property
    def _ttl_ms(self) -> int:
        return round(self.ttl * 1000)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _drop(self) -> None:
        self._holding = False
        self._unlock_session()

    def _lock_session(self) -> bool:
        """PostgreSQL: takes the advisory lock on a connection of its own (kept while the
        lease is). False when another session holds it."""
        if self._lock is not None:
            return True
        connection = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        connection.detach()  # closing it closes the session (and frees the lock), never pools it
        try:
            if connection.dialect.server_version_info >= (14,):  # type: ignore[operator]
                # Each renewal pings this session; a holder that stops (frozen, not dead) loses it.
                connection.execute(text(f"SET idle_session_timeout = {round(2 * self.ttl * 1000)}"))
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
            key = advisory_key(str(schema), self.name)
            got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one())
        except BaseException:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._lock = connection
        return True

    def _unlock_session(self) -> None:
        connection, self._lock = self._lock, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already gone is just as unlocked
                connection.close()  # the server ends the session and its advisory lock with it


def read_lease(store: Store, name: str = ANCHORING) -> LeaseState | None:
    """The row of lease ``name`` (for ``gridledger log status``), or None if never taken."""
    with store.engine.connect() as connection:
        row = connection.execute(select(_LEASES).where(_LEASES.c.name == name)).first()
    if row is None:
        return None
    return LeaseState(row.name, row.holder, row.acquired_at, row.renewed_at, row.expires_at)


def advisory_key(schema: str, name: str) -> int:
    """The PostgreSQL advisory lock key of lease ``name`` in ``schema`` (a signed 64-bit int)."""
    digest = hashlib.sha256(f"gridledger-lease:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount or 0
