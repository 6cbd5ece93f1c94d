"""The office pages in a real browser: after an allowed read, a refused one and an emergency,
the admin sees them on the dashboard (chart from Chart.js, no CSP violation), finds them in
the audit, reviews the emergency, and every office page is photographed in Chinese and
some in English."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from ledger.categories import Category
from ledger.consent import LegalBasis, Purpose
from ledger.errors import AccessRefused
from tests.conftest import World
from webapp.services import Services

from .conftest import Shots
from .test_pages import login

pytestmark = pytest.mark.chain

HEALTH = {"blood_type": "A", "chronic_conditions": ["高血压 hypertension"], "allergies": [], "family_doctor": "李医生"}


def _accesses(svc: Services) -> dict[str, int | str]:
    rid, _ = svc.records.add(actor=World.grid_worker, subject=World.resident, category=Category.HEALTH, content=HEALTH)
    svc.records.sign(rid, signer=World.members[0])
    svc.records.sign(rid, signer=World.members[1])
    gid, _ = svc.consent.issue(
        resident=World.resident, department=World.department, categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + 86_400 * 365,
    )  # fmt: skip
    allowed = svc.access.read(rid, accessor=World.officer).seq
    with pytest.raises(AccessRefused) as refused:
        svc.access.read(rid, accessor=World.police_officer)
    emergency = svc.access.read(rid, accessor=World.officer, justification="老人昏倒，急救需要过敏史").seq
    return {"record": rid, "grant": gid, "allowed": allowed, "refused": refused.value.seq, "emergency": emergency}


def test_the_office_pages_show_accesses_refusals_and_reviews(live_app, page, shots: Shots) -> None:  # type: ignore[no-untyped-def]
    app, base = live_app
    svc: Services = app.extensions["gridledger"]
    seen = _accesses(svc)
    login(page, base, "admin")
    assert page.url.endswith("/office/")
    expect(page.locator("h1")).to_have_text("街道办总览")

    # the dashboard: the accesses and the refusal, the chart drawn by Chart.js
    expect(page.locator(f"#access-{seen['allowed']}")).to_have_attribute("data-outcome", "allowed")
    expect(page.locator(f"#access-{seen['refused']}")).to_have_attribute("data-outcome", "refused")
    expect(page.locator(f"#access-{seen['refused']}")).to_contain_text("没有有效授权")
    expect(page.locator(f"#access-{seen['emergency']}")).to_have_attribute("data-basis", "emergency")
    assert page.evaluate("document.getElementById('access-chart').chart !== undefined")
    deadline = time.monotonic() + 20
    while page.get_attribute("[data-testid=anchoring-state]", "data-state") != "ok":  # the worker anchors
        assert time.monotonic() < deadline, "the worker beside the app did not anchor the log"
        time.sleep(0.3)
        page.reload()
    shots.take(page, "dashboard-zh")

    page.click("nav.sections a[href='/office/organisations']")
    expect(page.locator("[data-testid=org-cmte-a]")).to_be_visible()
    shots.take(page, "organisations-zh")
    page.click("[data-testid=org-cmte-a] a")
    expect(page.locator("#threshold-form")).to_be_visible()
    shots.take(page, "organisation-zh")

    page.goto(f"{base}/office/members")
    expect(page.locator("[data-testid=member-cmte-a-m1]")).to_be_visible()
    shots.take(page, "members-zh")

    page.goto(f"{base}/office/grants")
    expect(page.locator(f"[data-testid=grant-{seen['grant']}]")).to_be_visible()
    shots.take(page, "grants-zh")
    page.click(f"[data-testid=grant-{seen['grant']}] a")
    expect(page.locator("#revoke-form")).to_be_visible()
    shots.take(page, "grant-zh")

    page.goto(f"{base}/office/audit")
    expect(page.locator(f"[data-testid=finding-refused-attempt-{seen['refused']}]")).to_be_visible()
    expect(page.locator(f"[data-testid=finding-emergency-unreviewed-{seen['emergency']}]")).to_be_visible()
    page.click("#integrity-submit")
    expect(page.locator("#integrity-result .badge").first).to_be_visible()
    shots.take(page, "audit-zh")

    page.goto(f"{base}/office/reviews")
    card = page.locator(f"#review-{seen['emergency']}")
    expect(card).to_contain_text("老人昏倒")
    shots.take(page, "reviews-pending-zh")
    card.locator("textarea").fill("已与医院核实 confirmed with the hospital")
    card.locator(f"#approve-{seen['emergency']}").click()
    expect(page.locator(f"[data-testid=reviewed-{seen['emergency']}]")).to_be_visible()
    shots.take(page, "reviews-done-zh")

    page.goto(f"{base}/office/export")
    expect(page.locator("#export-bundle")).to_be_visible()
    shots.take(page, "export-zh")

    # English
    page.click("button[value=en]")
    expect(page.locator("h1")).to_have_text("Exports")
    page.goto(f"{base}/office/")
    expect(page.locator("h1")).to_have_text("Office dashboard")
    shots.take(page, "dashboard-en")
    page.goto(f"{base}/office/audit")
    shots.take(page, "audit-en")
    page.goto(f"{base}/office/members?org=cmte-a")
    shots.take(page, "members-en")
