"""Committee members and grid workers: records submitted through forms generated from each
category's JSON Schema (field-level errors, nothing written on error), updates with a diff in
the signing queue, k-of-n signing until certified, logged duty reads, the committee's history,
and relaying a resident's permission (signed by the resident, sent by the worker); every route
refused to other roles, strangers and other committees."""

from __future__ import annotations

import html
import json
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text as sql
from werkzeug.test import TestResponse

from ledger import eip712
from ledger.access import today
from ledger.categories import Category
from ledger.consent import LegalBasis, Purpose
from ledger.membership import DepartmentKind, Role, org_id
from ledger.store.models import GrantTerms, Organisation
from tests.conftest import World
from webapp.names import resident_label, resident_names
from webapp.services import Services

from .conftest import HEALTH, SCRIPT, Auth

pytestmark = pytest.mark.chain

TEMPLATES = Path(__file__).resolve().parents[2] / "webapp" / "committee" / "templates" / "committee"


@pytest.fixture(autouse=True)
def _english(client: FlaskClient) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


PROPERTY = {"certificate_number": "京2024000123", "address": "碧湖路 1 号 3 单元", "area_m2": 88.5}


def address(svc: Services, label: str) -> str:
    return svc.ledger.address_of(label)


def add_record(
    svc: Services, content: dict[str, Any] | None = None, *, category: Category = Category.HEALTH, signed_by: int = 0
) -> str:
    rid, _ = svc.records.add(
        actor=World.grid_worker, subject=World.resident, category=category, content=content or HEALTH
    )
    for member in World.members[:signed_by]:
        svc.records.sign(rid, signer=member)
    return rid


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def new_url(svc: Services, category: str) -> str:
    return f"/committee/records/new?resident={address(svc, World.resident)}&category={category}"


def post_form(auth: Auth, url: str, fields: dict[str, str]) -> TestResponse:
    """Posts a form as a browser would: the CSRF token from the form's own page."""
    return auth.post(url, fields, page=url)


def field_error(page: str, field_id: str) -> str:
    found = re.search(rf'<small class="field-error" id="{re.escape(field_id)}-error">([^<]*)</small>', page)
    assert found, f"no error beside {field_id}"
    return html.unescape(found.group(1))


def flashes(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="flash [a-z]+" role="status">([^<]*)</p>', page)]


def log_events(svc: Services, since: int) -> list[Any]:
    return [svc.log.event(seq) for seq in range(since, svc.log.size())]


_FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_INPUT = re.compile(r'<input(?=[^>]*type="hidden")(?=[^>]*name="([^"]+)")(?=[^>]*value="([^"]*)")[^>]*>')


def form_fields(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the page's form that posts to ``action`` (CSRF, opening, version)."""
    for found, body in _FORM.findall(page):
        if html.unescape(found) == action:
            return {name: html.unescape(value) for name, value in _INPUT.findall(body)}
    raise AssertionError(f"no form posting to {action} on the page")


def press(client: FlaskClient, page_url: str, action: str, **kw: Any) -> TestResponse:
    """Presses the button of the form posting to ``action`` on the page at ``page_url``."""
    page = client.get(page_url)
    assert page.status_code == 200, (page_url, page.status_code)
    return client.post(action, data=form_fields(text(page), action), **kw)


def routes(svc: Services, rid: str, gid: str) -> list[tuple[str, str]]:
    resident = address(svc, World.resident)
    return [
        ("GET", "/committee/"),
        ("GET", "/committee/residents/"),
        ("GET", f"/committee/residents/{resident}"),
        ("GET", "/committee/records/new"),
        ("GET", new_url(svc, "health")),
        ("POST", new_url(svc, "health")),
        ("GET", f"/committee/records/{rid}"),
        ("POST", f"/committee/records/{rid}/content"),
        ("GET", f"/committee/records/{rid}/edit"),
        ("POST", f"/committee/records/{rid}/edit"),
        ("POST", f"/committee/records/{rid}/edit/open"),
        ("GET", f"/committee/records/{rid}/edit/open"),  # leads back to the edit page: no content at a URL
        ("POST", f"/committee/records/{rid}/sign"),
        ("GET", "/committee/queue"),
        ("POST", f"/committee/records/{rid}/changes"),
        ("GET", f"/committee/records/{rid}/changes"),  # leads back to the queue
        ("GET", "/committee/history"),
        ("GET", f"/committee/residents/{resident}/relay-grant"),
        ("POST", f"/committee/residents/{resident}/relay-grant"),
        ("POST", f"/committee/residents/{resident}/grants/{gid}/withdraw"),
    ]


def a_grant(svc: Services) -> str:
    gid, _ = svc.consent.issue(
        resident=World.resident, department=World.department, categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT,
        valid_until=int(time.time()) + 365 * 86_400,
    )  # fmt: skip
    return gid


# -- who may come in ------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["member1", "grid"])
def test_every_page_opens_for_committee_members_and_grid_workers(
    client: FlaskClient, auth: Auth, svc: Services, username: str
) -> None:
    rid = add_record(svc)
    auth.login_as(username)
    for method, url in routes(svc, rid, a_grant(svc)):
        if method == "GET" and url.endswith(("/edit/open", "/changes")):
            assert client.get(url).status_code == 302, url
        elif method == "GET":
            response = client.get(url)
            assert response.status_code == 200, (username, url)
            assert 'href="/static/committee.css"' in text(response), url
    assert auth.post(f"/committee/records/{rid}/content").status_code == 200
    assert auth.post(f"/committee/records/{rid}/edit/open").status_code == 200


@pytest.mark.parametrize("username", ["resident", "officer", "admin", "suspended", "revoked", "stranger"])
def test_other_roles_get_403_on_every_route(client: FlaskClient, auth: Auth, svc: Services, username: str) -> None:
    rid = add_record(svc)
    gid = a_grant(svc)
    auth.login_as(username)
    before = svc.log.size()
    for method, url in routes(svc, rid, gid):
        data = {"csrf_token": auth.token(), "version": "1", "present": "y", "withdraw-present": "y"}
        response = client.get(url) if method == "GET" else client.post(url, data=data)
        assert response.status_code == 403, (username, method, url)
    assert svc.log.size() == before  # nothing was read
    assert svc.consent.show(gid).status == "active"


def test_anonymous_visitors_are_sent_to_log_in(client: FlaskClient, svc: Services) -> None:
    rid = add_record(svc)
    for method, url in routes(svc, rid, "0x" + "cd" * 32):
        response = client.get(url) if method == "GET" else client.post(url, data={})
        if method == "GET":
            assert response.status_code == 302 and response.headers["Location"].startswith("/login"), url
        else:  # no session: the CSRF check refuses first, nothing is done
            assert response.status_code in (302, 400), url


def test_a_member_of_another_committee_gets_404_for_our_records_and_residents(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    rid = add_record(svc)
    gid = a_grant(svc)
    auth.login_as("other-member")
    before = svc.log.size()
    for method, url in routes(svc, rid, gid):
        if url in ("/committee/", "/committee/residents/", "/committee/records/new", "/committee/queue",
                   "/committee/history"):  # fmt: skip
            continue  # their own committee's pages
        data = {"csrf_token": auth.token(), "version": "1", "present": "y", "withdraw-present": "y"}
        response = client.get(url) if method == "GET" else client.post(url, data=data)
        assert response.status_code == 404, (method, url)
    assert svc.log.size() == before
    assert rid not in text(client.get("/committee/queue")) and rid not in text(client.get("/committee/history"))
    assert "张秀英" not in text(client.get("/committee/residents/"))
    assert client.get("/committee/records/not-an-id").status_code == 404


# -- the overview and residents -----------------------------------------------------------------


def test_home_counts_the_committees_records_and_my_queue(client: FlaskClient, auth: Auth, svc: Services) -> None:
    add_record(svc, signed_by=2)
    waiting = add_record(svc, PROPERTY, category=Category.PROPERTY)
    auth.login_as("member1")
    page = text(client.get("/committee/"))
    assert 'id="committee-name">Committee A<' in page
    assert "certified when 2 of the 3 committee members have signed" in page
    assert re.search(r'id="awaiting-count">1<', page) and re.search(r'id="certified-count">1<', page)
    assert "Waiting for your signature: 1" in page
    assert f'data-record-id="{waiting}" data-state="awaiting"' in page
    auth.login_as("grid")
    page = text(client.get("/committee/"))
    assert 'id="grid-worker-note"' in page and "Waiting for your signature" not in page


def test_residents_list_search_and_resident_page(client: FlaskClient, auth: Auth, svc: Services) -> None:
    rid = add_record(svc)
    resident = address(svc, World.resident)
    auth.login_as("member2")
    page = text(client.get("/committee/residents/"))
    assert f'data-address="{resident}"' in page and "张秀英" in page
    assert "data-address" not in text(client.get("/committee/residents/?q=nobody-like-this"))
    assert "张秀英" in text(client.get("/committee/residents/?q=秀英"))
    own = text(client.get(f"/committee/residents/{resident}"))
    assert 'id="resident-name">张秀英<' in own and f'data-record-id="{rid}"' in own
    assert "李医生" not in own  # metadata only, never content
    assert client.get(f"/committee/residents/{address(svc, World.members[0])}").status_code == 404  # not a resident


# -- submitting a record through the generated form ---------------------------------------------


def test_choosing_the_resident_and_kind_leads_to_the_generated_form(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    auth.login_as("member1")
    choose = text(client.get("/committee/records/new"))
    assert 'id="choose-form"' in choose and address(svc, World.resident) in choose
    linked = text(client.get("/committee/records/new?resident=" + address(svc, World.resident)))
    assert f'<option selected value="{address(svc, World.resident)}">' in linked  # from the resident's page
    assert 'class="field-error"' not in linked  # nothing sent yet: no error
    missing = client.get(f"/committee/records/new?chosen=1&resident={address(svc, World.resident)}&category=")
    assert missing.status_code == 200 and field_error(text(missing), "category") == "Choose the kind of record."
    unknown = client.get(new_url(svc, "horoscope"))
    assert unknown.status_code == 400 and 'id="category-error"' in text(unknown)
    page = text(client.get(new_url(svc, "health")))
    assert 'data-category="health"' in page and 'id="form-resident">张秀英<' in page
    for name in ("blood_type", "chronic_conditions", "allergies", "disability_grade", "family_doctor"):
        assert f'id="content-{name}"' in page, name
    assert "Blood type (required)" in page and "From 0 to 4." in page
    assert client.get(new_url(svc, "health").replace(address(svc, World.resident), "0x" + "12" * 20)).status_code == 404


def test_a_bad_health_form_shows_each_error_beside_its_field_and_writes_nothing(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    auth.login_as("grid")
    before = svc.records.count()
    response = post_form(
        auth,
        new_url(svc, "health"),
        {"content-blood_type": "", "content-disability_grade": "two", "content-family_doctor": "x" * 60},
    )
    page = text(response)
    assert response.status_code == 400
    assert field_error(page, "content-blood_type") == "Please fill this in."
    assert field_error(page, "content-disability_grade") == "Enter a whole number, such as 3."
    assert field_error(page, "content-family_doctor") == "At most 50 characters."
    assert 'id="form-errors" role="alert" data-count="3"' in page
    assert 'value="two"' in page  # what was typed stays in the form
    out_of_range = post_form(auth, new_url(svc, "health"), {"content-blood_type": "A", "content-disability_grade": "9"})
    assert out_of_range.status_code == 400
    assert field_error(text(out_of_range), "content-disability_grade") == "At most 4."
    assert svc.records.count() == before == 0


def test_a_health_record_submitted_through_the_form_is_stored_and_waits_for_signatures(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    auth.login_as("grid")
    response = post_form(
        auth,
        new_url(svc, "health"),
        {
            "content-blood_type": "AB",
            "content-chronic_conditions": "高血压\r\n\r\n 糖尿病 \r\n",
            "content-allergies": "",
            "content-disability_grade": "2",
            "content-family_doctor": "王医生",
        },
    )
    assert response.status_code == 302
    rid = response.headers["Location"].rsplit("/", 1)[1]
    view = svc.records.show(rid)
    assert view.category is Category.HEALTH and view.subject == address(svc, World.resident)
    assert view.head.content == {
        "blood_type": "AB", "chronic_conditions": ["高血压", "糖尿病"], "allergies": [], "disability_grade": 2,
        "family_doctor": "王医生",
    }  # fmt: skip
    assert view.head.created_by == address(svc, World.grid_worker) and view.head.on_chain
    page = text(client.get(f"/committee/records/{rid}"))
    assert "saved and its fingerprint is on chain" in page
    assert 'id="record-state"><span class="badge warn" data-state="awaiting">' in page
    assert 'id="signature-count">0 of 2 signatures<' in page
    assert 'id="not-a-signer"' in page and 'id="sign-submit"' not in page  # a grid worker does not sign
    assert "王医生" not in page  # content only on request


def test_a_household_with_rows_of_members(client: FlaskClient, auth: Auth, svc: Services) -> None:
    auth.login_as("member1")
    url = new_url(svc, "household")
    page = text(client.get(url))
    assert 'data-testid="rows-content-members"' in page
    assert 'id="content-members-0-name"' in page and 'id="content-members-1-relation"' in page
    assert 'id="content-members-2-name"' not in page

    more = post_form(auth, url, {"content-household_number": "3301", "more": "content-members"})
    assert more.status_code == 200 and 'id="content-members-2-name"' in text(more)
    assert 'value="3301"' in text(more) and svc.records.count() == 0

    none = post_form(auth, url, {"content-household_number": "HZ330106", "content-address": "西湖区翠苑一区 3 幢"})
    assert none.status_code == 400
    assert field_error(text(none), "content-members") == "Give at least 1."

    bad = post_form(
        auth,
        url,
        {
            "content-household_number": "hz-1",
            "content-address": "西湖区翠苑一区 3 幢",
            "content-members-0-name": "张秀英",
            "content-members-0-relation": "head",
            "content-members-1-name": "",
            "content-members-2-name": "张小明",
            "content-members-2-relation": "",
            "content-members-2-id_number": "12345",
        },
    )
    page = text(bad)
    assert bad.status_code == 400
    assert field_error(page, "content-household_number").startswith("This is not in the expected form.")
    # the empty second row is skipped, so content row 1 is form row 2: errors land in form row 2
    assert field_error(page, "content-members-2-relation") == "Please fill this in."
    assert field_error(page, "content-members-2-id_number").startswith("This is not in the expected form. 18")
    assert 'id="content-members-1-name-error"' not in page
    assert svc.records.count() == 0

    good = post_form(
        auth,
        url,
        {
            "content-household_number": "HZ330106",
            "content-address": "西湖区翠苑一区 3 幢",
            "content-members-0-name": "张秀英",
            "content-members-0-relation": "head",
            "content-members-2-name": "张小明",
            "content-members-2-relation": "grandchild",
            "content-members-2-id_number": "33010620150101123X",
        },
    )
    assert good.status_code == 302
    rid = good.headers["Location"].rsplit("/", 1)[1]
    assert svc.records.show(rid).head.content == {
        "household_number": "HZ330106",
        "address": "西湖区翠苑一区 3 幢",
        "members": [
            {"name": "张秀英", "relation": "head"},
            {"name": "张小明", "relation": "grandchild", "id_number": "33010620150101123X"},
        ],
    }


def test_yes_no_and_numbers_of_elderly_care(client: FlaskClient, auth: Auth, svc: Services) -> None:
    auth.login_as("grid")
    url = new_url(svc, "elderly_care")
    bad = post_form(auth, url, {"content-care_level": "dependent", "content-subsidy": "care_subsidy",
                                "content-monthly_amount_yuan": "1e400"})  # fmt: skip
    assert bad.status_code == 400
    assert field_error(text(bad), "content-lives_alone") == "Please fill this in."
    assert field_error(text(bad), "content-monthly_amount_yuan") == "Enter a number, such as 12 or 3.5."
    good = post_form(auth, url, {"content-care_level": "dependent", "content-subsidy": "care_subsidy",
                                 "content-lives_alone": "no", "content-monthly_amount_yuan": "350.5"})  # fmt: skip
    assert good.status_code == 302
    rid = good.headers["Location"].rsplit("/", 1)[1]
    assert svc.records.show(rid).head.content == {
        "care_level": "dependent", "subsidy": "care_subsidy", "lives_alone": False, "monthly_amount_yuan": 350.5,
    }  # fmt: skip


# -- reading content: a logged duty read first ---------------------------------------------------


def test_the_content_is_shown_only_after_a_logged_duty_read(client: FlaskClient, auth: Auth, svc: Services) -> None:
    rid = add_record(svc, signed_by=2)
    auth.login_as("member3")
    before = svc.log.size()
    page = text(client.get(f"/committee/records/{rid}"))
    assert "李医生" not in page and 'id="show-content"' in page
    assert svc.log.size() == before  # the metadata is not a read

    response = auth.post(f"/committee/records/{rid}/content")
    page = text(response)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert "李医生" in page and "Family doctor" in page and "高血压 hypertension" in page
    seq = int(re.search(r'id="access-banner" data-seq="(\d+)" data-basis="duty"', page).group(1))  # type: ignore[union-attr]
    assert f"This view is logged as access #{seq}" in page
    [logged] = log_events(svc, before)
    assert logged.seq == seq and logged.outcome == "allowed" and logged.basis == "duty"
    assert logged.accessor == address(svc, World.members[2]) and logged.record_id == rid
    assert json.loads(logged.leaf)["purpose"] == int(Purpose.RECORD_REVIEW)
    again = client.get(f"/committee/records/{rid}/content")  # no content at a URL: back to the record
    assert again.status_code == 302 and again.headers["Location"] == f"/committee/records/{rid}"
    assert svc.log.size() == before + 1


def test_reloading_shown_content_shows_and_logs_nothing(client: FlaskClient, auth: Auth, svc: Services) -> None:
    """A browser's reload sends the form of the page again: the same button pressed once."""
    rid = add_record(svc)
    auth.login_as("member1")
    pressed = form_fields(text(client.get(f"/committee/records/{rid}")), f"/committee/records/{rid}/content")
    assert set(pressed) == {"csrf_token", "opening"}
    before = svc.log.size()
    assert "李医生" in text(client.post(f"/committee/records/{rid}/content", data=pressed))
    reloaded = client.post(f"/committee/records/{rid}/content", data=pressed, follow_redirects=True)
    assert "李医生" not in text(reloaded) and "show it again (that view is logged too)" in flashes(text(reloaded))[0]
    assert svc.log.size() == before + 1
    # the button of a page loaded afresh is another press: shown, and logged again
    assert "李医生" in text(press(client, f"/committee/records/{rid}", f"/committee/records/{rid}/content"))
    assert svc.log.size() == before + 2


def test_no_content_is_shown_when_the_read_cannot_be_logged_safely(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    rid = add_record(svc)
    auth.login_as("member1")
    assert auth.post(f"/committee/records/{rid}/content").status_code == 200  # an event no checkpoint covers
    svc.access.limit = 0.0
    svc.access._health = None
    refused = client.post(
        f"/committee/records/{rid}/content", data={"csrf_token": auth.token(f"/committee/records/{rid}")},
        follow_redirects=True,
    )  # fmt: skip
    page = text(refused)
    assert "李医生" not in page and "Record content cannot be shown right now" in page
    edit = press(client, f"/committee/records/{rid}/edit", f"/committee/records/{rid}/edit/open", follow_redirects=True)
    assert "李医生" not in text(edit) and "cannot be shown right now" in text(edit)
    changes = text(press(client, "/committee/queue", f"/committee/records/{rid}/changes"))
    assert 'data-testid="queue-refused"' in changes and "李医生" not in changes
    assert 'data-testid="sign-submit"' not in changes


# -- updates, the queue and its diff ----------------------------------------------------------


def test_an_update_shows_its_diff_in_the_signing_queue(client: FlaskClient, auth: Auth, svc: Services) -> None:
    rid = add_record(svc, signed_by=2)
    auth.login_as("grid")
    before = svc.log.size()
    start = client.get(f"/committee/records/{rid}/edit")  # what is about to happen, and the button
    page = text(start)
    assert start.status_code == 200 and 'id="open-form"' in page and 'id="edit-version" data-version="1"' in page
    assert "李医生" not in page and 'id="record-form"' not in page
    assert svc.log.size() == before  # a GET shows no content and logs nothing

    opening = form_fields(text(start), f"/committee/records/{rid}/edit/open")
    assert set(opening) == {"csrf_token", "opening"}
    edit = client.post(f"/committee/records/{rid}/edit/open", data=opening)
    page = text(edit)
    assert edit.status_code == 200 and 'id="edit-logged"' in page and edit.headers["Cache-Control"] == "no-store"
    assert 'name="expected_version" type="hidden" value="1"' in page
    assert 'value="李医生"' in page and "高血压 hypertension</textarea>" in page
    assert re.search(r'<option selected value="O">|<option value="O" selected>', page)
    [prefill] = log_events(svc, before)  # prefilling the form showed the content: logged
    assert prefill.basis == "duty" and prefill.accessor == address(svc, World.grid_worker)
    assert f'id="access-banner" data-seq="{prefill.seq}" data-basis="duty"' in page
    # the opened form is at no URL, and the same button sent again (a reload) opens nothing
    again = client.get(f"/committee/records/{rid}/edit/open")
    assert again.status_code == 302 and again.headers["Location"] == f"/committee/records/{rid}/edit"
    reloaded = client.post(f"/committee/records/{rid}/edit/open", data=opening)
    assert reloaded.status_code == 302 and reloaded.headers["Location"] == f"/committee/records/{rid}/edit"
    assert "open the form again" in flashes(text(client.get(f"/committee/records/{rid}/edit")))[0]
    assert svc.log.size() == before + 1

    unchanged = post_form(
        auth,
        f"/committee/records/{rid}/edit",
        {"expected_version": "1", "content-blood_type": "O", "content-chronic_conditions": "高血压 hypertension",
         "content-family_doctor": "李医生"},
    )  # fmt: skip
    assert unchanged.status_code == 400 and "Nothing was changed" in text(unchanged)

    saved = post_form(
        auth,
        f"/committee/records/{rid}/edit",
        {"expected_version": "1", "content-blood_type": "O", "content-chronic_conditions": "高血压 hypertension",
         "content-allergies": "青霉素", "content-family_doctor": "陈医生"},
    )  # fmt: skip
    assert saved.status_code == 302
    view = svc.records.show(rid)
    assert view.head.version == 2 and view.head.content == {
        **HEALTH,
        "allergies": ["青霉素"],
        "family_doctor": "陈医生",
    }
    assert view.versions[0].certified and not view.head.certified

    auth.login_as("member1")
    before = svc.log.size()
    queue = text(client.get("/committee/queue"))  # what waits, without content
    assert f'data-record-id="{rid}" data-version="2"' in queue and 'data-testid="show-changes"' in queue
    assert "陈医生" not in queue and '<table class="diff' not in queue and 'data-testid="sign-submit"' not in queue
    assert svc.log.size() == before
    shown = form_fields(queue, f"/committee/records/{rid}/changes")
    assert set(shown) == {"csrf_token", "opening", "version"} and shown["version"] == "2"
    changes = client.post(f"/committee/records/{rid}/changes", data=shown)
    assert changes.status_code == 200 and changes.headers["Cache-Control"] == "no-store"
    entry = text(changes)
    assert 'id="changes-newer"' not in entry and 'id="sign-submit-' in entry
    assert re.search(r'data-change="changed" data-path="family_doctor">\s*<td>Family doctor</td>', entry)
    assert '<del class="removed">李医生</del>' in entry and '<ins class="added">陈医生</ins>' in entry
    assert re.search(r'data-change="changed" data-path="allergies">', entry)
    assert "Fields unchanged: 2." in entry
    assert 'data-testid="queue-count">0 of 2 signatures<' in entry
    [review] = log_events(svc, before)
    assert review.basis == "duty" and review.record_id == rid and review.accessor == address(svc, World.members[0])
    assert f'id="access-banner" data-seq="{review.seq}"' in entry
    reloaded = client.post(f"/committee/records/{rid}/changes", data=shown)  # a reload: nothing shown or logged
    assert reloaded.status_code == 302 and reloaded.headers["Location"] == "/committee/queue"
    assert client.get(f"/committee/records/{rid}/changes").headers["Location"] == "/committee/queue"
    assert svc.log.size() == before + 1

    # the record page shows the certified version and what the pending one changes
    page = text(auth.post(f"/committee/records/{rid}/content", page=f"/committee/records/{rid}"))
    assert 'id="pending-changes-heading"' in page and '<ins class="added">陈医生</ins>' in page
    assert 'data-testid="version-row" data-version="1" data-certified="yes"' in page
    assert 'data-testid="version-row" data-version="2" data-certified="no"' in page
    assert "Version 1 stays certified, and is the one departments see" in page


def test_a_concurrent_update_is_refused_and_nothing_is_overwritten(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    rid = add_record(svc)
    auth.login_as("member1")
    url = f"/committee/records/{rid}/edit"
    token = auth.token(url)  # member1 loads version 1
    svc.records.update(rid, {**HEALTH, "family_doctor": "周医生"}, actor=World.grid_worker, expected_version=1)
    response = client.post(url, data={
        "csrf_token": token, "expected_version": "1", "content-blood_type": "A",
        "content-chronic_conditions": "", "content-family_doctor": "李医生",
    })  # fmt: skip
    page = text(response)
    assert response.status_code == 409
    assert "Someone changed this record since you opened it (you opened version 1; it is now at version 2)" in page
    assert 'id="reload-newest"' in page and '<option selected value="A">' in page  # what they typed stays
    view = svc.records.show(rid)
    assert view.head.version == 2 and view.head.content == {**HEALTH, "family_doctor": "周医生"}


def test_a_grid_worker_sees_the_queue_without_content_or_sign_buttons(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    rid = add_record(svc)
    auth.login_as("grid")
    before = svc.log.size()
    page = text(client.get("/committee/queue"))
    assert f'data-record-id="{rid}"' in page and "李医生" not in page
    assert 'data-testid="sign-submit"' not in page and '<table class="diff' not in page
    assert 'data-testid="show-changes"' not in page
    assert auth.post(f"/committee/records/{rid}/changes", {"version": "1"}).status_code == 403
    assert svc.log.size() == before  # nothing shown, nothing read


def test_the_changes_shown_are_the_newest_versions_and_only_while_they_wait_for_me(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    rid = add_record(svc)
    auth.login_as("member1")
    listed = form_fields(text(client.get("/committee/queue")), f"/committee/records/{rid}/changes")
    assert listed["version"] == "1"
    svc.records.update(rid, {**HEALTH, "family_doctor": "周医生"}, actor=World.grid_worker)
    page = text(client.post(f"/committee/records/{rid}/changes", data=listed))  # the queue showed version 1
    assert 'id="changes-newer"' in page and 'data-version="2"' in page and '<ins class="added">周医生</ins>' in page
    assert '<input type="hidden" name="version" value="2">' in page  # the sign button signs what is shown
    auth.post(f"/committee/records/{rid}/sign", {"version": "2", "back": "queue"}, page="/committee/queue")
    before = svc.log.size()
    done = auth.post(f"/committee/records/{rid}/changes", {"version": "2"}, page="/committee/queue",
                     follow_redirects=True)  # fmt: skip
    assert "Nothing of this record waits for your signature any more." in flashes(text(done))
    assert svc.log.size() == before  # nothing to read for: nothing read


# -- signing ------------------------------------------------------------------------------------


def test_members_sign_until_the_committees_threshold_certifies_the_record(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    with svc.ledger.store.session() as db:
        committee = db.get(Organisation, "0x" + org_id(World.committee).hex())
        assert committee is not None
        threshold = committee.threshold
    assert threshold == 2  # the world's committee: 2 of its members certify
    rid = add_record(svc)

    auth.login_as("member1")
    signed = auth.post(f"/committee/records/{rid}/sign", {"version": "1"}, page="/committee/queue",
                       follow_redirects=True)  # fmt: skip
    assert "Signed (1 of 2). It is certified once 2 committee members have signed." in flashes(text(signed))
    assert f'data-record-id="{rid}"' not in text(client.get("/committee/queue"))  # signed: not mine to do
    page = text(client.get(f"/committee/records/{rid}"))
    assert 'data-state="awaiting"' in page and 'id="you-signed"' in page and 'id="sign-submit"' not in page

    auth.login_as("member2")
    assert f'data-record-id="{rid}"' in text(client.get("/committee/queue"))
    page = text(client.get(f"/committee/records/{rid}"))
    assert 'id="signature-count">1 of 2 signatures<' in page and 'id="sign-submit"' in page
    done = auth.post(f"/committee/records/{rid}/sign", {"version": "1", "back": "record"},
                     page=f"/committee/records/{rid}", follow_redirects=True)  # fmt: skip
    page = text(done)
    assert "Signed (2 of 2). The record is now certified on chain." in flashes(page)
    assert 'id="record-state"><span class="badge ok" data-state="certified">' in page
    assert 'id="certified-note"' in page and "李建国" in page and "王芳" in page
    view = svc.records.show(rid)
    assert view.head.certified and sorted(view.head.signers) == sorted(address(svc, m) for m in World.members[:2])

    auth.login_as("member3")
    assert f'data-record-id="{rid}"' not in text(client.get("/committee/queue"))
    late = auth.post(f"/committee/records/{rid}/sign", {"version": "1"}, page="/committee/queue",
                     follow_redirects=True)  # fmt: skip
    assert "Version 1 is already certified." in flashes(text(late))
    assert len(svc.records.show(rid).head.approvals) == 2

    history = text(client.get("/committee/history"))
    kinds = re.findall(rf'data-kind="(\w+)" data-record-id="{rid}"', history)
    assert kinds == ["certified", "signed", "signed", "created"]


def test_a_grid_worker_cannot_sign(client: FlaskClient, auth: Auth, svc: Services) -> None:
    rid = add_record(svc)
    auth.login_as("grid")
    response = auth.post(f"/committee/records/{rid}/sign", {"version": "1"}, page="/committee/queue")
    assert response.status_code == 403
    assert svc.records.show(rid).head.approvals == []


def test_signing_twice_counts_once(client: FlaskClient, auth: Auth, svc: Services) -> None:
    rid = add_record(svc)
    auth.login_as("member1")
    auth.post(f"/committee/records/{rid}/sign", {"version": "1"}, page="/committee/queue")
    again = auth.post(f"/committee/records/{rid}/sign", {"version": "1"}, page="/committee/queue",
                      follow_redirects=True)  # fmt: skip
    assert "You have already signed version 1. A signature counts once." in flashes(text(again))
    assert svc.records.show(rid).head.approvals == [address(svc, World.members[0])]
    assert not svc.records.show(rid).head.certified


def test_a_signature_for_an_older_version_is_refused(client: FlaskClient, auth: Auth, svc: Services) -> None:
    rid = add_record(svc)
    auth.login_as("member1")
    token = auth.token("/committee/queue")  # the page showed version 1
    svc.records.update(rid, {**HEALTH, "family_doctor": "周医生"}, actor=World.grid_worker)
    response = client.post(f"/committee/records/{rid}/sign", data={"csrf_token": token, "version": "1"},
                           follow_redirects=True)  # fmt: skip
    assert "version 1 is no longer the newest" in flashes(text(response))[0]
    assert all(v.approvals == [] for v in svc.records.show(rid).versions)


# -- history ------------------------------------------------------------------------------------


def test_history_lists_the_committees_record_activity_newest_first(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    rid = add_record(svc, signed_by=2)
    svc.records.update(rid, {**HEALTH, "family_doctor": "周医生"}, actor=World.members[2])
    auth.login_as("grid")
    page = text(client.get("/committee/history"))
    rows = re.findall(rf'data-kind="(\w+)" data-record-id="{rid}" data-version="(\d)"', page)
    assert rows == [("updated", "2"), ("certified", "1"), ("signed", "1"), ("signed", "1"), ("created", "1")]
    assert "刘伟" in page and "陈静" in page and "张秀英" in page
    assert "周医生" not in page  # metadata only


def test_history_has_an_empty_state(client: FlaskClient, auth: Auth) -> None:
    auth.login_as("member1")
    assert 'id="history-empty"' in text(client.get("/committee/history"))


# -- relaying a resident's permission ------------------------------------------------------------


def relay_fields(**changes: str) -> dict[str, Any]:
    until = (today() + timedelta(days=200)).isoformat()
    fields: dict[str, Any] = {
        "department": World.department, "categories": ["health", "elderly_care"],
        "purpose": str(int(Purpose.HEALTH_MANAGEMENT)), "valid_until": until,
        "purpose_text": f"家庭医生签约 {SCRIPT}", "present": "y",
    }  # fmt: skip
    fields.update(changes)
    return {k: v for k, v in fields.items() if v != ""}


def test_relaying_a_grant_needs_the_resident_present_and_is_signed_by_the_resident(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    resident = address(svc, World.resident)
    url = f"/committee/residents/{resident}/relay-grant"
    auth.login_as("grid")
    page = text(client.get(url))
    assert 'id="relay-form"' in page and 'id="grants-empty"' in page and "Health A" in page

    absent = post_form(auth, url, relay_fields(present=""))
    assert absent.status_code == 400
    assert field_error(text(absent), "present") == "Tick this only when the resident is here and agrees."
    past = post_form(auth, url, relay_fields(valid_until="2001-01-01"))
    assert past.status_code == 400 and field_error(text(past), "valid_until") == "Choose a day after today."
    none = post_form(auth, url, relay_fields(categories=""))
    assert none.status_code == 400 and 'id="categories-error"' in text(none)
    assert svc.consent.list(resident=resident) == []

    sent = post_form(auth, url, relay_fields())
    assert sent.status_code == 302
    gid = sent.headers["Location"].split("granted=")[1]
    grant = svc.consent.show(gid)
    worker = address(svc, World.grid_worker)
    assert grant.status == "active" and grant.resident == resident and grant.relayer == worker
    assert [c.slug for c in grant.categories] == ["health", "elderly_care"]
    assert grant.terms is not None and grant.terms["collectionMethod"].startswith("relayed")
    # The worker sent the transaction, carrying the resident's own EIP-712 signature of the terms.
    assert grant.issued_tx is not None
    tx = svc.ledger.w3.eth.get_transaction(grant.issued_tx)  # type: ignore[arg-type]
    assert tx["from"] == worker
    call, args = svc.consent.contract.decode_function_input(tx["input"])
    assert call.fn_name == "issueWithSig" and args["resident"] == resident
    terms = args["terms"]
    terms = tuple(terms.values()) if isinstance(terms, dict) else tuple(terms)
    signed = eip712.grant(
        svc.consent.domain, grant_id=terms[0], resident=resident, department=terms[1], categories=terms[2],
        purpose=terms[3], legal_basis=terms[4], valid_from=terms[5], valid_until=terms[6], terms_hash=terms[7],
        nonce=0, deadline=args["deadline"],
    )  # fmt: skip
    assert eip712.recover(signed, args["signature"]) == resident != worker
    page = text(client.get(sent.headers["Location"]))
    assert flashes(page)[0].startswith("Sent with 张秀英's own signature: Health A may use their Health, Elderly care")
    assert f'data-grant-id="{gid}" data-status="active"' in page and "陈静, with the resident’s signature" in page
    assert SCRIPT not in page and "家庭医生签约 &lt;script&gt;" in page


def test_relaying_a_withdrawal(client: FlaskClient, auth: Auth, svc: Services) -> None:
    resident = address(svc, World.resident)
    gid = a_grant(svc)
    url = f"/committee/residents/{resident}/grants/{gid}/withdraw"
    page_url = f"/committee/residents/{resident}/relay-grant"
    auth.login_as("member2")
    unticked = auth.post(url, {}, page=page_url)
    assert unticked.status_code == 400
    key = gid[2:14]
    assert f'id="withdraw-error-{key}"' in text(unticked) and svc.consent.show(gid).status == "active"
    done = auth.post(url, {"withdraw-present": "y"}, page=page_url, follow_redirects=True)
    assert "Withdrawn with 张秀英's own signature." in flashes(text(done))[0]
    assert svc.consent.show(gid).status == "withdrawn"
    assert f'data-grant-id="{gid}" data-status="withdrawn"' in text(done)
    with svc.ledger.store.session() as db:
        terms = db.get(GrantTerms, gid)
        assert terms is not None and terms.status_tx is not None
        sent = svc.ledger.w3.eth.get_transaction(terms.status_tx)  # type: ignore[arg-type]
    assert sent["from"] == address(svc, World.members[1])  # relayed by the member, signed by the resident
    assert svc.consent.contract.decode_function_input(sent["input"])[0].fn_name == "withdrawWithSig"
    again = auth.post(url, {"withdraw-present": "y"}, page=page_url, follow_redirects=True)
    assert "no longer active" in flashes(text(again))[0]
    assert auth.post(f"/committee/residents/{resident}/grants/0x{'ab' * 32}/withdraw", {"withdraw-present": "y"},
                     page=page_url).status_code == 404  # fmt: skip


# -- what is the committee's is the chain's to say, not the database's ----------------------------

OTHER_RESIDENT = "cmte-b-resident"
OURS = "0x" + org_id(World.committee).hex()


def edit_db(svc: Services, statement: str, **params: Any) -> None:
    """An edit made in the database behind the ledger's back (an operator, an intruder)."""
    with svc.ledger.store.engine.begin() as connection:
        connection.execute(sql(statement), params)


def other_committees_record(svc: Services) -> str:
    """A record of Committee B (of the other office), about B's own resident."""
    svc.orgs.add_member(OTHER_RESIDENT, World.other_committee, Role.RESIDENT, actor=World.other_member)
    rid, _ = svc.records.add(actor=World.other_member, subject=OTHER_RESIDENT, category=Category.HEALTH,
                             content={**HEALTH, "family_doctor": "B医生"})  # fmt: skip
    return rid


def committee_pages(client: FlaskClient) -> str:
    return "".join(text(client.get(url)) for url in (
        "/committee/", "/committee/queue", "/committee/history", "/committee/residents/", "/committee/records/new",
    ))  # fmt: skip


def test_a_record_moved_into_our_committee_in_the_database_stays_another_committees(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    theirs = other_committees_record(svc)
    edit_db(svc, "UPDATE records SET committee_id = :o WHERE record_id = :r", o=OURS, r=theirs)
    edit_db(svc, "UPDATE chain_record_versions SET committee_id = :o WHERE record_id = :r", o=OURS, r=theirs)
    auth.login_as("member1")
    before = svc.log.size()
    assert theirs not in committee_pages(client)  # no list shows it
    for method, url in [
        ("GET", f"/committee/records/{theirs}"), ("GET", f"/committee/records/{theirs}/edit"),
        ("GET", f"/committee/records/{theirs}/content"), ("GET", f"/committee/records/{theirs}/changes"),
        ("GET", f"/committee/records/{theirs}/edit/open"), ("POST", f"/committee/records/{theirs}/content"),
        ("POST", f"/committee/records/{theirs}/edit/open"), ("POST", f"/committee/records/{theirs}/changes"),
        ("POST", f"/committee/records/{theirs}/edit"), ("POST", f"/committee/records/{theirs}/sign"),
    ]:  # fmt: skip
        data = {"csrf_token": auth.token(), "version": "1", "expected_version": "1", "content-blood_type": "A"}
        response = client.get(url) if method == "GET" else client.post(url, data=data)
        assert response.status_code == 404, (method, url)
    assert svc.log.size() == before  # nothing was read
    assert svc.records.show(theirs).head.approvals == [] and svc.records.show(theirs).head.version == 1


def test_our_records_subject_and_category_are_the_chains_whatever_the_database_says(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    rid = add_record(svc)
    theirs = other_committees_record(svc)
    stranger = address(svc, OTHER_RESIDENT)
    edit_db(svc, "UPDATE records SET subject = :s, category = :c WHERE record_id = :r", s=stranger,
            c=int(Category.PROPERTY), r=rid)  # fmt: skip
    auth.login_as("member1")
    page = text(client.get(f"/committee/records/{rid}"))
    assert "Health record of 张秀英" in page and "Property" not in page and stranger not in page
    home = text(client.get("/committee/"))
    assert f'data-record-id="{rid}"' in home and stranger not in home
    history = text(client.get("/committee/history"))
    assert f'data-record-id="{rid}"' in history and stranger not in history and theirs not in history
    # the record does not show among another person's records, whatever the table says
    edit_db(svc, "UPDATE members SET org_id = :o WHERE address = :a", o=OURS, a=stranger)
    assert client.get(f"/committee/residents/{stranger}").status_code == 404


def test_a_resident_row_edited_into_our_committee_is_not_our_resident(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    theirs = other_committees_record(svc)
    stranger = address(svc, OTHER_RESIDENT)
    svc.orgs.create_department("dept-b-health", "Health B", World.other_office, DepartmentKind.HEALTH)
    gid, _ = svc.consent.issue(  # a grant within their own office
        resident=OTHER_RESIDENT, department="dept-b-health", categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + 86_400 * 30,
    )  # fmt: skip
    edit_db(svc, "UPDATE members SET org_id = :o WHERE address = :a", o=OURS, a=stranger)
    edit_db(svc, "UPDATE records SET committee_id = :o WHERE record_id = :r", o=OURS, r=theirs)
    nobody = address(svc, World.stranger)  # an account that is no member at all, made a resident in the table
    edit_db(svc, "INSERT INTO members (address, org_id, role, status, added_block, updated_block) "
            "VALUES (:a, :o, 'resident', 'active', 1, 1)", a=nobody, o=OURS)  # fmt: skip
    auth.login_as("grid")
    pages = committee_pages(client)
    assert stranger not in pages and nobody not in pages and OTHER_RESIDENT not in pages
    assert address(svc, World.resident) in pages  # our own resident is still there
    for who in (stranger, nobody):
        assert client.get(f"/committee/residents/{who}").status_code == 404
        assert client.get(f"/committee/residents/{who}/relay-grant").status_code == 404
        assert client.get(f"/committee/records/new?resident={who}&category=health").status_code == 404
        assert post_form(auth, f"/committee/residents/{who}/relay-grant", relay_fields()).status_code == 404
    assert post_form(auth, f"/committee/residents/{stranger}/grants/{gid}/withdraw",
                     {"withdraw-present": "y"}).status_code == 404  # fmt: skip
    assert svc.consent.show(gid).status == "active"
    # a grant of theirs written down as our resident's in the table is still theirs
    edit_db(svc, "UPDATE grants SET resident = :a WHERE grant_id = :g", a=address(svc, World.resident), g=gid)
    resident = address(svc, World.resident)
    assert gid not in text(client.get(f"/committee/residents/{resident}/relay-grant"))
    withdraw = post_form(auth, f"/committee/residents/{resident}/grants/{gid}/withdraw", {"withdraw-present": "y"})
    assert withdraw.status_code == 404 and svc.consent.show(gid).status == "active"


def test_a_pending_version_edited_in_the_database_is_neither_shown_nor_offered_for_signing(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    rid = add_record(svc, signed_by=2)
    svc.records.update(rid, {**HEALTH, "family_doctor": "周医生"}, actor=World.grid_worker)
    forged = json.dumps({**HEALTH, "family_doctor": "假医生"}, ensure_ascii=False)
    edit_db(svc, "UPDATE record_versions SET content = :c WHERE record_id = :r AND version = 2", c=forged, r=rid)
    auth.login_as("member1")
    page = text(press(client, "/committee/queue", f"/committee/records/{rid}/changes"))
    assert "does not match its fingerprint on the chain" in page and "假医生" not in page
    assert 'data-testid="sign-submit"' not in page
    opened = press(client, f"/committee/records/{rid}/edit", f"/committee/records/{rid}/edit/open",
                   follow_redirects=True)  # fmt: skip
    assert "假医生" not in text(opened) and "does not match its fingerprint on the chain" in flashes(text(opened))[0]


def test_the_committees_rule_is_the_chains(client: FlaskClient, auth: Auth, svc: Services) -> None:
    edit_db(svc, "UPDATE organisations SET threshold = 1, active_signers = 9 WHERE org_id = :o", o=OURS)
    auth.login_as("member1")
    assert "certified when 2 of the 3 committee members have signed" in text(client.get("/committee/"))


# -- what people typed is shown as text, never as markup ------------------------------------------


def test_typed_markup_is_escaped_everywhere_it_is_shown(client: FlaskClient, auth: Auth, svc: Services) -> None:
    auth.login_as("member1")
    url = new_url(svc, "health")
    bad = text(post_form(auth, url, {"content-family_doctor": SCRIPT, "content-disability_grade": SCRIPT}))
    assert SCRIPT not in bad and "&lt;script&gt;" in bad
    saved = post_form(auth, url, {"content-blood_type": "A", "content-family_doctor": SCRIPT,
                                  "content-chronic_conditions": SCRIPT})  # fmt: skip
    rid = saved.headers["Location"].rsplit("/", 1)[1]
    shown = text(auth.post(f"/committee/records/{rid}/content", page=f"/committee/records/{rid}"))
    assert (svc.records.show(rid).head.content or {})["family_doctor"] == SCRIPT
    assert SCRIPT not in shown and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in shown
    auth.login_as("member2")
    changes = text(press(client, "/committee/queue", f"/committee/records/{rid}/changes"))
    assert f'data-record-id="{rid}"' in changes and SCRIPT not in changes and "&lt;script&gt;" in changes
    edit = text(press(client, f"/committee/records/{rid}/edit", f"/committee/records/{rid}/edit/open"))
    assert SCRIPT not in edit and 'value="&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"' in edit


def test_templates_have_no_inline_scripts_or_styles() -> None:
    for path in TEMPLATES.glob("*.html"):
        source = path.read_text(encoding="utf-8")
        assert "style=" not in source and "<script" not in source and "|safe" not in source, path.name


def test_pages_are_in_chinese_by_default(client: FlaskClient, auth: Auth, svc: Services) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    auth.login_as("member1")
    form = text(client.get(new_url(svc, "health")))
    assert "血型（必填）" in form and "— 请选择 —" in form and "Blood type" not in form
    assert ">A型<" in form and ">不详<" in form  # the options by their titles in the schema
    rid = add_record(svc)
    assert "待签名" in text(client.get("/committee/"))
    page = text(client.get(f"/committee/records/{rid}"))
    assert "健康" in page and "签名" in page and "Signatures" not in page


def test_a_second_record_of_a_kind_is_not_offered_and_a_form_posted_anyway_is_409(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    """Regression: a committee could make a second health record of a resident, who then saw
    two contradictory certified records."""
    auth.login_as("grid")
    rid = add_record(svc)
    page = client.get(new_url(svc, "health"))
    shown = text(page)
    assert page.status_code == 200 and 'id="record-exists"' in shown and 'id="content-blood_type"' not in shown
    link = f'href="/committee/records/{rid}/edit" role="button" id="update-existing">Update the existing record<'
    assert link in shown
    before = svc.records.count()
    posted = auth.post(new_url(svc, "health"), {"content-blood_type": "A"}, page="/committee/")
    assert posted.status_code == 409 and "Nothing was saved." in text(posted) and link in text(posted)
    assert svc.records.count() == before
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    assert "更新已有记录" in text(client.get(new_url(svc, "health")))
    property_form = text(client.get(new_url(svc, "property")))  # several properties are allowed
    assert 'id="record-exists"' not in property_form and 'id="content-certificate_number"' in property_form


def test_the_resident_picker_is_by_name_with_the_id_residents_log_in_with(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    """Regression: the picker listed residents in address order as "李明 (committee-…-1)",
    while residents log in as another id."""
    auth.login_as("member1")
    page = text(client.get("/committee/records/new"))
    select = page[page.index('name="resident"') :]
    select = select[: select.index("</select>")]
    assert 'data-filter="Type a name or log-in id to narrow the list"' in page[page.index('id="choose-form"') :]
    labels = [html.unescape(m) for m in re.findall(r'<option[^>]*value="0x[^"]+">([^<]*)</option>', select)]
    assert labels and labels == sorted(labels)
    with svc.ledger.store.session() as db:
        named = resident_names([address(svc, World.resident)], db=db)[address(svc, World.resident)]
    assert named.login == "resident" and resident_label("张秀英", "resident") == "张秀英 (resident)"
    assert named.label in labels
    listed = text(client.get("/committee/residents/?q=resident"))
    assert 'data-address="' + address(svc, World.resident) + '"' in listed and "<code>resident</code>" in listed
