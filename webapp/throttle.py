"""Log-in throttles: failed log-ins slow down the client that makes them and the user name
they were for, without letting anyone lock the owner of that name out.

Two lanes count failures (table ``login_throttles``):

* ``client``: the client's address (the forwarded one behind GRIDLEDGER_TRUSTED_PROXIES);
  every attempt from it is subject to its delay;
* ``account``: the user name as typed, whether or not such a user exists (so the counting
  says nothing about which names exist). Its delay applies to every client EXCEPT one that
  presents a valid *device cookie* for that user name: a long-lived signed cookie given to a
  browser when that user logs in successfully in it. Someone guessing a person's password
  from elsewhere slows down guesses at that name, not the person on their own device.

Each lane follows a :class:`Rule`: ``free`` tries are free; from the ``free``-th failure
on, the n-th failure makes the next attempt wait ``base * 2 ** (n - free)`` seconds, at most
``cap``, counted from that failure. An attempt made while a lane waits is refused without
looking at the password, and is not counted. A lane with no failure for ``forget`` seconds
starts again from nothing. A successful log-in clears the account lane when it had to pass
it (no device cookie); the client lane is never cleared by a log-in (anyone can log in to an
account of their own between guesses), only by time or an office admin.

Time is the web app's ``CLOCK`` (:func:`now`; tests set it, nobody sleeps); the store
functions below take it as an argument.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from flask import Flask, current_app, request
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Table, and_, bindparam, case, delete, or_, select
from sqlalchemy.engine import Connection

from ledger.store.models import LoginThrottle

DEVICE_COOKIE = "gridledger_device"
DEVICE_SALT = "gridledger-device"
#: User names one device cookie remembers (a shared tablet of a grid worker's residents).
DEVICE_USERS = 8


class Lane(StrEnum):
    CLIENT = "client"
    ACCOUNT = "account"


@dataclass(frozen=True)
class Rule:
    """How one lane slows down: ``free`` tries, then waits from ``base`` seconds doubling up
    to ``cap``; forgotten after ``forget`` seconds without a failure."""

    free: int
    base: float
    cap: float
    forget: float

    def delay(self, failures: int) -> float:
        """Seconds the next attempt waits after the ``failures``-th failure."""
        over = failures - self.free
        if over < 0:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(over, 62)))


#: The defaults (app config LOGIN_CLIENT_RULE / LOGIN_ACCOUNT_RULE override them).
CLIENT_RULE = Rule(free=10, base=1.0, cap=300.0, forget=3600.0)
ACCOUNT_RULE = Rule(free=5, base=2.0, cap=900.0, forget=86_400.0)
DEVICE_LIFETIME = 180 * 86_400


@dataclass(frozen=True)
class Standing:
    """A lane's failures as stored (only while not forgotten)."""

    lane: Lane
    key: str
    failures: int
    first_failure: datetime
    last_failure: datetime

    def delay(self, rule: Rule) -> float:
        return rule.delay(self.failures)

    def wait(self, rule: Rule, now: datetime) -> float:
        """Seconds still to wait at ``now`` (0 when an attempt may be made)."""
        until = self.last_failure + timedelta(seconds=rule.delay(self.failures))
        return max(0.0, (until - now).total_seconds())


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- the store (a connection in, no Flask: the store tests run these on both databases) -------

_T = cast(Table, LoginThrottle.__table__)
_READ = select(_T.c.kind, _T.c.key, _T.c.failures, _T.c.first_failure_at, _T.c.last_failure_at).where(
    or_(
        and_(_T.c.kind == Lane.CLIENT.value, _T.c.key == bindparam("client")),
        and_(_T.c.kind == Lane.ACCOUNT.value, _T.c.key == bindparam("account")),
    )
)


def _forgotten(rules: Mapping[Lane, Rule], now: datetime) -> Any:
    """The condition of lanes past their ``forget`` time."""
    return or_(*(
        and_(_T.c.kind == lane.value, _T.c.last_failure_at < now - timedelta(seconds=rule.forget))
        for lane, rule in rules.items()
    ))  # fmt: skip


def standings(
    connection: Connection, client: str, account: str, rules: Mapping[Lane, Rule], now: datetime
) -> dict[Lane, Standing]:
    """The client's and the user name's lanes that are not forgotten (one query)."""
    found: dict[Lane, Standing] = {}
    for row in connection.execute(_READ, {"client": client, "account": account}):
        lane = Lane(row.kind)
        last = aware(row.last_failure_at)
        if (now - last).total_seconds() > rules[lane].forget:
            continue
        found[lane] = Standing(lane, row.key, int(row.failures), aware(row.first_failure_at), last)
    return found


def _upsert(connection: Connection) -> Callable[..., Any]:
    name = connection.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return cast(Callable[..., Any], pg_insert)
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return cast(Callable[..., Any], sqlite_insert)
    raise NotImplementedError(f"log-in throttles need SQLite or PostgreSQL, not {name}")


def record_failure(
    connection: Connection, lanes: Iterable[tuple[Lane, str]], rules: Mapping[Lane, Rule], now: datetime
) -> None:
    """Counts one failure in each lane (a forgotten lane starts again at one), and drops the
    lanes everyone has forgotten. Call inside a transaction."""
    insert = _upsert(connection)
    for lane, key in lanes:
        stale = _T.c.last_failure_at < now - timedelta(seconds=rules[lane].forget)
        statement = insert(_T).values(kind=lane.value, key=key[:64], failures=1, first_failure_at=now,
                                      last_failure_at=now)  # fmt: skip
        connection.execute(statement.on_conflict_do_update(
            index_elements=[_T.c.kind, _T.c.key],
            set_={  # every expression sees the row as it was: a reset is decided on the old time
                "failures": case((stale, 1), else_=_T.c.failures + 1),
                "first_failure_at": case((stale, now), else_=_T.c.first_failure_at),
                "last_failure_at": now,
            },
        ))  # fmt: skip
    connection.execute(delete(_T).where(_forgotten(rules, now)))


def clear(connection: Connection, lane: Lane, key: str) -> int:
    """Forgets one lane; returns how many rows went (0 or 1)."""
    result = connection.execute(delete(_T).where(_T.c.kind == lane.value, _T.c.key == key))
    return int(result.rowcount or 0)


# -- in a request -----------------------------------------------------------------------------


def now() -> datetime:
    """The app's clock (``CLOCK`` in its config, an aware datetime): throttles, device
    cookies and sessions read time here, so tests set it instead of sleeping."""
    clock: Callable[[], datetime] = current_app.config["CLOCK"]
    return clock()


def rules() -> dict[Lane, Rule]:
    return {Lane.CLIENT: current_app.config["LOGIN_CLIENT_RULE"], Lane.ACCOUNT: current_app.config["LOGIN_ACCOUNT_RULE"]}


def client_address() -> str:
    return (request.remote_addr or "unknown")[:64]


def device_stamp(password_hash: str) -> str:
    """Ties a device cookie to the password it was earned with: a new password ends it."""
    return hashlib.sha256(("device:" + password_hash).encode()).hexdigest()[:16]


class _ClockSigner(TimestampSigner):
    """Dates a device cookie by the app's clock."""

    def get_timestamp(self) -> int:
        return int(now().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=DEVICE_SALT, signer=_ClockSigner)


def device_entries() -> list[list[str]]:
    """The (user name, stamp) pairs of this browser's valid device cookie (none if forged,
    expired or absent)."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return []
    try:
        found = _serializer().loads(raw, max_age=int(current_app.config["DEVICE_COOKIE_LIFETIME"]))
    except BadSignature:  # includes SignatureExpired
        return []
    if not isinstance(found, list):
        return []
    return [e for e in found if isinstance(e, list) and len(e) == 2 and all(isinstance(v, str) for v in e)]


def device_knows(username: str, stamp: str) -> bool:
    """Whether this browser holds a valid device cookie for ``username`` and its password."""
    return [username, stamp] in device_entries()


def remember_device(response: Any, username: str, stamp: str) -> None:
    """Sets (or refreshes) the device cookie with ``username`` first."""
    entries = [[username, stamp]] + [e for e in device_entries() if e[0] != username]
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    response.set_cookie(
        DEVICE_COOKIE,
        _serializer().dumps(entries[:DEVICE_USERS]),
        max_age=int(app.config["DEVICE_COOKIE_LIFETIME"]),
        httponly=True,
        samesite="Lax",
        secure=bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure,
        path="/",
    )
