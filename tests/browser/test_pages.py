"""Every person's first steps in a real browser: log in, switch language and text size."""

from __future__ import annotations

import pytest

from tests.webapp.conftest import PASSWORD

from .conftest import Shots

pytestmark = pytest.mark.chain


def login(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")


def test_log_in_in_chinese_then_english_then_large_text(live_app, page, shots: Shots) -> None:  # type: ignore[no-untyped-def]
    _app, base = live_app
    page.goto(f"{base}/login")
    assert page.inner_text("h1") == "登录"
    shots.take(page, "login-zh")
    page.click("button[value=en]")
    assert page.inner_text("h1") == "Log in"
    page.fill("#username", "resident")
    page.fill("#password", "wrong password")
    page.click("#login-submit")
    assert "wrong" in page.inner_text(".field-error")
    shots.take(page, "login-error-en")
    login(page, base, "resident")
    assert page.url.endswith("/resident/")
    assert "张秀英" in page.inner_text("#acting-as")
    page.click("#large-text-toggle")
    assert "large-text" in (page.get_attribute("html", "class") or "")
    shots.take(page, "resident-home-large-text")
