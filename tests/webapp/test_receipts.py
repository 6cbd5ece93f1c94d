"""Consent receipts on the web and in the API: the resident, the grant's department and the
office governing it each download one that verifies against the chain; anyone else is told
there is no such grant (404) or, for another audience's pages, refused (403)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from ledger.membership import Role
from ledger.receipts import FORMAT, verify
from tests.conftest import World
from webapp.services import Services
from webapp.users import create_token

from .conftest import Auth
from .test_api import API, Api, grant
from .test_api import api as api  # noqa: F401 - the fixture
from .test_api import tokens as tokens  # noqa: F401 - the fixture

NEIGHBOUR = "cmte-a-resident-2"


def _receipt(response: Any, rpc: str) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="gridledger-consent-receipt-')
    document = json.loads(response.get_data(as_text=True))
    assert document["format"] == FORMAT
    verdict = verify(document, rpc)
    assert verdict.ok, [f.to_json() for f in verdict.findings]
    return document


def _link(client: FlaskClient, page: str, endpoint_path: str) -> None:
    html = client.get(page).get_data(as_text=True)
    assert endpoint_path in html, f"no link to {endpoint_path} on {page}"


@pytest.mark.chain
def test_the_resident_downloads_their_own_and_no_one_elses(auth: Auth, client: FlaskClient, svc: Services) -> None:
    svc.orgs.add_member(NEIGHBOUR, World.committee, Role.RESIDENT, actor=World.grid_worker)
    mine, theirs = grant(svc), grant(svc, resident=NEIGHBOUR)
    rpc = svc.settings.rpc_url
    auth.login_as("resident")
    _link(client, "/resident/grants", f"/resident/grants/{mine}/receipt.json")
    document = _receipt(client.get(f"/resident/grants/{mine}/receipt.json"), rpc)
    assert document["language"] == "zh-CN" and document["evidence"]["grantId"] == mine
    assert client.get(f"/resident/grants/{theirs}/receipt.json").status_code == 404
    assert client.get(f"/resident/grants/{'0x' + 'ab' * 32}/receipt.json").status_code == 404
    assert client.get("/resident/grants/not-an-id/receipt.json").status_code == 404
    assert client.get(f"/department/grants/{mine}/receipt.json").status_code == 403
    assert client.get(f"/office/grants/{mine}/receipt.json").status_code == 403

    # The receipt says the language it was asked in (the browser's, when none was chosen).
    english = client.get(f"/resident/grants/{mine}/receipt.json", headers={"Accept-Language": "en"})
    assert _receipt(english, rpc)["language"] == "en"


@pytest.mark.chain
def test_the_department_and_its_office_download_and_others_do_not(
    auth: Auth, client: FlaskClient, svc: Services
) -> None:
    gid = grant(svc)
    rpc = svc.settings.rpc_url
    auth.login_as("officer")
    _link(client, "/department/grants", f"/department/grants/{gid}/receipt.json")
    _receipt(client.get(f"/department/grants/{gid}/receipt.json"), rpc)
    assert client.get(f"/resident/grants/{gid}/receipt.json").status_code == 403
    auth.logout()

    auth.login_as("police")  # another department of the same office
    assert client.get(f"/department/grants/{gid}/receipt.json").status_code == 404
    auth.logout()

    auth.login_as("admin")
    _link(client, f"/office/grants/{gid}", f"/office/grants/{gid}/receipt.json")
    _receipt(client.get(f"/office/grants/{gid}/receipt.json"), rpc)
    auth.logout()

    auth.login_as("other-admin")  # another office's admin
    assert client.get(f"/office/grants/{gid}/receipt.json").status_code == 404
    auth.logout()

    for username in ("member1", "grid"):
        auth.login_as(username)
        for page in ("resident", "department", "office"):
            assert client.get(f"/{page}/grants/{gid}/receipt.json").status_code == 403, (username, page)
        auth.logout()


@pytest.mark.chain
def test_the_api_answers_the_department_the_resident_and_the_office_only(
    api: Api,  # noqa: F811
    svc: Services,
    tokens: dict[str, str],  # noqa: F811
) -> None:
    gid = grant(svc)
    url = f"{API}/grants/{gid}/receipt"
    rpc = svc.settings.rpc_url
    for role in ("department-officer", "resident", "office-admin"):
        answer = api("get", url, tokens[role])
        assert answer.status == 200, (role, answer.body)
        verdict = verify(answer.body, rpc)  # the answer is the signed receipt, byte for byte in meaning
        assert verdict.ok, (role, [f.to_json() for f in verdict.findings])
    assert api("get", url, tokens["department-officer"], language="en").body["language"] == "en"
    for role in ("committee-member", "grid-worker"):
        assert api("get", url, tokens[role]).status == 403, role
    police = create_token(svc.ledger, World.police_officer, "police system").token
    assert api("get", url, police).status == 404
    other = create_token(svc.ledger, World.other_admin, "other office").token
    assert api("get", url, other).status == 404
    assert api("get", f"{API}/grants/{'0x' + 'cd' * 32}/receipt", tokens["resident"]).status == 404
    assert api("get", f"{API}/grants/nonsense/receipt", tokens["resident"]).status == 400
    assert api("get", url).status == 401
