"""Log-in throttles: growing delays per client and per user name (on the app's clock, no
sleeping); the owner's device cookie keeps them out of a delay someone else caused; the
office's page of throttles; unknown and known user names fail in the same time."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from ledger.context import Ledger
from ledger.store.models import LoginThrottle
from tests.conftest import World
from webapp.services import Services
from webapp.throttle import DEVICE_COOKIE, DEVICE_SALT, Rule
from webapp.users import add_user

from .conftest import CHEAP_HASHER, PASSWORD, Auth, Clock, csrf_token

pytestmark = pytest.mark.chain


def browser(app: Flask, address: str) -> Auth:
    """A browser on another computer (its own address and cookies), in English."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return Auth(client)


def failures(svc: Services, kind: str, key: str) -> int | None:
    with svc.ledger.store.session() as db:
        return db.scalar(select(LoginThrottle.failures).where(LoginThrottle.kind == kind, LoginThrottle.key == key))


def retry_after(response: Any) -> int:
    assert response.status_code == 429, response.status_code
    return int(response.headers["Retry-After"])


def wait_out(clock: Clock, attempt: Callable[[], Any]) -> Any:
    """Makes the attempt, first waiting (on the clock) for as long as the app asks."""
    response = attempt()
    while response.status_code == 429:
        clock.advance(retry_after(response))
        response = attempt()
    return response


# -- per client ---------------------------------------------------------------------------------


def test_failed_log_ins_slow_down_their_client_with_doubling_waits(app: Flask, svc: Services, clock: Clock) -> None:
    rule = app.config["LOGIN_CLIENT_RULE"]
    assert (rule.free, rule.base, rule.cap) == (10, 1.0, 300.0)
    guesser = browser(app, "203.0.113.7")
    for i in range(rule.free):  # other names each time: only the client's lane grows
        assert guesser.login_as(f"nobody-{i}", "wrong").status_code == 200
    waits = []
    for i in range(11):
        refused = guesser.login_as(f"again-{i}", "wrong")
        waits.append(retry_after(refused))
        clock.advance(waits[-1] - 0.5)
        assert guesser.login_as(f"again-{i}", "wrong").status_code == 429  # not yet
        clock.advance(0.5)
        assert guesser.login_as(f"again-{i}", "wrong").status_code == 200  # a try, and a failure
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert failures(svc, "client", "203.0.113.7") == rule.free + 11  # refused attempts were not counted
    refused = guesser.login_as("resident")  # the right password waits too
    assert "Too many failed attempts. Wait 5 minutes and try again." in refused.get_data(as_text=True)
    assert browser(app, "198.51.100.9").login_as("resident").status_code == 302  # another computer is not slowed


def test_a_quiet_client_is_forgotten(app: Flask, svc: Services, clock: Clock) -> None:
    guesser = browser(app, "203.0.113.8")
    for i in range(10):
        guesser.login_as(f"nobody-{i}", "wrong")
    assert guesser.login_as("resident").status_code == 429
    clock.advance(app.config["LOGIN_CLIENT_RULE"].forget + 1)
    assert guesser.login_as("resident").status_code == 302


# -- per user name ------------------------------------------------------------------------------


def test_failures_for_a_name_from_many_computers_slow_down_that_name(app: Flask, svc: Services, clock: Clock) -> None:
    rule = app.config["LOGIN_ACCOUNT_RULE"]
    assert (rule.free, rule.base, rule.cap) == (5, 2.0, 900.0)
    for i in range(rule.free):
        assert browser(app, f"203.0.113.{i + 1}").login_as("resident", "wrong").status_code == 200
    newcomer = browser(app, "198.51.100.1")  # no device cookie: the name's delay applies
    assert retry_after(newcomer.login_as("resident")) == 2
    assert failures(svc, "account", "resident") == rule.free
    clock.advance(2)
    assert newcomer.login_as("resident").status_code == 302  # ...and a success clears the name's lane
    assert failures(svc, "account", "resident") is None


def test_a_name_nobody_has_is_throttled_like_a_real_one(app: Flask, svc: Services, clock: Clock) -> None:
    for name in ("resident", "nobody-at-all"):
        for i in range(5):
            assert browser(app, f"203.0.113.{i + 1}").login_as(name, "wrong").status_code == 200
        assert retry_after(browser(app, "198.51.100.2").login_as(name, "wrong")) == 2
        assert failures(svc, "account", name) == 5


def test_a_guesser_elsewhere_does_not_lock_out_the_owner_on_their_own_device(
    app: Flask, svc: Services, clock: Clock
) -> None:
    owner = browser(app, "198.51.100.20")
    assert owner.login_as("resident").status_code == 302  # gives this browser the device cookie
    assert owner.client.get_cookie(DEVICE_COOKIE) is not None
    owner.logout()

    guesser = browser(app, "203.0.113.66")
    for i in range(20):  # one computer, waiting out every delay it is given
        assert wait_out(clock, lambda i=i: guesser.login_as("resident", f"guess {i}")).status_code == 200
    assert failures(svc, "account", "resident") == 20

    stranger = browser(app, "198.51.100.21")  # the right password, but not the owner's device
    assert retry_after(stranger.login_as("resident")) == 900
    assert retry_after(guesser.login_as("resident")) == 900
    assert owner.login_as("resident").status_code == 302  # the owner, on their own device: at once


def test_a_device_cookie_counts_only_for_its_user_and_password_and_cannot_be_forged(
    app: Flask, ledger: Ledger, clock: Clock
) -> None:
    owner = browser(app, "198.51.100.30")
    assert owner.login_as("resident").status_code == 302
    owner.logout()
    for name in ("resident", "member1"):
        for i in range(5):
            browser(app, f"203.0.113.{i + 1}").login_as(name, "wrong")
    assert owner.login_as("member1").status_code == 429  # the cookie is the resident's, not member1's

    cookie = owner.client.get_cookie(DEVICE_COOKIE)
    assert cookie is not None
    forged = browser(app, "198.51.100.31")
    other_key = URLSafeTimedSerializer("not the app's secret key", salt=DEVICE_SALT)
    _signed, entries = other_key.loads_unsafe(cookie.value)  # what it says can be read, not signed
    assert entries and entries[0][0] == "resident"
    forged.client.set_cookie(DEVICE_COOKIE, other_key.dumps(entries))
    assert forged.login_as("resident").status_code == 429
    forged.client.set_cookie(DEVICE_COOKIE, cookie.value[:-4] + ("AAAA" if not cookie.value.endswith("AAAA") else "BBBB"))
    assert forged.login_as("resident").status_code == 429

    add_user(ledger, "resident", "a new password 9", account=World.resident, display_name="张秀英",
             hasher=CHEAP_HASHER, replace=True)  # fmt: skip
    assert owner.login_as("resident", "a new password 9").status_code == 429  # earned with the old password
    clock.advance(app.config["LOGIN_ACCOUNT_RULE"].cap)
    assert owner.login_as("resident", "a new password 9").status_code == 302


def test_a_device_cookie_expires(app: Flask, clock: Clock) -> None:
    owner = browser(app, "198.51.100.40")
    assert owner.login_as("resident").status_code == 302
    owner.logout()

    def guesses() -> None:
        for i in range(5):
            browser(app, f"203.0.113.{i + 1}").login_as("resident", "wrong")

    clock.advance(app.config["DEVICE_COOKIE_LIFETIME"] - 10)
    guesses()
    assert owner.login_as("resident", "wrong").status_code == 200  # still trusted: the name's wait does not apply
    clock.advance(11)
    guesses()
    assert owner.login_as("resident").status_code == 429  # half a year on: a stranger again


# -- the office's page --------------------------------------------------------------------------


def lane_of(page: str, kind: str, key: str) -> dict[str, str] | None:
    found = re.search(rf'<tr data-testid="throttle-{kind}-{re.escape(key)}" data-failures="(\d+)" data-wait="(\d+)">', page)
    return None if found is None else {"failures": found.group(1), "wait": found.group(2)}


def test_the_office_admin_sees_the_throttles_and_clears_one(
    app: Flask, client: FlaskClient, auth: Auth, clock: Clock
) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    guesser = browser(app, "203.0.113.7")
    for i in range(10):
        guesser.login_as(f"ghost-{i % 2}", "wrong")
    for i in range(5):
        browser(app, f"203.0.113.{100 + i}").login_as("resident", "wrong")
    auth.login_as("admin")
    home = client.get("/office/").get_data(as_text=True)
    assert 'href="/office/throttles"' in home
    page = client.get("/office/throttles").get_data(as_text=True)
    assert lane_of(page, "client", "203.0.113.7") == {"failures": "10", "wait": "1"}
    assert lane_of(page, "account", "resident") == {"failures": "5", "wait": "2"}
    assert lane_of(page, "account", "ghost-0") == {"failures": "5", "wait": "2"}
    assert page.count("no such user") == 2  # the ghosts; the resident is a real user

    cleared = auth.post("/office/throttles/clear", {"kind": "account", "key": "resident"}, page="/office/throttles")
    assert cleared.status_code == 302 and cleared.headers["Location"] == "/office/throttles"
    page = client.get("/office/throttles").get_data(as_text=True)
    assert "Cleared: resident may try again at once." in page
    assert lane_of(page, "account", "resident") is None and lane_of(page, "client", "203.0.113.7") is not None
    assert browser(app, "198.51.100.50").login_as("resident").status_code == 302

    for kind, key in (("account", "resident"), ("device", "x"), ("client", "192.0.2.1")):
        refused = auth.post("/office/throttles/clear", {"kind": kind, "key": key}, page="/office/throttles")
        assert refused.status_code == 404, (kind, key)


def test_another_offices_admin_sees_only_names_of_their_own_and_of_nobody(
    app: Flask, client: FlaskClient, auth: Auth, clock: Clock
) -> None:
    for name in ("resident", "other-member", "ghost"):
        for i in range(5):
            browser(app, f"203.0.113.{i + 1}").login_as(name, "wrong")
    auth.login_as("other-admin")
    page = client.get("/office/throttles").get_data(as_text=True)
    assert lane_of(page, "account", "other-member") is not None and lane_of(page, "account", "ghost") is not None
    assert lane_of(page, "client", "203.0.113.1") is not None
    assert lane_of(page, "account", "resident") is None  # office A's resident
    refused = auth.post("/office/throttles/clear", {"kind": "account", "key": "resident"}, page="/office/throttles")
    assert refused.status_code == 404


@pytest.mark.parametrize("username", ["resident", "member1", "officer", "other-member"])
def test_the_throttles_page_is_for_office_admins_only(client: FlaskClient, auth: Auth, username: str) -> None:
    assert client.get("/office/throttles").status_code == 302  # nobody logged in: to the log-in page
    auth.login_as(username)
    assert client.get("/office/throttles").status_code == 403
    cleared = auth.post("/office/throttles/clear", {"kind": "client", "key": "127.0.0.1"})
    assert cleared.status_code == 403


# -- timing -----------------------------------------------------------------------------------

#: Costly enough that skipping the password check would show (tens of ms), cheap enough for a test.
TIMING_HASHER = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)


def test_an_unknown_user_name_fails_as_slowly_as_a_known_one(
    app: Flask, ledger: Ledger, record_property: Callable[[str, object], None]
) -> None:
    add_user(ledger, "resident", PASSWORD, account=World.resident, display_name="张秀英", hasher=TIMING_HASHER,
             replace=True)  # fmt: skip
    unlimited = Rule(free=10**6, base=1.0, cap=1.0, forget=1.0)
    app.config.update(PASSWORD_HASHER=TIMING_HASHER, LOGIN_CLIENT_RULE=unlimited, LOGIN_ACCOUNT_RULE=unlimited)
    client = app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))

    def attempt(username: str) -> float:
        started = time.perf_counter()
        response = client.post("/login", data={"username": username, "password": "wrong", "csrf_token": token})
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
        return elapsed

    attempt("resident"), attempt("nobody")  # warm up (the dummy hash is made once)
    known, unknown = [], []
    for i in range(15):  # interleaved: a slow moment of the machine hits both alike
        known.append(attempt("resident"))
        unknown.append(attempt(f"nobody-{i}"))
    ratio = statistics.median(unknown) / statistics.median(known)
    record_property("unknown_to_known_median_ratio", round(ratio, 3))
    assert 0.5 <= ratio <= 2.0, f"a failed log-in for an unknown name takes {ratio:.2f}× the time of one for a known name"
