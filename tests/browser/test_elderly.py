"""Pages for older residents (defect 7): large text half as big again with targets one can
press, confirmations asked in the page, and a half-filled form that survives switching the
language."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ledger.access import today
from ledger.consent import Purpose
from tests.conftest import World
from tests.webapp.conftest import PASSWORD

from .conftest import Shots

pytestmark = pytest.mark.chain

#: Elements wider than the window (a page that no longer lays out).
WIDER = """Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5)
  .map(e => e.tagName + '.' + e.className + '#' + e.id)"""
#: Visible buttons, links styled as buttons and fields lower than 48px.
LOW = """Array.from(document.querySelectorAll('main button, main [role=button], main input:not([type=checkbox]):not([type=radio]):not([type=hidden]), main select, main textarea, nav.sections a, header.site button'))
  .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 47.5)
  .map(e => e.tagName + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().height))"""


def login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/{username}/")


def test_large_text_is_half_as_big_again_with_targets_of_48px_and_still_lays_out(
    live_app: Any, page: Any, shots: Shots
) -> None:
    _app, base = live_app
    login(page, base, "resident")
    normal = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    page.click("#large-text-toggle")
    # The toggle posts and comes back to the page: read its size once the new page's stylesheets
    # have loaded (read before, the page showed the framework's size without the app's own rules).
    page.wait_for_load_state("load")
    assert "large-text" in (page.get_attribute("html", "class") or "")
    large = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert large >= 1.5 * normal - 0.5, (normal, large)
    for path in ("/resident/", "/resident/grants", "/resident/grants/new", "/resident/history", "/resident/records"):
        page.goto(base + path)
        assert page.evaluate(WIDER) == [], path
        assert page.evaluate(LOW) == [], path
        shots.take(page, "large" + path.replace("/", "-").rstrip("-"))
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{base}/resident/grants/new")
    assert page.evaluate(WIDER) == []
    shots.take(page, "large-new-grant-phone")


def test_a_half_filled_form_survives_switching_the_language(live_app: Any, page: Any, shots: Shots) -> None:
    _app, base = live_app
    login(page, base, "resident")
    page.goto(f"{base}/resident/grants/new")
    until = (today() + timedelta(days=90)).isoformat()
    page.select_option("#department", World.department)
    page.select_option("#purpose", str(int(Purpose.ELDERLY_CARE)))
    page.check("#grant-form input[name=categories][value=health]")
    page.fill("#until", until)
    page.fill("#purpose_text", "家庭医生签约 family doctor")
    page.click("button[value=en]")
    page.wait_for_function("document.documentElement.lang === 'en'")
    # The new page's lang is there as soon as it is parsed; what was typed is put back by its
    # script, once the document has loaded.
    page.wait_for_load_state("load")
    assert page.url == f"{base}/resident/grants/new"
    assert page.is_checked("#grant-form input[name=categories][value=health]")
    assert page.input_value("#purpose") == str(int(Purpose.ELDERLY_CARE))
    assert page.input_value("#department") == World.department
    assert page.input_value("#until") == until
    assert page.input_value("#purpose_text") == "家庭医生签约 family doctor"
    shots.take(page, "new-grant-kept-en")
    page.reload()  # kept once, for the switch: a reload later starts empty
    assert page.input_value("#purpose_text") == ""


def test_a_confirmation_is_asked_in_the_page_and_no_sends_nothing(live_app: Any, page: Any, shots: Shots) -> None:
    _app, base = live_app
    login(page, base, "resident")
    page.goto(f"{base}/resident/grants/new")
    page.select_option("#department", World.department)
    page.select_option("#purpose", str(int(Purpose.HEALTH_MANAGEMENT)))
    page.check("#grant-form input[name=categories][value=health]")
    page.fill("#until", (today() + timedelta(days=90)).isoformat())
    page.click("#grant-next")
    page.click("#grant-confirm")
    page.wait_for_selector(".flash")
    page.goto(f"{base}/resident/grants")
    active = page.locator("[data-testid=grant][data-status=active]")
    page.click("#large-text-toggle")
    before = active.count()
    active.first.locator("[data-testid=withdraw]").click()
    page.wait_for_selector("#confirm-dialog[open]")
    assert page.inner_text("#confirm-dialog-text").strip()
    shots.take(page, "withdraw-asked-in-the-page")
    page.click("#confirm-no")
    assert not page.is_visible("#confirm-dialog")
    page.goto(f"{base}/resident/grants")
    assert page.locator("[data-testid=grant][data-status=active]").count() == before  # "no" sent nothing
