"""The resident's pages in a real browser, in Chinese and in English, with records, permissions
and other people's uses of the data (one under legal hold), anchored by the worker that runs
beside the app. Screenshots of each page go to test-artifacts/screenshots/."""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta
from typing import Any

import pytest

from ledger.access import today
from ledger.audit import review
from ledger.categories import Category
from ledger.consent import LegalBasis, Purpose
from ledger.errors import AccessRefused
from tests.conftest import World
from tests.webapp.conftest import PASSWORD
from webapp.services import Services

from .conftest import Shots, confirm

pytestmark = pytest.mark.chain

YEAR = 365 * 86_400
HEALTH = {
    "blood_type": "O",
    "chronic_conditions": ["高血压 hypertension", "糖尿病 diabetes"],
    "allergies": ["青霉素 penicillin"],
    "family_doctor": "李医生（社区卫生服务中心）",
}
HOUSEHOLD = {
    "household_number": "310101000123",
    "address": "上海市黄浦区南京东路街道福州路 12 弄 3 号 301 室",
    "members": [{"name": "张秀英", "relation": "head"}, {"name": "王建华", "relation": "spouse"}],
}


def seed(svc: Services) -> None:
    """Two records (one certified), a permission in force and a withdrawn one, and uses of the
    data on every basis: a permission, the committee's duty, an emergency the office
    reviewed, a refusal, and a public security read under legal hold."""
    health, _ = svc.records.add(
        actor=World.members[0], subject=World.resident, category=Category.HEALTH, content=HEALTH
    )
    svc.records.sign(health, signer=World.members[0])
    svc.records.sign(health, signer=World.members[1])
    svc.records.update(
        health, actor=World.grid_worker, content={**HEALTH, "allergies": ["青霉素 penicillin", "花粉 pollen"]}
    )
    svc.records.sign(health, signer=World.members[0])
    svc.records.sign(health, signer=World.members[2])
    household, _ = svc.records.add(
        actor=World.grid_worker, subject=World.resident, category=Category.HOUSEHOLD, content=HOUSEHOLD
    )
    svc.records.sign(household, signer=World.members[0])
    svc.consent.issue(
        resident=World.resident, department=World.department, categories=[Category.HEALTH, Category.ELDERLY_CARE],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + YEAR,
        purpose_text="家庭医生签约服务", relayer=World.grid_worker,
    )  # fmt: skip
    old, _ = svc.consent.issue(
        resident=World.resident, department=World.department, categories=[Category.HOUSEHOLD],
        purpose=Purpose.SOCIAL_ASSISTANCE, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + YEAR,
    )  # fmt: skip
    svc.consent.withdraw(old)
    svc.access.read(health, accessor=World.officer)
    svc.access.read(household, accessor=World.members[1])
    emergency = svc.access.read(
        household, accessor=World.officer, justification="老人在家中摔倒，救护车上需要核实家属联系方式"
    )
    review(svc.ledger, emergency.seq, "approve", "已与120急救中心核实", reviewer=World.admin)
    with contextlib.suppress(AccessRefused):  # no permission covers the household record: refused, and logged
        svc.access.read(household, accessor=World.officer, basis="grant")
    svc.access.read(
        health, accessor=World.police_officer, justification="立案侦查 case 2026-117",
        disclose_on=(today() + timedelta(days=90)).isoformat(),
    )  # fmt: skip


def anchored(svc: Services, timeout: float = 30.0) -> None:
    """Waits for the worker beside the app to anchor everything logged so far."""
    target = svc.log.size()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = svc.log.anchored()
        if found is not None and found.size >= target:
            return
        time.sleep(0.2)
    raise AssertionError("the worker did not anchor the access log")


def login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")


def visit_all(page: Any, base: str, shots: Shots, language: str) -> None:
    page.goto(f"{base}/resident/")
    assert page.locator("#recent-count").inner_text() == "5"  # the held read is not counted yet
    shots.take(page, f"home-{language}")
    page.goto(f"{base}/resident/records")
    assert page.locator("[data-testid=record][data-status=certified]").count() == 1
    assert page.locator("[data-testid=record][data-status=waiting]").count() == 1
    page.click("details.older summary")
    shots.take(page, f"records-{language}")
    page.goto(f"{base}/resident/grants")
    shots.take(page, f"grants-{language}")
    page.goto(f"{base}/resident/history")
    assert page.locator("[data-testid=history-entry][data-proof=verified]").count() == 6
    assert page.locator("[data-testid=history-entry][data-withheld=yes]").count() == 1
    shots.take(page, f"history-{language}")
    page.select_option("#category", "household")
    page.click("#history-filter-submit")
    assert page.locator("[data-testid=history-entry]").count() == 4
    shots.take(page, f"history-household-{language}")
    page.goto(f"{base}/resident/download")
    shots.take(page, f"download-{language}")
    page.goto(f"{base}/resident/download/printable")
    shots.take(page, f"printable-{language}")
    page.emulate_media(media="print")  # as it comes out of the printer: no menus, no buttons
    assert not page.is_visible("#print-button") and not page.is_visible("nav.sections")
    shots.take(page, f"printable-as-printed-{language}")
    page.emulate_media(media="screen")


def test_resident_pages_in_chinese_and_english(live_app, page, shots: Shots) -> None:  # type: ignore[no-untyped-def]
    app, base = live_app
    svc: Services = app.extensions["gridledger"]
    seed(svc)
    anchored(svc)
    login(page, base, "resident")
    assert page.url.endswith("/resident/")
    assert "张秀英" in page.inner_text("#acting-as") and "居民" in page.inner_text("#acting-as")
    visit_all(page, base, shots, "zh")

    # A new permission through the form: errors, the confirmation page, back, confirm.
    page.goto(f"{base}/resident/grants/new")
    page.click("#grant-next")
    assert page.locator(".field-error").count() == 4
    shots.take(page, "new-grant-errors-zh")
    page.select_option("#department", World.department)
    page.check("input[name=categories][value=elderly_care]")
    page.select_option("#purpose", str(int(Purpose.ELDERLY_CARE)))
    page.fill("#until", (today() + timedelta(days=200)).isoformat())
    page.fill("#purpose_text", "居家养老上门服务")
    page.click("#grant-next")
    assert "居家养老上门服务" in page.inner_text("#grant-summary")
    shots.take(page, "confirm-grant-zh")
    page.click("#grant-back")
    assert page.input_value("#purpose_text") == "居家养老上门服务"
    page.click("#grant-next")
    page.click("#grant-confirm")
    assert page.url.split("#")[0].endswith("/resident/grants")
    assert page.locator("[data-testid=grant][data-status=active]").count() == 2
    shots.take(page, "grants-after-issue-zh")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{base}/resident/history")
    shots.take(page, "history-phone-zh")
    page.goto(f"{base}/resident/")
    shots.take(page, "home-phone-zh")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.click("button[value=en]")
    visit_all(page, base, shots, "en")
    page.goto(f"{base}/resident/grants/new")
    shots.take(page, "new-grant-en")
    page.goto(f"{base}/resident/history")
    page.click("#large-text-toggle")
    assert "large-text" in (page.get_attribute("html", "class") or "")
    shots.take(page, "history-large-text-en")
    page.goto(f"{base}/resident/grants")
    page.locator("[data-testid=grant][data-status=active] [data-testid=withdraw]").first.click()
    assert page.is_visible("#confirm-dialog[open]")
    shots.take(page, "withdraw-confirmation-large-en")
    confirm(page)
    page.wait_for_selector(".flash")
    assert page.locator("[data-testid=grant][data-status=active]").count() == 1
    shots.take(page, "grants-after-withdraw-large-en")
