"""The committee's pages in a real browser: a member collects a household record through the
generated form (a field error first), two more members sign it from the signing queue (each
shows the changes first: a logged view) and it shows certified; a grid worker opens the update
form (a logged view; reloading it shows and logs nothing) and updates it (the diff waits in the
queue) and relays a resident's permission with the resident present. Screenshots in Chinese
and in English."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.access import today
from tests.conftest import World
from tests.webapp.conftest import PASSWORD

from .conftest import Shots, confirm

pytestmark = pytest.mark.chain


def login(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/committee/")


def logout(page) -> None:  # type: ignore[no-untyped-def]
    page.click("#logout")


WIDER = """Array.from(document.querySelectorAll('*'))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth).slice(0, 5)
  .map(e => e.tagName + '.' + e.className + '#' + e.id)"""


def snap(page, shots: Shots, name: str) -> None:  # type: ignore[no-untyped-def]
    """A screenshot, once the page is known to fit the window's width (no sideways scrolling).
    After a click that navigates, the new document may not be there yet: wait for it to load."""
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert width <= 0, f"{name}: the page is {width}px wider than the window: {page.evaluate(WIDER)}"
    shots.take(page, name)


def switch_to(page, language: str) -> None:  # type: ignore[no-untyped-def]
    """Chooses the language (remembered in the browser's session, also across log-ins)."""
    if page.locator(f"button[value={language}]").count():
        page.click(f"button[value={language}]")
    assert page.get_attribute("html", "lang") == ("en" if language == "en" else "zh-CN")


def test_a_record_is_collected_signed_by_two_members_and_certified(live_app, page, shots: Shots) -> None:  # type: ignore[no-untyped-def]
    app, base = live_app
    resident = app.extensions["gridledger"].ledger.address_of(World.resident)
    log = app.extensions["gridledger"].log

    # -- a member collects a household record (zh) -----------------------------------------
    login(page, base, "member1")
    assert page.inner_text("#committee-name") == "甲居委会"
    assert "2 名签名后即获认证" in page.inner_text("#committee-rule")
    snap(page, shots, "home-zh")
    page.click("#home-new-record")
    page.select_option("#resident", resident)
    page.select_option("#category", "household")
    snap(page, shots, "choose-zh")
    page.click("#choose-submit")
    assert page.get_attribute("#form-heading", "data-category") == "household"
    page.fill("#content-household_number", "hz 3301")  # lower case and a space: not a register number
    page.fill("#content-address", "西湖区翠苑一区 3 幢 2 单元 501")
    page.fill("#content-members-0-name", "张秀英")
    page.select_option("#content-members-0-relation", "head")
    page.fill("#content-members-1-name", "张小明")  # relation left out
    page.click("#record-submit")
    confirm(page)
    assert "格式不正确" in page.inner_text("#content-household_number-error")
    assert page.inner_text("#content-members-1-relation-error") == "此项必填。"
    assert page.get_attribute("#form-errors", "data-count") == "2"
    assert page.input_value("#content-members-1-name") == "张小明"  # what was typed stays
    snap(page, shots, "record-form-errors-zh")
    page.fill("#content-household_number", "HZ330106")
    page.select_option("#content-members-1-relation", "grandchild")
    page.press("#content-household_number", "Enter")  # Enter saves (it does not add a row)
    confirm(page)
    page.wait_for_selector("#record-header")
    assert page.get_attribute("#record-state .badge", "data-state") == "awaiting"
    assert page.inner_text("#signature-count") == "已签名 0 / 2"
    record_url = page.url
    snap(page, shots, "record-awaiting-zh")
    logout(page)

    # -- two more members sign it from the queue ----------------------------------------------
    for username, expected in (("member2", "已签名（1 / 2）"), ("member3", "已签名（2 / 2）。记录已在链上认证。")):
        login(page, base, username)
        page.click("nav.sections a[href='/committee/queue']")
        entry = page.locator("[data-testid=queue-entry]")
        assert entry.count() == 1
        assert "孙子女" not in entry.inner_text() and entry.locator("[data-testid=sign-submit]").count() == 0
        if username == "member3":  # large text: the queue and the changes still fit the window
            page.click("#large-text-toggle")
            assert "large-text" in (page.get_attribute("html", "class") or "")
        snap(page, shots, f"queue-{username}-zh")
        before = log.size()
        page.locator("[data-testid=queue-entry] [data-testid=show-changes]").click()
        page.wait_for_selector("#access-banner")
        assert log.size() == before + 1  # showing the changes is a logged view
        entry = page.locator("[data-testid=queue-entry]")
        assert entry.locator("tr[data-change=added][data-path='members[1].relation']").count() == 1
        assert "孙子女" in entry.inner_text()
        snap(page, shots, f"changes-{username}-zh")
        entry.locator("[data-testid=sign-submit]").click()
        confirm(page)
        assert expected in page.inner_text(".flash")
        assert page.url == f"{base}/committee/queue"
        logout(page)

    # -- certified ------------------------------------------------------------------------------
    login(page, base, "member1")
    page.goto(record_url)
    assert page.get_attribute("#record-state .badge", "data-state") == "certified"
    assert "王芳" in page.inner_text("#signed-by") and "刘伟" in page.inner_text("#signed-by")
    page.click("#show-content")
    assert "张小明" in page.inner_text("#record-content")
    assert page.get_attribute("#access-banner", "data-basis") == "duty"
    snap(page, shots, "record-certified-content-zh")
    switch_to(page, "en")
    page.click("nav.sections a[href='/committee/history']")
    kinds = [row.get_attribute("data-kind") for row in page.locator("[data-testid=history-row]").all()]
    assert kinds == ["certified", "signed", "signed", "created"]
    snap(page, shots, "history-en")
    page.click("nav.sections a[href='/committee/']")
    assert page.locator("[data-testid=record-row][data-state=certified]").count() == 1
    snap(page, shots, "home-with-a-certified-record-en")
    logout(page)

    # -- a grid worker updates it: the diff waits in the queue ------------------------------------
    login(page, base, "grid")
    switch_to(page, "zh_CN")
    assert page.locator("#grid-worker-note").count() == 1
    page.goto(record_url)
    page.click("#edit-record")
    assert page.get_attribute("#edit-version", "data-version") == "1"
    assert page.locator("#record-form").count() == 0  # no content before the button
    snap(page, shots, "record-update-start-zh")
    before = log.size()
    page.click("#open-form")
    page.wait_for_selector("#access-banner")
    assert page.input_value("#content-members-1-name") == "张小明" and log.size() == before + 1
    page.reload()  # the browser sends the form again: nothing is shown, nothing logged
    assert page.url == f"{record_url}/edit" and page.locator("#record-form").count() == 0
    assert "重新打开表单" in page.inner_text(".flash") and log.size() == before + 1
    switch_to(page, "en")
    page.click("#open-form")
    page.wait_for_selector("#access-banner")
    switch_to(page, "zh_CN")  # switching the language on the opened form leads back, with nothing shown
    assert page.url == f"{record_url}/edit" and page.locator("#record-form").count() == 0
    assert log.size() == before + 2
    page.click("#open-form")
    page.wait_for_selector("#access-banner")
    page.click("#content-members-more")  # one more row
    page.fill("#content-members-2-name", "李桂兰")
    page.select_option("#content-members-2-relation", "spouse")
    page.fill("#content-address", "西湖区翠苑一区 3 幢 2 单元 502")
    snap(page, shots, "record-update-zh")
    page.click("#record-submit")
    confirm(page)
    assert page.get_attribute("#record-state .badge", "data-state") == "awaiting"
    assert page.locator("#sign-submit").count() == 0 and page.locator("#not-a-signer").count() == 1
    snap(page, shots, "record-updated-grid-worker-zh")
    logout(page)

    login(page, base, "member2")
    switch_to(page, "en")
    page.click("nav.sections a[href='/committee/queue']")
    page.locator("[data-testid=queue-entry][data-version='2'] [data-testid=show-changes]").click()
    page.wait_for_selector("#access-banner")
    entry = page.locator("[data-testid=queue-entry][data-version='2']")
    assert entry.locator("tr[data-change=changed][data-path=address] ins").inner_text().endswith("502")
    assert entry.locator("tr[data-change=added][data-path='members[2].name']").count() == 1
    snap(page, shots, "queue-update-diff-en")
    before = log.size()
    page.reload()  # the changes are not kept either
    assert page.url == f"{base}/committee/queue" and page.locator("table.diff").count() == 0
    assert log.size() == before
    logout(page)


def test_a_grid_worker_relays_a_residents_permission(live_app, page, shots: Shots) -> None:  # type: ignore[no-untyped-def]
    app, base = live_app
    consent = app.extensions["gridledger"].consent
    login(page, base, "grid")
    page.click("nav.sections a[href='/committee/residents/']")
    snap(page, shots, "residents-zh")
    page.click("[data-testid=resident-row] >> text=张秀英")
    snap(page, shots, "resident-zh")
    page.click("#resident-relay")
    page.select_option("#department", World.department)
    page.check("#categories-0")  # identity
    page.check("#categories-3")  # health
    page.select_option("#purpose", "2")
    page.fill("#valid_until", (today() + timedelta(days=365)).isoformat())
    page.fill("#purpose_text", "家庭医生签约服务")
    page.click("#relay-submit")  # the box "the resident is here" is not ticked
    confirm(page)
    assert page.inner_text("#present-error") == "仅在居民本人在场并同意时勾选。"
    snap(page, shots, "relay-present-missing-zh")
    page.check("#present")
    page.click("#relay-submit")
    confirm(page)
    assert "本人的签名提交" in page.inner_text(".flash")
    grant = page.locator("article.grant.new")
    gid = grant.get_attribute("data-grant-id")
    assert gid and consent.show(gid).relayer == app.extensions["gridledger"].ledger.address_of(World.grid_worker)
    assert "陈静代为提交" in grant.inner_text()
    snap(page, shots, "relay-sent-zh")
    switch_to(page, "en")
    page.locator(f"article[data-grant-id='{gid}'] input[type=checkbox]").check()
    page.locator(f"article[data-grant-id='{gid}'] [data-testid=withdraw-submit]").click()
    confirm(page)
    assert "Withdrawn with 张秀英's own signature" in page.inner_text(".flash")
    assert page.get_attribute(f"article[data-grant-id='{gid}']", "data-status") == "withdrawn"
    assert consent.show(gid).status == "withdrawn"
    snap(page, shots, "relay-withdrawn-en")
