"""Server-side sessions: logging out, a new password or disabling a user ends every copy of
the session cookie; sessions expire; a log-in gets a fresh session id, kept only as its hash."""

from __future__ import annotations

import hashlib

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ledger.context import Ledger
from ledger.store.models import WebSession
from tests.conftest import World
from webapp.services import Services
from webapp.users import add_user, disable_user

from .conftest import CHEAP_HASHER, Auth, Clock

pytestmark = pytest.mark.chain

SESSION = "gridledger_session"


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding the same cookies (a stolen or copied cookie jar)."""
    thief = app.test_client()
    for name in (SESSION, "gridledger_device"):
        cookie = client.get_cookie(name)
        if cookie is not None:
            thief.set_cookie(name, cookie.value)
    return thief


def test_a_copied_session_cookie_stops_working_after_log_out(app: Flask, client: FlaskClient, auth: Auth) -> None:
    auth.login_as("resident")
    thief = copy_of(app, client)
    assert thief.get("/resident/").status_code == 200  # a copy works while the session lives
    auth.logout()
    assert client.get("/resident/").status_code == 302
    refused = thief.get("/resident/")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")


def test_a_new_password_ends_every_session_of_that_user_and_no_other(
    app: Flask, client: FlaskClient, auth: Auth, ledger: Ledger
) -> None:
    auth.login_as("resident")
    tablet = Auth(app.test_client())
    tablet.login_as("resident")
    neighbour = Auth(app.test_client())
    neighbour.login_as("member1")
    add_user(ledger, "resident", "a new password 9", account=World.resident, display_name="张秀英",
             hasher=CHEAP_HASHER, replace=True)  # fmt: skip
    assert client.get("/resident/").status_code == 302
    assert tablet.client.get("/resident/").status_code == 302
    assert neighbour.client.get("/committee/").status_code == 200
    assert auth.login_as("resident").status_code == 200  # the old password is wrong now
    assert auth.login_as("resident", "a new password 9").status_code == 302
    assert client.get("/resident/").status_code == 200


def test_disabling_a_user_ends_their_sessions_and_their_log_in(
    client: FlaskClient, auth: Auth, ledger: Ledger
) -> None:
    auth.login_as("resident")
    disable_user(ledger, "resident")
    assert client.get("/resident/").status_code == 302
    refused = auth.login_as("resident")
    assert refused.status_code == 200 and "用户名或密码错误" in refused.get_data(as_text=True)
    add_user(ledger, "resident", "back again 123", account=World.resident, display_name="张秀英",
             hasher=CHEAP_HASHER, replace=True)  # fmt: skip
    assert auth.login_as("resident", "back again 123").status_code == 302


def test_an_expired_session_is_refused(client: FlaskClient, auth: Auth, clock: Clock) -> None:
    auth.login_as("resident")
    clock.advance(8 * 3600 - 1)
    assert client.get("/resident/").status_code == 200
    clock.advance(1)
    ended = client.get("/resident/", headers={"Accept-Language": "en"})
    assert ended.status_code == 302
    page = client.get(ended.headers["Location"], headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Your session has ended. Log in again." in page


def test_log_in_gives_a_fresh_session_id_kept_only_as_its_hash(
    app: Flask, client: FlaskClient, auth: Auth, svc: Services
) -> None:
    with client.session_transaction() as planted:  # session fixation: an id chosen by someone else
        planted["uid"] = 1
        planted["sid"] = "chosen-by-an-attacker"
    assert client.get("/resident/").status_code == 302  # an id without a row is nobody
    auth.login_as("resident")
    with client.session_transaction() as stored:
        first = stored["sid"]
    assert first != "chosen-by-an-attacker"
    auth.login_as("resident")  # logging in again in the same browser replaces its session
    with client.session_transaction() as stored:
        second = stored["sid"]
    assert second != first
    with svc.ledger.store.session() as db:
        hashes = set(db.scalars(select(WebSession.id_hash)))
    assert hashes == {hashlib.sha256(second.encode()).hexdigest()}
    database = svc.ledger.store.engine.url.database
    assert database is not None
    with open(database, "rb") as raw:
        assert second.encode() not in raw.read()


def test_language_and_text_size_survive_log_in_and_log_out(client: FlaskClient, auth: Auth) -> None:
    auth.post("/language", {"lang": "en", "next": "/login"})
    auth.post("/large-text", {"next": "/login"})
    auth.login_as("resident")
    page = client.get("/resident/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert '<html lang="en" class="large-text"' in page
    auth.logout()
    page = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert '<html lang="en" class="large-text"' in page
