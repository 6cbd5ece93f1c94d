"""Subdistrict office admins: organisations and members (create, suspend, reinstate, revoke,
thresholds), grants (revoke with a reason), the dashboard (accesses per department per day,
the latest accesses and refusals, anchoring health), the audit (findings and filters,
integrity against the chain), emergency reviews and exports; every route refused to other
roles and to strangers, and another office's objects answered with 404."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from ledger.anchoring import Anchorer
from ledger.categories import Category
from ledger.consent import LegalBasis, Purpose
from ledger.errors import AccessRefused
from ledger.membership import Role, org_id
from ledger.store.models import EmergencyReview, GrantTerms, Member, RecordVersion
from ledger.verifier import verify_bundle
from tests.conftest import World
from webapp.office import routes as office_routes
from webapp.services import Services

from .conftest import ESCAPED, HEALTH, SCRIPT, YEAR, Auth

pytestmark = pytest.mark.chain

HEALTH_DEPT = "0x" + org_id(World.department).hex()
POLICE_DEPT = "0x" + org_id(World.police).hex()


@pytest.fixture(autouse=True)
def _english(client: FlaskClient) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def add_record(svc: Services) -> str:
    rid, _ = svc.records.add(actor=World.members[0], subject=World.resident, category=Category.HEALTH, content=HEALTH)
    svc.records.sign(rid, signer=World.members[0])
    svc.records.sign(rid, signer=World.members[1])
    return rid


def grant(svc: Services, department: str = World.department, resident: str = World.resident) -> str:
    gid, _ = svc.consent.issue(
        resident=resident, department=department, categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + YEAR,
    )  # fmt: skip
    return gid


class Reads:
    """An allowed read under a grant, a refused one (police, no grant) and an emergency."""

    def __init__(self, svc: Services) -> None:
        self.record = add_record(svc)
        self.grant = grant(svc)
        self.allowed = svc.access.read(self.record, accessor=World.officer).seq
        with pytest.raises(AccessRefused) as refused:
            svc.access.read(self.record, accessor=World.police_officer)
        self.refused = refused.value.seq
        self.emergency = svc.access.read(self.record, accessor=World.officer, justification="急救 ambulance").seq


@pytest.fixture
def reads(svc: Services) -> Reads:
    return Reads(svc)


def anchor(svc: Services) -> None:
    ledger = svc.ledger
    Anchorer(ledger, ledger.account(ledger.settings.anchorer)).run_until_anchored()


def member(svc: Services, label: str) -> Member:
    address = svc.ledger.address_of(label)
    with svc.ledger.store.session() as db:
        found = db.get(Member, address)
    assert found is not None
    return found


def org(svc: Services, code: str) -> Any:
    return next(v for v in svc.orgs.organisations() if v.code == code)


def page_of(response: Any) -> str:
    return str(response.get_data(as_text=True))


def flashes(text: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="flash \w+" role="status">([^<]*)</p>', text)]


def ignored(text: str) -> list[str]:
    """The messages saying a filter value was not used."""
    return [html.unescape(m) for m in re.findall(r'data-testid="filter-ignored">([^<]*)</p>', text)]


def link(text: str, element_id: str) -> str | None:
    """Where the link with this id goes (unescaped), or None when the page has no such link."""
    found = re.search(rf'href="([^"]+)" id="{element_id}"', text)
    return html.unescape(found.group(1)) if found else None


# -- who may come in ------------------------------------------------------------------------


def routes(address: str, grant_id: str, seq: int) -> list[tuple[str, str]]:
    return [
        ("GET", "/office/"),
        ("GET", "/office/organisations"),
        ("POST", "/office/organisations/committee"),
        ("POST", "/office/organisations/department"),
        ("GET", "/office/organisations/cmte-a"),
        ("POST", "/office/organisations/cmte-a/threshold"),
        ("GET", "/office/members"),
        ("POST", "/office/members"),
        ("POST", f"/office/members/{address}/suspend"),
        ("POST", f"/office/members/{address}/reinstate"),
        ("POST", f"/office/members/{address}/revoke"),
        ("GET", "/office/grants"),
        ("GET", f"/office/grants/{grant_id}"),
        ("POST", f"/office/grants/{grant_id}/revoke"),
        ("GET", "/office/audit"),
        ("POST", "/office/audit/integrity"),
        ("POST", "/office/audit/incremental"),
        ("GET", "/office/reviews"),
        ("POST", f"/office/reviews/{seq}"),
        ("GET", "/office/export"),
        ("GET", "/office/export/csv"),
        ("GET", "/office/export/pdf"),
        ("GET", "/office/export/bundle?department=dept-a-health"),
    ]


def test_every_page_opens_for_the_office_admin(client: FlaskClient, auth: Auth, reads: Reads) -> None:
    auth.login_as("admin")
    for method, url in routes("0x" + "00" * 20, reads.grant, reads.emergency):
        if method == "GET" and "/export/" not in url:
            response = client.get(url)
            assert response.status_code == 200, url
            assert response.headers["Cache-Control"] == "no-store", url
            assert "text/html" in response.headers["Content-Type"], url
    assert client.get("/office/organisations/dept-a-health").status_code == 200
    assert client.get("/office/members?org=dept-a-police").status_code == 200
    assert client.get("/office/grants?department=dept-a-health&status=active").status_code == 200
    assert client.get("/office/?days=30").status_code == 200


@pytest.mark.parametrize("username", ["resident", "member1", "grid", "officer", "other-member", "suspended"])
def test_other_roles_get_403_on_every_route(client: FlaskClient, auth: Auth, svc: Services, username: str) -> None:
    address = svc.ledger.address_of(World.members[2])
    gid = grant(svc)
    auth.login_as(username)
    for method, url in routes(address, gid, 1):
        response = client.get(url) if method == "GET" else client.post(url, data={"csrf_token": auth.token()})
        assert response.status_code == 403, (username, method, url)
    assert member(svc, World.members[2]).status == "active"
    assert org(svc, World.committee).threshold == 2


def test_anonymous_visitors_are_sent_to_log_in(client: FlaskClient) -> None:
    for method, url in routes("0x" + "00" * 20, "0x" + "11" * 32, 1):
        response = client.get(url) if method == "GET" else client.post(url, data={})
        if method == "GET":
            assert response.status_code == 302 and response.headers["Location"].startswith("/login"), url
        else:  # no session: the CSRF check refuses first, nothing is changed
            assert response.status_code in (302, 400), url


def test_another_offices_admin_gets_404_on_our_objects(client: FlaskClient, auth: Auth, svc: Services) -> None:
    reads = Reads(svc)
    m1 = svc.ledger.address_of(World.members[0])
    auth.login_as("other-admin")
    assert client.get("/office/").status_code == 200  # their own dashboard
    for url in (
        "/office/organisations/cmte-a",
        "/office/organisations/dept-a-health",
        "/office/members?org=cmte-a",
        f"/office/grants/{reads.grant}",
        "/office/grants?department=dept-a-health",
        "/office/audit?department=dept-a-health",
        "/office/export/csv?department=dept-a-health",
    ):
        assert client.get(url).status_code == 404, url
    posts = [
        ("/office/organisations/cmte-a/threshold", {"threshold": "1"}),
        (f"/office/members/{m1}/suspend", {}),
        (f"/office/grants/{reads.grant}/revoke", {"reason": "不是我们的"}),
        (
            f"/office/reviews/{reads.emergency}",
            {f"r{reads.emergency}-note": "看看", f"r{reads.emergency}-flag": "Flag"},
        ),
    ]
    for url, data in posts:
        assert auth.post(url, data, page="/office/").status_code == 404, url
    sneaky = {"member-label": "b-sneaky", "member-organisation": "cmte-a", "member-role": "grid-worker"}
    refused = auth.post("/office/members", sneaky, page="/office/")  # not one of their choices
    assert refused.status_code == 400 and 'id="member-organisation-error"' in page_of(refused)
    # nothing of office A shows on office B's pages
    for url in ("/office/", "/office/organisations", "/office/members", "/office/grants", "/office/reviews"):
        text = page_of(client.get(url))
        assert "Committee A" not in text and "Health A" not in text and "张秀英" not in text, url
    assert f'id="access-{reads.allowed}"' not in page_of(client.get("/office/"))
    assert member(svc, World.members[0]).status == "active"
    assert org(svc, World.committee).threshold == 2
    assert svc.consent.show(reads.grant).status == "active"
    with svc.ledger.store.session() as db:
        assert db.get(EmergencyReview, reads.emergency) is None
    assert not svc.orgs.is_member("b-sneaky")


# -- organisations --------------------------------------------------------------------------


def test_creating_a_committee_with_its_members_and_k(client: FlaskClient, auth: Auth, svc: Services) -> None:
    auth.login_as("admin")
    response = auth.post(
        "/office/organisations/committee",
        {
            "committee-code": "cmte-huayuan",
            "committee-name_zh": "花园社区居委会",
            "committee-name_en": f"Huayuan Residents' Committee {SCRIPT}",
            "committee-members": "huayuan-zhang\nhuayuan-li, huayuan-wang",
            "committee-threshold": "2",
        },
        page="/office/organisations",
    )
    assert response.status_code == 302 and response.headers["Location"] == "/office/organisations/cmte-huayuan"
    made = org(svc, "cmte-huayuan")
    assert made.kind == "committee" and made.threshold == 2 and made.active_signers == 3
    assert made.parent_code == World.office
    assert {m.label for m in svc.orgs.members("cmte-huayuan")} == {"huayuan-zhang", "huayuan-li", "huayuan-wang"}
    shown = client.get(response.headers["Location"])
    text = page_of(shown)
    assert "2 of 3 active signing members must sign" in text
    assert SCRIPT not in text and ESCAPED in text
    listing = page_of(client.get("/office/organisations"))
    assert 'data-testid="org-cmte-huayuan"' in listing and SCRIPT not in listing and ESCAPED in listing
    assert re.search(r'data-testid="threshold-cmte-huayuan">2 of 3<', listing)


def test_a_committee_form_with_mistakes_says_so_beside_each_field(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    auth.login_as("admin")
    form = {"committee-code": "cmte-x", "committee-name_zh": "某", "committee-name_en": "X",
            "committee-members": "x-one x-two x-three"}  # fmt: skip
    too_many = auth.post(
        "/office/organisations/committee", {**form, "committee-threshold": "4"}, page="/office/organisations"
    )
    text = page_of(too_many)
    assert too_many.status_code == 400 and 'id="committee-threshold-error"' in text
    assert "k must be between 1 and the number of members (3)." in text
    zero = auth.post(
        "/office/organisations/committee", {**form, "committee-threshold": "0"}, page="/office/organisations"
    )
    assert zero.status_code == 400 and 'id="committee-threshold-error"' in page_of(zero)
    bad = auth.post(
        "/office/organisations/committee",
        {
            "committee-code": "Bad Code!",
            "committee-name_zh": "",
            "committee-name_en": "",
            "committee-members": "ok-one ok-one",
            "committee-threshold": "1",
        },
        page="/office/organisations",
    )
    text = page_of(bad)
    assert bad.status_code == 400
    for name in ("code", "name_zh", "name_en", "members"):
        assert f'id="committee-{name}-error"' in text, name
    exists = auth.post(
        "/office/organisations/committee",
        {**form, "committee-code": World.committee, "committee-threshold": "1"},
        page="/office/organisations",
    )
    assert exists.status_code == 400 and "An organisation with this code exists already." in page_of(exists)
    taken = auth.post(
        "/office/organisations/committee",
        {**form, "committee-members": f"{World.members[0]} governance", "committee-threshold": "1"},
        page="/office/organisations",
    )
    text = page_of(taken)
    assert taken.status_code == 400 and 'id="committee-members-error"' in text
    assert f"{World.members[0]}, governance. Choose another label." in text
    assert not svc.orgs.exists("cmte-x") and org(svc, World.committee).names.en == "Committee A"


def test_creating_a_department(client: FlaskClient, auth: Auth, svc: Services) -> None:
    auth.login_as("admin")
    response = auth.post(
        "/office/organisations/department",
        {"department-code": "dept-a-civil", "department-name_zh": "民政科", "department-name_en": f"Civil Affairs {SCRIPT}",
         "department-kind": "civil-affairs"},  # fmt: skip
        page="/office/organisations",
    )
    assert response.status_code == 302 and response.headers["Location"] == "/office/organisations/dept-a-civil"
    made = org(svc, "dept-a-civil")
    assert made.kind == "department" and made.department_kind == "civil-affairs" and made.parent_code == World.office
    text = page_of(client.get("/office/organisations/dept-a-civil"))
    assert f'id="org-name">Civil Affairs {ESCAPED}<' in text and "Civil affairs" in text and 'id="threshold-form"' not in text
    dashboard = page_of(client.get("/office/"))  # the name inside the chart's data attribute stays data
    assert SCRIPT not in dashboard and "'x'" not in dashboard
    assert {d["code"]: d["name"] for d in chart_of(dashboard)["departments"]}["dept-a-civil"] == f"Civil Affairs {SCRIPT}"
    bad = auth.post(
        "/office/organisations/department",
        {"department-code": "dept-b", "department-name_zh": "乙", "department-name_en": "B", "department-kind": "spying"},
        page="/office/organisations",
    )
    assert bad.status_code == 400 and 'id="department-kind-error"' in page_of(bad)
    assert not svc.orgs.exists("dept-b")


def test_changing_k_with_field_errors_out_of_range(client: FlaskClient, auth: Auth, svc: Services) -> None:
    auth.login_as("admin")
    url, page = "/office/organisations/cmte-a/threshold", "/office/organisations/cmte-a"
    for bad in ("0", "4", "", "two"):
        response = auth.post(url, {"threshold": bad}, page=page)
        text = page_of(response)
        assert response.status_code == 400 and 'id="threshold-error"' in text and 'aria-invalid="true"' in text, bad
    assert "k must be between 1 and the number of active signing members (3)." in page_of(
        auth.post(url, {"threshold": "4"}, page=page)
    )
    assert org(svc, World.committee).threshold == 2
    done = auth.post(url, {"threshold": "3"}, page=page)
    assert done.status_code == 302
    assert org(svc, World.committee).threshold == 3
    text = page_of(client.get(done.headers["Location"]))
    assert "Committee A now needs 3 signatures to certify a record." in text and "3 of 3" in text
    assert auth.post("/office/organisations/dept-a-health/threshold", {"threshold": "1"}, page=page).status_code == 404


# -- members --------------------------------------------------------------------------------


def test_adding_a_member(client: FlaskClient, auth: Auth, svc: Services) -> None:
    auth.login_as("admin")
    data = {"member-label": "cmte-a-grid-2", "member-organisation": World.committee, "member-role": "grid-worker"}
    response = auth.post("/office/members", data, page="/office/members")
    assert response.status_code == 302 and response.headers["Location"] == "/office/members?org=cmte-a"
    added = member(svc, "cmte-a-grid-2")
    assert (
        added.role == "grid-worker"
        and added.status == "active"
        and added.org_id == "0x" + org_id(World.committee).hex()
    )
    text = page_of(client.get(response.headers["Location"]))
    assert 'data-testid="member-cmte-a-grid-2" data-status="active" data-role="grid-worker"' in text
    assert "cmte-a-grid-2 was added to Committee A." in flashes(text)

    wrong_role = auth.post("/office/members", {**data, "member-label": "x-1", "member-role": "department-officer"})
    assert wrong_role.status_code == 400 and 'id="member-role-error"' in page_of(wrong_role)
    again = auth.post("/office/members", data, page="/office/members")
    assert again.status_code == 400 and 'id="member-label-error"' in page_of(again)
    service = auth.post("/office/members", {**data, "member-label": "anchorer"}, page="/office/members")
    assert service.status_code == 400 and 'id="member-label-error"' in page_of(service)
    bad_label = auth.post("/office/members", {**data, "member-label": "<b>Zhao</b>"}, page="/office/members")
    assert bad_label.status_code == 400 and "&lt;b&gt;Zhao" in page_of(bad_label)
    elsewhere = auth.post("/office/members", {**data, "member-organisation": World.other_committee})
    assert elsewhere.status_code == 400 and 'id="member-organisation-error"' in page_of(elsewhere)
    assert not svc.orgs.is_member("x-1") and not svc.orgs.is_member("anchorer")


def test_suspend_reinstate_and_revoke_and_the_suspended_member_loses_their_pages(
    client: FlaskClient, auth: Auth, svc: Services, app: Flask
) -> None:
    m1 = svc.ledger.address_of(World.members[0])
    other = app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    member_auth = Auth(other)
    member_auth.login_as("member1")
    assert other.get("/committee/").status_code == 200

    auth.login_as("admin")
    suspended = auth.post(f"/office/members/{m1}/suspend", page="/office/members")
    assert suspended.status_code == 302 and member(svc, World.members[0]).status == "suspended"
    assert "李建国 was suspended." in flashes(page_of(client.get(suspended.headers["Location"])))
    assert other.get("/committee/").status_code == 403  # at their next click

    reinstated = auth.post(f"/office/members/{m1}/reinstate", page="/office/members")
    assert reinstated.status_code == 302 and member(svc, World.members[0]).status == "active"
    assert other.get("/committee/").status_code == 200

    # revoking needs a suspension first; the button is not offered to an active member
    text = page_of(client.get("/office/members?org=cmte-a"))
    assert (
        f'data-testid="suspend-{World.members[0]}"' in text and f'data-testid="revoke-{World.members[0]}"' not in text
    )
    auth.post(f"/office/members/{m1}/suspend", page="/office/members")
    revoked = auth.post(f"/office/members/{m1}/revoke", page="/office/members")
    assert revoked.status_code == 302 and member(svc, World.members[0]).status == "revoked"
    assert other.get("/committee/").status_code == 403
    again = auth.post(f"/office/members/{m1}/reinstate", page="/office/members")
    assert "The member's status does not allow this change." in flashes(page_of(client.get(again.headers["Location"])))
    assert member(svc, World.members[0]).status == "revoked"


def test_a_committee_cannot_drop_below_k_and_an_admin_cannot_change_themselves(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    auth.login_as("admin")
    m1, m2 = (svc.ledger.address_of(label) for label in World.members[:2])
    auth.post(f"/office/members/{m1}/suspend", page="/office/members")
    refused = auth.post(f"/office/members/{m2}/suspend", page="/office/members")
    assert any("Lower k first" in f for f in flashes(page_of(client.get(refused.headers["Location"]))))
    assert member(svc, World.members[1]).status == "active"

    me = svc.ledger.address_of(World.admin)
    text = page_of(client.get("/office/members?org=office-a"))
    assert f'data-testid="suspend-{World.admin}"' not in text and f'data-testid="suspend-{World.second_admin}"' in text
    mine = auth.post(f"/office/members/{me}/suspend", page="/office/members")
    assert "You cannot change your own membership" in " ".join(flashes(page_of(client.get(mine.headers["Location"]))))
    assert member(svc, World.admin).status == "active"
    assert auth.post(f"/office/members/{me}/promote", page="/office/members").status_code == 404
    assert auth.post("/office/members/not-an-address/suspend", page="/office/members").status_code == 404


def test_members_filter_by_organisation_and_role(client: FlaskClient, auth: Auth) -> None:
    auth.login_as("admin")
    text = page_of(client.get("/office/members?org=cmte-a&role=grid-worker"))
    rows = re.findall(r'data-testid="member-([^"]+)"', text)
    assert rows == [World.grid_worker]
    everyone = re.findall(r'data-testid="member-([^"]+)"', page_of(client.get("/office/members")))
    assert World.admin in everyone and World.officer in everyone and World.other_member not in everyone
    assert everyone.index(World.admin) < everyone.index(World.members[0]) < everyone.index(World.officer)
    assert client.get("/office/members?org=cmte-b").status_code == 404


def member_rows(text: str) -> list[str]:
    return re.findall(r'data-testid="member-([^"]+)"', text)


def test_members_are_shown_a_page_at_a_time_in_the_same_order(
    client: FlaskClient, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth.login_as("admin")
    everyone = member_rows(page_of(client.get("/office/members")))
    assert len(everyone) == 11 and 'id="members-pager"' not in page_of(client.get("/office/members"))
    monkeypatch.setattr(office_routes, "MEMBERS_PAGE", 4)
    text = page_of(client.get("/office/members"))
    assert 'data-page="1" data-pages="3"' in text and link(text, "members-previous") is None
    assert "Showing 1–4 of 11" in text and "Page 1 of 3" in text
    seen, pages = member_rows(text), 1
    while (after := link(text, "members-next")) is not None:
        text = page_of(client.get(after))
        seen += member_rows(text)
        pages += 1
        assert link(text, "members-previous") == (
            f"/office/members?page={pages - 1}" if pages > 2 else "/office/members?page=1"
        )
    assert pages == 3 and seen == everyone and "Showing 9–11 of 11" in text
    for past in ("99", "3"):  # past the end: the last page
        last = page_of(client.get(f"/office/members?page={past}"))
        assert member_rows(last) == everyone[8:] and 'data-page="3"' in last
    for nonsense in ("0", "-2", "abc", ""):
        first = client.get(f"/office/members?page={nonsense}")
        assert first.status_code == 200 and member_rows(page_of(first)) == everyone[:4], nonsense


def test_members_filter_by_role_status_and_search_kept_across_pages(
    client: FlaskClient, auth: Auth, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth.login_as("admin")

    def rows(query: str) -> list[str]:
        return member_rows(page_of(client.get(f"/office/members?{query}")))

    assert rows("role=office-admin") == [World.admin, World.second_admin]
    assert rows("status=suspended") == [World.suspended]
    assert rows("status=revoked&org=cmte-a") == [World.revoked]
    assert rows("role=committee-member&status=active") == list(World.members)
    assert rows("q=李建国") == [World.members[0]]  # the web log-in's name
    assert rows("q=POLICE") == [World.police_officer]  # the label, ignoring case
    address = svc.ledger.address_of(World.grid_worker)
    assert rows(f"q={address.lower()}") == [World.grid_worker]  # the address, whatever its case
    assert rows(f"q={address[:12]}") == [World.grid_worker]
    assert rows("q=+cmte-a-m2++") == [World.members[1]]  # spaces around are dropped
    assert rows("q=_") == [] and rows("q=%25") == []  # LIKE's wildcards are taken literally
    assert rows("q=cmte-b") == []  # another office's member
    nothing = page_of(client.get("/office/members?q=nobody-here"))
    assert 'id="no-members"' in nothing and "No member matches these filters." in nothing
    assert 'id="clear-filters"' in nothing and 'id="clear-filters"' not in page_of(client.get("/office/members"))

    monkeypatch.setattr(office_routes, "MEMBERS_PAGE", 2)
    text = page_of(client.get("/office/members?q=cmte-a&status=active&role=committee-member"))
    assert member_rows(text) == list(World.members[:2]) and 'data-pages="2"' in text
    after = link(text, "members-next")
    assert after is not None and "q=cmte-a" in after and "status=active" in after and "role=committee-member" in after
    second = page_of(client.get(after))
    assert member_rows(second) == [World.members[2]]
    before = link(second, "members-previous")
    assert before is not None and "q=cmte-a" in before and "status=active" in before
    assert 'value="cmte-a"' in second and '<option selected value="active">' in second


def test_members_filters_ignore_unknown_values_with_a_message_and_escape_the_search(
    client: FlaskClient, auth: Auth
) -> None:
    auth.login_as("admin")
    everyone = member_rows(page_of(client.get("/office/members")))
    for query, message in (
        ("role=king", "Role: “king” is not one of the choices, so it was ignored."),
        ("status=asleep", "Status: “asleep” is not one of the choices, so it was ignored."),
        ("q=" + "x" * 101, "The search text is longer than 100 characters, so it was ignored."),
    ):
        response = client.get(f"/office/members?{query}")
        text = page_of(response)
        assert response.status_code == 200 and ignored(text) == [message], query
        assert member_rows(text) == everyone, query
    both = page_of(client.get("/office/members?role=king&status=active"))
    assert len(ignored(both)) == 1 and World.suspended not in member_rows(both)
    assert client.get("/office/members?org=nowhere").status_code == 404  # organisations: not found, as before

    attack = page_of(client.get("/office/members", query_string={"q": SCRIPT}))
    assert SCRIPT not in attack and f'value="{ESCAPED}"' in attack and 'id="no-members"' in attack
    status = page_of(client.get("/office/members", query_string={"status": SCRIPT}))
    assert SCRIPT not in status and ESCAPED in status and len(ignored(status)) == 1
    zero = client.get("/office/members", query_string={"q": "李\x00建国"})
    assert zero.status_code == 200 and member_rows(page_of(zero)) == []  # a NUL is a space: "李 建国"


def test_adding_a_member_from_a_filtered_page_keeps_that_page(
    client: FlaskClient, auth: Auth, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(office_routes, "MEMBERS_PAGE", 2)
    auth.login_as("admin")
    listing = "/office/members?q=cmte-a&role=committee-member&page=2"
    text = page_of(client.get(listing))
    action = re.search(r'<form method="post" action="([^"]+)" novalidate>', text)
    assert action and html.unescape(action.group(1)) == "/office/members?q=cmte-a&role=committee-member&page=2"
    data = {"member-label": "Bad Label", "member-organisation": World.committee, "member-role": "grid-worker"}
    bad = auth.post(html.unescape(action.group(1)), data, page=listing)
    text = page_of(bad)
    assert bad.status_code == 400 and 'id="member-label-error"' in text
    assert member_rows(text) == [World.members[2], World.revoked] and 'data-page="2"' in text
    done = auth.post(html.unescape(action.group(1)), {**data, "member-label": "cmte-a-grid-3"}, page=listing)
    assert done.status_code == 302 and done.headers["Location"] == "/office/members?org=cmte-a"
    assert member(svc, "cmte-a-grid-3").role == "grid-worker"

    # suspending from a filtered page comes back to it
    first = page_of(client.get("/office/members?q=李建国&status=active"))
    suspend = re.search(
        rf'<form method="post" action="([^"]+)">\s*<input type="hidden" name="csrf_token" value="[^"]+">\s*<button type="submit" class="secondary outline small" data-testid="suspend-{World.members[0]}"',
        first,
    )
    assert suspend
    back = auth.post(html.unescape(suspend.group(1)), page="/office/members")
    assert back.status_code == 302 and member(svc, World.members[0]).status == "suspended"
    assert back.headers["Location"] == "/office/members?q=%E6%9D%8E%E5%BB%BA%E5%9B%BD&status=active"
    assert "李建国 was suspended." in flashes(page_of(client.get(back.headers["Location"])))


# -- grants ---------------------------------------------------------------------------------


def test_revoking_a_grant_needs_a_reason_and_the_department_is_then_refused(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    rid = add_record(svc)
    gid = grant(svc)
    withdrawn = grant(svc)
    svc.consent.withdraw(withdrawn)
    auth.login_as("admin")
    listing = page_of(client.get("/office/grants"))
    assert f'data-testid="grant-{gid}"' in listing and f'data-testid="grant-{withdrawn}"' in listing
    active = page_of(client.get("/office/grants?status=active"))
    assert f'data-testid="grant-{gid}"' in active and f'data-testid="grant-{withdrawn}"' not in active
    police = page_of(client.get("/office/grants?department=dept-a-police"))
    assert 'id="no-grants"' in police

    page = f"/office/grants/{gid}"
    detail = page_of(client.get(page))
    assert 'id="revoke-form"' in detail and "Health management" in detail and "张秀英" in detail
    assert "The resident&#39;s consent" in detail
    empty = auth.post(f"/office/grants/{gid}/revoke", {"reason": "  "}, page=page)
    assert empty.status_code == 400 and 'id="reason-error"' in page_of(empty)
    assert svc.consent.show(gid).status == "active"

    done = auth.post(f"/office/grants/{gid}/revoke", {"reason": f"科室合并 {SCRIPT}"}, page=page)
    assert done.status_code == 302 and done.headers["Location"] == page
    assert svc.consent.show(gid).status == "revoked"
    text = page_of(client.get(page))
    assert 'data-testid="grant-status" data-status="revoked"' in text and ">Revoked<" in text
    assert 'id="revoke-form"' not in text
    assert SCRIPT not in text and f"科室合并 {ESCAPED}" in text
    with svc.ledger.store.session() as db:
        assert db.get(GrantTerms, gid).status_reason == f"科室合并 {SCRIPT}"  # type: ignore[union-attr]
    with pytest.raises(AccessRefused) as refused:
        svc.access.read(rid, accessor=World.officer, grant_id=gid)
    assert refused.value.reason == "grant-not-active"
    assert auth.post(f"/office/grants/{withdrawn}/revoke", {"reason": "x"}, page=page).status_code in (302, 400)
    assert svc.consent.show(withdrawn).status == "withdrawn"
    assert client.get("/office/grants/0x" + "ab" * 32).status_code == 404
    assert client.get("/office/grants/nonsense").status_code == 404


def grant_rows(text: str) -> list[str]:
    return re.findall(r'data-testid="grant-(0x[0-9a-f]+)"', text)


def test_grants_are_shown_a_page_at_a_time_newest_first_with_the_filters_kept(
    client: FlaskClient, auth: Auth, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc.orgs.add_member("cmte-a-resident-2", World.committee, Role.RESIDENT, actor=World.admin)
    oldest, middle = grant(svc), grant(svc)
    police = grant(svc, World.police)
    withdrawn = grant(svc)
    svc.consent.withdraw(withdrawn)
    second = grant(svc, resident="cmte-a-resident-2")
    newest = grant(svc)
    auth.login_as("admin")
    everything = page_of(client.get("/office/grants"))
    assert grant_rows(everything) == [newest, second, withdrawn, police, middle, oldest]
    assert 'id="grants-pager"' not in everything and "Showing 1–6 of 6" in everything

    monkeypatch.setattr(office_routes, "GRANTS_PAGE", 4)
    text = page_of(client.get("/office/grants"))
    assert grant_rows(text) == [newest, second, withdrawn, police] and 'data-pages="2"' in text
    assert link(text, "grants-newer") is None
    older = link(text, "grants-older")
    assert older == "/office/grants?page=2"
    last = page_of(client.get(older))
    assert grant_rows(last) == [middle, oldest] and link(last, "grants-older") is None
    assert link(last, "grants-newer") == "/office/grants?page=1"
    assert grant_rows(page_of(client.get("/office/grants?page=99"))) == [middle, oldest]

    def rows(query: str) -> list[str]:
        return grant_rows(page_of(client.get(f"/office/grants?{query}")))

    assert rows("status=withdrawn") == [withdrawn]
    assert rows("status=active&department=dept-a-police") == [police]
    assert rows("department=dept-a-health&status=revoked") == []
    assert rows("q=张秀英") == [newest, withdrawn, police, middle]  # name; page 1 of 2
    assert rows("q=RESIDENT-2") == [second]  # the account label, ignoring case
    address = svc.ledger.address_of("cmte-a-resident-2")
    assert rows(f"q={address.lower()}") == [second] and rows(f"q={address[2:14]}") == [second]
    assert rows("q=cmte-b") == [] and rows("q=_") == []

    monkeypatch.setattr(office_routes, "GRANTS_PAGE", 2)
    text = page_of(client.get("/office/grants?q=张秀英&status=active&department=dept-a-health"))
    assert grant_rows(text) == [newest, middle] and 'data-pages="2"' in text
    older = link(text, "grants-older")
    assert older is not None and "q=%E5%BC%A0%E7%A7%80%E8%8B%B1" in older
    assert "status=active" in older and "department=dept-a-health" in older
    second_page = page_of(client.get(older))
    assert grant_rows(second_page) == [oldest] and "Showing 3–3 of 3" in second_page
    newer = link(second_page, "grants-newer")
    assert newer is not None and "status=active" in newer and "department=dept-a-health" in newer
    assert '<option selected value="dept-a-health">' in second_page and 'value="张秀英"' in second_page


def test_grants_filters_ignore_unknown_values_with_a_message_and_escape_the_search(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    gid = grant(svc)
    auth.login_as("admin")
    for query, message in (
        ("status=lost", "Status: “lost” is not one of the choices, so it was ignored."),
        ("q=" + "张" * 101, "The search text is longer than 100 characters, so it was ignored."),
        ("status=" + "x" * 60, "Status: “" + "x" * 40 + "…” is not one of the choices, so it was ignored."),
    ):
        response = client.get(f"/office/grants?{query}")
        text = page_of(response)
        assert response.status_code == 200 and ignored(text) == [message], query
        assert grant_rows(text) == [gid], query
    for query in ("page=abc", "page=-1", "q=%00", "department=&status=&q=&page="):
        response = client.get(f"/office/grants?{query}")
        assert response.status_code == 200 and grant_rows(page_of(response)) == [gid], query
    assert client.get("/office/grants?department=cmte-a").status_code == 404  # not a department, as before
    attack = page_of(client.get("/office/grants", query_string={"q": SCRIPT}))
    assert SCRIPT not in attack and f'value="{ESCAPED}"' in attack
    assert 'id="no-grants"' in attack and "No grant matches these filters." in attack
    status = page_of(client.get("/office/grants", query_string={"status": SCRIPT}))
    assert SCRIPT not in status and ESCAPED in status and grant_rows(status) == [gid]


def test_another_offices_admin_finds_none_of_our_members_or_grants(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    grant(svc)
    auth.login_as("other-admin")
    for query in ("", "q=cmte-a", "q=张秀英", "status=active", "role=resident", "q=a&page=2"):
        text = page_of(client.get(f"/office/members?{query}"))
        assert set(member_rows(text)) <= {World.other_admin, World.other_member}, query
        assert "李建国" not in text and "Committee A" not in text, query
        grants_page = page_of(client.get(f"/office/grants?{query}"))
        assert grant_rows(grants_page) == [] and 'id="no-grants"' in grants_page, query
        assert "Health A" not in grants_page and "<td>张秀英" not in grants_page, query


# -- dashboard ------------------------------------------------------------------------------


def chart_of(text: str) -> dict[str, Any]:
    found = re.search(r"data-chart='([^']*)'", text)
    assert found, "no chart data on the dashboard"
    return dict(json.loads(html.unescape(found.group(1))))


def test_the_dashboard_shows_accesses_per_department_per_day_and_the_latest_refusal(
    client: FlaskClient, auth: Auth, svc: Services, reads: Reads
) -> None:
    auth.login_as("admin")
    text = page_of(client.get("/office/"))
    chart = chart_of(text)
    assert len(chart["days"]) == 14 and chart["days"] == sorted(chart["days"])
    by_code = {d["code"]: d for d in chart["departments"]}
    assert set(by_code) == {World.department, World.police}
    assert by_code[World.department]["allowed"][-1] == 2 and sum(by_code[World.department]["allowed"]) == 2
    assert by_code[World.police]["refused"][-1] == 1 and sum(by_code[World.police]["allowed"]) == 0
    assert 'data-testid="access-row-dept-a-health" data-allowed="2" data-refused="0"' in text
    assert 'data-testid="access-row-dept-a-police" data-allowed="0" data-refused="1"' in text
    assert len(chart_of(page_of(client.get("/office/?days=30")))["days"]) == 30
    assert len(chart_of(page_of(client.get("/office/?days=1000")))["days"]) == 14

    rows = re.findall(r'<tr id="access-(\d+)" data-seq="\d+" data-outcome="(\w+)" data-basis="(\w*)"', text)
    assert rows[:3] == [
        (str(reads.emergency), "allowed", "emergency"),
        (str(reads.refused), "refused", "grant"),
        (str(reads.allowed), "allowed", "grant"),
    ]
    refused_row = text[text.index(f'id="access-{reads.refused}"') :].split("</tr>")[0]
    assert "孙强" in refused_row and "Police A" in refused_row and "no active grant" in refused_row
    emergency_row = text[text.index(f'id="access-{reads.emergency}"') :].split("</tr>")[0]
    assert "to review" in emergency_row and f"#review-{reads.emergency}" in emergency_row
    assert re.search(r'id="card-refused-today"[^>]*>.*?<span class="figure">1<', text, re.S)
    assert re.search(r'id="card-accesses-today"[^>]*>.*?<span class="figure">2<', text, re.S)
    assert re.search(r'id="card-reviews"[^>]*>.*?<span class="figure">1<', text, re.S)


def test_the_dashboard_shows_anchoring_health(client: FlaskClient, auth: Auth, svc: Services, reads: Reads) -> None:
    auth.login_as("admin")
    text = page_of(client.get("/office/"))
    assert 'data-state="anchoring"' in text and "Nothing anchored yet" in text  # no anchorer runs in tests
    assert re.search(r'id="log-size">3<', text) and re.search(r'id="anchored-size">0<', text)
    anchor(svc)
    text = page_of(client.get("/office/"))
    assert 'data-testid="anchoring-state" data-state="ok"' in text
    assert re.search(r'id="anchored-size">3<', text) and "none: every event is anchored" in text
    checkpoint = svc.log.anchored()
    assert checkpoint is not None
    assert "Log size 3" in text and checkpoint.tx_hash[:14] in text
    svc.access.limit = 0.0  # a stalled anchorer: an event waits longer than the limit
    svc.access.read(reads.record, accessor=World.officer)
    assert 'data-state="closed"' in page_of(client.get("/office/"))


def test_the_dashboard_counts_only_this_office(client: FlaskClient, auth: Auth, svc: Services, reads: Reads) -> None:
    auth.login_as("other-admin")
    text = page_of(client.get("/office/"))  # office B has no departments, and none of these reads
    assert "data-chart" not in text and 'id="no-accesses"' in text
    assert re.search(r'id="card-refused-today"[^>]*>.*?<span class="figure">0<', text, re.S)


# -- audit ----------------------------------------------------------------------------------


def findings(text: str) -> list[tuple[str, int]]:
    return [(k, int(s)) for k, s in re.findall(r'data-kind="([\w-]+)" data-seq="(\d+)"', text)]


def test_the_audit_lists_findings_and_filters_them(
    client: FlaskClient, auth: Auth, svc: Services, reads: Reads
) -> None:
    auth.login_as("admin")
    text = page_of(client.get("/office/audit"))
    assert findings(text) == [("emergency-unreviewed", reads.emergency), ("refused-attempt", reads.refused)]
    assert "Refused: no active grant" in text and 'data-findings="2"' in text
    assert findings(page_of(client.get("/office/audit?kind=refused-attempt"))) == [("refused-attempt", reads.refused)]
    assert findings(page_of(client.get("/office/audit?department=dept-a-health"))) == [
        ("emergency-unreviewed", reads.emergency)
    ]
    by_resident = page_of(client.get(f"/office/audit?resident={World.resident}"))
    assert len(findings(by_resident)) == 2
    assert findings(page_of(client.get("/office/audit?from=2020-01-01&to=2020-01-31"))) == []
    assert 'id="no-findings"' in page_of(client.get("/office/audit?from=2020-01-01&to=2020-01-31"))
    backwards = client.get("/office/audit?from=2026-02-01&to=2026-01-01")
    assert backwards.status_code == 400 and 'id="to-error"' in page_of(backwards)
    nobody = client.get(f"/office/audit?resident={World.other_member}")
    assert nobody.status_code == 400 and 'id="resident-error"' in page_of(nobody)
    assert client.get("/office/audit?department=cmte-a").status_code == 404
    # another office sees none of these
    auth.logout()
    auth.login_as("other-admin")
    assert findings(page_of(client.get("/office/audit"))) == []


def test_a_read_after_revocation_is_a_finding_with_a_link_to_the_grant(
    client: FlaskClient, auth: Auth, svc: Services, reads: Reads
) -> None:
    from ledger.access import now_ms
    from ledger.accesslog import Draft

    svc.consent.revoke(reads.grant, "科室合并", actor=World.admin)
    planted = svc.log.append([
        Draft(action="read", outcome="allowed", resident=svc.ledger.address_of(World.resident),
              accessor=svc.ledger.address_of(World.officer), time=now_ms(), record_id=reads.record,
              category="health", organisation=HEALTH_DEPT, basis="grant", grant_id=reads.grant,
              block=int(svc.ledger.w3.eth.block_number))
    ])[0].seq  # fmt: skip
    auth.login_as("admin")
    text = page_of(client.get("/office/audit?kind=after-revocation"))
    assert findings(text) == [("after-revocation", planted)]
    assert "Read after block" in text and f'href="/office/grants/{reads.grant}"' in text
    assert 'class="badge sev-high"' in text


# -- emergency reviews ----------------------------------------------------------------------


def test_approving_and_flagging_emergency_reads(client: FlaskClient, auth: Auth, svc: Services, reads: Reads) -> None:
    second = svc.access.read(reads.record, accessor=World.officer, justification=f"看看 {SCRIPT}").seq
    auth.login_as("admin")
    text = page_of(client.get("/office/reviews"))
    assert f'data-testid="pending-{reads.emergency}"' in text and f'data-testid="pending-{second}"' in text
    assert "急救 ambulance" in text and SCRIPT not in text and ESCAPED in text
    assert f'data-testid="pending-{reads.allowed}"' not in text

    empty = auth.post(f"/office/reviews/{reads.emergency}", {f"r{reads.emergency}-note": " ", f"r{reads.emergency}-approve": "Approve"}, page="/office/reviews")  # fmt: skip
    assert empty.status_code == 400 and f'id="r{reads.emergency}-note-error"' in page_of(empty)
    size = svc.log.size()
    approved = auth.post(
        f"/office/reviews/{reads.emergency}",
        {f"r{reads.emergency}-note": "医院确认 confirmed", f"r{reads.emergency}-approve": "Approve"},
        page="/office/reviews",
    )
    assert approved.status_code == 302
    flagged = auth.post(
        f"/office/reviews/{second}",
        {f"r{second}-note": f"无紧急情况 {SCRIPT}", f"r{second}-flag": "Flag"},
        page="/office/reviews",
    )
    assert flagged.status_code == 302
    with svc.ledger.store.session() as db:
        done = {r.access_seq: r for r in db.scalars(select(EmergencyReview))}
    assert done[reads.emergency].decision == "approve" and done[second].decision == "flag"
    assert done[reads.emergency].reviewer == svc.ledger.address_of(World.admin)
    assert svc.log.size() == size + 2  # each decision is a leaf of the log
    leaf = json.loads(bytes(svc.log.event(done[second].review_seq).leaf))
    assert leaf["action"] == "review" and leaf["reviewOf"] == second and leaf["decision"] == "flag"

    text = page_of(client.get("/office/reviews"))
    assert 'id="no-pending"' in text
    assert f'data-testid="reviewed-{reads.emergency}"' in text and f'data-testid="reviewed-{second}"' in text
    assert SCRIPT not in text and f"无紧急情况 {ESCAPED}" in text and "Flagged" in text and "Approved" in text
    assert findings(page_of(client.get("/office/audit?kind=emergency-flagged"))) == [("emergency-flagged", second)]
    assert findings(page_of(client.get("/office/audit?kind=emergency-unreviewed"))) == []
    twice = auth.post(
        f"/office/reviews/{second}",
        {f"r{second}-note": "again", f"r{second}-approve": "Approve"},
        page="/office/reviews",
    )
    assert twice.status_code == 302 and "reviewed already" in " ".join(flashes(page_of(client.get("/office/reviews"))))
    assert auth.post(f"/office/reviews/{reads.allowed}", {f"r{reads.allowed}-note": "x"}).status_code == 404
    assert auth.post("/office/reviews/99999", {"r99999-note": "x"}).status_code == 404


# -- exports --------------------------------------------------------------------------------


def csv_rows(response: Any) -> list[list[str]]:
    assert response.data.startswith("\ufeff".encode())  # the BOM: Excel reads the Chinese
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return re.sub(r"\s+", " ", text)  # a cell's words wrap onto lines


def visible(page: str) -> str:
    """A page's text as a reader sees it: no tags, attributes, scripts or styles."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


RAW_CODES = ("refused-attempt", "emergency-unreviewed", "dept-a-health", "dept-a-police")


def raw_ids(svc: Services, reads: Reads) -> tuple[str, ...]:
    """The ids a worded report names people and records by, never shows: accounts, in either case, and the record."""
    accounts = (World.resident, World.officer, World.police_officer, World.admin)
    addresses = [svc.ledger.address_of(label) for label in accounts]
    return (*addresses, *(a.lower() for a in addresses), str(reads.record))


def test_csv_export_words_each_code_beside_it(client: FlaskClient, auth: Auth, svc: Services, reads: Reads) -> None:
    auth.login_as("admin")
    response = client.get("/office/export/csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"] and ".csv" in response.headers["Content-Disposition"]
    rows = csv_rows(response)
    header = rows[0]
    assert header[:5] == ["Finding", "kind_code", "Severity", "severity_code", "Access No."]
    assert {"Department", "department_code", "Resident", "resident_address", "Detail"} <= set(header)
    by_kind = {r[1]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert sorted((k, int(r["Access No."]), r["department_code"]) for k, r in by_kind.items()) == [
        ("emergency-unreviewed", reads.emergency, World.department),
        ("refused-attempt", reads.refused, World.police),
    ]
    refused = by_kind["refused-attempt"]
    assert (refused["Finding"], refused["Severity"], refused["severity_code"]) == ("Refused attempt", "Info", "info")
    assert refused["Department"] == "Police A" and refused["Resident"] == "张秀英"  # names, not addresses
    assert refused["resident_address"] == svc.ledger.address_of(World.resident)
    police = csv_rows(client.get("/office/export/csv?department=dept-a-police"))
    assert [r[1] for r in police[1:]] == ["refused-attempt"]
    chinese = csv_rows(client.get("/office/export/csv", headers={"Accept-Language": "zh-CN"}))
    assert chinese[0][:4] == ["发现", "kind_code", "严重程度", "severity_code"]
    assert {r[0] for r in chinese[1:]} == {"被拒绝的尝试", "待审核的紧急访问"}
    bad = client.get("/office/export/csv?from=2026-02-01&to=2026-01-01")
    assert bad.status_code == 400 and 'id="to-error"' in page_of(bad)
    assert client.get("/office/export/xls").status_code == 404
    # another office's export holds none of ours
    auth.logout()
    auth.login_as("other-admin")
    assert csv_rows(client.get("/office/export/csv"))[1:] == []


def test_pdf_report_is_worded_in_the_pages_language(
    client: FlaskClient, auth: Auth, svc: Services, reads: Reads
) -> None:
    anchor(svc)
    auth.login_as("admin")
    pdf = client.get("/office/export/pdf?department=dept-a-health", headers={"Accept-Language": "zh-CN"})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert "dept-a-health" in pdf.headers["Content-Disposition"]
    text = pdf_text(pdf.data)
    for words in ("个人信息访问审计报告", "甲街道办事处", "甲卫生健康办", "待审核的紧急访问", "张秀英", "第 1 页 / 共 1 页",
                  "未进行数据库与区块链的一致性核验", "最新检查点", "gridledger verify bundle"):  # fmt: skip
        assert words in text, words
    assert not any(code in text for code in RAW_CODES + raw_ids(svc, reads)), text
    english = pdf_text(client.get("/office/export/pdf?integrity=y").data)
    for words in ("Audit report on access to personal information", "Office A", "Refused attempt",
                  "Emergency access awaiting review", "Page 1 of 1", "Access log"):  # fmt: skip
        assert words in english, words
    assert "not checked against the chain" not in english  # checked: its result in words
    assert not any(code in english for code in RAW_CODES + raw_ids(svc, reads)), english


def test_the_reports_word_integrity_problems_and_keep_the_code_in_its_column(
    client: FlaskClient, auth: Auth, svc: Services, reads: Reads
) -> None:
    anchor(svc)
    with svc.ledger.store.session() as db, db.begin():
        db.execute(
            update(RecordVersion)
            .where(RecordVersion.record_id == reads.record)
            .values(content=json.dumps({**HEALTH, "blood_type": "AB"}))
        )
    auth.login_as("admin")
    chinese = pdf_text(client.get("/office/export/pdf?integrity=y", headers={"Accept-Language": "zh-CN"}).data)
    for words in ("发现问题 1 项", "记录内容被改动 × 1", "数据库中的记录内容与链上承诺不一致", "gridledger verify all"):
        assert words in chinese, words
    english = pdf_text(client.get("/office/export/pdf?integrity=y").data)
    for words in ("Problems found: 1", "A record's content was changed × 1", "no longer matches its commitment"):
        assert words in english, words
    for text in (chinese, english):
        assert "content-edited" not in text and "docs/formats.md" not in text
    rows = csv_rows(client.get("/office/export/csv?integrity=y", headers={"Accept-Language": "zh-CN"}))
    problem = next(dict(zip(rows[0], r, strict=True)) for r in rows[1:] if r[1] == "content-edited")
    assert problem["发现"] == "完整性（记录）：记录内容被改动"
    assert reads.record in problem["详情"] and "从备份恢复" in problem["详情"]


def test_a_long_pdf_report_numbers_its_pages(app: Flask, svc: Services) -> None:
    from ledger import audit
    from ledger.history import Scope
    from webapp.office import report

    finding = audit.Finding(
        audit.FindingKind.REFUSED, audit.Severity.INFO, "refused: no-active-grant", 7, int(time.time() * 1000),
        HEALTH_DEPT, params={"reason": "no-active-grant"},
    )  # fmt: skip
    result = audit.Audit(Scope(), events=300, in_scope=300, findings=[finding] * 300)
    ctx = report.Context(
        office_id="0x01", office_name="Office A", generated_by="周敏", generated_at=int(time.time() * 1000),
        organisations={HEALTH_DEPT}, residents={}, codes={}, part_name=str, checkpoint=None,
    )  # fmt: skip
    with app.test_request_context(headers={"Accept-Language": "en"}):
        text = pdf_text(report.to_pdf(result, ctx))
    pages = int(text.split("Page 1 of ")[1].split()[0])
    assert pages > 3 and f"Page {pages} of {pages}" in text
    assert "No checkpoint of the access log is anchored" in text


def test_the_bundle_export_verifies_against_the_chain(
    client: FlaskClient, auth: Auth, svc: Services, reads: Reads
) -> None:
    auth.login_as("admin")
    early = client.get("/office/export/bundle?department=dept-a-health")
    assert early.status_code == 409 and "Nothing is anchored on the chain yet" in page_of(early)
    anchor(svc)
    unscoped = client.get("/office/export/bundle")
    assert unscoped.status_code == 400 and 'id="department-error"' in page_of(unscoped)
    response = client.get("/office/export/bundle?department=dept-a-health")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = json.loads(response.data)
    assert sorted(e["leaf"]["seq"] for e in document["entries"]) == [reads.allowed, reads.emergency]
    verdict = verify_bundle(document, svc.ledger.settings.rpc_url)
    verdict.require()
    document["entries"][0]["leaf"]["accessor"] = svc.ledger.address_of(World.police_officer)
    assert not verify_bundle(document, svc.ledger.settings.rpc_url).ok
    by_resident = json.loads(client.get(f"/office/export/bundle?resident={World.resident}").data)
    assert len(by_resident["entries"]) == 3
    verify_bundle(by_resident, svc.ledger.settings.rpc_url).require()


# -- the incremental audit ------------------------------------------------------------------


def test_the_incremental_audit_audits_everything_first_then_only_the_new_events(
    client: FlaskClient, auth: Auth, svc: Services, reads: Reads
) -> None:
    anchor(svc)
    auth.login_as("admin")
    first = page_of(auth.post("/office/audit/incremental", page="/office/audit"))
    summary = re.search(r'<p id="incremental-summary"[^>]*>', first)
    assert summary is not None and 'data-full="no-mark"' in summary[0] and 'data-marked="yes"' in summary[0]
    assert f'data-testid="finding-emergency-unreviewed-{reads.emergency}"' in first
    assert "Everything was audited, because no audit has run before." in visible(first)
    for language, words in (("en", "The new events #{0} to #{0}"), ("zh-CN", "第 {0} 至第 {0} 条新事件")):
        later = svc.access.read(reads.record, accessor=World.officer, justification="急救 again").seq
        anchor(svc)
        text = page_of(auth.post("/office/audit/incremental", page="/office/audit",
                                 headers={"Accept-Language": language}))  # fmt: skip
        summary = re.search(r'<p id="incremental-summary"[^>]*>', text)
        assert summary is not None and 'data-full=""' in summary[0], language
        assert words.format(later) in visible(text), language
        assert f'data-testid="finding-emergency-unreviewed-{later}"' in text  # the new one
        assert f'data-testid="finding-emergency-unreviewed-{reads.emergency}"' not in text  # audited before
        assert "emergency-unreviewed" not in visible(text), language  # worded, not coded
    nothing = visible(page_of(auth.post("/office/audit/incremental", page="/office/audit")))
    assert "No new events have been anchored on the chain since the last audit." in nothing


# -- integrity ------------------------------------------------------------------------------


def test_the_integrity_check_reports_a_record_edited_behind_the_ledgers_back(
    client: FlaskClient, auth: Auth, svc: Services, reads: Reads
) -> None:
    anchor(svc)
    auth.login_as("admin")
    assert 'data-state="unchecked"' in page_of(client.get("/office/"))
    clean = auth.post("/office/audit/integrity", page="/office/audit")
    assert clean.status_code == 302
    text = page_of(client.get("/office/audit"))
    assert "Integrity check done: the database matches the chain." in flashes(text)
    for part in ("log", "records", "grants"):
        assert re.search(rf'data-testid="integrity-{part}" data-ok="yes"', text), part
    assert 'data-testid="integrity-state" data-state="ok"' in page_of(client.get("/office/"))

    with svc.ledger.store.session() as db, db.begin():
        db.execute(
            update(RecordVersion)
            .where(RecordVersion.record_id == reads.record)
            .values(content=json.dumps({**HEALTH, "blood_type": "AB"}))
        )
    auth.post("/office/audit/integrity", page="/office/audit")
    text = page_of(client.get("/office/audit"))
    assert "Integrity check done: problems were found. See below." in flashes(text)
    assert re.search(r'data-testid="integrity-records" data-ok="no"', text)
    assert re.search(r'data-testid="integrity-log" data-ok="yes"', text)
    assert 'data-testid="problem-content-edited"' in text
    for language, words in (("en", "A record's content was changed"), ("zh-CN", "记录内容被改动")):
        shown = visible(page_of(client.get("/office/audit", headers={"Accept-Language": language})))
        assert f"{words} × 1" in shown, language
        assert "gridledger verify all" in shown and "content-edited" not in shown, language
    dashboard = page_of(client.get("/office/"))
    assert 'data-state="problems"' in dashboard and 'data-testid="integrity-part-records" data-ok="no"' in dashboard
