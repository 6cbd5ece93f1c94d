"""Webhooks in the web app: the office's page of failed and recent deliveries with "Send
again", the department's API endpoints (each answer held to the OpenAPI document), and the
words of every webhook code in both languages. Allowed and forbidden for every route and
role; a department never sees another's subscriptions or deliveries; an office only its own."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.context import Ledger
from ledger.membership import org_id
from ledger.webhooks import AttemptError, Deliverer, DeliveryState, EventKind, UrlProblem, publish
from tests.clock import ManualClock
from tests.conftest import World
from tests.ledger.webhook_receiver import Receiver
from webapp import i18n, presentation
from webapp.services import Services
from webapp.users import create_token

from .conftest import Auth
from .test_api import Api

HEALTH = "0x" + org_id(World.department).hex()
POLICE = "0x" + org_id(World.police).hex()
API = "/api/v1"
ALL = [str(k) for k in EventKind]
CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture(autouse=True)
def _english(client: FlaskClient) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def receiver(clock: ManualClock) -> Any:
    found = Receiver(lambda: clock.now_ms() / 1000).start()
    yield found
    found.release.set()
    found.stop()


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


@pytest.fixture
def tokens(ledger: Ledger) -> dict[str, str]:
    holders = {"officer": World.officer, "police": World.police_officer, "admin": World.admin,
               "resident": World.resident, "member": World.members[0], "grid": World.grid_worker}  # fmt: skip
    return {name: create_token(ledger, label, f"system of {label}").token for name, label in holders.items()}


def _dead_letter(svc: Services, receiver: Receiver, clock: ManualClock, department: str = HEALTH,
                 officer: str = World.officer) -> str:  # fmt: skip
    """A delivery that failed its last attempt (the receiver answered 500 every time)."""
    made = svc.webhooks.create(officer, receiver.url, ALL)
    receiver.secret = made.secret
    with svc.ledger.store.session() as session, session.begin():
        (delivery_id,) = publish(session, department, EventKind.REQUEST_DECIDED, f"req-{department[:8]}",
                                 {"requestId": "r-1", "decision": "declined"})  # fmt: skip
    receiver.mode = "fail"
    deliverer = Deliverer(svc.ledger, clock=clock.now_ms, settings=svc.ledger.settings.with_(webhook_max_attempts=2))
    for _ in range(2):
        deliverer.run_once()
        clock.advance(3600)
    assert svc.webhooks.delivery(World.admin, delivery_id).state == DeliveryState.DEAD
    return delivery_id


# -- the office's page --------------------------------------------------------------------------


def test_the_office_sees_its_departments_dead_letters_and_sends_one_again_with_the_same_id(
    client: FlaskClient, auth: Auth, svc: Services, receiver: Receiver, clock: ManualClock
) -> None:
    delivery_id = _dead_letter(svc, receiver, clock)
    auth.login_as("admin")
    page = client.get("/office/webhooks").get_data(as_text=True)
    assert f'data-testid="dead-{delivery_id}"' in page and f'data-testid="replay-{delivery_id}"' in page
    assert "Consent request answered" in page and "The department&#39;s system answered with an error" in page
    assert "HTTP 500" in page and receiver.url.replace("&", "&amp;") in page
    response = auth.post(f"/office/webhooks/{delivery_id}/replay", page="/office/webhooks")
    assert response.status_code == 302
    flashed = client.get("/office/webhooks").get_data(as_text=True)
    assert f"Delivery {delivery_id} will be sent again" in html.unescape(flashed)
    assert f'data-testid="dead-{delivery_id}"' not in flashed and 'id="no-dead-letters"' in flashed
    receiver.mode = "ok"
    assert Deliverer(svc.ledger, clock=clock.now_ms).run_once().delivered == 1
    assert [a.id for a in receiver.accepted] == [delivery_id]  # the same id as the failed attempts
    assert {a.id for a in receiver.arrivals} == {delivery_id}
    # Sending again what is not failed any more is refused, in words.
    auth.post(f"/office/webhooks/{delivery_id}/replay", page="/office/webhooks")
    assert "cannot be sent again" in html.unescape(client.get("/office/webhooks").get_data(as_text=True))


def test_the_office_page_in_chinese(client: FlaskClient, auth: Auth, svc: Services, receiver: Receiver,
                                    clock: ManualClock) -> None:  # fmt: skip
    _dead_letter(svc, receiver, clock)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    auth.login_as("admin")
    page = client.get("/office/webhooks").get_data(as_text=True)
    assert "发送失败的消息" in page and "重新发送" in page and "授权申请已答复" in page and "部门系统返回了错误" in page


def test_another_office_does_not_see_or_send_our_dead_letters(
    client: FlaskClient, auth: Auth, svc: Services, receiver: Receiver, clock: ManualClock
) -> None:
    delivery_id = _dead_letter(svc, receiver, clock)
    auth.login_as("other-admin")
    page = client.get("/office/webhooks").get_data(as_text=True)
    assert delivery_id not in page and receiver.url not in page
    assert auth.post(f"/office/webhooks/{delivery_id}/replay", page="/office/webhooks").status_code == 404
    assert svc.webhooks.delivery(World.admin, delivery_id).state == DeliveryState.DEAD


@pytest.mark.parametrize("username", ["resident", "member1", "grid", "officer", "police", "suspended", "stranger"])
def test_other_roles_get_403_on_the_webhook_pages(
    client: FlaskClient, auth: Auth, svc: Services, receiver: Receiver, clock: ManualClock, username: str
) -> None:
    delivery_id = _dead_letter(svc, receiver, clock)
    auth.login_as(username)
    assert client.get("/office/webhooks").status_code == 403
    assert client.post(f"/office/webhooks/{delivery_id}/replay", data={"csrf_token": auth.token()}).status_code == 403
    assert svc.webhooks.delivery(World.admin, delivery_id).state == DeliveryState.DEAD


def test_sending_again_needs_a_post_with_its_csrf_token(
    client: FlaskClient, auth: Auth, svc: Services, receiver: Receiver, clock: ManualClock
) -> None:
    delivery_id = _dead_letter(svc, receiver, clock)
    auth.login_as("admin")
    assert client.get(f"/office/webhooks/{delivery_id}/replay").status_code == 405
    assert client.post(f"/office/webhooks/{delivery_id}/replay").status_code == 400
    assert auth.post("/office/webhooks/msg_nosuch/replay", page="/office/webhooks").status_code == 404
    assert svc.webhooks.delivery(World.admin, delivery_id).state == DeliveryState.DEAD


# -- the API --------------------------------------------------------------------------------------


def test_an_officer_subscribes_lists_follows_and_removes_through_the_api(
    api: Api, tokens: dict[str, str], svc: Services, receiver: Receiver, clock: ManualClock
) -> None:
    made = api("post", f"{API}/department/webhooks", tokens["officer"], body={"url": receiver.url, "kinds": ALL})
    assert made.status == 201
    body = made.body
    assert body["secret"].startswith("whsec_") and body["department"] == {"id": HEALTH, "code": World.department}
    assert body["kinds"] == ALL and body["active"] and body["sealed"]
    subscription = body["subscriptionId"]
    receiver.secret = body["secret"]
    listed = api("get", f"{API}/department/webhooks", tokens["officer"]).body["subscriptions"]
    assert [s["subscriptionId"] for s in listed] == [subscription] and "secret" not in listed[0]
    with svc.ledger.store.session() as session, session.begin():
        (delivery_id,) = publish(session, HEALTH, EventKind.REQUEST_DECIDED, "req-9", {"requestId": "req-9"})
    assert Deliverer(svc.ledger, clock=clock.now_ms).run_once().delivered == 1  # the secret given verifies
    (arrival,) = receiver.accepted
    assert arrival.id == delivery_id
    (delivery,) = api("get", f"{API}/department/webhooks/{subscription}/deliveries", tokens["officer"]).body[
        "deliveries"
    ]
    assert delivery["deliveryId"] == delivery_id and delivery["state"] == "delivered"
    assert delivery["tried"] == [{"number": 1, "at": clock.now_ms(), "status": 204, "error": None}]
    assert delivery["data"] == {"requestId": "req-9"}
    only_dead = api("get", f"{API}/department/webhooks/{subscription}/deliveries?state=dead", tokens["officer"])
    assert only_dead.body["deliveries"] == []
    removed = api("delete", f"{API}/department/webhooks/{subscription}", tokens["officer"])
    assert removed.status == 200 and removed.body["active"] is False and removed.body["removedAt"]
    assert api("delete", f"{API}/department/webhooks/{subscription}", tokens["officer"]).status == 409
    assert api("get", f"{API}/department/webhooks", tokens["officer"]).body["subscriptions"] == []


def test_bad_subscriptions_name_the_field(api: Api, tokens: dict[str, str]) -> None:
    def refused(body: dict[str, Any]) -> dict[str, Any]:
        answer = api("post", f"{API}/department/webhooks", tokens["officer"], body=body)
        assert answer.status == 400, answer.body
        return dict(answer.body)

    bad = refused({"url": "https://user:pw@health.example/hook", "kinds": ALL})
    assert bad["field"] == "url" and bad["code"] == "bad-url" and bad["params"]["problem"] == UrlProblem.CREDENTIALS
    assert refused({"url": "ftp://health.example/hook", "kinds": ALL})["params"]["problem"] == UrlProblem.SCHEME
    assert refused({"url": "https://health.example/hook", "kinds": ["grant.deleted"]})["field"] == "kinds"
    assert refused({"url": "https://health.example/hook", "kinds": []})["field"] == "kinds"
    assert refused({"kinds": ALL})["field"] == "url"


def test_a_department_never_sees_another_departments_subscriptions_or_deliveries(
    api: Api, tokens: dict[str, str], svc: Services
) -> None:
    police = api("post", f"{API}/department/webhooks", tokens["police"],
                 body={"url": "https://police.example/hook", "kinds": ["grant.withdrawn"]}).body  # fmt: skip
    with svc.ledger.store.session() as session, session.begin():
        publish(session, POLICE, EventKind.GRANT_WITHDRAWN, "0x" + "cd" * 32, {"grantId": "0x" + "cd" * 32})
    assert api("get", f"{API}/department/webhooks", tokens["officer"]).body["subscriptions"] == []
    theirs = f"{API}/department/webhooks/{police['subscriptionId']}"
    assert api("get", f"{theirs}/deliveries", tokens["officer"]).status == 404
    assert api("delete", theirs, tokens["officer"]).status == 404
    assert len(api("get", f"{theirs}/deliveries", tokens["police"]).body["deliveries"]) == 1
    assert api("get", f"{API}/department/webhooks/whs_{'0' * 32}/deliveries", tokens["police"]).status == 404
    assert api("get", f"{API}/department/webhooks/not-an-id/deliveries", tokens["police"]).status == 400


@pytest.mark.parametrize("role", ["admin", "resident", "member", "grid"])
def test_only_department_officers_use_the_webhook_endpoints(api: Api, tokens: dict[str, str], role: str) -> None:
    some = f"{API}/department/webhooks/whs_{'0' * 32}"
    for method, url, body in (
        ("get", f"{API}/department/webhooks", None),
        ("post", f"{API}/department/webhooks", {"url": "https://x.example/hook", "kinds": ALL}),
        ("delete", some, None),
        ("get", f"{some}/deliveries", None),
    ):
        answer = api(method, url, tokens[role], body=body)
        assert answer.status == 403 and answer.body["error"] == "forbidden", (role, method, url)


# -- words ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def words_app() -> Flask:
    built = Flask(__name__)
    built.secret_key = "test"
    i18n.init_app(built)
    presentation.init_app(built)
    return built


@pytest.mark.parametrize(
    ("say", "member"),
    [(presentation.event_kind_name, k) for k in EventKind]
    + [(presentation.delivery_state_name, s) for s in DeliveryState]
    + [(presentation.attempt_error_name, e) for e in AttemptError]
    + [(presentation.url_problem, p) for p in UrlProblem],
)
def test_every_webhook_code_has_words_in_both_languages(words_app: Flask, say: Any, member: str) -> None:
    said = {}
    for language in ("en", "zh-CN"):
        with words_app.test_request_context("/", headers={"Accept-Language": language}):
            said[language] = str(say(member))
    assert said["en"] and said["en"] != str(member) and not CJK.search(said["en"])
    assert CJK.search(said["zh-CN"]), (member, said)
