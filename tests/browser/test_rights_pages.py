"""Residents' requests in a real browser, in Chinese: the resident asks for a correction and
objects to a use of their data; a committee member drafts the corrected version from the
request and two sign it; the office answers the objection; the resident reads both answers.
Screenshots of each page go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
import time

import pytest

from ledger.categories import Category
from tests.conftest import World
from webapp.services import Services

from .conftest import Shots, confirm
from .test_resident_pages import HEALTH, anchored, login

pytestmark = pytest.mark.chain


def _until(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("not reached in time")


def test_a_correction_and_an_objection_answered_in_the_browser(live_app, pages, shots: Shots) -> None:  # type: ignore[no-untyped-def]
    app, base = live_app
    svc: Services = app.extensions["gridledger"]
    rid, _ = svc.records.add(actor=World.members[0], subject=World.resident, category=Category.HEALTH, content=HEALTH)
    svc.records.sign(rid, signer=World.members[0])
    svc.records.sign(rid, signer=World.members[1])
    seq = svc.access.read(rid, accessor=World.admin).seq
    anchored(svc)

    resident = pages.new()
    login(resident, base, "resident")
    resident.goto(f"{base}/resident/records")
    shots.take(resident, "records-with-request-buttons-zh")
    resident.click("[data-testid=ask-correction]")
    resident.select_option("#field", "family_doctor")
    resident.fill("#value", "王医生（社区卫生服务中心）")
    resident.fill("#comment", "去年换了家庭医生")
    shots.take(resident, "ask-correction-zh")
    resident.click("#correction-submit")
    assert "/resident/requests" in resident.url
    assert resident.locator("[data-testid=request][data-kind=correction][data-status=open]").count() == 1
    shots.take(resident, "my-requests-open-zh")
    resident.goto(f"{base}/resident/history")
    resident.click(f"#entry-{seq} [data-testid=object] summary")
    resident.fill(f"#object-comment-{seq}", "我不知道街道办为什么要看")
    shots.take(resident, "history-object-zh")
    resident.click(f"#entry-{seq} [data-testid=object-submit]")
    assert resident.locator(f"#entry-{seq} [data-testid=entry-objection]").count() == 1

    member = pages.new()
    login(member, base, "member3")
    member.goto(f"{base}/committee/corrections")
    shots.take(member, "committee-corrections-zh")
    member.click("[data-testid=open-record]")
    shots.take(member, "committee-record-with-correction-zh")
    member.click("[data-testid=draft-correction]")
    assert member.input_value("#content-family_doctor") == "王医生（社区卫生服务中心）"
    shots.take(member, "committee-draft-form-zh")
    member.click("#record-submit")
    confirm(member)
    member.wait_for_url(re.compile(rf".*/committee/records/{rid}$"))
    for signer in ("member1", "member2"):
        other = pages.new()
        login(other, base, signer)
        other.goto(f"{base}/committee/records/{rid}")
        _until(lambda o=other: o.reload() or o.locator("#sign-submit").count() == 1)
        other.click("#sign-submit")
        confirm(other)
    _until(lambda: any(r.outcome == "corrected" for r in svc.rights.of_resident(World.resident)))

    admin = pages.new()
    login(admin, base, "admin")
    admin.goto(f"{base}/office/")
    shots.take(admin, "office-dashboard-requests-card-zh")
    admin.goto(f"{base}/office/requests")
    shots.take(admin, "office-requests-zh")
    objection = next(r for r in svc.rights.of_resident(World.resident) if r.kind == "objection")
    prefix = f"o{objection.request_id[2:14]}"
    admin.fill(f"#{prefix}-reason", "这是街道办的年度抽查，已记录在案；以后会先告知您。")
    admin.click(f"#not-upheld-{objection.request_id}")
    shots.take(admin, "office-requests-answered-zh")

    resident.goto(f"{base}/resident/requests")
    assert resident.locator("[data-testid=request-outcome][data-outcome=corrected]").count() == 1
    assert resident.locator("[data-testid=request-outcome][data-outcome=not-upheld]").count() == 1
    shots.take(resident, "my-requests-answered-zh")
    resident.goto(f"{base}/resident/history#entry-{seq}")
    assert "以后会先告知您" in resident.inner_text(f"#entry-{seq}")
    shots.take(resident, "history-objection-answered-zh")
