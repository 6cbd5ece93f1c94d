"""The log-in throttles' counting on SQLite and PostgreSQL: one upsert per lane, a reset
after a quiet spell decided on the stored time, forgotten lanes dropped, times kept in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from ledger.store import Store, make_engine, migrate
from ledger.store.models import LoginThrottle
from webapp.throttle import Lane, Rule, clear, record_failure, standings

RULES = {
    Lane.CLIENT: Rule(free=2, base=1.0, cap=4.0, forget=60.0),
    Lane.ACCOUNT: Rule(free=1, base=2.0, cap=8.0, forget=600.0),
}
T0 = datetime(2027, 1, 4, 1, 0, tzinfo=UTC)


def _store(db_url: str) -> Store:
    engine = make_engine(db_url)
    migrate(engine)
    return Store(engine)


def _fail(store: Store, at: datetime, client: str = "203.0.113.7", account: str = "resident") -> None:
    with store.engine.begin() as connection:
        record_failure(connection, [(Lane.CLIENT, client), (Lane.ACCOUNT, account)], RULES, at)


def test_lanes_count_wait_reset_after_a_quiet_spell_and_are_forgotten(db_url: str) -> None:
    store = _store(db_url)
    try:
        for i in range(4):
            _fail(store, T0 + timedelta(seconds=i))
        last = T0 + timedelta(seconds=3)
        with store.engine.connect() as connection:
            found = standings(connection, "203.0.113.7", "resident", RULES, last)
        client, account = found[Lane.CLIENT], found[Lane.ACCOUNT]
        assert (client.failures, client.first_failure, client.last_failure) == (4, T0, last)
        assert client.delay(RULES[Lane.CLIENT]) == 4.0  # 1 s at the 2nd failure, doubling, at most 4
        assert account.delay(RULES[Lane.ACCOUNT]) == 8.0  # 2 s at the 1st failure: 2, 4, 8, 8
        assert client.wait(RULES[Lane.CLIENT], last + timedelta(seconds=1.5)) == 2.5

        _fail(store, T0, client="198.51.100.1", account="ghost")  # quiet from now on
        later = last + timedelta(seconds=120)  # past the client's forget, not the account's
        with store.engine.connect() as connection:
            assert set(standings(connection, "203.0.113.7", "resident", RULES, later)) == {Lane.ACCOUNT}
        _fail(store, later)
        with store.engine.connect() as connection:
            found = standings(connection, "203.0.113.7", "resident", RULES, later)
            rows = {(r.kind, r.key) for r in connection.execute(select(LoginThrottle.kind, LoginThrottle.key))}
        assert (found[Lane.CLIENT].failures, found[Lane.CLIENT].first_failure) == (1, later)  # started afresh
        assert (found[Lane.ACCOUNT].failures, found[Lane.ACCOUNT].first_failure) == (5, T0)  # still counting
        assert ("client", "198.51.100.1") not in rows and ("account", "ghost") in rows  # forgotten lanes go

        with store.engine.begin() as connection:
            assert clear(connection, Lane.ACCOUNT, "resident") == 1
            assert clear(connection, Lane.ACCOUNT, "resident") == 0
    finally:
        store.close()
