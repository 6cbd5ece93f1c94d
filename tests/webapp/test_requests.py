"""Consent requests in the web app: the department officer asks, the resident answers on
their home page, a grid worker answers with the resident present, the office sees the
figures; every route refused to the other roles, and no one sees another resident's."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from ledger.access import today
from ledger.categories import Category
from ledger.consent import LegalBasis, Purpose
from ledger.membership import Role
from ledger.organisations import Organisations, OrgNames
from ledger.requests import DAY_MS, ConsentStatus
from tests.clock import ManualClock
from tests.conftest import World
from webapp.services import Services
from webapp.users import add_user

from .conftest import CHEAP_HASHER, PASSWORD, SCRIPT, Auth

pytestmark = pytest.mark.chain

YEAR = 365 * 86_400
REASON = "慢病随访 chronic disease follow-up"


@pytest.fixture(autouse=True)
def _english(client: FlaskClient) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def ask(svc: Services, **extra) -> str:  # type: ignore[no-untyped-def]
    args = dict(officer=World.officer, resident=World.resident, categories=[Category.HEALTH],
                purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT,
                valid_until=int(time.time()) + YEAR, reason=REASON)  # fmt: skip
    args.update(extra)
    return svc.requests.ask(**args)


def last_day_plus(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


# -- department ---------------------------------------------------------------------------------


def test_the_officer_asks_a_resident_named_as_the_lists_name_them(auth: Auth, svc: Services) -> None:
    auth.login_as("officer")
    page = auth.client.get("/department/requests/new")
    assert page.status_code == 200 and "Ask for permission" in page.get_data(as_text=True)
    form = {"resident": "张秀英", "categories": ["health"], "purpose": "2", "valid_until": last_day_plus(365),
            "reason": REASON}  # fmt: skip
    check = auth.post("/department/requests/new", form, page="/department/requests/new")
    body = check.get_data(as_text=True)
    assert check.status_code == 200 and 'id="ask-sentence"' in body
    assert "would like to see your health records until" in body and "chronic disease follow-up." in body
    shown = re.search(r'data-testid="ask-resident">([^<]*)<', body)
    assert shown and shown.group(1).startswith("张") and "秀英" not in shown.group(1)  # masked, as the lists show
    chosen = re.search(r'name="chosen" value="(0x[0-9a-fA-F]{40})"', body)
    assert chosen and chosen.group(1) == svc.ledger.address_of(World.resident)
    sent = auth.post("/department/requests/new", {**form, "chosen": chosen.group(1), "confirmed": "1"},
                     page="/department/requests/new")  # fmt: skip
    assert sent.status_code == 302 and "/department/requests" in sent.headers["Location"]
    [made] = svc.requests.list(resident=World.resident)
    assert made.status == ConsentStatus.WAITING and made.department_code == World.department
    listing = auth.client.get("/department/requests").get_data(as_text=True)
    assert made.request_id in listing and "Waiting for an answer" in listing


def test_a_name_that_finds_nobody_is_said_beside_the_field(auth: Auth, svc: Services) -> None:
    auth.login_as("officer")
    form = {"resident": "不存在的人", "categories": ["health"], "purpose": "2", "valid_until": last_day_plus(30),
            "reason": REASON}  # fmt: skip
    refused = auth.post("/department/requests/new", form, page="/department/requests/new")
    assert refused.status_code == 400
    assert "No resident of your subdistrict office" in refused.get_data(as_text=True)
    empty = auth.post("/department/requests/new", {**form, "resident": "张秀英", "reason": ""},
                      page="/department/requests/new")  # fmt: skip
    assert empty.status_code == 400 and "Say in plain words why you ask." in empty.get_data(as_text=True)
    assert svc.requests.list() == []


def test_the_department_lists_only_its_own_requests(auth: Auth, svc: Services) -> None:
    mine = ask(svc)
    police = ask(svc, officer=World.police_officer)
    auth.login_as("officer")
    assert 'id="home-requests-link"' in auth.client.get("/department/").get_data(as_text=True)
    body = auth.client.get("/department/requests").get_data(as_text=True)
    assert mine in body and police not in body


@pytest.mark.parametrize("username", ["resident", "grid", "member1", "admin", "stranger"])
def test_department_request_pages_are_refused_to_other_roles(auth: Auth, username: str) -> None:
    auth.login_as(username)
    assert auth.client.get("/department/requests").status_code == 403
    assert auth.client.get("/department/requests/new").status_code == 403


# -- resident -----------------------------------------------------------------------------------


def test_the_resident_sees_waiting_requests_first_and_approves(auth: Auth, svc: Services) -> None:
    request_id = ask(svc)
    auth.login_as("resident")
    home = auth.client.get("/resident/").get_data(as_text=True)
    assert home.index('id="home-requests"') < home.index("records about you")  # waiting requests first
    assert re.search(r"Health A would like to see your health records until \d{1,2} \w+ \d{4}, for 慢病随访 "
                     r"chronic disease follow-up\.", home)  # fmt: skip
    assert "data-confirm=" in home  # the in-page dialog, as the withdraw button
    approved = auth.post(f"/resident/consent-requests/{request_id}/approve", page="/resident/")
    assert approved.status_code == 302 and "/resident/grants" in approved.headers["Location"]
    shown = svc.requests.show(request_id)
    assert shown.status == ConsentStatus.APPROVED and shown.relayer is None
    grant = svc.consent.show(str(shown.grant_id))
    assert grant.terms is not None and grant.terms["requestId"] == request_id
    again = auth.post(f"/resident/consent-requests/{request_id}/approve", page="/resident/", follow_redirects=True)
    assert "already answered (You agreed)" in again.get_data(as_text=True)
    assert len(svc.consent.list(resident=World.resident)) == 1


def test_the_resident_declines_with_a_reason_in_chinese(auth: Auth, svc: Services) -> None:
    request_id = ask(svc, reason="慢病随访")
    auth.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    auth.login_as("resident")
    home = auth.client.get("/resident/").get_data(as_text=True)
    assert re.search(r"甲卫生健康办想在 \d{4} 年 \d{1,2} 月 \d{1,2} 日前查看您的健康记录，用于慢病随访。", home), home
    declined = auth.post(f"/resident/consent-requests/{request_id}/decline", {"reason": SCRIPT}, page="/resident/",
                         follow_redirects=True)  # fmt: skip
    assert declined.status_code == 200
    shown = svc.requests.show(request_id)
    assert shown.status == ConsentStatus.DECLINED and shown.decline_reason == SCRIPT
    page = auth.client.get("/resident/").get_data(as_text=True)
    assert SCRIPT not in page  # the reason is shown escaped, never as markup
    assert svc.consent.list(resident=World.resident) == []


def test_large_text_mode_shows_the_requests(auth: Auth, svc: Services) -> None:
    ask(svc)
    auth.login_as("resident")
    auth.post("/large-text", page="/resident/")
    home = auth.client.get("/resident/").get_data(as_text=True)
    assert 'class="large-text"' in home and 'id="home-requests"' in home and 'data-testid="approve"' in home


def test_no_one_sees_or_answers_another_residents_requests(auth: Auth, svc: Services, orgs: Organisations) -> None:
    orgs.add_member("cmte-a-resident-2", World.committee, Role.RESIDENT, actor=World.grid_worker)
    add_user(svc.ledger, "resident2", PASSWORD, account="cmte-a-resident-2", display_name="王小明", hasher=CHEAP_HASHER)
    request_id = ask(svc)
    auth.login_as("resident2")
    assert request_id not in auth.client.get("/resident/").get_data(as_text=True)
    assert auth.post(f"/resident/consent-requests/{request_id}/approve", page="/resident/").status_code == 404
    assert auth.post(f"/resident/consent-requests/{request_id}/decline", page="/resident/").status_code == 404
    assert auth.post(f"/resident/consent-requests/0x{'ab' * 32}/approve", page="/resident/").status_code == 404
    assert svc.requests.show(request_id).status == ConsentStatus.WAITING


def test_an_expired_request_leaves_the_home_page_and_cannot_be_answered(auth: Auth, svc: Services) -> None:
    clock = ManualClock()
    svc.requests.now = clock.now_ms
    request_id = ask(svc, answer_by=clock.now_ms() + DAY_MS)
    auth.login_as("resident")
    assert request_id in auth.client.get("/resident/").get_data(as_text=True)
    clock.advance(86_400)
    home = auth.client.get("/resident/").get_data(as_text=True)
    assert 'id="home-requests"' not in home and "Expired unanswered" in home
    late = auth.post(f"/resident/consent-requests/{request_id}/approve", page="/resident/", follow_redirects=True)
    assert "ran past its answer-by date" in late.get_data(as_text=True)
    assert svc.consent.list(resident=World.resident) == []


@pytest.mark.parametrize("username", ["officer", "grid", "member1", "admin"])
def test_resident_answer_routes_are_refused_to_other_roles(auth: Auth, svc: Services, username: str) -> None:
    request_id = ask(svc)
    auth.login_as(username)
    assert auth.post(f"/resident/consent-requests/{request_id}/approve").status_code == 403
    assert auth.post(f"/resident/consent-requests/{request_id}/decline").status_code == 403


# -- committee ----------------------------------------------------------------------------------


def test_a_grid_worker_answers_with_the_resident_present(auth: Auth, svc: Services) -> None:
    approve_id, decline_id = ask(svc), ask(svc)
    resident = svc.ledger.address_of(World.resident)
    page_url = f"/committee/residents/{resident}/relay-grant"
    auth.login_as("grid")
    page = auth.client.get(page_url).get_data(as_text=True)
    assert approve_id in page and decline_id in page
    assert "Health A would like to see the health records of 张秀英 until" in page
    missing = auth.client.post(f"/committee/residents/{resident}/requests/{approve_id}/approve",
                               data={"answer-csrf_token": auth.token(page_url)})  # fmt: skip
    assert missing.status_code == 400 and svc.requests.show(approve_id).status == ConsentStatus.WAITING
    done = auth.client.post(f"/committee/residents/{resident}/requests/{approve_id}/approve",
                            data={"answer-csrf_token": auth.token(page_url), "answer-present": "y"})  # fmt: skip
    assert done.status_code == 302
    approved = svc.requests.show(approve_id)
    assert approved.status == ConsentStatus.APPROVED
    assert approved.relayer == svc.ledger.address_of(World.grid_worker)
    grant = svc.consent.show(str(approved.grant_id))
    assert grant.resident == resident and grant.relayer == approved.relayer
    declined = auth.client.post(f"/committee/residents/{resident}/requests/{decline_id}/decline",
                                data={"answer-csrf_token": auth.token(page_url), "answer-present": "y",
                                      "answer-reason": "不需要"})  # fmt: skip
    assert declined.status_code == 302
    assert svc.requests.show(decline_id).decline_reason == "不需要"


def test_another_committees_member_cannot_answer(auth: Auth, svc: Services, orgs: Organisations) -> None:
    request_id = ask(svc)
    resident = svc.ledger.address_of(World.resident)
    auth.login_as("other-member")
    url = f"/committee/residents/{resident}/requests/{request_id}/approve"
    assert (
        auth.client.post(url, data={"answer-csrf_token": auth.token("/committee/"), "answer-present": "y"}).status_code
        == 404
    )
    # a committee of the same office: the resident is not theirs, whatever the request says
    orgs.create_committee("cmte-a2", OrgNames("甲二居委会", "Committee A2"), World.office, ["cmte-a2-m1"], 1)
    orgs.add_member("cmte-a2-grid", "cmte-a2", Role.GRID_WORKER)
    add_user(svc.ledger, "grid2", PASSWORD, account="cmte-a2-grid", display_name="钱多", hasher=CHEAP_HASHER)
    auth.logout()
    auth.login_as("grid2")
    assert (
        auth.client.post(url, data={"answer-csrf_token": auth.token("/committee/"), "answer-present": "y"}).status_code
        == 404
    )
    assert svc.requests.show(request_id).status == ConsentStatus.WAITING


@pytest.mark.parametrize("username", ["resident", "officer", "admin"])
def test_committee_answer_routes_are_refused_to_other_roles(auth: Auth, svc: Services, username: str) -> None:
    request_id = ask(svc)
    resident = svc.ledger.address_of(World.resident)
    auth.login_as(username)
    url = f"/committee/residents/{resident}/requests/{request_id}/approve"
    assert auth.post(url, {"answer-present": "y"}).status_code == 403


# -- office -------------------------------------------------------------------------------------


def test_the_office_sees_requests_per_department(auth: Auth, svc: Services) -> None:
    approved, declined = ask(svc), ask(svc)
    ask(svc, officer=World.police_officer)
    svc.requests.approve(approved, World.resident)
    svc.requests.decline(declined, World.resident)
    auth.login_as("admin")
    body = auth.client.get("/office/consent-requests").get_data(as_text=True)
    health = body[body.index(f'data-department="{World.department}"') :]
    health = health[: health.index("</tr>")]
    figures = dict(re.findall(r'data-testid="(\w+)">([^<]*)<', health))
    assert figures["asked"] == "2" and figures["approved"] == "1" and figures["declined"] == "1"
    assert figures["waiting"] == "0" and figures["expired"] == "0" and figures["median"] != "—"
    police = body[body.index(f'data-department="{World.police}"') :]
    assert 'data-testid="waiting">1<' in police[: police.index("</tr>")]


def test_another_office_sees_none_of_these(auth: Auth, svc: Services) -> None:
    ask(svc)
    auth.login_as("other-admin")
    body = auth.client.get("/office/consent-requests").get_data(as_text=True)
    assert World.department not in body


@pytest.mark.parametrize("username", ["resident", "officer", "grid"])
def test_the_office_page_is_refused_to_other_roles(auth: Auth, username: str) -> None:
    auth.login_as(username)
    assert auth.client.get("/office/consent-requests").status_code == 403


# -- API ----------------------------------------------------------------------------------------

API = "/api/v1"


@pytest.fixture
def api(client: FlaskClient):  # type: ignore[no-untyped-def]
    from .test_api import Api

    return Api(client)


@pytest.fixture
def tokens(svc: Services) -> dict[str, str]:
    from webapp.users import create_token

    holders = {"officer": World.officer, "police": World.police_officer, "resident": World.resident,
               "admin": World.admin, "grid": World.grid_worker}  # fmt: skip
    return {k: create_token(svc.ledger, label, f"system of {label}").token for k, label in holders.items()}


def test_a_department_system_asks_lists_and_gets_its_requests(api, svc: Services, tokens: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    resident = svc.ledger.address_of(World.resident)
    body = {"resident": resident.lower(), "categories": ["health"], "purpose": "health-management",
            "validUntil": last_day_plus(365), "reason": REASON}  # fmt: skip
    made = api("post", f"{API}/department/requests", tokens["officer"], body=body)
    assert made.status == 201, made.body
    assert made.body["status"] == "waiting" and made.body["resident"] == resident
    assert made.body["department"]["code"] == World.department and made.body["purpose"]["name"] == "health-management"
    request_id = made.body["requestId"]
    listed = api("get", f"{API}/department/requests", tokens["officer"])
    assert [r["requestId"] for r in listed.body["requests"]] == [request_id]
    assert api("get", f"{API}/department/requests?status=approved", tokens["officer"]).body["requests"] == []
    # another department sees none of it, and gets 404 for the id
    assert api("get", f"{API}/department/requests", tokens["police"]).body["requests"] == []
    assert api("get", f"{API}/department/requests/{request_id}", tokens["police"]).status == 404
    # approved: the answer names the grant, whose terms carry the request id
    grant_id = svc.requests.approve(request_id, World.resident)
    got = api("get", f"{API}/department/requests/{request_id}", tokens["officer"])
    assert got.body["status"] == "approved" and got.body["grantId"] == grant_id
    grants = api("get", f"{API}/department/grants", tokens["officer"]).body["grants"]
    assert [g["terms"]["requestId"] for g in grants] == [request_id]


def test_bad_api_requests_name_the_field(api, svc: Services, tokens: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    resident = svc.ledger.address_of(World.resident)
    good = {"resident": resident, "categories": ["health"], "purpose": 2, "validUntil": last_day_plus(365),
            "reason": REASON}  # fmt: skip
    cases = [
        ({"resident": "0x1234"}, "resident"),
        ({"resident": svc.ledger.address_of(World.grid_worker)}, "resident"),
        ({"categories": []}, "categories"),
        ({"purpose": "audit"}, "purpose"),
        ({"reason": ""}, "reason"),
        ({"validUntil": "2020-01-01"}, "validUntil"),
        ({"answerBy": last_day_plus(200)}, "answerBy"),
    ]
    for change, field in cases:
        answer = api("post", f"{API}/department/requests", tokens["officer"], body={**good, **change})
        assert answer.status == 400 and answer.body["field"] == field, (change, answer.body)
    assert api("get", f"{API}/department/requests/0x1234", tokens["officer"]).status == 400
    assert api("get", f"{API}/department/requests?status=lost", tokens["officer"]).status == 400
    assert svc.requests.list() == []


@pytest.mark.parametrize("role", ["resident", "admin", "grid"])
def test_the_request_api_is_refused_to_other_roles(api, svc: Services, tokens: dict[str, str], role: str) -> None:  # type: ignore[no-untyped-def]
    request_id = ask(svc)
    assert api("get", f"{API}/department/requests", tokens[role]).status == 403
    assert api("get", f"{API}/department/requests/{request_id}", tokens[role]).status == 403
    assert api("post", f"{API}/department/requests", tokens[role], body={}).status == 403
