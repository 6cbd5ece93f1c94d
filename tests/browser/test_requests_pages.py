"""Consent requests in a real browser: the health office asks, the resident (in large text,
in Chinese) approves with the page's own confirmation, a grid worker declines another with the
resident beside them, and the office sees the figures. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ledger.access import today
from ledger.requests import ConsentStatus
from tests.conftest import World
from tests.webapp.conftest import PASSWORD

from .conftest import Shots, confirm

pytestmark = pytest.mark.chain


def login(page: Any, base: str, username: str, home: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/{home}/")


def test_the_health_office_asks_and_the_resident_answers(live_app: Any, pages: Any, shots: Shots) -> None:
    app, base = live_app
    svc = app.extensions["gridledger"]
    last_day = (today() + timedelta(days=365)).isoformat()

    officer = pages.new("zh-CN")
    login(officer, base, "officer", "department")
    for reason in ("慢病随访", "家庭医生签约"):
        officer.goto(f"{base}/department/requests/new")
        officer.fill("#resident", "张秀英")
        officer.check("input[name=categories][value=health]")
        officer.select_option("#purpose", "2")
        officer.fill("#valid_until", last_day)
        officer.fill("#reason", reason)
        officer.click("#ask-submit")
        officer.wait_for_selector("#ask-sentence")
        assert "查看您的健康记录，用于" + reason + "。" in officer.inner_text("#ask-sentence")
        if reason == "慢病随访":
            shots.take(officer, "officer-checks-the-request")
        officer.click("#ask-send")
        officer.wait_for_url(f"{base}/department/requests*")
    shots.take(officer, "officer-requests-list")
    assert officer.locator("[data-testid=request-row]").count() == 2

    resident = pages.new("zh-CN")
    login(resident, base, "resident", "resident")
    resident.click("#large-text-toggle")
    resident.wait_for_selector("html.large-text")
    sentences = resident.locator("[data-testid=request-sentence]").all_inner_texts()
    assert any("想在" in s and "用于慢病随访。" in s for s in sentences), sentences
    shots.take(resident, "resident-home-large-text-waiting")
    first = resident.locator("[data-testid=request]", has_text="慢病随访")
    first.locator("[data-testid=approve]").click()
    shots.take(resident, "resident-confirms-approval")
    confirm(resident)
    resident.wait_for_url(f"{base}/resident/grants*")
    shots.take(resident, "resident-grants-after-approval")

    helper = pages.new("en")
    login(helper, base, "grid", "committee")
    address = svc.ledger.address_of(World.resident)
    helper.goto(f"{base}/committee/residents/{address}/relay-grant")
    waiting = helper.locator("[data-testid=relay-request]")
    assert waiting.count() == 1 and "for 家庭医生签约" in waiting.inner_text()
    waiting.locator("summary").click()
    waiting.locator("input[name=answer-present]").last.check()
    waiting.locator("textarea[name=answer-reason]").fill("已在别处签约")
    shots.take(helper, "grid-worker-declines-with-the-resident")
    waiting.locator("[data-testid=relay-decline]").click()
    confirm(helper)
    helper.wait_for_selector(".flash, [role=alert], #relay-form")
    shots.take(helper, "grid-worker-after-decline")

    statuses = sorted(r.status for r in svc.requests.list(resident=World.resident))
    assert statuses == [ConsentStatus.APPROVED, ConsentStatus.DECLINED]

    office = pages.new("en")
    login(office, base, "admin", "office")
    office.goto(f"{base}/office/consent-requests")
    row = office.locator(f"[data-department={World.department}]")
    assert row.locator("[data-testid=asked]").inner_text() == "2"
    assert row.locator("[data-testid=approved]").inner_text() == "1"
    assert row.locator("[data-testid=declined]").inner_text() == "1"
    shots.take(office, "office-requests-per-department")
