"""The JSON API /api/v1, tested against its own OpenAPI document: the document is valid
OpenAPI 3.1 and describes exactly the Flask rules (with the roles each view requires);
every answer of every endpoint, success or error, is validated against the schema the
document gives for that status; each role is refused everywhere it does not belong; bad,
revoked and orphaned tokens are refused; reads are logged before content leaves; residents
only ever see their own data; audits only their own office."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from pydantic import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from sqlalchemy import func, select

from ledger import audit, history
from ledger.access import ReadBasis
from ledger.accesslog import Action, Outcome
from ledger.anchoring import Anchorer
from ledger.categories import Category
from ledger.consent import LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import InputError, Invalid, Refusal, StoreError
from ledger.grants import GrantStatus
from ledger.membership import DepartmentKind, Role, org_id
from ledger.merkle import leaf_hash, verify_inclusion
from ledger.rights import RequestOutcome
from ledger.settings import Settings
from ledger.store.models import ApiToken, OutboxTx
from ledger.verifier import verify_bundle, verify_proof
from tests.conftest import World, free_port, make_settings
from webapp import content, create_app, errors
from webapp.api import models, routes
from webapp.api.auth import ROLE_PLURALS
from webapp.api.models import ROLES as ALL_ROLES
from webapp.api.spec import document
from webapp.services import Services
from webapp.users import create_token, revoke_token

from .conftest import HEALTH, YEAR, Auth

API = "/api/v1"
DOC = document()
URN = "urn:gridledger:openapi"
REGISTRY: Registry = Registry().with_resource(URN, DRAFT202012.create_resource(DOC))
METHODS = ("get", "post", "put", "patch", "delete")

HEALTH_DEPT = "0x" + org_id(World.department).hex()
POLICE_DEPT = "0x" + org_id(World.police).hex()
SOME_ID = "0x" + "ab" * 32
#: An account of each role in the world, for its token.
HOLDERS = {
    "department-officer": World.officer,
    "resident": World.resident,
    "office-admin": World.admin,
    "committee-member": World.members[0],
    "grid-worker": World.grid_worker,
}


# -- validating answers against the document ---------------------------------------------------


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _validator(pointer: str) -> Draft202012Validator:
    """A validator for the schema at ``pointer`` in the document, its refs resolved in it."""
    return Draft202012Validator(
        {"$ref": URN + pointer}, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _template_of(path: str) -> str | None:
    for template in DOC["paths"]:
        parts = re.split(r"(\{[^}]+\})", template)
        pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        if re.fullmatch(re.escape(API) + pattern, path):
            return str(template)
    return None


def schema_errors(value: Any, name: str) -> list[str]:
    return [e.message for e in _validator(_pointer("components", "schemas", name)).iter_errors(value)]


@dataclass
class Answer:
    status: int
    body: Any
    headers: Any
    text: str


class Api:
    """Calls the API and checks every answer against the document: the status is listed for
    the operation, and the body matches that status's schema."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def __call__(
        self,
        method: str,
        url: str,
        token: str | None = None,
        *,
        body: Any = None,
        raw: str | None = None,
        authorization: str | None = None,
        language: str | None = None,
    ) -> Answer:
        headers = {"Accept": "application/json"}
        if language is not None:
            headers["Accept-Language"] = language
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if authorization is not None:
            headers["Authorization"] = authorization
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        elif raw is not None:
            kwargs["data"] = raw
            kwargs["content_type"] = "application/json"
        response = self.client.open(url, method=method.upper(), **kwargs)
        text = response.get_data(as_text=True)
        path = url.split("?", 1)[0]
        template = _template_of(path)
        mimetype = response.mimetype
        if template is None or method.lower() not in DOC["paths"][template]:
            # Not an operation of the document (an unknown path or method): still JSON errors.
            assert response.status_code >= 400 and mimetype == "application/json", (url, response.status_code)
            error = json.loads(text)
            assert not schema_errors(error, "Error"), (url, error)
            return Answer(response.status_code, error, response.headers, text)
        operation = DOC["paths"][template][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{method.upper()} {template} answered {status}, which the document does not list: {text[:300]}"
        )
        described = operation["responses"][status]
        base: tuple[str, ...] = ("paths", template, method.lower(), "responses", status)
        if "$ref" in described:
            name = described["$ref"].rsplit("/", 1)[1]
            base, described = ("components", "responses", name), DOC["components"]["responses"][name]
        assert mimetype in described["content"], (url, status, mimetype)
        found: Any = text
        if mimetype == "application/json":
            found = json.loads(text)
            problems = [
                f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in _validator(_pointer(*base, "content", mimetype, "schema")).iter_errors(found)
            ]
            assert not problems, f"{method.upper()} {url} -> {status}: {problems[:5]}"
        for header in described.get("headers", {}):
            if header == "WWW-Authenticate":
                assert header in response.headers, (url, status)
        return Answer(response.status_code, found, response.headers, text)


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOC["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def sample_url(path: str) -> str:
    """A URL of the operation with well-formed made-up ids (none exists)."""
    return API + (
        path.replace("{recordId}", SOME_ID).replace("{grantId}", SOME_ID).replace("{seq}", "0")
        .replace("{requestId}", SOME_ID)  # rights and consent requests
    )  # fmt: skip


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def bare_app(tmp_path: Path) -> Iterator[Flask]:
    """The app without a chain or a database behind it (the services open lazily)."""
    built = create_app(make_settings(tmp_path / "var", free_port()), {"TESTING": True})
    yield built
    built.extensions["gridledger"].close()


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


@pytest.fixture
def tokens(ledger: Ledger) -> dict[str, str]:
    """A token per role, made as ``gridledger token create`` makes them."""
    return {role: create_token(ledger, label, f"system of {label}").token for role, label in HOLDERS.items()}


def add_record(
    svc: Services, subject: str = World.resident, content: dict[str, Any] | None = None,
    category: Category = Category.HEALTH,
) -> str:  # fmt: skip
    rid, _ = svc.records.add(actor=World.members[0], subject=subject, category=category, content=content or HEALTH)
    svc.records.sign(rid, signer=World.members[0])
    svc.records.sign(rid, signer=World.members[1])
    return rid


def grant(svc: Services, department: str = World.department, resident: str = World.resident) -> str:
    gid, _ = svc.consent.issue(
        resident=resident, department=department, categories=[Category.HEALTH], purpose=Purpose.HEALTH_MANAGEMENT,
        legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + YEAR,
    )  # fmt: skip
    return gid


def anchor(ledger: Ledger) -> None:
    Anchorer(ledger, ledger.account(ledger.settings.anchorer)).run_until_anchored()


def read(api: Api, token: str, rid: str, language: str | None = None, **body: Any) -> Answer:
    return api("post", f"{API}/department/records/{rid}/read", token, body=body or None, language=language)


def rows(answer: Any) -> dict[str, tuple[str, str]]:
    """An answer's ``fields`` as path -> (label, value)."""
    return {f["path"]: (f["label"], f["value"]) for f in answer["fields"]}


# -- the document -------------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1_and_served_as_is(bare_app: Flask) -> None:
    OpenAPIV31SpecValidator(DOC).validate()
    assert DOC["openapi"] == "3.1.0"
    for schema in DOC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    response = bare_app.test_client().get(f"{API}/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == DOC
    scheme = DOC["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"


def test_every_api_rule_is_in_the_document_with_its_roles_and_nothing_else(bare_app: Flask) -> None:
    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(p.title() for p in rest)

    from_flask: dict[tuple[str, str], str] = {}
    for rule in bare_app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "{" + camel(m.group(1)) + "}", rule.rule[len(API) :])
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                from_flask[(path, method.lower())] = rule.endpoint
    documented = {(path, method): op for path, method, op in operations()}
    assert set(from_flask) == set(documented)

    for (path, method), endpoint in from_flask.items():
        op = documented[(path, method)]
        assert op["operationId"] == endpoint.split(".", 1)[1]
        view = bare_app.view_functions[endpoint]
        roles = getattr(view, "api_roles", None)
        names = set(re.findall(r"\{(\w+)\}", path))
        params = op.get("parameters", [])
        assert {p["name"] for p in params if p["in"] == "path"} == names, path
        assert all(p["required"] for p in params if p["in"] == "path")
        if roles is None:
            assert op["security"] == [] and "x-roles" not in op, path
            continue
        assert "security" not in op  # the document's default: the bearer token
        assert op["x-roles"] == list(roles or ALL_ROLES), path
        if roles:
            assert all(ROLE_PLURALS[r] in op["description"] for r in roles), path
        else:
            assert "any valid token" in op["description"]
        assert {"401", "403", "500"} <= set(op["responses"]), path
    assert set(ALL_ROLES) == {r.name.lower().replace("_", "-") for r in Role if r != Role.NONE}
    assert DOC["security"] == [{"bearerAuth": []}]


def parameter(path: str, method: str, name: str) -> dict[str, Any]:
    (found,) = [p for p in DOC["paths"][path][method].get("parameters", []) if p["name"] == name]
    return dict(found["schema"])


def test_the_documented_limits_are_the_models_limits() -> None:
    for path in ("/department/accesses", "/resident/accesses"):
        assert parameter(path, "get", "limit")["maximum"] == models.MAX_LIMIT
        assert parameter(path, "get", "limit")["default"] == models.DEFAULT_LIMIT
        assert parameter(path, "get", "before")["maximum"] == models.MAX_SEQ == 2**53 - 1
        assert parameter(path, "get", "category")["enum"] == [c.slug for c in Category]
    assert parameter("/department/grants", "get", "status")["enum"] == list(models.GRANT_LISTINGS)
    assert parameter("/department/accesses", "get", "outcome")["enum"] == list(models.OUTCOMES)
    body = DOC["components"]["schemas"]["GrantRequest"]["properties"]
    assert (
        body["purposeText"]["maxLength"] == models.MAX_PURPOSE_TEXT and body["notice"]["maxLength"] == models.MAX_NOTICE
    )
    assert body["purpose"]["oneOf"][0]["enum"] == [int(p) for p in models.GRANT_PURPOSES]
    assert 7 not in body["purpose"]["oneOf"][0]["enum"]  # an emergency is not consented to
    assert DOC["components"]["schemas"]["ReadRequest"]["properties"]["basis"]["enum"] == list(models.READ_BASES)


def test_content_comes_with_its_fields_and_their_language_is_documented() -> None:
    schemas = DOC["components"]["schemas"]
    with_content = {name for name, schema in schemas.items() if "content" in schema.get("properties", {})}
    assert with_content == {"Disclosure", "RecordVersion"}
    for name in with_content:
        assert "fields" in schemas[name]["required"], name
    assert set(schemas["ContentField"]["required"]) == {"path", "label", "value"}
    assert set(schemas["Names"]["required"]) == {"zh-CN", "en"}
    assert all("names" in schemas[name]["required"] for name in ("MeOrganisation", "OrgName"))
    for path, method, operation in operations():
        languages = [p for p in operation.get("parameters", []) if p["name"] == "Accept-Language"]
        labelled = operation["operationId"] in ("department_read", "department_bulk_read", "resident_records")
        assert len(languages) == labelled, (method, path)
        if labelled:
            assert languages[0]["in"] == "header" and languages[0]["schema"]["default"] == "zh-CN"
            ok = next(r for status, r in operation["responses"].items() if status.startswith("2"))
            assert ok["headers"]["Content-Language"]["schema"]["enum"] == ["zh-CN", "en"]


def test_the_documents_vocabularies_are_the_librarys() -> None:
    schemas = DOC["components"]["schemas"]

    def enum(schema: dict[str, Any]) -> list[Any]:
        for part in schema.get("anyOf", [schema]):
            if "enum" in part:
                return list(part["enum"])
        raise AssertionError(schema)

    leaf = schemas["AccessLeaf"]["properties"]
    assert enum(schemas["Error"]["properties"]["reason"]) == enum(leaf["reason"]) == list(Refusal)
    assert enum(schemas["Error"]["properties"]["code"]) == list(Invalid)
    assert enum(leaf["basis"]) == list(ReadBasis)
    assert enum(leaf["decision"]) == [*audit.Decision, *RequestOutcome]  # a review's, or a rights request's
    assert enum(leaf["action"]) == list(Action) and enum(leaf["outcome"]) == list(Outcome)
    assert enum(leaf["category"]) == [c.slug for c in Category]
    assert schemas["Purpose"]["enum"] == [int(p) for p in Purpose]
    assert enum(schemas["HistoryFinding"]["properties"]["kind"]) == list(history.HistoryFindingKind)
    assert enum(schemas["Finding"]["properties"]["kind"]) == list(audit.FindingKind)
    assert enum(schemas["Finding"]["properties"]["severity"]) == list(audit.Severity)
    assert enum(schemas["Grant"]["properties"]["status"]) == list(GrantStatus)
    # Every code the app's error handlers send is one the document lists.
    codes = set(enum(schemas["Error"]["properties"]["error"]))
    assert {code for _kind, _status, code in errors.STATUS} <= codes and set(models.ErrorCode) <= codes
    assert {"not-found", "method-not-allowed", "request-entity-too-large"} <= codes


def test_bad_input_is_refused_by_the_models_naming_the_wire_field() -> None:
    def refused(model: Any, values: dict[str, Any], *, strings: bool = False) -> InputError:
        with pytest.raises(InputError) as caught:
            routes._read(model, values, strings=strings)
        return caught.value

    too_many = refused(models.DepartmentAccessesQuery, {"limit": "201"}, strings=True)
    assert too_many.field == "limit" and "less than or equal to 200" in str(too_many) and "'201'" in str(too_many)
    assert refused(models.DepartmentAccessesQuery, {"before": str(2**53)}, strings=True).field == "before"
    assert refused(models.AuditQuery, {"from": "2026-02-30"}, strings=True).field == "from"
    assert refused(models.ResidentAccessesQuery, {"department": "0x12"}, strings=True).field == "department"
    missing = refused(models.GrantRequest, {"categories": ["health"], "purpose": 2, "validUntil": "2099-12-31"})
    assert missing.field == "department" and str(missing) == "department: required"
    assert refused(models.ReadRequest, {"grantId": "0x12"}).field == "grantId"
    assert "a grant id is 0x followed by 64 hex digits" in str(refused(models.GrantPath, {"grantId": "x"}, strings=True))
    # What the library accepts is accepted as before, and unknown keys are ignored.
    read = routes._read(models.DepartmentAccessesQuery, {"category": "HEALTH", "unknown": "x"}, strings=True)
    assert read.category == "health" and read.limit == models.DEFAULT_LIMIT
    grant = routes._read(models.GrantRequest, {"department": "dept-health", "categories": ["social-security"],
                                                "purpose": "health-management", "validUntil": "2099-12-31"})  # fmt: skip
    assert grant.categories == ["social_security"] and grant.purpose == Purpose.HEALTH_MANAGEMENT
    resident = routes._read(models.AuditQuery, {"resident": "0x" + "ab" * 20}, strings=True).resident
    assert resident is not None and resident != "0x" + "ab" * 20 and resident.lower() == "0x" + "ab" * 20


def test_an_answer_that_does_not_fit_its_model_is_not_sent() -> None:
    leaf = {"seq": 1, "time": 1, "resident": "0x" + "ab" * 20, "accessor": "0x" + "cd" * 20, "action": "read",
            "outcome": "refused", "reason": Refusal.NO_ACTIVE_GRANT, "basis": "grant"}  # fmt: skip
    assert models.AccessEvent.of(leaf, None).model_dump(mode="json")["reason"] == "no-active-grant"
    with pytest.raises(ValidationError):
        models.AccessEvent.of({**leaf, "reason": "made-up"}, None)
    with pytest.raises(ValidationError):
        models.AccessEvent.of({**leaf, "resident": "someone"}, None)


def test_the_document_is_built_without_the_routes() -> None:
    """Regression: the document imported the routes for their limits while the routes imported
    the document; the route table and the models now stand on their own."""
    script = "import sys, webapp.api.spec as s; s.document(); print('webapp.api.routes' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"


def test_the_explorer_page_is_served_without_inline_scripts_or_styles(bare_app: Flask) -> None:
    client = bare_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = client.get(f"{API}/docs")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert '<script src="/static/api-explorer.js">' in page and 'href="/static/api-explorer.css"' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page) and " style=" not in page
    assert 'data-spec-url="/api/v1/openapi.json"' in page and 'id="api-token"' in page
    assert 'data-op="department_read"' in page and "Read a record (logged first)" in page
    assert "cdn" not in page.lower() and "http://" not in page and "https://" not in page
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    chinese = client.get(f"{API}/docs").get_data(as_text=True)
    assert "API 调试台" in chinese and "读取一条记录（先记入日志）" in chinese and 'data-msg-send="发送"' in chinese
    assert bare_app.test_client().get("/static/api-explorer.js").status_code == 200


# -- who may call what ------------------------------------------------------------------------


@pytest.mark.chain
def test_ping_needs_no_token_and_unknown_paths_and_methods_are_json(api: Api) -> None:
    assert api("get", f"{API}/ping").body == {"status": "ok"}
    missing = api("get", f"{API}/no-such-thing")
    assert missing.status == 404 and missing.body["error"] == "not-found"
    wrong = api("get", f"{API}/department/records/{SOME_ID}/read")
    assert wrong.status == 405 and wrong.body["error"] == "method-not-allowed"


@pytest.mark.chain
def test_me_and_status_answer_every_role_for_its_own_account(api: Api, ledger: Ledger, tokens: dict[str, str]) -> None:
    for role, token in tokens.items():
        me = api("get", f"{API}/me", token)
        assert me.status == 200
        assert me.body["role"] == role and me.body["address"] == ledger.address_of(HOLDERS[role])
        assert me.body["token"]["name"] == f"system of {HOLDERS[role]}"
        status = api("get", f"{API}/status", token)
        assert status.status == 200 and status.body["log"]["state"] in ("ok", "anchoring")
    me = api("get", f"{API}/me", tokens["department-officer"]).body
    assert me["organisation"] == {
        "id": HEALTH_DEPT, "code": World.department, "name": "Health A", "kind": "department",
        "names": {"zh-CN": "甲卫生健康办", "en": "Health A"},
    }  # fmt: skip


@pytest.mark.chain
def test_every_role_is_refused_403_json_where_it_does_not_belong(
    api: Api, svc: Services, tokens: dict[str, str]
) -> None:
    before = svc.log.size()
    checked = 0
    for path, method, op in operations():
        allowed = op.get("x-roles")
        if allowed is None or set(allowed) == set(ALL_ROLES):
            continue
        for role, token in tokens.items():
            if role in allowed:
                continue
            answer = api(method, sample_url(path), token, body={} if method == "post" else None)
            assert answer.status == 403 and answer.body["error"] == "forbidden", (role, path, answer.body)
            assert role in answer.body["message"]
            checked += 1
    # one role's operations (13, the bulk read among them; 3 rights and 3 consent requests' operations), refused
    # to four roles each; the receipt, which three roles of five may have; the four webhook endpoints, department
    # officers' only
    assert checked == (13 + 3 + 3) * 4 + 2 + 4 * 4
    assert svc.log.size() == before  # nothing was read, nothing logged


@pytest.mark.chain
def test_missing_malformed_unknown_and_revoked_tokens_are_401_with_a_challenge(
    api: Api, ledger: Ledger, client: FlaskClient, auth: Auth
) -> None:
    issued = create_token(ledger, World.officer, "to be revoked")
    revoke_token(ledger, issued.id)
    for path, method, op in operations():
        if op.get("security") == []:
            continue
        url = sample_url(path)
        none = api(method, url)
        assert none.status == 401 and none.body["error"] == "unauthorized", path
        assert none.headers["WWW-Authenticate"] == 'Bearer realm="gridledger"'
        for header in ("Basic b2ZmaWNlcjpwdw==", "Bearer", "Bearer not-a-gridledger-token", "Bearer glt_" + "x" * 43,
                       f"Bearer {issued.token}"):  # fmt: skip
            bad = api(method, url, authorization=header)
            assert bad.status == 401 and bad.body["error"] == "invalid-token", (path, header)
            assert bad.headers["WWW-Authenticate"] == 'Bearer realm="gridledger", error="invalid_token"'
    assert "revoked" in api("get", f"{API}/me", issued.token).body["message"]
    # A browser session is not an API credential.
    auth.login_as("officer")
    assert api("get", f"{API}/department/grants").status == 401
    # A call with a token gets no session at all: nothing of the cookie is read or written.
    officer = create_token(ledger, World.officer, "no session").token
    with_token = api("get", f"{API}/department/grants", officer)
    assert with_token.status == 200 and "Set-Cookie" not in with_token.headers
    assert api("get", f"{API}/department/grants", officer, language="en").status == 200


@pytest.mark.chain
def test_a_token_stops_working_when_its_member_is_suspended(api: Api, ledger: Ledger, svc: Services) -> None:
    issued = create_token(ledger, World.grid_worker, "grid tablet")
    assert api("get", f"{API}/me", issued.token).status == 200
    svc.orgs.suspend(World.grid_worker, actor=World.admin)
    refused = api("get", f"{API}/me", issued.token)
    assert refused.status == 403 and refused.body["error"] == "membership-changed"
    assert "suspended" in refused.body["message"]


@pytest.mark.chain
def test_tokens_are_stored_only_as_their_sha256(ledger: Ledger, settings: Settings, api: Api) -> None:
    issued = create_token(ledger, World.officer, "hashing check")
    assert issued.token.startswith("glt_") and len(issued.token) >= 40
    digest = hashlib.sha256(issued.token.encode()).hexdigest()
    with ledger.store.session() as db:
        row = db.scalar(select(ApiToken).where(ApiToken.id == issued.id))
        assert row is not None and row.token_hash == digest
        assert all(issued.token not in str(v) for v in vars(row).values())
    assert api("get", f"{API}/me", issued.token).status == 200  # the hash is what authenticates it
    database = Path(settings.db_url.split("///", 1)[1])
    stored = b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists())
    assert digest.encode() in stored and issued.token.encode() not in stored


# -- department officers ------------------------------------------------------------------------


@pytest.mark.chain
def test_a_read_under_an_active_grant_returns_the_content_and_its_logged_access(
    api: Api, svc: Services, tokens: dict[str, str]
) -> None:
    rid = add_record(svc)
    gid = grant(svc)
    officer = tokens["department-officer"]
    before = svc.log.size()
    got = read(api, officer, rid, grantId=gid)
    assert got.status == 200
    assert got.body["content"] == HEALTH and got.body["certified"] is True and got.body["category"] == "health"
    access = got.body["access"]
    assert access["basis"] == "grant" and access["grantId"] == gid
    logged = svc.log.event(access["seq"])
    assert logged.outcome == "allowed" and logged.record_id == rid and logged.grant_id == gid
    assert logged.organisation == HEALTH_DEPT and logged.accessor == svc.ledger.address_of(World.officer)
    assert svc.log.size() == before + 1
    # Without a body the active grant is found; the read is logged again.
    again = read(api, officer, rid)
    assert again.status == 200 and again.body["access"]["grantId"] == gid and again.body["access"]["seq"] == before + 1
    mine = api("get", f"{API}/department/accesses", officer).body["events"]
    assert [e["seq"] for e in mine] == [before + 1, before]
    assert mine[0]["outcome"] == "allowed" and mine[0]["recordId"] == rid


@pytest.mark.chain
def test_a_bulk_read_decides_each_record_logs_each_in_one_transaction_and_answers_in_order(
    api: Api, svc: Services, tokens: dict[str, str]
) -> None:
    health = add_record(svc)
    care = add_record(svc, content={"care_level": "partly_dependent", "lives_alone": True, "subsidy": "age_allowance"},
                      category=Category.ELDERLY_CARE)  # no grant covers it
    gid = grant(svc)
    officer, before = tokens["department-officer"], svc.log.size()
    got = api("post", f"{API}/department/records/read", officer, body={"recordIds": [care, SOME_ID, health]},
              language="en")  # fmt: skip
    assert got.status == 200 and got.headers["Content-Language"] == "en"
    assert (got.body["read"], got.body["refused"], got.body["notFound"]) == (1, 1, 1)
    refused, missing, read_ = got.body["results"]
    assert [r["recordId"] for r in got.body["results"]] == [care, SOME_ID, health]
    assert refused["status"] == "refused" and refused["record"] is None and "partly_dependent" not in json.dumps(refused)
    assert refused["refusal"]["reason"] == "no-active-grant" and missing == {
        "recordId": SOME_ID, "status": "not-found", "record": None, "refusal": None}  # fmt: skip
    assert read_["status"] == "read" and read_["record"]["content"] == HEALTH and read_["refusal"] is None
    assert read_["record"]["access"]["grantId"] == gid and rows(read_["record"])["blood_type"] == ("Blood type", "Type O")
    assert svc.log.size() == before + 2
    assert sorted([refused["refusal"]["seq"], read_["record"]["access"]["seq"]]) == [before, before + 1]
    logged = svc.log.event(read_["record"]["access"]["seq"])
    assert logged.outcome == "allowed" and logged.record_id == health and logged.organisation == HEALTH_DEPT
    assert svc.log.event(refused["refusal"]["seq"]).outcome == "refused"


@pytest.mark.chain
def test_a_malformed_bulk_read_is_400_naming_the_item_and_nothing_is_logged(
    api: Api, svc: Services, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    health = add_record(svc)
    grant(svc)
    officer, before = tokens["department-officer"], svc.log.size()
    url = f"{API}/department/records/read"
    cases = [
        ({}, "recordIds", "required"),
        ({"recordIds": []}, "recordIds", "required"),
        ({"recordIds": [health, health]}, "recordIds.1", "duplicate"),
        ({"recordIds": [health, "0x12"]}, "recordIds.1", "bad-id"),
        ({"recordIds": [SOME_ID] * 1_001}, "recordIds", "too-many"),
        ({"recordIds": [health], "basis": "emergency"}, "justification", "required"),
    ]
    for body, field, code in cases:
        answer = api("post", url, officer, body=body)
        assert answer.status == 400 and (answer.body["field"], answer.body["code"]) == (field, code), body
    assert svc.log.size() == before

    def full_disk(drafts: Any) -> Any:
        raise StoreError("database or disk is full")

    monkeypatch.setattr(svc.log, "append", full_disk)
    failed = api("post", url, officer, body={"recordIds": [health]})
    assert failed.status == 500 and "李医生" not in failed.text and "results" not in failed.body


@pytest.mark.chain
def test_a_read_labels_the_content_in_the_language_asked_for(api: Api, svc: Services, tokens: dict[str, str]) -> None:
    rid = add_record(svc)
    grant(svc)
    officer = tokens["department-officer"]
    chinese = read(api, officer, rid)  # no Accept-Language: Chinese, as the pages by default
    assert chinese.status == 200 and chinese.headers["Content-Language"] == "zh-CN"
    assert chinese.body["content"] == HEALTH
    assert [f["path"] for f in chinese.body["fields"]] == list(HEALTH)
    assert rows(chinese.body)["blood_type"] == ("血型", "O型")
    assert rows(chinese.body)["allergies"][1] == "（无）" and rows(chinese.body)["family_doctor"][1] == "李医生"
    english = read(api, officer, rid, language="en-GB,en;q=0.9,zh-CN;q=0.5")
    assert english.headers["Content-Language"] == "en" and rows(english.body)["blood_type"] == ("Blood type", "Type O")
    assert rows(english.body)["allergies"][1] == "(none)"
    assert rows(read(api, officer, rid, language="zh-CN,en;q=0.8").body)["blood_type"] == ("血型", "O型")
    assert rows(read(api, officer, rid, language="fr").body)["blood_type"] == ("血型", "O型")
    # The same words as the pages: the one renderer.
    assert english.body["fields"] == [
        {"path": r.path, "label": r.label, "value": r.value} for r in content.fields(Category.HEALTH, HEALTH, "en")
    ]


@pytest.mark.chain
def test_a_residents_records_are_labelled_an_enum_by_its_title_never_its_code(
    api: Api, svc: Services, tokens: dict[str, str]
) -> None:
    care = {"care_level": "partly_dependent", "lives_alone": True, "subsidy": "age_allowance"}
    add_record(svc, content=care, category=Category.ELDERLY_CARE)
    resident = tokens["resident"]
    chinese = api("get", f"{API}/resident/records", resident)
    assert chinese.headers["Content-Language"] == "zh-CN"
    version = chinese.body["records"][0]["versions"][-1]
    assert version["content"] == care
    assert rows(version) == {
        "care_level": ("照护等级", "部分需要照护"), "lives_alone": ("独居", "是"), "subsidy": ("补贴类型", "高龄津贴"),
    }  # fmt: skip
    english = api("get", f"{API}/resident/records", resident, language="en").body["records"][0]["versions"][-1]
    assert rows(english)["care_level"] == ("Care level", "Needs some help")
    assert rows(english)["lives_alone"] == ("Lives alone", "Yes")
    assert "partly_dependent" not in json.dumps(version["fields"]) + json.dumps(english["fields"])


@pytest.mark.chain
def test_no_content_leaves_when_the_read_cannot_be_logged(
    api: Api, svc: Services, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = add_record(svc)
    grant(svc)

    def full_disk(draft: Any) -> Any:
        raise StoreError("database or disk is full")

    monkeypatch.setattr(svc.log, "record", full_disk)
    failed = read(api, tokens["department-officer"], rid)
    assert failed.status == 500 and "李医生" not in failed.text and "content" not in failed.body


@pytest.mark.chain
def test_after_withdrawal_the_read_is_refused_403_with_reason_and_seq_and_logged(
    api: Api, svc: Services, tokens: dict[str, str]
) -> None:
    rid = add_record(svc)
    gid = grant(svc)
    svc.consent.withdraw(gid)
    refused = read(api, tokens["department-officer"], rid, grantId=gid)
    assert refused.status == 403 and refused.body["error"] == "access-refused"
    assert refused.body["reason"] == "grant-not-active" and "李医生" not in refused.text
    logged = svc.log.event(refused.body["seq"])
    assert logged.outcome == "refused" and logged.grant_id == gid and logged.organisation == HEALTH_DEPT
    assert json.loads(logged.leaf)["reason"] == "grant-not-active"
    none = read(api, tokens["department-officer"], rid)
    assert (
        none.status == 403 and none.body["reason"] == "no-active-grant" and none.body["seq"] == refused.body["seq"] + 1
    )
    page = api("get", f"{API}/department/accesses?outcome=refused", tokens["department-officer"]).body["events"]
    assert [(e["seq"], e["reason"]) for e in page] == [(none.body["seq"], "no-active-grant"),
                                                       (refused.body["seq"], "grant-not-active")]  # fmt: skip


@pytest.mark.chain
def test_an_emergency_read_needs_a_justification_and_is_listed_for_review(
    api: Api, svc: Services, ledger: Ledger, tokens: dict[str, str]
) -> None:
    rid = add_record(svc)
    officer = tokens["department-officer"]
    before = svc.log.size()
    for body in ({"basis": "emergency"}, {"basis": "emergency", "justification": "   "}):
        missing = read(api, officer, rid, **body)
        assert missing.status == 400 and missing.body["field"] == "justification"
    assert read(api, officer, rid, basis="duty").body["field"] == "basis"
    assert read(api, officer, rid, basis="emergency", justification=7).body["field"] == "justification"
    assert read(api, officer, rid, basis="emergency", justification="x" * 2001).body["field"] == "justification"
    later = read(api, officer, rid, basis="emergency", justification="case", discloseOn="2030-01-01")
    assert later.status == 400 and later.body["field"] == "discloseOn"  # a health department cannot defer
    assert api("post", f"{API}/department/records/{rid}/read", officer, raw="[1, 2]").body["field"] == "body"
    assert svc.log.size() == before

    why = "老人昏倒，急救需要过敏史"
    got = read(api, officer, rid, basis="emergency", justification=why)
    assert got.status == 200 and got.body["access"]["basis"] == "emergency" and got.body["access"]["grantId"] is None
    seq = got.body["access"]["seq"]
    assert svc.log.event(seq).justification == why
    listed = api("get", f"{API}/audit/emergency", tokens["office-admin"]).body["emergencies"]
    assert [(e["seq"], e["justification"], e["organisationCode"]) for e in listed] == [(seq, why, World.department)]
    other = create_token(ledger, World.other_admin, "office b").token
    assert api("get", f"{API}/audit/emergency", other).body == {"emergencies": []}


@pytest.mark.chain
def test_other_departments_grants_and_unknown_ids_are_404_before_anything_is_logged(
    api: Api, svc: Services, tokens: dict[str, str]
) -> None:
    rid = add_record(svc)
    theirs = grant(svc, department=World.police)
    grant(svc)  # mine: would allow the read, were the request not naming theirs
    officer = tokens["department-officer"]
    before = svc.log.size()
    assert read(api, officer, rid, grantId=theirs).status == 404
    assert read(api, officer, rid, grantId=SOME_ID).status == 404
    assert read(api, officer, "0x" + "12" * 32).status == 404
    bad_grant = read(api, officer, rid, grantId="not-an-id")
    assert bad_grant.status == 400 and bad_grant.body["field"] == "grantId"
    bad_record = read(api, officer, "nonsense")
    assert bad_record.status == 400 and bad_record.body["field"] == "recordId"
    assert svc.log.size() == before


@pytest.mark.chain
def test_department_grants_are_my_departments_only(
    api: Api, svc: Services, ledger: Ledger, tokens: dict[str, str]
) -> None:
    mine = grant(svc)
    withdrawn = grant(svc)
    svc.consent.withdraw(withdrawn)
    theirs = grant(svc, department=World.police)
    officer = tokens["department-officer"]
    active = api("get", f"{API}/department/grants", officer).body["grants"]
    assert [g["grantId"] for g in active] == [mine]
    assert active[0]["department"] == {"id": HEALTH_DEPT, "code": World.department}
    assert active[0]["purpose"] == {"code": 2, "name": "health-management"} and active[0]["status"] == "active"
    everything = api("get", f"{API}/department/grants?status=all", officer).body["grants"]
    assert {g["grantId"]: g["status"] for g in everything} == {mine: "active", withdrawn: "withdrawn"}
    bad = api("get", f"{API}/department/grants?status=expired", officer)
    assert bad.status == 400 and bad.body["field"] == "status"
    police = create_token(ledger, World.police_officer, "police system").token
    assert [g["grantId"] for g in api("get", f"{API}/department/grants", police).body["grants"]] == [theirs]


@pytest.mark.chain
def test_department_accesses_page_with_before_and_filter(
    api: Api, svc: Services, ledger: Ledger, tokens: dict[str, str]
) -> None:
    rid = add_record(svc)
    grant(svc)
    officer = tokens["department-officer"]
    seqs = [read(api, officer, rid).body["access"]["seq"] for _ in range(5)]
    police = create_token(ledger, World.police_officer, "police system").token
    their = read(api, police, rid, basis="emergency", justification="立案侦查").body["access"]["seq"]
    pages, before = [], None
    while True:
        query = "?limit=2" + (f"&before={before}" if before is not None else "")
        page = api("get", f"{API}/department/accesses{query}", officer).body
        assert len(page["events"]) <= 2
        pages += [e["seq"] for e in page["events"]]
        before = page["nextBefore"]
        if before is None:
            break
    assert pages == sorted(seqs, reverse=True) and their not in pages
    assert [e["seq"] for e in api("get", f"{API}/department/accesses", police).body["events"]] == [their]
    assert api("get", f"{API}/department/accesses?category=property", officer).body["events"] == []
    assert len(api("get", f"{API}/department/accesses?category=health&outcome=allowed", officer).body["events"]) == 5
    for query, field in (("limit=0", "limit"), ("limit=201", "limit"), ("limit=x", "limit"), ("before=-1", "before"),
                         (f"before={2**53}", "before"), ("outcome=maybe", "outcome"), ("category=pets", "category")):  # fmt: skip
        bad = api("get", f"{API}/department/accesses?{query}", officer)
        assert bad.status == 400 and bad.body["field"] == field, query


# -- residents ----------------------------------------------------------------------------------


@pytest.mark.chain
def test_residents_only_ever_see_their_own_records_grants_and_accesses(
    api: Api, svc: Services, ledger: Ledger, tokens: dict[str, str]
) -> None:
    neighbour = "cmte-a-resident-2"
    svc.orgs.add_member(neighbour, World.committee, Role.RESIDENT, actor=World.grid_worker)
    rid = add_record(svc)
    theirs_rid = add_record(svc, subject=neighbour, content={**HEALTH, "family_doctor": "王医生"})
    gid = grant(svc)
    theirs_gid = grant(svc, resident=neighbour)
    officer = tokens["department-officer"]
    mine_seq = read(api, officer, rid).body["access"]["seq"]
    theirs_seq = read(api, officer, theirs_rid).body["access"]["seq"]
    resident = tokens["resident"]
    me = ledger.address_of(World.resident)

    records = api("get", f"{API}/resident/records", resident).body["records"]
    assert [r["recordId"] for r in records] == [rid]
    assert records[0]["versions"][-1]["content"] == HEALTH and records[0]["certifiedVersion"] == 1
    assert "王医生" not in json.dumps(records, ensure_ascii=False)
    assert [g["grantId"] for g in api("get", f"{API}/resident/grants", resident).body["grants"]] == [gid]
    history = api("get", f"{API}/resident/accesses", resident).body
    assert history["resident"] == me and [e["seq"] for e in history["entries"]] == [mine_seq]
    assert all(e["leaf"]["resident"] == me for e in history["entries"])
    names = {"zh-CN": "甲卫生健康办", "en": "Health A"}
    assert history["organisations"] == {HEALTH_DEPT: {"code": World.department, "name": "Health A", "names": names}}
    # Another resident's objects are not found, so their ids cannot be probed.
    assert api("get", f"{API}/resident/accesses/{theirs_seq}/proof", resident).status == 404
    assert api("post", f"{API}/resident/grants/{theirs_gid}/withdraw", resident).status == 404
    assert svc.consent.show(theirs_gid).status == "active"
    neighbour_token = create_token(ledger, neighbour, "neighbour's app").token
    assert [r["recordId"] for r in api("get", f"{API}/resident/records", neighbour_token).body["records"]] == [
        theirs_rid
    ]


@pytest.mark.chain
def test_a_resident_issues_and_withdraws_a_grant_through_the_api(
    api: Api, svc: Services, tokens: dict[str, str]
) -> None:
    resident, officer = tokens["resident"], tokens["department-officer"]
    rid = add_record(svc)
    body = {"department": World.department, "categories": ["health"], "purpose": "health-management",
            "validUntil": "2099-12-31", "purposeText": "家庭医生签约", "notice": "仅用于慢病随访"}  # fmt: skip
    issued = api("post", f"{API}/resident/grants", resident, body=body)
    assert issued.status == 201
    made = issued.body
    assert made["status"] == "active" and made["categories"] == ["health"] and made["purposeText"] == "家庭医生签约"
    assert made["legalBasis"] == {"code": 1, "name": "consent"} and made["resident"] == svc.ledger.address_of(
        World.resident
    )
    assert made["terms"]["notice"] == "仅用于慢病随访" and made["issuedTx"] is not None
    assert [g["grantId"] for g in api("get", f"{API}/department/grants", officer).body["grants"]] == [made["grantId"]]
    assert read(api, officer, rid).body["access"]["grantId"] == made["grantId"]

    withdrawn = api("post", f"{API}/resident/grants/{made['grantId']}/withdraw", resident)
    assert withdrawn.status == 200 and withdrawn.body["status"] == "withdrawn"
    again = api("post", f"{API}/resident/grants/{made['grantId']}/withdraw", resident)
    assert again.status == 409 and again.body["error"] == "conflict"
    assert read(api, officer, rid).body["reason"] == "no-active-grant"
    assert api("post", f"{API}/resident/grants/nonsense/withdraw", resident).body["field"] == "grantId"


@pytest.mark.chain
def test_bad_grant_requests_name_the_field(api: Api, svc: Services, tokens: dict[str, str]) -> None:
    good = {"department": World.department, "categories": ["health"], "purpose": 2, "validUntil": "2099-12-31"}
    cases = [
        ({}, "department"),
        ({**good, "department": "Not A Code"}, "department"),
        ({**good, "department": "no-such-department"}, "department"),
        ({**good, "categories": []}, "categories"),
        ({**good, "categories": ["pets"]}, "categories"),
        ({**good, "purpose": 7}, "purpose"),
        ({**good, "purpose": "emergency-response"}, "purpose"),
        ({**good, "purpose": 1234}, "purpose"),
        ({**good, "purpose": True}, "purpose"),
        ({**good, "validUntil": "31/12/2099"}, "validUntil"),
        ({**good, "validUntil": "2000-01-01"}, "validUntil"),
        ({**good, "purposeText": "x" * 501}, "purposeText"),
        ({**good, "notice": ["not", "text"]}, "notice"),
    ]
    for body, field in cases:
        bad = api("post", f"{API}/resident/grants", tokens["resident"], body=body)
        assert bad.status == 400 and bad.body["field"] == field, (body, bad.body)
    assert api("post", f"{API}/resident/grants", tokens["resident"], raw="{not json").body["field"] == "body"
    assert api("get", f"{API}/resident/grants", tokens["resident"]).body == {"grants": []}


@pytest.mark.chain
def test_a_resident_cannot_grant_to_another_offices_department_through_the_api(
    api: Api, svc: Services, ledger: Ledger, tokens: dict[str, str]
) -> None:
    """Regression: the form offers only the resident's own office's departments, but the API
    took any department code and the grant went to another office's department."""
    svc.orgs.create_department("dept-b-health", "Health B", World.other_office, DepartmentKind.HEALTH)
    with ledger.store.session() as session:
        queued = session.scalar(select(func.count()).select_from(OutboxTx))
    body = {"department": "dept-b-health", "categories": ["health"], "purpose": 2, "validUntil": "2099-12-31"}

    refused = api("post", f"{API}/resident/grants", tokens["resident"], body=body)

    assert refused.status == 400 and refused.body["error"] == "invalid-input"
    assert refused.body["field"] == "department"
    assert "another office (office-b)" in refused.body["message"] and World.office in refused.body["message"]
    with ledger.store.session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxTx)) == queued  # nothing signed or sent
    assert api("get", f"{API}/resident/grants", tokens["resident"]).body == {"grants": []}


@pytest.mark.chain
def test_a_resident_gets_an_anchored_proof_of_an_access_that_verifies(
    api: Api, svc: Services, ledger: Ledger, settings: Settings, tokens: dict[str, str]
) -> None:
    rid = add_record(svc)
    grant(svc)
    seq = read(api, tokens["department-officer"], rid).body["access"]["seq"]
    resident = tokens["resident"]
    waiting = api("get", f"{API}/resident/accesses/{seq}/proof", resident)
    assert (
        waiting.status == 503 and waiting.body["error"] == "not-anchored-yet" and waiting.headers["Retry-After"] == "5"
    )
    unanchored = api("get", f"{API}/resident/accesses", resident).body["entries"][0]
    assert unanchored["seq"] == seq and unanchored["anchored"] is False and unanchored["proof"] is None
    anchor(ledger)

    history = api("get", f"{API}/resident/accesses", resident).body
    (entry,) = history["entries"]
    assert entry["anchored"] is True and entry["leaf"]["seq"] == seq and entry["leaf"]["outcome"] == "allowed"
    root, size = bytes.fromhex(history["checkpoint"]["root"][2:]), history["checkpoint"]["size"]
    verify_inclusion(
        seq, size, bytes.fromhex(entry["leafHash"][2:]), [bytes.fromhex(h[2:]) for h in entry["proof"]], root
    )

    proof = api("get", f"{API}/resident/accesses/{seq}/proof", resident)
    assert proof.status == 200 and proof.body["entry"]["seq"] == seq
    assert "0x" + leaf_hash(svc.log.event(seq).leaf).hex() == entry["leafHash"]
    verdict = verify_proof(proof.body, settings.rpc_url)
    assert verdict.ok, verdict.failed
    assert api("get", f"{API}/resident/accesses/{2**60}/proof", resident).status == 404
    assert api("get", f"{API}/resident/accesses/abc/proof", resident).body["field"] == "seq"
    for query, field in (("limit=0", "limit"), ("before=x", "before"), ("department=Bad%20Code", "department"),
                         ("department=0x12", "department"), ("category=pets", "category")):  # fmt: skip
        bad = api("get", f"{API}/resident/accesses?{query}", resident)
        assert bad.status == 400 and bad.body["field"] == field, query
    assert api("get", f"{API}/resident/accesses?department={World.police}", resident).body["entries"] == []
    by_code = api("get", f"{API}/resident/accesses?department={World.department}&category=health", resident).body
    assert [e["seq"] for e in by_code["entries"]] == [seq]


# -- office audit -------------------------------------------------------------------------------


@pytest.mark.chain
def test_audit_findings_bundle_and_emergencies_are_scoped_to_my_office(
    api: Api, svc: Services, ledger: Ledger, settings: Settings, tokens: dict[str, str]
) -> None:
    rid = add_record(svc)
    gid = grant(svc)
    officer, admin = tokens["department-officer"], tokens["office-admin"]
    allowed = read(api, officer, rid).body["access"]["seq"]
    svc.consent.withdraw(gid)
    refused = read(api, officer, rid, grantId=gid).body["seq"]
    emergency = read(api, officer, rid, basis="emergency", justification="急救").body["access"]["seq"]
    other = create_token(ledger, World.other_admin, "office b").token

    waiting = api("get", f"{API}/audit/bundle?department={World.department}", admin)
    assert waiting.status == 503 and waiting.headers["Retry-After"] == "5"
    anchor(ledger)

    report = api("get", f"{API}/audit/findings", admin).body
    kinds = {(f["kind"], f["seq"]) for f in report["findings"]}
    assert ("refused-attempt", refused) in kinds and ("emergency-unreviewed", emergency) in kinds
    assert report["counts"]["refused-attempt"] == 1 and report["counts"]["emergency-unreviewed"] == 1
    assert all(f["organisationCode"] == World.department for f in report["findings"])
    assert {(d["organisation"], d["reads"]) for d in report["perDay"]} == {(HEALTH_DEPT, 2)}
    scoped = api("get", f"{API}/audit/findings?department={World.department}&from=2020-01-01", admin).body
    assert scoped["scope"]["department"] == HEALTH_DEPT and scoped["scope"]["from"] == "2020-01-01"
    assert api("get", f"{API}/audit/findings?department={World.police}", admin).body["findings"] == []
    resident = ledger.address_of(World.resident)
    assert len(api("get", f"{API}/audit/findings?resident={resident.lower()}", admin).body["findings"]) == 2

    theirs = api("get", f"{API}/audit/findings", other).body
    assert theirs["findings"] == [] and theirs["perDay"] == [] and theirs["counts"] == {}
    for query in (f"department={World.department}", f"resident={resident}"):
        assert api("get", f"{API}/audit/findings?{query}", other).status == 404, query
        assert api("get", f"{API}/audit/bundle?{query}", other).status == 404, query
    for query, field in (("from=yesterday", "from"), ("from=2026-02-01&to=2026-01-01", "to"),
                         ("resident=someone", "resident"), ("department=Bad!", "department")):  # fmt: skip
        bad = api("get", f"{API}/audit/findings?{query}", admin)
        assert bad.status == 400 and bad.body["field"] == field, query
    needs_scope = api("get", f"{API}/audit/bundle", admin)
    assert needs_scope.status == 400 and needs_scope.body["field"] == "department"

    bundle = api("get", f"{API}/audit/bundle?department={World.department}", admin)
    assert bundle.status == 200
    assert [e["seq"] for e in bundle.body["entries"]] == [allowed, refused, emergency]
    assert bundle.body["signer"] == ledger.account(ledger.settings.anchorer).address
    verdict = verify_bundle(bundle.body, settings.rpc_url)
    assert verdict.ok, verdict.failed
    assert [e["seq"] for e in api("get", f"{API}/audit/emergency", admin).body["emergencies"]] == [emergency]


# -- generated input (schemathesis) -------------------------------------------------------------

READ_ONLY = r"^/(me|status|department/(grants|accesses)|resident/(records|grants|accesses)|audit/(emergency|findings))$"


def _fuzz(operation: Any, token: str) -> None:
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from schemathesis.checks import positive_data_acceptance

    @given(case=operation.as_strategy())
    @hypothesis_settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        # A period that ends before it starts is schema-valid (OpenAPI cannot relate two
        # parameters) and refused, as documented: 400 naming `to`, not a rejection of valid data.
        query = case.query or {}
        inverted = all(isinstance(query.get(k), str) for k in ("from", "to")) and query["to"] < query["from"]
        response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                                          excluded_checks=[positive_data_acceptance] if inverted else [])  # fmt: skip
        if inverted and response.status_code == 400:  # (an unknown department is named first: 404)
            assert response.json()["field"] == "to", response.text

    run()


@pytest.mark.chain
def test_read_only_endpoints_keep_to_the_document_for_generated_input(app: Flask, tokens: dict[str, str]) -> None:
    """Schemathesis generates parameters from the document (valid and invalid ones); every
    answer must be one the document lists, matching its schema, and never a server error."""
    import schemathesis

    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app).include(path_regex=READ_ONLY, method="GET")
    checked = []
    for found in schema.get_all_operations():
        operation = found.ok()
        roles = operation.definition.raw["x-roles"]
        _fuzz(operation, tokens[roles[0] if len(roles) < len(ALL_ROLES) else "resident"])
        checked.append(operation.path)
    assert len(checked) == 9
