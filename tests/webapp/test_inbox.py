"""The resident's messages (inbox): every route allowed for the resident and refused to every
other role and to strangers; one plain sentence per item in both languages, linking to the
history entry or the permission; the unread count in the header of every page, for a resident
only; marking read (the page's "seen" form, "mark all as read") only by the resident themself,
never by a grid worker helping them; a deferred read only from its disclosure date; a
permission ending within seven days, not one ending in eight."""

from __future__ import annotations

import html as markup
import re
import time
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ledger.access import today
from ledger.categories import Category
from ledger.consent import LegalBasis, Purpose
from ledger.membership import Role
from ledger.store.models import InboxSeen
from tests.conftest import World
from webapp.services import Services
from webapp.users import add_user

from .conftest import CHEAP_HASHER, HEALTH, PASSWORD, YEAR, Auth, Clock

pytestmark = pytest.mark.chain

DAY = 86_400
OTHER_RESIDENT = "cmte-a-resident2"
_ITEM = re.compile(r'data-testid="inbox-item" data-key="([^"]+)" data-kind="([^"]+)" data-unread="(yes|no)"')
_COUNT = re.compile(r'id="inbox-count">(\d+)<')
_SENTENCE = re.compile(r'<a href="([^"]+)" data-testid="inbox-link">([^<]+)</a>')


@pytest.fixture(autouse=True)
def _english(client: FlaskClient) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def add_record(svc: Services, subject: str = World.resident) -> str:
    rid, _ = svc.records.add(actor=World.members[0], subject=subject, category=Category.HEALTH, content=HEALTH)
    svc.records.sign(rid, signer=World.members[0])
    svc.records.sign(rid, signer=World.members[1])
    return rid


def grant(svc: Services, valid_until: int, resident: str = World.resident) -> str:
    gid, _ = svc.consent.issue(
        resident=resident, department=World.department, categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=valid_until,
    )  # fmt: skip
    return gid


def a_read(svc: Services) -> int:
    """A read of the resident's health record by the health office, under a year's grant."""
    rid = add_record(svc)
    grant(svc, int(time.time()) + YEAR)
    return svc.access.read(rid, accessor=World.officer).seq


def page(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def items(html: str) -> list[tuple[str, str, str]]:
    return _ITEM.findall(html)


def count(html: str) -> int | None:
    found = _COUNT.search(html)
    return int(found.group(1)) if found else None


def seen(auth: Auth, keys: list[str], **kw: object) -> object:
    return auth.post("/resident/inbox/seen", {"key": keys}, page="/resident/inbox", **kw)


def read_marks(svc: Services) -> int:
    with svc.ledger.store.session() as db:
        return int(db.scalar(select(func.count()).select_from(InboxSeen)) or 0)


# -- who may come in --------------------------------------------------------------------------------

ROUTES = [("GET", "/resident/inbox"), ("POST", "/resident/inbox/seen"), ("POST", "/resident/inbox/read-all")]


@pytest.mark.parametrize(
    "username", ["member1", "grid", "officer", "police", "admin", "other-member", "suspended", "revoked", "stranger"]
)
def test_other_roles_get_403_and_no_count_in_the_header(
    client: FlaskClient, auth: Auth, svc: Services, username: str
) -> None:
    seq = a_read(svc)
    auth.login_as(username)
    for method, url in ROUTES:
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={"csrf_token": auth.token(), "key": [f"access:{seq}"]})
        assert response.status_code == 403, (username, method, url)
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert 'id="inbox-link"' not in home and 'id="inbox-count"' not in home
    assert read_marks(svc) == 0
    auth.login_as("resident")
    assert count(page(client, "/resident/records")) == 1  # still unread


def test_anonymous_visitors_are_sent_to_log_in(client: FlaskClient, svc: Services) -> None:
    response = client.get("/resident/inbox")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    for _method, url in ROUTES[1:]:
        assert client.post(url, data={"key": ["access:0"]}).status_code in (302, 400)
    assert 'id="inbox-link"' not in page(client, "/login")


# -- the page and the header ---------------------------------------------------------------------------


def test_a_read_is_one_sentence_linking_to_its_history_entry_and_the_count_is_in_every_pages_header(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    seq = a_read(svc)
    auth.login_as("resident")
    for url in ("/resident/", "/resident/records", "/resident/grants", "/resident/history", "/resident/download"):
        html = page(client, url)
        assert count(html) == 1, url
        assert 'href="/resident/inbox" id="inbox-link"' in html, url
    inbox = page(client, "/resident/inbox")
    assert items(inbox) == [(f"access:{seq}", "data-read", "yes")]
    ((href, sentence),) = _SENTENCE.findall(inbox)
    day = today()
    assert (
        markup.unescape(sentence)
        == f"Health A looked at your health record on {day.day} {day:%B}, with your permission."
    )
    assert href == f"/resident/history?before={seq + 1}#entry-{seq}"
    assert f'id="entry-{seq}"' in page(client, href.split("#")[0])  # the entry is on the page it links to
    assert 'id="inbox-seen"' in inbox and f'name="key" value="access:{seq}"' in inbox
    assert 'src="/static/inbox.js"' in inbox and 'id="inbox-read-all"' in inbox
    assert read_marks(svc) == 0  # showing the page wrote nothing

    marked = seen(auth, [f"access:{seq}"], headers={"Accept": "application/json"})
    assert marked.status_code == 200 and marked.get_json() == {"unread": 0}  # type: ignore[attr-defined]
    again = page(client, "/resident/inbox")
    assert items(again) == [(f"access:{seq}", "data-read", "no")] and count(again) is None
    assert 'id="inbox-seen"' not in again and 'id="inbox-read-all"' not in again
    assert count(page(client, "/resident/records")) is None


def test_the_inbox_in_chinese_and_in_large_text(client: FlaskClient, auth: Auth, svc: Services) -> None:
    a_read(svc)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    auth.login_as("resident")
    html = page(client, "/resident/inbox")
    day = today()
    assert f"甲卫生健康办 {day.month} 月 {day.day} 日查看了您的健康记录（依据您的授权）。" in html
    assert "我的消息" in html and "全部标为已读" in html and "条未读" in html and "新" in html
    assert auth.post("/large-text", {"next": "/resident/inbox"}, page="/resident/inbox").status_code == 302
    large = page(client, "/resident/inbox")
    assert 'class="large-text"' in large and count(large) == 1


def test_the_seen_form_without_scripts_and_mark_all_as_read(client: FlaskClient, auth: Auth, svc: Services) -> None:
    rid = add_record(svc)
    grant(svc, int(time.time()) + YEAR)
    first = svc.access.read(rid, accessor=World.officer).seq
    auth.login_as("resident")
    done = seen(auth, [f"access:{first}"])
    assert done.status_code == 302 and done.headers["Location"] == "/resident/inbox"  # type: ignore[attr-defined]
    second = svc.access.read(rid, accessor=World.officer).seq
    third = svc.access.read(rid, accessor=World.officer).seq
    assert count(page(client, "/resident/grants")) == 2
    inbox = page(client, "/resident/inbox")
    assert [(k, u) for k, _kind, u in items(inbox)] == [
        (f"access:{third}", "yes"), (f"access:{second}", "yes"), (f"access:{first}", "no"),
    ]  # fmt: skip
    cleared = auth.post("/resident/inbox/read-all", page="/resident/inbox", follow_redirects=True)
    text = cleared.get_data(as_text=True)
    assert "Everything in your messages is marked as read." in text and count(text) is None
    assert all(u == "no" for _k, _kind, u in items(text))


def test_keys_that_are_not_the_residents_items_are_refused_and_nothing_is_marked(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    seq = a_read(svc)
    auth.login_as("resident")
    for keys in ([], ["access:999999"], [f"access:{seq}", "grant-ending:0x" + "ab" * 32], ["x" * 200],
                 [f"access:{seq}"] * 31):  # fmt: skip
        assert seen(auth, keys).status_code == 400, keys  # type: ignore[attr-defined]
    assert read_marks(svc) == 0 and count(page(client, "/resident/inbox")) == 1


def test_no_resident_sees_or_marks_another_residents_inbox(client: FlaskClient, auth: Auth, svc: Services) -> None:
    svc.orgs.add_member(OTHER_RESIDENT, World.committee, Role.RESIDENT, actor=World.grid_worker)
    add_user(svc.ledger, "resident2", PASSWORD, account=OTHER_RESIDENT, display_name="钱桂兰", hasher=CHEAP_HASHER)
    seq = a_read(svc)
    gid = grant(svc, int(time.time()) + 3 * DAY)
    auth.login_as("resident2")
    inbox = page(client, "/resident/inbox")
    assert items(inbox) == [] and 'id="inbox-empty"' in inbox and count(inbox) is None
    assert 'href="/resident/inbox" id="inbox-link"' in inbox  # the link is there, with no count
    assert gid not in inbox and "Health A" not in inbox
    assert seen(auth, [f"access:{seq}"]).status_code == 400  # type: ignore[attr-defined]
    assert seen(auth, [f"grant-ending:{gid}"]).status_code == 400  # type: ignore[attr-defined]
    assert auth.post("/resident/inbox/read-all", page="/resident/inbox").status_code == 302
    assert read_marks(svc) == 0
    auth.login_as("resident")
    assert count(page(client, "/resident/records")) == 2


def test_a_grid_worker_helping_the_resident_does_not_mark_their_inbox_read(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    seq = a_read(svc)
    resident = svc.ledger.address_of(World.resident)
    auth.login_as("grid")
    url = f"/committee/residents/{resident}/relay-grant"
    assert 'id="inbox-count"' not in page(client, f"/committee/residents/{resident}")
    fields = {"department": World.department, "categories": ["health"], "purpose": str(int(Purpose.HEALTH_MANAGEMENT)),
              "valid_until": (today() + timedelta(days=4)).isoformat(), "purpose_text": "家庭医生签约", "present": "y"}  # fmt: skip
    sent = auth.post(url, fields, page=url)
    assert sent.status_code == 302, re.findall(r'class="field-error"[^>]*>([^<]*)<', sent.get_data(as_text=True))
    gid = sent.headers["Location"].split("granted=")[1]
    assert seen(auth, [f"access:{seq}"]).status_code == 403  # type: ignore[attr-defined]
    assert read_marks(svc) == 0
    auth.login_as("resident")
    inbox = page(client, "/resident/inbox")
    # (in the order they arrived: the permission's start is the chain's second, the read's the log's millisecond)
    assert sorted(items(inbox)) == [
        (f"access:{seq}", "data-read", "yes"),
        (f"grant-ending:{gid}", "grant-ending", "yes"),
    ]
    assert count(inbox) == 2


# -- what is an item, and when --------------------------------------------------------------------------


def test_a_permission_ending_within_seven_days_is_a_message_one_ending_in_eight_is_not(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    now = int(svc.ledger.w3.eth.get_block("latest")["timestamp"])
    soon = grant(svc, now + 6 * DAY)
    grant(svc, now + 8 * DAY)
    auth.login_as("resident")
    inbox = page(client, "/resident/inbox")
    assert items(inbox) == [(f"grant-ending:{soon}", "grant-ending", "yes")]
    ((href, sentence),) = _SENTENCE.findall(inbox)
    assert href == f"/resident/grants#grant-{soon}"
    assert f'id="grant-{soon}"' in page(client, "/resident/grants")
    last = svc.consent.show(soon)
    from webapp.i18n import format_last_day

    day = format_last_day(last.valid_until)
    month = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"][int(day[5:7]) - 1]  # fmt: skip
    this_year = str(today().year) == day[:4]
    said = f"{int(day[8:])} {month}" + ("" if this_year else f" {day[:4]}")
    assert markup.unescape(sentence) == (
        f"Your permission for Health A to use your health records for health management ends soon: {said} is its "
        "last day."
    )
    assert count(inbox) == 1


def test_a_deferred_read_is_a_message_only_from_its_disclosure_date(
    client: FlaskClient, auth: Auth, svc: Services, clock: Clock
) -> None:
    day = today() + timedelta(days=30)
    seq = svc.access.read(add_record(svc), accessor=World.police_officer, justification="立案侦查 case 2026-117",
                          disclose_on=day.isoformat()).seq  # fmt: skip
    auth.login_as("resident")
    before = page(client, "/resident/inbox")
    assert items(before) == [] and count(before) is None and "Police A" not in before
    assert seen(auth, [f"access:{seq}"]).status_code == 400  # type: ignore[attr-defined]

    auth.logout()
    clock.advance(30 * DAY)  # the app's clock on the disclosure day (a new session: the old one would have ended)
    auth.login_as("resident")
    after = page(client, "/resident/records")
    assert count(after) == 1
    inbox = page(client, "/resident/inbox")
    assert items(inbox) == [(f"access:{seq}", "data-read", "yes")] and "Police A" in inbox


def test_the_inbox_pages_older_messages_and_marks_only_what_a_page_showed(
    client: FlaskClient, auth: Auth, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("webapp.resident.routes.INBOX_PAGE", 2)
    rid = add_record(svc)
    grant(svc, int(time.time()) + YEAR)
    seqs = [svc.access.read(rid, accessor=World.officer).seq for _ in range(3)]
    auth.login_as("resident")
    first = page(client, "/resident/inbox")
    assert [k for k, _kind, _u in items(first)] == [f"access:{seqs[2]}", f"access:{seqs[1]}"]
    assert re.findall(r'name="key" value="([^"]+)"', first) == [f"access:{seqs[2]}", f"access:{seqs[1]}"]
    assert 'href="/resident/inbox?start=2" id="inbox-older"' in first and count(first) == 3
    assert seen(auth, [f"access:{seqs[2]}", f"access:{seqs[1]}"]).status_code == 302  # type: ignore[attr-defined]
    older = page(client, "/resident/inbox?start=2")
    assert items(older) == [(f"access:{seqs[0]}", "data-read", "yes")] and count(older) == 1
    assert 'id="inbox-newest"' in older and 'id="inbox-older"' not in older
    assert items(page(client, "/resident/inbox?start=99")) == items(page(client, "/resident/inbox"))  # out of range


def test_the_count_is_in_the_header_of_an_error_page_too(client: FlaskClient, auth: Auth, svc: Services) -> None:
    a_read(svc)
    auth.login_as("resident")
    missing = client.get("/resident/history/999999/proof.json")
    assert missing.status_code == 404 and count(missing.get_data(as_text=True)) == 1
