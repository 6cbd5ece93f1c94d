"""The office pages in a real browser: after an allowed read, a refused one and an emergency,
the admin sees them on the dashboard (chart from Chart.js, no CSP violation), finds them in
the audit, reviews the emergency, pages through the members and grants with their filters,
and every office page is photographed in Chinese and some in English."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from ledger.categories import Category
from ledger.consent import LegalBasis, Purpose
from ledger.errors import AccessRefused
from tests.conftest import World
from webapp.office import routes as office_routes
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


def _older_grants(svc: Services) -> None:
    """Two grants before the one the test follows, the second withdrawn (none to the police,
    whose read must be refused)."""
    for _n in range(2):
        gid, _ = svc.consent.issue(
            resident=World.resident, department=World.department, categories=[Category.HEALTH],
            purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + 86_400 * 30,
        )  # fmt: skip
    svc.consent.withdraw(gid)


def test_the_office_pages_show_accesses_refusals_and_reviews(live_app, page, shots: Shots, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app, base = live_app
    svc: Services = app.extensions["gridledger"]
    _older_grants(svc)
    seen = _accesses(svc)
    monkeypatch.setattr(office_routes, "MEMBERS_PAGE", 4)  # the world is small: pages of a few rows
    monkeypatch.setattr(office_routes, "GRANTS_PAGE", 2)
    login(page, base, "admin")
    assert page.url.endswith("/office/")
    expect(page.locator("h1")).to_have_text("街道办总览")

    # the dashboard: the accesses and the refusal, the chart drawn by Chart.js
    expect(page.locator(f"#access-{seen['allowed']}")).to_have_attribute("data-outcome", "allowed")
    expect(page.locator(f"#access-{seen['refused']}")).to_have_attribute("data-outcome", "refused")
    expect(page.locator(f"#access-{seen['refused']}")).to_contain_text("没有有效授权")
    expect(page.locator(f"#access-{seen['emergency']}")).to_have_attribute("data-basis", "emergency")
    # the chart is drawn on DOMContentLoaded, which can come after the rows above are in the DOM;
    # asked once the page has loaded (waiting with wait_for_function would poll by eval, which the
    # page's CSP refuses whenever the first look comes too early)
    page.wait_for_load_state("load", timeout=10_000)
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

    # members, four a page: the filter bar and the pager; a search and a status kept across pages
    page.goto(f"{base}/office/members")
    expect(page.locator("#members-pager")).to_have_attribute("data-pages", "3")
    expect(page.locator("#members-previous")).to_have_count(0)
    expect(page.locator("[data-testid=member-cmte-a-m1]")).to_be_visible()
    page.click("#members-next")
    expect(page.locator("[data-testid=member-cmte-a-m3]")).to_be_visible()
    shots.take(page, "members-zh")
    page.fill("#filter-q", "cmte-a")
    page.select_option("#filter-status", "active")
    page.click("#member-filter button[type=submit]")
    expect(page.locator("#members-pager")).to_have_attribute("data-pages", "2")
    expect(page.locator("[data-testid=member-cmte-a-suspended]")).to_have_count(0)
    page.click("#members-next")
    expect(page.locator("#members-pager")).to_have_attribute("data-page", "2")
    expect(page.locator("#filter-q")).to_have_value("cmte-a")
    expect(page.locator("#filter-status")).to_have_value("active")
    expect(page.locator("[data-testid=member-cmte-a-resident]")).to_be_visible()
    shots.take(page, "members-filtered-zh")

    # grants, two a page, newest first; an unknown status is ignored with a message
    page.goto(f"{base}/office/grants")
    expect(page.locator(f"[data-testid=grant-{seen['grant']}]")).to_be_visible()
    expect(page.locator("#grants-pager")).to_have_attribute("data-pages", "2")
    shots.take(page, "grants-zh")
    page.goto(f"{base}/office/grants?status=lost&q=张秀英&department=dept-a-health")
    expect(page.locator("[data-testid=filter-ignored]")).to_contain_text("已忽略")
    expect(page.locator("#grant-table tbody tr")).to_have_count(2)
    expect(page.locator("#filter-q")).to_have_value("张秀英")
    expect(page.locator("#grants-older")).to_have_attribute(
        "href", re.compile(r"q=%E5%BC%A0.*department=dept-a-health")
    )
    shots.take(page, "grants-filtered-zh")
    page.goto(f"{base}/office/grants")
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
    expect(page.locator("#members-pager")).to_contain_text("Page 1 of 2")
    shots.take(page, "members-en")
    page.goto(f"{base}/office/grants?status=withdrawn&status=x")
    expect(page.locator("#grant-table tbody tr")).to_have_count(1)
    page.goto(f"{base}/office/grants?q=cmte-a")
    page.click("#grants-older")
    expect(page.locator("#grants-newer")).to_be_visible()
    expect(page.locator("#filter-q")).to_have_value("cmte-a")
    shots.take(page, "grants-en")
