"""The anchoring lease (ledger/lease.py) with injected clocks, on SQLite and PostgreSQL: one
holder at a time, renewal keeps it, expiry hands it on, the old holder stops before anyone
else could take over and cannot commit fenced work afterwards; on PostgreSQL the advisory
lock keeps a second holder out even when the clocks disagree. Also: migration 0008 on a
database made by 0007."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import OperationalError

from ledger.errors import LeaseLost
from ledger.lease import MARGIN, TTL, Lease, read_lease
from ledger.store import Store, current_revision, make_engine, migrate
from ledger.store.models import Meta, NonceCursor, WorkerLease

from .databases import BACKENDS, empty_database

EPOCH = 1_800_000_000.0  # the wall clock's reading at t = 0 (seconds)


class Time:
    """One timeline for every lease of a test; each lease may read the wall clock skewed."""

    def __init__(self) -> None:
        self.t = 0.0

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def lease(self, store: Store, holder: str, *, skew: float = 0.0) -> Lease:
        return Lease(store, holder=holder, clock=lambda: EPOCH + self.t + skew, monotonic=lambda: self.t)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a PostgreSQL schema of its own (dropped after)."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    engine = make_engine(db_url)
    migrate(engine)
    opened = Store(engine)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Time:
    return Time()


def _postgres(store: Store) -> bool:
    return store.engine.dialect.name == "postgresql"


def _dies(lease: Lease) -> None:
    """What ``kill -9`` of the holder does to its lease: nothing more is renewed, and (on
    PostgreSQL) the server ends its sessions, so the advisory lock is free."""
    if lease._lock is not None:  # the advisory lock's session
        lease._lock.close()
        lease._lock = None


def test_one_holder_at_a_time_and_renewing_keeps_it(store: Store, clock: Time) -> None:
    a, b = clock.lease(store, "a"), clock.lease(store, "b")
    assert a.acquire() and a.held()
    assert not b.acquire() and not b.held()
    for _ in range(10):  # 15 s of renewals every 1.5 s: never free for b
        clock.advance(1.5)
        assert a.renew() and a.held()
        assert not b.acquire()
    state = read_lease(store)
    assert state is not None and state.holder == "a"
    assert state.acquired_at == int(EPOCH * 1000)  # renewals keep when it was taken
    assert state.renewed_at == int((EPOCH + 15) * 1000) and state.expires_at == state.renewed_at + int(TTL * 1000)


def test_the_holder_stops_before_anyone_could_take_over(store: Store, clock: Time) -> None:
    """Without renewals, the holder's own deadline comes MARGIN seconds before the row
    expires by anyone's clock; only then may another worker take it."""
    a, b = clock.lease(store, "a"), clock.lease(store, "b")
    assert a.acquire()
    stopped = taken = None
    while taken is None:
        clock.advance(0.1)
        if stopped is None and not a.held():
            stopped = clock.t
            assert not b.acquire(), "the holder stopped only once another could take over"
        state = read_lease(store)
        assert state is not None
        if not state.live(b.now_ms()):
            _dies(a)  # expired: the holder is dead (or will find out at its next renewal)
            assert b.acquire()
            taken = clock.t
    assert stopped is not None and stopped < taken
    assert taken - stopped == pytest.approx(MARGIN, abs=0.11)


def test_an_expired_lease_is_taken_over_and_the_old_holder_commits_nothing(store: Store, clock: Time) -> None:
    a, b = clock.lease(store, "a"), clock.lease(store, "b")
    assert a.acquire()
    with store.session() as session, session.begin():
        a.fence(session)  # held: fenced work commits
        session.add(Meta(key="work-1", value="a"))
    clock.advance(TTL)
    if _postgres(store):
        # The row has expired, but a's session (and its advisory lock) lives: on PostgreSQL a
        # frozen holder keeps others out until its session ends (at the latest 2 × TTL idle).
        assert not b.acquire()
    _dies(a)
    assert b.acquire() and b.held()
    state = read_lease(store)
    assert state is not None and state.holder == "b" and state.acquired_at == int((EPOCH + TTL) * 1000)
    # a wakes up: its fenced work does not commit, its renewal says it lost the lease.
    with pytest.raises(LeaseLost, match="held by b"), store.session() as session, session.begin():
        session.add(Meta(key="work-2", value="a"))
        a.fence(session)
    with store.session() as session:
        assert session.get(Meta, "work-2") is None
    assert not a.renew() and not a.held() and not a.holding
    assert not a.acquire()  # b's now
    with store.session() as session, session.begin():
        b.fence(session)


def test_release_hands_the_lease_over_at_once(store: Store, clock: Time) -> None:
    a, b = clock.lease(store, "a"), clock.lease(store, "b")
    assert a.acquire()
    a.release()
    assert not a.held()
    state = read_lease(store)
    assert state is not None and state.released and state.holder == "a"
    assert b.acquire()  # no waiting for the expiry
    with pytest.raises(LeaseLost), store.session() as session, session.begin():
        a.fence(session)


def test_a_failed_renewal_stops_the_holder_at_once(store: Store, clock: Time, monkeypatch: pytest.MonkeyPatch) -> None:
    a = clock.lease(store, "a")
    assert a.acquire()
    clock.advance(1.5)

    def unreachable() -> None:
        raise OperationalError("UPDATE worker_leases", {}, Exception("the database went away"))

    with monkeypatch.context() as patched:
        patched.setattr(store.engine, "begin", unreachable)
        with pytest.raises(OperationalError):
            a.renew()
    assert not a.held() and not a.holding  # well before its deadline
    assert a._lock is None  # on PostgreSQL: the advisory lock is given up with it
    assert a.acquire()  # nobody took it meanwhile: the same worker may take it again


def test_a_first_take_races_to_one_winner(store: Store, clock: Time) -> None:
    leases = [clock.lease(store, f"w{i}") for i in range(4)]
    assert [lease.acquire() for lease in leases] == [True, False, False, False]
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(WorkerLease)) == 1
    leases[0].release()


POSTGRES_ONLY = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@POSTGRES_ONLY
def test_on_postgresql_clocks_that_disagree_never_give_two_holders(store: Store, clock: Time) -> None:
    """b's clock is an hour fast, so a's row looks long expired to it; the advisory lock,
    held by a's live session, keeps b out all the same, until a's session ends."""
    a, fast = clock.lease(store, "a"), clock.lease(store, "b", skew=3600)
    assert a.acquire()
    state = read_lease(store)
    assert state is not None and not state.live(fast.now_ms())  # expired, by b's clock
    for _ in range(5):
        assert not fast.acquire()
        clock.advance(1.5)
        assert a.renew()
    _dies(a)
    assert fast.acquire()
    assert not a.renew() and not a.held()
    fast.release()


@POSTGRES_ONLY
def test_on_postgresql_losing_the_lock_session_loses_the_lease(store: Store, clock: Time) -> None:
    a = clock.lease(store, "a")
    assert a.acquire() and a._lock is not None
    pid = a._lock.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with store.engine.connect() as other:  # the server ends the session (a restart, an admin)
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    clock.advance(1.5)
    with pytest.raises(OperationalError):
        a.renew()
    assert not a.held() and a._lock is None
    assert a.acquire()  # a fresh session takes the free lock, and its own row again
    a.release()


def test_migration_0008_upgrades_a_0007_database_keeping_its_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine, "0007")
        with engine.begin() as connection:
            connection.execute(insert(Meta), [{"key": "deployment", "value": "{}"}])
            connection.execute(insert(NonceCursor), [{"sender": "0x" + "11" * 20, "next_nonce": 7}])
        migrate(engine, "0008")
        assert current_revision(engine) == "0008"
        with engine.connect() as connection:
            assert connection.execute(select(Meta.value).where(Meta.key == "deployment")).scalar_one() == "{}"
            assert connection.execute(select(NonceCursor.next_nonce)).scalar_one() == 7
        lease = Lease(Store(engine))
        assert lease.acquire()
        lease.release()
    finally:
        engine.dispose()
