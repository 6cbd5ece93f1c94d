"""Everyone: log-in, log-out, language, text size, and the security every page has."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.context import Ledger
from ledger.errors import ConfigurationError
from ledger.settings import Settings
from webapp import create_app
from webapp.auth.routes import safe_next
from webapp.i18n import AREAS, untranslated
from webapp.throttle import Rule

from .conftest import CHEAP_HASHER, PASSWORD, Auth, csrf_token

pytestmark = pytest.mark.chain


@pytest.mark.parametrize(
    ("username", "home"),
    [
        ("resident", "/resident/"),
        ("member1", "/committee/"),
        ("grid", "/committee/"),
        ("officer", "/department/"),
        ("admin", "/office/"),
    ],
)
def test_each_role_lands_on_its_own_start_page_and_sees_who_it_acts_as(
    client: FlaskClient, auth: Auth, username: str, home: str
) -> None:
    assert auth.login_as(username).headers["Location"] == "/"
    landing = client.get("/")
    assert landing.status_code == 302 and landing.headers["Location"] == home
    page = client.get(home, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="acting-as"' in page


def test_a_wrong_password_is_refused_with_a_message_beside_the_field(client: FlaskClient, auth: Auth) -> None:
    response = auth.login_as("resident", "wrong password")
    assert response.status_code == 200  # the form again, with the error beside the field
    assert "The user name or the password is wrong." in response.get_data(
        as_text=True
    ) or "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/").headers["Location"] == "/login"


def test_failed_log_ins_for_a_name_make_the_next_try_wait(client: FlaskClient, auth: Auth) -> None:
    # the whole rule, with its clock, is in test_login_throttle.py
    for _ in range(5):
        assert auth.login_as("resident", "wrong password").status_code == 200
    blocked = auth.login_as("resident")  # even the right password, until the wait is over
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "2"
    assert client.get("/").headers["Location"] == "/login"
    assert auth.login_as("member1").status_code == 302  # other users are not held up


def test_a_suspended_or_revoked_member_has_no_role(client: FlaskClient, auth: Auth) -> None:
    for username in ("suspended", "revoked", "stranger"):
        auth.login_as(username)
        assert client.get("/").status_code == 403
        assert client.get("/committee/").status_code == 403
        auth.logout()


def test_log_out_ends_the_session(client: FlaskClient, auth: Auth) -> None:
    auth.login_as("resident")
    assert client.get("/resident/").status_code == 200
    auth.logout()
    assert client.get("/resident/").status_code == 302


def test_forms_without_a_csrf_token_are_refused(client: FlaskClient) -> None:
    response = client.post("/login", data={"username": "resident", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").headers["Location"] == "/login"


def test_pages_carry_security_headers_and_a_csp_without_inline_scripts(client: FlaskClient) -> None:
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.get_data(as_text=True)


def test_the_session_cookie_is_httponly_samesite_and_secure_over_tls(app: Flask, auth: Auth) -> None:
    plain = auth.login_as("resident").headers.getlist("Set-Cookie")
    cookie = next(c for c in plain if c.startswith("gridledger_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    tls = app.test_client()
    token_page = tls.get("/login", base_url="https://localhost")
    from .conftest import csrf_token

    response = tls.post(
        "/login",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},  # over TLS, CSRF also checks the referrer
        data={
            "username": "resident",
            "password": PASSWORD,
            "csrf_token": csrf_token(token_page.get_data(as_text=True)),
        },
    )
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("gridledger_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert response.headers["Strict-Transport-Security"]


def test_language_follows_the_browser_then_the_switch(client: FlaskClient, auth: Auth) -> None:
    assert "登录" in client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert ">Log in<" in client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert "登录" in client.get("/login").get_data(as_text=True)  # no preference: Chinese
    auth.post("/language", {"lang": "en", "next": "/login"})
    assert ">Log in<" in client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert auth.post("/language", {"lang": "fr"}).status_code == 400


def test_large_text_mode_survives_log_in(client: FlaskClient, auth: Auth) -> None:
    auth.post("/large-text", {"next": "/login"})
    assert 'class="large-text"' in client.get("/login").get_data(as_text=True)
    auth.login_as("resident")
    assert 'class="large-text"' in client.get("/resident/").get_data(as_text=True)


def test_next_only_leads_to_this_site(client: FlaskClient, auth: Auth) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        assert safe_next(target) is None
    assert safe_next("/resident/history?department=x") == "/resident/history?department=x"
    response = client.post(
        "/login?next=https://evil.example/",
        data={"username": "resident", "password": PASSWORD, "csrf_token": auth.token()},
    )
    assert response.headers["Location"] == "/"


def test_front_end_assets_are_served_from_the_pinned_npm_packages(client: FlaskClient) -> None:
    for name in ("pico.css", "chart.js"):
        response = client.get(f"/vendor/{name}")
        assert response.status_code == 200 and len(response.data) > 10_000
    assert client.get("/vendor/../package.json").status_code == 404
    assert client.get("/vendor/unknown.js").status_code == 404


def test_every_message_has_a_chinese_translation() -> None:
    missing = {area or "webapp": untranslated(area) for area in AREAS}
    assert not any(missing.values()), f"run scripts/i18n.py update, then translate: {missing}"


def test_a_message_has_one_chinese_translation_in_every_catalogue() -> None:
    # The catalogues are merged at start-up, the later area winning: a message translated two
    # ways would show one area's wording on another area's pages.
    from babel.messages.pofile import read_po

    from webapp.i18n import catalogue_path

    found: dict[str, dict[str, list[str]]] = {}
    for area in AREAS:
        with catalogue_path(area).open("rb") as source:
            for message in read_po(source):
                if message.id and message.string:
                    found.setdefault(str(message.id), {}).setdefault(str(message.string), []).append(area or "webapp")
    differing = {text: ways for text, ways in found.items() if len(ways) > 1}
    assert not differing, f"give each message one translation in every catalogue: {differing}"


def test_behind_a_trusted_proxy_the_throttle_counts_each_client_and_cookies_are_secure(
    ledger: Ledger, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDLEDGER_TRUSTED_PROXIES", "1")
    three_tries = Rule(free=3, base=60.0, cap=60.0, forget=3600.0)
    proxied = create_app(settings, {"TESTING": True, "PASSWORD_HASHER": CHEAP_HASHER, "LOGIN_CLIENT_RULE": three_tries})
    try:
        client = proxied.test_client()

        def attempt(address: str) -> int:
            page = client.get("/login", headers={"X-Forwarded-For": address})
            return client.post(
                "/login",
                headers={"X-Forwarded-For": address},
                data={"username": f"nobody-{address}", "password": "wrong", "csrf_token": csrf_token(page.get_data(as_text=True))},
            ).status_code

        assert [attempt("203.0.113.7") for _ in range(4)] == [200, 200, 200, 429]  # that client waits
        assert attempt("198.51.100.9") == 200  # another client behind the same proxy is not
        page = client.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert page.headers["Strict-Transport-Security"]
    finally:
        proxied.extensions["gridledger"].close()


def test_a_bad_trusted_proxies_setting_is_refused(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDLEDGER_TRUSTED_PROXIES", "nginx")
    with pytest.raises(ConfigurationError, match="GRIDLEDGER_TRUSTED_PROXIES"):
        create_app(settings)
