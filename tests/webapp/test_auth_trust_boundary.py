"""The trust boundary at the door: what a person or a system may do comes from the chain,
and the rows that say who logs in (web users, API tokens) are sealed. Someone who can only
edit the database changes nothing by editing ``members`` or ``organisations``, and an edited
log-in or token is refused like a wrong password or an unknown token."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select, update

from ledger.context import Ledger
from ledger.errors import NodeError, NotFoundError
from ledger.membership import org_id
from ledger.seal import row_sealed
from ledger.store.models import ApiToken, Member, Organisation, WebUser
from ledger.verify import verify
from tests.conftest import World
from webapp.services import Services
from webapp.users import add_user, create_token, disable_user, revoke_token

from .conftest import CHEAP_HASHER, PASSWORD, Auth

pytestmark = pytest.mark.chain

OFFICE = "0x" + org_id(World.office).hex()
COMMITTEE = "0x" + org_id(World.committee).hex()
HEALTH_DEPT = "0x" + org_id(World.department).hex()
OTHER_OFFICE = "0x" + org_id(World.other_office).hex()


def edit(svc: Services, statement: Any) -> None:
    """A change made in the database alone, as an operator or an intruder could."""
    with svc.ledger.store.engine.begin() as connection:
        assert connection.execute(statement).rowcount == 1


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- decisions come from the chain ----------------------------------------------------------------


def test_editing_members_in_the_database_changes_nothing_on_the_pages(
    app: Flask, client: FlaskClient, auth: Auth, svc: Services
) -> None:
    address = svc.ledger.address_of
    edit(svc, update(Member).where(Member.address == address(World.resident)).values(role="office-admin", org_id=OFFICE))
    edit(svc, update(Member).where(Member.address == address(World.grid_worker)).values(status="suspended"))
    edit(svc, update(Member).where(Member.address == address(World.officer))
         .values(role="committee-member", org_id=COMMITTEE))  # fmt: skip
    edit(svc, update(Member).where(Member.address == address(World.suspended)).values(status="active"))

    auth.login_as("resident")
    assert client.get("/office/").status_code == 403 and client.get("/resident/").status_code == 200
    auth.login_as("grid")
    assert client.get("/committee/").status_code == 200
    auth.login_as("officer")
    assert client.get("/committee/").status_code == 403 and client.get("/department/").status_code == 200
    auth.login_as("suspended")
    assert client.get("/committee/").status_code == 403


def test_editing_organisations_in_the_database_changes_nothing_about_the_actor(
    client: FlaskClient, auth: Auth, svc: Services
) -> None:
    edit(svc, update(Organisation).where(Organisation.org_id == HEALTH_DEPT)
         .values(department_kind="public-security", parent_id=OTHER_OFFICE))  # fmt: skip
    edit(svc, update(Organisation).where(Organisation.org_id == COMMITTEE).values(kind="office", parent_id=None))
    auth.login_as("officer")
    with client:
        assert client.get("/department/").status_code == 200
        officer = g.actor
    assert (officer.org_id, officer.org_kind, officer.department_kind, officer.office_id) == (
        HEALTH_DEPT, "department", "health", OFFICE,
    )  # fmt: skip
    assert officer.org_code == World.department  # names still come from the profile
    auth.login_as("member1")
    with client:
        assert client.get("/committee/").status_code == 200
        member = g.actor
    assert (member.org_kind, member.office_id, member.role) == ("committee", OFFICE, "committee-member")


def test_editing_members_in_the_database_changes_nothing_in_the_api(
    client: FlaskClient, ledger: Ledger, svc: Services
) -> None:
    officer = create_token(ledger, World.officer, "health system").token
    grid = create_token(ledger, World.grid_worker, "grid tablet").token
    address = svc.ledger.address_of
    edit(svc, update(Member).where(Member.address == address(World.officer)).values(role="office-admin", org_id=OFFICE))
    edit(svc, update(Member).where(Member.address == address(World.grid_worker)).values(status="revoked"))
    edit(svc, update(Organisation).where(Organisation.org_id == HEALTH_DEPT).values(kind="office"))

    me = client.get("/api/v1/me", headers=bearer(officer))
    assert me.status_code == 200
    assert me.json is not None and me.json["role"] == "department-officer"
    assert me.json["organisation"]["kind"] == "department"
    assert client.get("/api/v1/department/grants", headers=bearer(officer)).status_code == 200
    refused = client.get("/api/v1/audit/emergency", headers=bearer(officer))
    assert refused.status_code == 403 and refused.json is not None and refused.json["error"] == "forbidden"
    assert client.get("/api/v1/me", headers=bearer(grid)).status_code == 200  # active on chain


def test_a_token_is_made_for_the_membership_on_chain_not_in_the_database(ledger: Ledger, svc: Services) -> None:
    address = svc.ledger.address_of
    edit(svc, update(Member).where(Member.address == address(World.suspended)).values(status="active"))
    with pytest.raises(NotFoundError, match="not an active member"):
        create_token(ledger, World.suspended, "suspended on chain")
    edit(svc, update(Member).where(Member.address == address(World.officer)).values(role="office-admin", org_id=OFFICE))
    issued = create_token(ledger, World.officer, "health system")
    assert (issued.role, issued.org_id) == ("department-officer", HEALTH_DEPT)


def test_pages_and_the_api_answer_503_when_the_chain_cannot_be_asked(
    client: FlaskClient, auth: Auth, ledger: Ledger, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = create_token(ledger, World.officer, "health system").token
    auth.login_as("resident")

    def unreachable(*_args: Any) -> None:
        raise NodeError("the chain cannot be asked: ConnectionError: refused")

    monkeypatch.setattr(svc.ledger.view, "member", unreachable)
    page = client.get("/resident/")
    assert page.status_code == 503 and "text/html" in page.headers["Content-Type"]
    answer = client.get("/api/v1/me", headers=bearer(token))
    assert answer.status_code == 503 and answer.json is not None and answer.json["error"] == "chain-unavailable"


# -- web users and tokens are sealed --------------------------------------------------------------


@pytest.mark.parametrize("change", ["address", "password_hash", "disabled", "display_name"])
def test_a_web_user_edited_in_the_database_is_refused(
    app: Flask, client: FlaskClient, auth: Auth, ledger: Ledger, svc: Services, change: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    password = PASSWORD
    if change == "disabled":  # a disabled user switched back on
        disable_user(ledger, "resident")
        values: dict[str, Any] = {"disabled": False}
    elif change == "address":  # the resident's log-in pointed at an office admin's account
        values = {"address": svc.ledger.address_of(World.admin)}
    elif change == "password_hash":  # a password of the editor's choosing
        password = "chosen by the editor"
        values = {"password_hash": CHEAP_HASHER.hash(password)}
    else:
        values = {"display_name": "someone else"}
    holder = Auth(app.test_client())
    if change != "disabled":
        assert holder.login_as("resident").status_code == 302
    edit(svc, update(WebUser).where(WebUser.username == "resident").values(**values))

    with caplog.at_level(logging.WARNING):
        refused = auth.login_as("resident", password)
        assert refused.status_code == 200 and "用户名或密码错误" in refused.get_data(as_text=True)
        assert client.get("/").headers["Location"] == "/login"
        assert client.get("/office/").status_code == 302
        if change != "disabled":
            assert holder.client.get("/resident/").status_code == 302  # a session already open ends too
    assert any("carries no valid seal" in r.getMessage() and "'resident'" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("change", ["role", "org_id", "revoked_at", "address"])
def test_an_api_token_edited_in_the_database_is_refused(
    client: FlaskClient, ledger: Ledger, svc: Services, change: str, caplog: pytest.LogCaptureFixture
) -> None:
    issued = create_token(ledger, World.officer, "health system")
    if change == "revoked_at":  # a revoked token brought back
        revoke_token(ledger, issued.id)
        values: dict[str, Any] = {"revoked_at": None}
    elif change == "role":
        values = {"role": "office-admin"}
    elif change == "org_id":
        values = {"org_id": OFFICE}
    else:  # the token handed to an office admin
        values = {"address": svc.ledger.address_of(World.admin)}
    edit(svc, update(ApiToken).where(ApiToken.id == issued.id).values(**values))
    with caplog.at_level(logging.WARNING):
        refused = client.get("/api/v1/me", headers=bearer(issued.token))
    assert refused.status_code == 401 and refused.json is not None
    assert (refused.json["error"], refused.json["message"]) == ("invalid-token", "unknown API token")
    assert any(f"API token #{issued.id}" in r.getMessage() and "no valid seal" in r.getMessage() for r in caplog.records)


def test_log_ins_and_tokens_written_by_the_library_are_sealed_and_verify(
    client: FlaskClient, auth: Auth, ledger: Ledger, svc: Services
) -> None:
    add_user(ledger, "new-user", "a password 12", account=World.members[2], display_name="刘伟", hasher=CHEAP_HASHER)
    assert auth.login_as("new-user", "a password 12").status_code == 302
    disable_user(ledger, "new-user")
    add_user(ledger, "new-user", "another one 34", account=World.members[2], display_name="刘伟",
             hasher=CHEAP_HASHER, replace=True)  # fmt: skip
    token = create_token(ledger, World.officer, "health system")
    assert client.get("/api/v1/me", headers=bearer(token.token)).status_code == 200
    revoked = create_token(ledger, World.officer, "old system")
    revoke_token(ledger, revoked.id)
    with svc.ledger.store.session() as db:
        users = list(db.scalars(select(WebUser)))
        tokens = list(db.scalars(select(ApiToken)))
    assert users and all(row_sealed(ledger.sealer, "web_users", u) for u in users)
    assert len(tokens) == 2 and all(row_sealed(ledger.sealer, "api_tokens", t) for t in tokens)
    report = verify(ledger, ("seals",))
    assert report.findings == [] and report.problems == []
