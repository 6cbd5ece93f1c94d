"""Fixtures for the web app: an app over the test's copy of the world, web users for the
world's accounts, and an ``auth`` helper (``auth.login_as("resident")``).

CSRF protection stays on: helpers take the token from a page, as a browser would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ledger.context import Ledger
from ledger.settings import Settings
from tests.conftest import World, copy_database
from tests.templates import SharedBytecode
from webapp import create_app
from webapp.services import Services
from webapp.users import add_user

PASSWORD = "correct horse 7"
#: Cheap argon2 parameters: tests log in often; production uses the library's defaults.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

#: Test user names -> the world's account labels (and the name shown).
USERS = {
    "resident": (World.resident, "张秀英"),
    "member1": (World.members[0], "李建国"),
    "member2": (World.members[1], "王芳"),
    "member3": (World.members[2], "刘伟"),
    "grid": (World.grid_worker, "陈静"),
    "officer": (World.officer, "赵磊"),
    "police": (World.police_officer, "孙强"),
    "admin": (World.admin, "周敏"),
    "admin2": (World.second_admin, "吴涛"),
    "other-admin": (World.other_admin, "郑丽"),
    "other-member": (World.other_member, "冯军"),
    "suspended": (World.suspended, "何平"),
    "revoked": (World.revoked, "许娜"),
    "stranger": (World.stranger, "无名"),
}

#: The apps below are all built alike: they share their compiled templates (see tests/templates.py).
TEMPLATES = SharedBytecode()

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1) or found.group(2)


@pytest.fixture(scope="session")
def web_world_db(world: World, session_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The world's database with a log-in for each of :data:`USERS`, made once: the web
    tests' copies start from it (they changed nothing on chain, so the world's snapshot fits)."""
    db = copy_database(world.db_path, tmp_path_factory.mktemp("web-world") / "world.db")
    ledger = Ledger.open(session_settings.with_(database_url=f"sqlite:///{db}"))
    try:
        for username, (label, name) in USERS.items():
            add_user(ledger, username, PASSWORD, account=label, display_name=name, hasher=CHEAP_HASHER)
    finally:
        ledger.close()
    return db


@pytest.fixture
def world_db(web_world_db: Path) -> Path:
    return web_world_db


@pytest.fixture
def app(ledger: Ledger, settings: Settings) -> Iterator[Flask]:
    """The app over the test's copy of the world, whose log-ins :data:`USERS` are there already."""
    built = TEMPLATES.share(create_app(settings, {"TESTING": True, "PASSWORD_HASHER": CHEAP_HASHER}))
    yield built
    built.extensions["gridledger"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Auth:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def token(self, page: str = "/login") -> str:
        return csrf_token(self.client.get(page).get_data(as_text=True))

    def login_as(self, username: str, password: str = PASSWORD) -> TestResponse:
        response = self.client.post(
            "/login", data={"username": username, "password": password, "csrf_token": self.token()}
        )
        return response

    def logout(self) -> TestResponse:
        return self.client.post("/logout", data={"csrf_token": self.token()})

    def post(self, url: str, data: dict[str, Any] | None = None, *, page: str | None = None, **kw: Any) -> TestResponse:
        """POSTs a form with a CSRF token taken from ``page`` (default: the login page)."""
        return self.client.post(url, data={**(data or {}), "csrf_token": self.token(page or "/login")}, **kw)


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)


#: Content the tests put in records, and text a user might type to attack a page.
HEALTH = {"blood_type": "O", "chronic_conditions": ["高血压 hypertension"], "allergies": [], "family_doctor": "李医生"}
YEAR = 365 * 86_400
SCRIPT = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


@pytest.fixture
def svc(app: Flask) -> Services:
    """The app's ledger services. No app context is held open here: the test client would
    reuse it for every request, and flask-wtf's per-context CSRF token would outlive the
    session it belongs to."""
    found: Services = app.extensions["gridledger"]
    return found


class Clock:
    """The app's clock (``CLOCK``), moved by hand: sessions and log-in throttles read it, so
    tests wait without sleeping."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(app: Flask) -> Clock:
    found = Clock(datetime.now(UTC))
    app.config["CLOCK"] = found
    return found
