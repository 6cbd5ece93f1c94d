"""The API explorer in a real browser: it builds its operations from the OpenAPI document,
takes a pasted token, sends requests and shows the answers, in Chinese and in English,
under the app's CSP (the page fixture fails on any console error or CSP violation)."""

from __future__ import annotations

import json

import pytest

from ledger.context import Ledger
from tests.conftest import World
from webapp.api.spec import document
from webapp.users import create_token

from .conftest import Shots

pytestmark = pytest.mark.chain


def operation_count() -> int:
    return sum(1 for item in document()["paths"].values() for method in item if method in ("get", "post", "put", "patch", "delete"))


def test_the_explorer_calls_me_with_a_pasted_token_and_shows_the_json(  # type: ignore[no-untyped-def]
    live_app, page, shots: Shots, ledger: Ledger
) -> None:
    _app, base = live_app
    token = create_token(ledger, World.officer, "explorer check").token
    page.goto(f"{base}/api/v1/docs")
    page.wait_for_selector("#api-explorer[data-ready=true]")
    assert page.inner_text("h1") == "API 调试台"
    assert page.locator("details.op").count() == operation_count()
    assert "读取一条记录（先记入日志）" in page.inner_text("#op-department_read > summary")
    assert "部门工作人员" in page.inner_text("#op-department_read > summary")  # the role, translated
    shots.take(page, "explorer-zh")

    page.fill("#api-token", token)
    page.click("#token-check")
    page.wait_for_selector("#token-result.ok")
    assert "部门工作人员" in page.inner_text("#token-result") and "Health A" in page.inner_text("#token-result")

    page.click("#op-me > summary")
    page.click("#send-me")
    page.wait_for_selector("#status-me")
    assert page.inner_text("#status-me") == "200"
    answer = json.loads(page.inner_text("#response-me"))
    assert answer["role"] == "department-officer" and answer["address"] == ledger.address_of(World.officer)
    assert answer["token"]["name"] == "explorer check"
    assert "Authorization: Bearer $GRIDLEDGER_TOKEN" in (page.text_content("#op-me .curl-line") or "")
    assert token not in page.content().replace(f'value="{token}"', "")  # shown nowhere but in its field
    shots.take(page, "me-answered-zh")

    page.click("button[value=en]")
    page.wait_for_selector("#api-explorer[data-ready=true]")
    assert page.inner_text("h1") == "API explorer"
    page.fill("#api-token", token)
    page.click("#op-department_grants > summary")
    page.select_option("#p-department_grants-status", "all")
    page.click("#send-department_grants")
    page.wait_for_selector("#status-department_grants")
    assert page.inner_text("#status-department_grants") == "200"
    assert json.loads(page.inner_text("#response-department_grants")) == {"grants": []}
    page.click("#op-department_read > summary")
    assert "Request body (JSON)" in page.inner_text("#op-department_read")
    assert json.loads(page.input_value("#body-department_read")) == {"basis": "grant"}
    page.evaluate("window.scrollTo(0, 0)")  # the side list is sticky: shoot from the top
    shots.take(page, "grants-answered-en")

    # A header parameter (the language of record content's fields) is sent as a header.
    page.fill("#api-token", create_token(ledger, World.resident, "explorer resident").token)
    page.click("#op-resident_records > summary")
    page.fill("#p-resident_records-Accept-Language", "en")
    page.click("#send-resident_records")
    page.wait_for_selector("#status-resident_records")
    assert page.inner_text("#status-resident_records") == "200"
    curl = page.text_content("#op-resident_records .curl-line") or ""
    assert "-H 'Accept-Language: en'" in curl and curl.endswith("/api/v1/resident/records'"), curl
