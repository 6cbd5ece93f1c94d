"""The whole story in a real browser, in Chinese and in English, each person in their own
browser: a committee member collects a health record, two more members look at it and sign it
and it shows certified; the resident gives the health department a permission for health records; the
officer opens the record; the resident sees that read marked verified on chain; the resident
withdraws; the officer, trying again from the page still open, is refused; the office's
dashboard shows the read and the refusal. Screenshots of every page in test-artifacts/."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from ledger.access import today
from tests.conftest import World
from tests.webapp.conftest import PASSWORD

from .conftest import Pages, Shots, confirm

pytestmark = pytest.mark.chain

LOCALES = {"zh": "zh-CN", "en": "en"}
#: What the pages say, in each language, at the points the story checks words.
SAYS = {
    "zh": {"certified": "已认证", "verified": "已上链验证", "refused": "拒绝"},
    "en": {"certified": "Certified", "verified": "verified on chain", "refused": "efused"},
}


def login(page: Any, base: str, username: str, landing: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}{landing}")


def logout(page: Any) -> None:
    page.click("#logout")
    page.wait_for_selector("#login-submit")


def reload_until(page: Any, selector: str, timeout: float = 45.0) -> None:
    """Reloads until ``selector`` is on the page: the worker beside the app mines, indexes
    and anchors in the background, as in production."""
    deadline = time.monotonic() + timeout
    while page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, f"{selector} did not appear on {page.url}"
        time.sleep(0.5)
        page.reload()


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_whole_story(live_app: Any, pages: Pages, shots: Shots, language: str) -> None:
    app, base = live_app
    says = SAYS[language]
    resident_address = app.extensions["gridledger"].ledger.address_of(World.resident)

    # -- 1. a committee member collects a health record ---------------------------------------
    committee = pages.new(LOCALES[language])
    login(committee, base, "member1", "/committee/")
    shots.take(committee, "committee-home")
    committee.click("#home-new-record")
    committee.select_option("#resident", resident_address)
    committee.select_option("#category", "health")
    committee.click("#choose-submit")
    committee.select_option("#content-blood_type", "A")
    committee.fill("#content-chronic_conditions", "高血压")
    committee.fill("#content-family_doctor", "李医生")
    shots.take(committee, "committee-record-form")
    committee.click("#record-submit")
    confirm(committee)
    committee.wait_for_selector("#record-header")
    assert committee.get_attribute("#record-state .badge", "data-state") == "awaiting"
    record_url = committee.url
    record_id = record_url.rstrip("/").rsplit("/", 1)[1]
    shots.take(committee, "committee-record-awaiting")
    logout(committee)

    # -- 2. two more members sign it: certified -------------------------------------------------
    for username in ("member2", "member3"):
        login(committee, base, username, "/committee/")
        committee.click("nav.sections a[href='/committee/queue']")
        entry = committee.locator(f"[data-testid=queue-entry][data-record-id='{record_id}']")
        assert entry.count() == 1
        shots.take(committee, f"committee-queue-{username}")
        entry.locator("[data-testid=show-changes]").click()  # a logged view of what is signed
        committee.wait_for_selector("#access-banner")
        shots.take(committee, f"committee-changes-{username}")
        committee.locator("[data-testid=sign-submit]").click()
        confirm(committee)
        committee.wait_for_selector(".flash")
        logout(committee)
    login(committee, base, "member1", "/committee/")
    committee.goto(record_url)
    assert committee.get_attribute("#record-state .badge", "data-state") == "certified"
    assert says["certified"] in committee.inner_text("#record-state")
    shots.take(committee, "committee-record-certified")

    # -- 3. the resident gives the health department a permission for health records -----------
    resident = pages.new(LOCALES[language])
    login(resident, base, "resident", "/resident/")
    shots.take(resident, "resident-home")
    resident.click("nav.sections a[href='/resident/records']")
    reload_until(resident, "[data-testid=record-status]")
    shots.take(resident, "resident-records")
    resident.click("nav.sections a[href='/resident/grants']")
    resident.click("#new-grant-link")
    resident.select_option("#department", World.department)
    resident.check("input[name=categories][value=health]")
    resident.select_option("#purpose", "2")  # health management
    resident.fill("#until", (today() + timedelta(days=365)).isoformat())
    shots.take(resident, "resident-new-grant")
    resident.click("#grant-next")
    shots.take(resident, "resident-confirm-grant")
    resident.click("#grant-confirm")
    resident.wait_for_selector("[data-testid=grant][data-status=active]")
    grant_id = resident.get_attribute("[data-testid=grant][data-status=active]", "data-grant-id")
    assert grant_id
    shots.take(resident, "resident-grants")

    # -- 4. the officer opens the record under the grant ----------------------------------------
    officer = pages.new(LOCALES[language])
    login(officer, base, "officer", "/department/")
    shots.take(officer, "officer-home")
    officer.click("#home-grants-link")
    row = officer.locator(f"[data-grant-id='{grant_id}'] [data-testid=record-row][data-record-id='{record_id}']")
    assert row.count() == 1
    shots.take(officer, "officer-grants")
    row.locator("[data-testid=open-record]").click()
    officer.wait_for_selector("#access-banner")
    read_seq = int(officer.get_attribute("#access-banner", "data-seq") or "-1")
    assert "高血压" in officer.inner_text("#record-content")
    shots.take(officer, "officer-record-opened")
    officer.go_back()  # the grants page again, kept open: the officer will try once more later

    # -- 5. the resident sees the read, verified on chain ---------------------------------------
    resident.click("nav.sections a[href='/resident/history']")
    entry = f"[data-testid=history-entry][data-seq='{read_seq}']"
    reload_until(resident, f"{entry}[data-proof=verified]")
    assert resident.get_attribute(entry, "data-outcome") == "allowed"
    assert resident.get_attribute(entry, "data-basis") == "grant"
    assert says["verified"] in resident.inner_text(f"{entry} [data-testid=proof-mark]")
    assert "赵磊" in resident.inner_text(f"{entry} [data-testid=entry-who]")
    shots.take(resident, "resident-history-verified")

    # -- 6. the resident withdraws the permission ------------------------------------------------
    resident.click("nav.sections a[href='/resident/grants']")
    resident.locator(f"#grant-{grant_id} [data-testid=withdraw]").click()
    confirm(resident)  # in the page, not the browser's confirm()
    resident.wait_for_selector(f"[data-grant-id='{grant_id}'][data-status=withdrawn]")
    shots.take(resident, "resident-grant-withdrawn")

    # -- 7. the officer tries again from the page still open: refused ----------------------------
    row.locator("[data-testid=open-record]").click()
    officer.wait_for_selector("#refusal")
    assert officer.get_attribute("#refusal", "data-reason") == "grant-not-active"
    refusal_seq = int(officer.get_attribute("#refusal", "data-seq") or "-1")
    assert refusal_seq > read_seq
    assert officer.locator("#record-content").count() == 0
    shots.take(officer, "officer-refused")

    # -- 8. the office's dashboard shows the read and the refusal --------------------------------
    office = pages.new(LOCALES[language])
    login(office, base, "admin", "/office/")
    assert office.get_attribute(f"#access-{read_seq}", "data-outcome") == "allowed"
    assert office.get_attribute(f"#access-{refusal_seq}", "data-outcome") == "refused"
    assert says["refused"] in office.inner_text(f"#access-{refusal_seq}")
    shots.take(office, "office-dashboard")

    # The resident sees the refusal too.
    resident.click("nav.sections a[href='/resident/history']")
    assert resident.get_attribute(f"[data-testid=history-entry][data-seq='{refusal_seq}']", "data-outcome") == "refused"
    shots.take(resident, "resident-history-refusal")
