"""The resident's messages in a real browser, in Chinese and in English and in large text: the
unread count in the header, opening the page marks what it shows as read (its script posts
the seen form, the count goes), a grant ending within seven days, "mark all as read".
Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import time

import pytest

from ledger.categories import Category
from ledger.consent import LegalBasis, Purpose
from tests.conftest import World
from webapp.services import Services

from .conftest import Pages, Shots
from .test_resident_pages import HEALTH, login

pytestmark = pytest.mark.chain

DAY = 86_400


def seed(svc: Services) -> tuple[str, int]:
    """A read under a year's permission, and a permission ending in five days."""
    rid, _ = svc.records.add(actor=World.members[0], subject=World.resident, category=Category.HEALTH, content=HEALTH)
    svc.records.sign(rid, signer=World.members[0])
    svc.records.sign(rid, signer=World.members[1])
    svc.consent.issue(
        resident=World.resident, department=World.department, categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + 365 * DAY,
    )  # fmt: skip
    ending, _ = svc.consent.issue(
        resident=World.resident, department=World.department, categories=[Category.HEALTH, Category.ELDERLY_CARE],
        purpose=Purpose.ELDERLY_CARE, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + 5 * DAY,
    )  # fmt: skip
    return ending, svc.access.read(rid, accessor=World.officer).seq


def test_messages_are_marked_read_by_opening_them_in_chinese_english_and_large_text(
    live_app, pages: Pages, shots: Shots
) -> None:  # type: ignore[no-untyped-def]
    app, base = live_app
    svc: Services = app.extensions["gridledger"]
    ending, seq = seed(svc)
    page = pages.new("zh-CN")
    login(page, base, "resident")
    page.goto(f"{base}/resident/")
    assert page.inner_text("#inbox-count").startswith("2")
    shots.take(page, "home-with-count-zh")
    page.click("#inbox-link")
    assert page.locator("[data-testid=inbox-item][data-unread=yes]").count() == 2
    assert "查看了您的健康记录（依据您的授权）。" in page.inner_text("#inbox-items")
    assert "授权快要到期了" in page.inner_text("#inbox-items")
    page.wait_for_selector("#inbox-count", state="detached")  # the script marked them read
    assert page.is_hidden("#inbox-seen")
    shots.take(page, "inbox-zh")
    page.click(f"[data-key='access:{seq}'] [data-testid=inbox-link]")
    assert page.url.endswith(f"#entry-{seq}") and page.is_visible(f"#entry-{seq}")
    assert page.locator("#inbox-count").count() == 0
    page.goto(f"{base}/resident/inbox")
    page.click(f"[data-key='grant-ending:{ending}'] [data-testid=inbox-link]")
    assert page.url.endswith(f"#grant-{ending}") and page.is_visible(f"#grant-{ending}")

    svc.access.read(svc.records.of_subject(svc.ledger.address_of(World.resident))[0].record_id, accessor=World.officer)
    english = pages.new("en")
    login(english, base, "resident")
    english.goto(f"{base}/resident/records")
    assert english.inner_text("#inbox-count").startswith("1")
    english.click("#large-text-toggle")
    assert "large-text" in (english.get_attribute("html", "class") or "")
    shots.take(english, "records-with-count-large-en")
    english.goto(f"{base}/resident/inbox?start=0")
    english.wait_for_selector("#inbox-count", state="detached")
    assert "Health A looked at your health record" in english.inner_text("#inbox-items")
    shots.take(english, "inbox-large-en")
    english.set_viewport_size({"width": 390, "height": 844})  # a phone
    shots.take(english, "inbox-phone-large-en")
