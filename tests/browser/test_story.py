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
from ledger.categories import Category
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
    resident.wait_for_load_state("load")  # the script that asks before sending is on the page only then
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


# -- departments ask, residents decide and are told ---------------------------------------------------

ASKED = {
    "zh": {"reason": "慢病随访", "sentence": "查看您的健康记录，用于慢病随访。", "objection": "我不知道为什么要看",
           "answer": "这是您同意的慢病随访，卫生健康办按授权查看。", "doctor": "王医生（社区卫生服务中心）"},
    "en": {"reason": "chronic disease follow-up", "sentence": "would like to see your health records until", "objection": "I did not expect this",
           "answer": "The health office read it under the permission you gave, for the follow-up.",
           "doctor": "Dr Wang (community health centre)"},
}  # fmt: skip


def until(check: Any, what: str, timeout: float = 45.0) -> None:
    """Waits for the worker beside the app (it mines, indexes, anchors and settles)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.3)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_health_office_asks_the_resident_decides_and_is_told(
    live_app: Any, pages: Pages, shots: Shots, language: str
) -> None:
    """The health office asks → the resident approves with their grid worker beside them → the
    officer reads → the resident's messages show the read → the resident objects → the office
    answers → the resident sees the answer; and a correction the resident asks for ends in a
    new certified version."""
    app, base = live_app
    svc = app.extensions["gridledger"]
    words = ASKED[language]
    address = svc.ledger.address_of(World.resident)
    record_id, _ = svc.records.add(actor=World.members[0], subject=World.resident, category=Category.HEALTH,
                                   content={"blood_type": "A", "chronic_conditions": ["高血压"], "allergies": [],
                                            "family_doctor": "李医生"})  # fmt: skip
    svc.records.sign(record_id, signer=World.members[0])
    svc.records.sign(record_id, signer=World.members[1])

    # -- 1. the health office asks the resident for a permission --------------------------------------
    officer = pages.new(LOCALES[language])
    login(officer, base, "officer", "/department/")
    officer.goto(f"{base}/department/requests/new")
    officer.fill("#resident", "张秀英")
    officer.check("input[name=categories][value=health]")
    officer.select_option("#purpose", "2")  # health management
    officer.fill("#valid_until", (today() + timedelta(days=365)).isoformat())
    officer.fill("#reason", words["reason"])
    officer.click("#ask-submit")
    officer.wait_for_selector("#ask-sentence")
    assert words["sentence"] in officer.inner_text("#ask-sentence")
    shots.take(officer, "asks-officer-checks-the-sentence")
    officer.click("#ask-send")
    officer.wait_for_selector("[data-testid=request-row]")
    shots.take(officer, "asks-officer-requests")
    (asked,) = svc.requests.waiting_for(World.resident)

    # -- 2. the resident approves, their grid worker beside them (the resident's key signs) ------------
    resident = pages.new(LOCALES[language])
    login(resident, base, "resident", "/resident/")
    assert resident.locator(f"[data-testid=request][data-request-id='{asked.request_id}']").count() == 1
    assert resident.locator("#inbox-count").count() == 1  # the request is a message too
    shots.take(resident, "asks-resident-home-waiting")
    helper = pages.new(LOCALES[language])
    login(helper, base, "grid", "/committee/")
    helper.goto(f"{base}/committee/residents/{address}/relay-grant")
    waiting = helper.locator(f"[data-testid=relay-request][data-request-id='{asked.request_id}']")
    waiting.locator("[data-testid=relay-approve-form] input[name=answer-present]").check()
    shots.take(helper, "asks-grid-worker-with-the-resident")
    waiting.locator("[data-testid=relay-approve]").click()
    confirm(helper)
    helper.wait_for_selector(".flash")
    shots.take(helper, "asks-grid-worker-approved")
    approved = svc.requests.show(asked.request_id)
    assert approved.status == "approved" and approved.relayer == svc.ledger.address_of(World.grid_worker)
    grant_id = approved.grant_id
    assert grant_id and svc.consent.show(grant_id).resident == address

    # -- 3. the officer reads the record under the new grant ---------------------------------------------
    officer.goto(f"{base}/department/")
    officer.click("#home-grants-link")
    row = officer.locator(f"[data-grant-id='{grant_id}'] [data-testid=record-row][data-record-id='{record_id}']")
    until(lambda: officer.reload() or row.count() == 1, "the grant on the officer's list")
    row.locator("[data-testid=open-record]").click()
    officer.wait_for_selector("#access-banner")
    read_seq = int(officer.get_attribute("#access-banner", "data-seq") or "-1")
    shots.take(officer, "asks-officer-reads")

    # -- 4. the resident's messages show the read ---------------------------------------------------------
    resident.goto(f"{base}/resident/")
    resident.click("#inbox-link")
    item = resident.locator(f"[data-testid=inbox-item][data-key='access:{read_seq}']")
    assert item.count() == 1 and item.get_attribute("data-kind") == "data-read"
    shots.take(resident, "asks-resident-messages-show-the-read")

    # -- 5. the resident objects to that read -------------------------------------------------------------
    until(lambda: (svc.log.anchored() or type("", (), {"size": 0})).size > read_seq, "the read anchored")
    resident.goto(f"{base}/resident/history")
    resident.click(f"#entry-{read_seq} [data-testid=object] summary")
    resident.fill(f"#object-comment-{read_seq}", words["objection"])
    shots.take(resident, "asks-resident-objects")
    resident.click(f"#entry-{read_seq} [data-testid=object-submit]")
    resident.wait_for_selector(f"#entry-{read_seq} [data-testid=entry-objection]")
    (objection,) = [r for r in svc.rights.of_resident(World.resident) if r.kind == "objection"]

    # -- 6. the office answers the objection --------------------------------------------------------------
    office = pages.new(LOCALES[language])
    login(office, base, "admin", "/office/")
    office.goto(f"{base}/office/requests")
    office.fill(f"#o{objection.request_id[2:14]}-reason", words["answer"])
    shots.take(office, "asks-office-answers-the-objection")
    office.click(f"#not-upheld-{objection.request_id}")
    office.wait_for_selector(".flash")
    shots.take(office, "asks-office-answered")

    # -- 7. the resident sees the answer, beside the entry and in their messages ---------------------------
    resident.goto(f"{base}/resident/history")  # a fresh load (a jump to #entry- on the page open would not be)
    assert words["answer"] in resident.inner_text(f"#entry-{read_seq}")
    shots.take(resident, "asks-resident-sees-the-answer")
    resident.click("#inbox-link")
    assert resident.locator("[data-testid=inbox-item][data-kind=request-decided]").count() == 1
    shots.take(resident, "asks-resident-messages-show-the-answer")

    # -- 8. a correction the resident asks for ends in a new certified version -------------------------------
    resident.goto(f"{base}/resident/records")
    resident.click(f"a[href$='/records/{record_id}/correction']")
    resident.select_option("#field", "family_doctor")
    resident.fill("#value", words["doctor"])
    shots.take(resident, "asks-resident-asks-for-a-correction")
    resident.click("#correction-submit")
    resident.wait_for_selector("[data-testid=request][data-kind=correction][data-status=open]")
    member = pages.new(LOCALES[language])
    login(member, base, "member3", "/committee/")
    member.goto(f"{base}/committee/corrections")
    shots.take(member, "asks-committee-corrections")
    member.click("[data-testid=open-record]")
    member.click("[data-testid=draft-correction]")
    member.wait_for_load_state("load")  # the script that asks before sending is on the page only then
    assert member.input_value("#content-family_doctor") == words["doctor"]
    member.click("#record-submit")
    confirm(member)
    member.wait_for_url(f"{base}/committee/records/{record_id}")
    for signer in ("member1", "member2"):
        other = pages.new(LOCALES[language])
        login(other, base, signer, "/committee/")
        other.goto(f"{base}/committee/records/{record_id}")
        until(lambda o=other: o.reload() or o.locator("#sign-submit").count() == 1, f"{signer}'s sign button")
        other.click("#sign-submit")
        confirm(other)
        other.wait_for_selector(".flash")
    until(lambda: any(r.outcome == "corrected" for r in svc.rights.of_resident(World.resident)), "corrected")
    assert svc.records.show(record_id).head.version == 2
    member.goto(f"{base}/committee/records/{record_id}")
    assert member.get_attribute("#record-state .badge", "data-state") == "certified"
    shots.take(member, "asks-committee-record-corrected-certified")
    resident.goto(f"{base}/resident/requests")
    assert resident.locator("[data-testid=request-outcome][data-outcome=corrected]").count() == 1
    assert resident.locator("[data-testid=request-outcome][data-outcome=not-upheld]").count() == 1
    shots.take(resident, "asks-resident-requests-answered")
