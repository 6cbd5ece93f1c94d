"""Residents' rights requests in the web app: the resident asks for a correction, a deletion,
or objects to an entry of their history; the committee drafts or declines corrections; the
office erases or refuses deletions and answers objections. Every new route for its role,
allowed and forbidden; no one sees another resident's requests; answered twice; overdue on
the dashboard; both languages."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from ledger.categories import Category
from ledger.rights import DAY_MS, RequestOutcome, RequestStatus
from tests.clock import ManualClock
from tests.conftest import World
from webapp.services import Services

from .conftest import Auth
from .test_resident import add_record, anchor, other_resident, page

pytestmark = pytest.mark.chain

SOCIAL = {"insurance_number": "31010100123", "scheme": "urban_employee", "status": "contributing"}
_REQUEST = re.compile(r'data-testid="request" data-request-id="(0x[0-9a-f]{64})"')


@pytest.fixture(autouse=True)
def _english(client: FlaskClient) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def manual(svc: Services) -> ManualClock:
    """The requests' clock (due dates), moved by hand."""
    clock = ManualClock()
    svc.rights.now = clock.now_ms
    return clock


def request_ids(html: str) -> list[str]:
    return _REQUEST.findall(html)


def test_the_resident_asks_for_a_correction_that_ends_in_a_certified_version(
    client: FlaskClient, auth: Auth, svc: Services, manual: ManualClock
) -> None:
    rid = add_record(svc)
    auth.login_as("resident")
    records = page(client, "/resident/records")
    assert f"/resident/records/{rid}/correction" in records and f"/resident/records/{rid}/deletion" in records
    form = page(client, f"/resident/records/{rid}/correction")
    assert "Family doctor" in form and "Blood type" in form  # the schema's fields, worded
    bad = auth.post(f"/resident/records/{rid}/correction", {"field": "family_doctor", "value": ""},
                    page=f"/resident/records/{rid}/correction")  # fmt: skip
    assert bad.status_code == 400 and "Write what it should be." in bad.get_data(as_text=True)
    typed = auth.post(f"/resident/records/{rid}/correction", {"field": "disability_grade", "value": "three"},
                      page=f"/resident/records/{rid}/correction")  # fmt: skip
    assert typed.status_code == 400 and "does not fit the record" in typed.get_data(as_text=True)
    sent = auth.post(f"/resident/records/{rid}/correction",
                     {"field": "family_doctor", "value": "王医生", "comment": "换了医生"},
                     page=f"/resident/records/{rid}/correction")  # fmt: skip
    assert sent.status_code == 302 and "/resident/requests#request-" in sent.headers["Location"]
    mine = page(client, "/resident/requests")
    (request_id,) = request_ids(mine)
    due = svc.rights.get(request_id).due_at
    assert "王医生" in mine and "Waiting for an answer" in mine and "Answer due by" in mine
    assert due == svc.rights.get(request_id).asked_at + 15 * DAY_MS

    auth.logout()
    auth.login_as("member3")
    record = page(client, f"/committee/records/{rid}")
    assert 'id="corrections"' in record and "王医生" in record
    queue = page(client, "/committee/corrections")
    assert request_ids(queue) == [request_id]
    drafted = auth.post(f"/committee/records/{rid}/corrections/{request_id}/draft", {"opening": "x1"},
                        page=f"/committee/records/{rid}")  # fmt: skip
    html = drafted.get_data(as_text=True)
    assert drafted.status_code == 200 and 'id="correction-note"' in html and 'value="王医生"' in html
    assert 'name="rights_request"' in html
    data = {"content-blood_type": "O", "content-chronic_conditions": "高血压 hypertension", "content-allergies": "",
            "content-family_doctor": "王医生", "expected_version": "1", "rights_request": request_id}  # fmt: skip
    saved = auth.post(f"/committee/records/{rid}/edit", data, page=f"/committee/records/{rid}")
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    assert svc.rights.get(request_id).status == RequestStatus.DRAFTED
    auth.logout()
    for signer in ("member1", "member2"):
        auth.login_as(signer)
        auth.post(f"/committee/records/{rid}/sign", {"version": "2", "back": "record"}, page=f"/committee/records/{rid}")
        auth.logout()
    done = svc.rights.get(request_id)
    assert done.outcome == RequestOutcome.CORRECTED and done.draft_version == 2
    assert svc.records.show(rid).head.certified and svc.records.show(rid).head.content["family_doctor"] == "王医生"
    auth.login_as("resident")
    assert "Corrected" in page(client, "/resident/requests")


def test_a_member_declines_and_the_resident_reads_why_and_no_one_answers_twice(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    rid = add_record(svc)
    made = svc.rights.ask_correction(rid, field="blood_type", value="A", actor=World.resident)
    auth.login_as("grid")  # a grid worker sees the request but does not answer it
    assert "A committee member answers it." in page(client, f"/committee/records/{rid}")
    assert auth.post(f"/committee/records/{rid}/corrections/{made.request_id}/decline", {"reason": "x"},
                     page=f"/committee/records/{rid}").status_code == 403  # fmt: skip
    auth.logout()
    auth.login_as("other-member")  # another committee: the record is not there
    assert client.get(f"/committee/records/{rid}").status_code == 404
    assert auth.post(f"/committee/records/{rid}/corrections/{made.request_id}/decline", {"reason": "x"},
                     page="/committee/").status_code == 404  # fmt: skip
    assert request_ids(page(client, "/committee/corrections")) == []
    auth.logout()
    auth.login_as("member1")
    declined = auth.post(f"/committee/records/{rid}/corrections/{made.request_id}/decline",
                         {"reason": "化验单为O型 the lab report says O"}, page=f"/committee/records/{rid}")  # fmt: skip
    assert declined.status_code == 302
    again = auth.post(f"/committee/records/{rid}/corrections/{made.request_id}/decline", {"reason": "again"},
                      page=f"/committee/records/{rid}", follow_redirects=True)  # fmt: skip
    assert "This request has been answered already." in again.get_data(as_text=True)
    auth.logout()
    auth.login_as("resident")
    mine = page(client, "/resident/requests")
    assert "Not corrected" in mine and "化验单为O型" in mine


def test_a_grid_worker_files_a_request_on_the_residents_behalf(client: FlaskClient, auth: Auth, svc: Services) -> None:
    rid = add_record(svc)
    resident = svc.ledger.address_of(World.resident)
    auth.login_as("grid")
    assert f"/committee/residents/{resident}/records/{rid}/ask" in page(client, f"/committee/residents/{resident}")
    url = f"/committee/residents/{resident}/records/{rid}/ask"
    assert "Family doctor" in page(client, url)
    sent = auth.post(url, {"kind": "deletion", "comment": "本人在场"}, page=url)
    assert sent.status_code == 302
    (made,) = svc.rights.of_resident(World.resident)
    assert made.kind == "deletion" and made.asked_by == svc.ledger.address_of(World.grid_worker)
    auth.logout()
    auth.login_as("other-member")
    assert client.get(url).status_code == 404


def test_the_office_erases_or_refuses_deletions_and_flags_overdue_ones(
    client: FlaskClient, auth: Auth, svc: Services, manual: ManualClock
) -> None:
    erase_me = add_record(svc)
    keep_me = add_record(svc, SOCIAL, category=Category.SOCIAL_SECURITY)
    auth.login_as("resident")
    assert auth.post(f"/resident/records/{erase_me}/deletion", {"comment": "搬走了"},
                     page=f"/resident/records/{erase_me}/deletion").status_code == 302  # fmt: skip
    assert auth.post(f"/resident/records/{keep_me}/deletion", {}, page=f"/resident/records/{keep_me}/deletion").status_code == 302
    auth.logout()
    first, second = sorted(svc.rights.of_resident(World.resident), key=lambda r: r.record_id == keep_me)
    manual.advance(16 * 86_400)
    auth.login_as("admin")
    home = page(client, "/office/")
    assert re.search(r'data-testid="requests-overdue">2<', home)
    listing = page(client, "/office/requests")
    assert set(request_ids(listing)) == {first.request_id, second.request_id} and "overdue" in listing
    erase_prefix, keep_prefix = f"d{first.request_id[2:14]}", f"d{second.request_id[2:14]}"
    missing = auth.post(f"/office/requests/{second.request_id}", {f"{keep_prefix}-reason": "kept by law",
                        f"{keep_prefix}-refuse": "Refuse"}, page="/office/requests")  # fmt: skip
    assert missing.status_code == 400 and "Name the legal basis" in missing.get_data(as_text=True)
    refused = auth.post(f"/office/requests/{second.request_id}", {f"{keep_prefix}-reason": "社保档案须保存",
                        f"{keep_prefix}-basis": "retention-period", f"{keep_prefix}-refuse": "Refuse"},
                        page="/office/requests")  # fmt: skip
    assert refused.status_code == 302 and svc.rights.get(second.request_id).basis == "retention-period"
    erased = auth.post(f"/office/requests/{first.request_id}", {f"{erase_prefix}-reason": "PIPL Art. 47",
                       f"{erase_prefix}-erase": "Erase the record"}, page="/office/requests")  # fmt: skip
    assert erased.status_code == 302 and svc.ledger.view.record(erase_me).erased  # type: ignore[union-attr]
    twice = auth.post(f"/office/requests/{first.request_id}", {f"{erase_prefix}-reason": "again",
                      f"{erase_prefix}-erase": "Erase the record"}, page="/office/requests", follow_redirects=True)  # fmt: skip
    assert "This request has been answered already." in twice.get_data(as_text=True)
    assert re.search(r'data-testid="requests-overdue">0<', page(client, "/office/"))
    auth.logout()
    auth.login_as("other-admin")  # another office: neither listed nor decidable
    assert request_ids(page(client, "/office/requests")) == []
    assert auth.post(f"/office/requests/{second.request_id}", {}, page="/office/requests").status_code == 404
    auth.logout()
    auth.login_as("resident")
    mine = page(client, "/resident/requests")
    assert "Deleted" in mine and "Not deleted" in mine and "A retention period set by law" in mine


def test_an_objection_is_answered_and_shown_beside_the_entry_in_both_languages(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    rid = add_record(svc)
    seq = svc.access.read(rid, accessor=World.admin).seq
    anchor(svc)
    other_resident(svc)
    auth.login_as("resident2")  # not their entry: 404, and nothing recorded
    assert auth.post(f"/resident/history/{seq}/object", {}, page="/resident/history").status_code == 404
    auth.logout()
    auth.login_as("resident")
    history = page(client, "/resident/history")
    assert f"/resident/history/{seq}/object" in history and "I did not expect this" in history
    sent = auth.post(f"/resident/history/{seq}/object", {"comment": "我不认识他们"}, page="/resident/history")
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"#entry-{seq}")
    assert 'data-testid="entry-objection"' in page(client, "/resident/history")
    (made,) = svc.rights.of_resident(World.resident)
    auth.logout()
    auth.login_as("resident2")
    assert request_ids(page(client, "/resident/requests")) == []  # no one sees another resident's requests
    auth.logout()
    auth.login_as("admin")
    prefix = f"o{made.request_id[2:14]}"
    answered = auth.post(f"/office/requests/{made.request_id}", {f"{prefix}-reason": "已提醒工作人员",
                         f"{prefix}-upheld": "Uphold"}, page="/office/requests")  # fmt: skip
    assert answered.status_code == 302 and svc.rights.get(made.request_id).outcome == RequestOutcome.UPHELD
    auth.logout()
    auth.login_as("resident")
    history = page(client, "/resident/history")
    assert "The office agrees with you" in history and "已提醒工作人员" in history
    assert "answered your request" in history  # the decision's own entry, worded as such
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    chinese = page(client, "/resident/history")
    assert "已提醒工作人员" in chinese and "The office agrees with you" not in chinese
    assert "I did not expect this" not in page(client, "/resident/requests")


@pytest.mark.parametrize("username", ["member1", "grid", "officer", "admin", "stranger"])
def test_other_roles_cannot_reach_the_residents_request_pages(
    client: FlaskClient, auth: Auth, svc: Services, username: str
) -> None:
    rid = add_record(svc)
    auth.login_as(username)
    for url in ("/resident/requests", f"/resident/records/{rid}/correction", f"/resident/records/{rid}/deletion"):
        assert client.get(url).status_code == 403, (username, url)
    assert auth.post("/resident/history/0/object", {}, page="/login").status_code == 403
    assert svc.rights.of_resident(World.resident) == []


@pytest.mark.parametrize("username", ["resident", "officer", "stranger"])
def test_only_committee_and_office_reach_their_request_pages(
    client: FlaskClient, auth: Auth, svc: Services, username: str
) -> None:
    auth.login_as(username)
    assert client.get("/committee/corrections").status_code == 403
    assert client.get("/office/requests").status_code == 403


# -- the API ---------------------------------------------------------------------------------------


def test_an_office_system_lists_and_gets_its_requests_and_a_resident_their_own(
    app, svc: Services, manual: ManualClock, ledger  # type: ignore[no-untyped-def]
) -> None:
    from webapp.users import create_token

    from .test_api import API, Api

    rid = add_record(svc)
    asked = svc.rights.ask_deletion(rid, comment="搬走了", actor=World.resident)
    objected = svc.rights.object_to(svc.access.read(rid, accessor=World.admin).seq, actor=World.resident)
    manual.advance(16 * 86_400)
    svc.rights.answer(objected.request_id, "not-upheld", "审计所需 an audit read", actor=World.admin)
    api = Api(app.test_client())
    office = create_token(ledger, World.admin, "office system").token
    other = create_token(ledger, World.other_admin, "office b").token
    resident = create_token(ledger, World.resident, "resident's app").token
    officer = create_token(ledger, World.officer, "health system").token

    listed = api("get", f"{API}/audit/rights-requests", office)
    assert listed.status == 200
    by_id = {r["requestId"]: r for r in listed.body["requests"]}
    assert set(by_id) == {asked.request_id, objected.request_id}
    assert by_id[asked.request_id]["overdue"] is True and by_id[asked.request_id]["status"] == "open"
    assert by_id[objected.request_id]["outcome"] == "not-upheld" and by_id[objected.request_id]["overdue"] is False
    overdue = api("get", f"{API}/audit/rights-requests?overdue=true&status=open", office)
    assert [r["requestId"] for r in overdue.body["requests"]] == [asked.request_id]
    assert [r["requestId"] for r in api("get", f"{API}/audit/rights-requests?kind=objection", office).body["requests"]] == [
        objected.request_id
    ]
    one = api("get", f"{API}/audit/rights-requests/{asked.request_id}", office)
    assert one.status == 200 and one.body["comment"] == "搬走了" and one.body["dueAt"] == asked.due_at
    assert api("get", f"{API}/audit/rights-requests/{asked.request_id}", other).status == 404  # another office
    assert api("get", f"{API}/audit/rights-requests", other).body["requests"] == []
    assert api("get", f"{API}/audit/rights-requests?status=maybe", office).status == 400
    assert api("get", f"{API}/audit/rights-requests", officer).status == 403
    mine = api("get", f"{API}/resident/rights-requests", resident)
    assert {r["requestId"] for r in mine.body["requests"]} == {asked.request_id, objected.request_id}
    history = api("get", f"{API}/resident/accesses", resident)  # the decision's entry fits the document
    assert history.status == 200 and "not-upheld" in {e["leaf"]["decision"] for e in history.body["entries"] if e["leaf"]}


@pytest.mark.parametrize("username", ["resident", "officer", "grid"])
def test_committee_and_office_decisions_are_refused_to_other_roles(
    client: FlaskClient, auth: Auth, svc: Services, username: str
) -> None:
    rid = add_record(svc)
    correction = svc.rights.ask_correction(rid, field="blood_type", value="A", actor=World.resident)
    deletion = svc.rights.ask_deletion(rid, actor=World.resident)
    auth.login_as(username)
    drafted = auth.post(f"/committee/records/{rid}/corrections/{correction.request_id}/draft", {"opening": "o1"},
                        page="/login")  # fmt: skip
    assert drafted.status_code == 403
    assert auth.post(f"/office/requests/{deletion.request_id}", {}, page="/login").status_code == 403
    assert svc.rights.get(correction.request_id).open and svc.rights.get(deletion.request_id).open
    assert svc.ledger.log.size() == 0  # nothing was read or decided


def test_every_code_of_the_requests_has_words_in_both_languages(app) -> None:  # type: ignore[no-untyped-def]
    from ledger.errors import Conflict
    from ledger.rights import RefusalBasis, RequestKind, RequestStatus
    from webapp import presentation

    cjk = re.compile(r"[\u3400-\u9fff]")
    for language, chinese in (("zh-CN", True), ("en", False)):
        with app.test_request_context("/", headers={"Accept-Language": language}):
            words = [presentation.request_kind_name(k, a) for k in RequestKind for a in presentation.Audience]
            words += [presentation.request_status_name(s, a) for s in RequestStatus for a in presentation.Audience]
            words += [presentation.request_outcome_name(o, a) for o in RequestOutcome for a in presentation.Audience]
            words += [presentation.refusal_basis_name(b) for b in RefusalBasis]
            words += [presentation.conflict_words(c) for c in Conflict]
            words += [presentation.problem_name(p) for p in ("decision-differs", "decision-missing")]
            for word in words:
                assert word and bool(cjk.search(word)) == chinese, (language, word)
