"""The route table of ``/api/v1``, and the OpenAPI 3.1 document generated from it and from
the models (:mod:`.models`).

Each :class:`Operation` names its path, method, who may call it, and the models of its path,
query, body and answer; :mod:`.routes` registers every view by its entry here (the token it
needs, the models it reads and answers with), and :func:`document` turns the same entries and
the models' JSON Schemas into the document served at ``/api/v1/openapi.json``. Nothing is
written twice.

Summaries and group names are marked with :func:`N_` for the ``api`` catalogue: the explorer
page shows them translated; the document itself is English.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from ledger.access import MAX_BULK

from . import models as m
from .auth import ROLE_PLURALS


def N_(text: str) -> str:
    """Marks a message for the ``api`` catalogue without translating it here."""
    return text


#: Tag -> (name shown in the explorer, description).
TAGS = {
    "General": (N_("General"), N_("Liveness, this document, the explorer, and what any valid token may ask.")),
    "Department": (N_("Department officers"), N_("Grants to my department, logged reads of records, my department's accesses.")),
    "Resident": (N_("Residents"), N_("My records, my grants, and who used my data, with proofs.")),
    "Audit": (N_("Office audit"), N_("Findings, emergency reads awaiting review, and signed bundles, for my office only.")),
}  # fmt: skip

DEPARTMENT, RESIDENT, ADMIN = ("department-officer",), ("resident",), ("office-admin",)


@dataclass(frozen=True)
class Operation:
    """One entry of the route table."""

    name: str  # the operationId, and the view's Flask endpoint
    method: str
    path: str  # as in the document: /resident/grants/{grantId}/withdraw
    tag: str
    summary: str
    description: str
    roles: tuple[str, ...] | None  # None: no token; (): any valid token
    answer: type[BaseModel] | None = None  # the JSON answer
    status: int = 200
    answered: str = "OK"
    params: type[BaseModel] | None = None  # the path's parameters
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = False
    example: dict[str, Any] | None = None
    errors: tuple[int, ...] = ()  # beyond a token's 401, 403 and 500
    refused: str | None = None  # what a 403 means here, when more than the token's role
    content: tuple[str, dict[str, Any], str] | None = None  # a non-JSON answer: (media type, schema, description)
    labelled: bool = False  # answers record content with its `fields`, in the language of Accept-Language

    @property
    def rule(self) -> str:
        """The Flask rule: ``{grantId}`` -> ``<grantId>``."""
        return self.path.replace("{", "<").replace("}", ">")


OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    Operation(
        "ping", "get", "/ping", "General", N_("Is the service up"),
        "Alive: answers without a token and without the database.", None, m.Ping,
    ),
    Operation(
        "openapi", "get", "/openapi.json", "General", N_("This OpenAPI document"),
        "This document (OpenAPI 3.1).", None, content=("application/json", {"type": "object"}, "The document"),
    ),
    Operation(
        "explorer", "get", "/docs", "General", N_("The API explorer page"),
        "A page to try the API in a browser with a token: it lists these operations, sends requests and shows the "
        "answers. Served by the app itself (no CDN).", None, content=("text/html", {"type": "string"}, "The page"),
    ),
    Operation(
        "me", "get", "/me", "General", N_("Who this token acts for"),
        "The account this token acts for, its organisation and role. Use it to check a token.", (), m.Me,
    ),
    Operation(
        "status", "get", "/status", "General", N_("The access log and its anchoring"),
        "The access log's size, how much of it is anchored on chain, and the newest anchored checkpoint. While "
        "`state` is `closed` (anchoring has lagged past the limit) reads are refused.", (), m.Status,
    ),
    Operation(
        "department_grants", "get", "/department/grants", "Department", N_("Grants to my department"),
        "Grants residents gave my department, oldest first; by default only the active ones.", DEPARTMENT,
        m.GrantList, query=m.GrantsQuery, errors=(400, 404),
    ),
    Operation(
        "department_read", "post", "/department/records/{recordId}/read", "Department",
        N_("Read a record (logged first)"),
        "Reads a record's content. The service checks the basis (the grant on chain with `isActive`, or an "
        "emergency with a written justification), writes the access event to the log durably, and only then "
        "returns the content. A refusal is logged too and answers 403 with `reason` and `seq`. A `grantId` that is "
        "not a grant to my department answers 404 before anything is read or logged. Emergency reads are reviewed "
        "by the office.", DEPARTMENT, m.Disclosure, answered="The content, and the log entry of this read",
        params=m.RecordPath, body=m.ReadRequest, example={"basis": "grant"}, errors=(400, 404, 503), labelled=True,
        refused="Refused and logged (`reason`, `seq`), or the token may not use this endpoint.",
    ),
    Operation(
        "department_bulk_read", "post", "/department/records/read", "Department",
        N_("Read many records at once (each logged first)"),
        f"Reads up to {MAX_BULK} records in one request, with the guarantees of a single read for each: each "
        "record's basis is checked on its own (a grant on chain with `isActive`, or an emergency with a written "
        "justification), every read and every refusal is written to the log in one durable transaction, and only "
        "then is any content returned. One result per record, in the order asked: `read`, `refused` (logged, with "
        "`reason` and `seq`) or `not-found`. A malformed request (no ids, too many, one twice, a bad id) answers "
        "400 and nothing is read or logged.", DEPARTMENT, m.BulkReadAnswer,
        answered="One result per record, and how many were read, refused and not found",
        body=m.BulkReadRequest, body_required=True, example={"recordIds": ["0x" + "ab" * 32]}, errors=(400, 503),
        labelled=True,
    ),
    Operation(
        "department_accesses", "get", "/department/accesses", "Department", N_("My department's accesses"),
        "My department's access events, allowed and refused, newest first, a page at a time.", DEPARTMENT,
        m.AccessEventPage, query=m.DepartmentAccessesQuery, errors=(400,),
    ),
    Operation(
        "resident_records", "get", "/resident/records", "Resident", N_("My records"),
        "My own records with every version and its content. (Reading my own data is my right of access, not a use "
        "by someone else: it is not logged.)", RESIDENT, m.RecordList, labelled=True,
    ),
    Operation(
        "resident_grants", "get", "/resident/grants", "Resident", N_("My grants"),
        "Every grant I gave, in every status, oldest first.", RESIDENT, m.GrantList,
    ),
    Operation(
        "resident_grant_issue", "post", "/resident/grants", "Resident", N_("Give a department a grant"),
        "Gives a department a grant under my consent: categories, purpose, until a day. Sent to the chain and "
        "answered once mined and indexed. Only a department of my own office (the office of my committee) can be "
        "given one: another office's answers 400 with `field` `department`.", RESIDENT, m.Grant, status=201,
        answered="The new grant", body=m.GrantRequest, body_required=True, errors=(400, 409, 503),
        example={"department": "dept-health", "categories": ["health"], "purpose": "health-management",
                 "validUntil": "2027-12-31", "purposeText": "家庭医生签约与慢病随访"},
    ),
    Operation(
        "resident_grant_withdraw", "post", "/resident/grants/{grantId}/withdraw", "Resident", N_("Withdraw my grant"),
        "Withdraws one of my active grants; reads under it are refused from then on. Another resident's grant "
        "answers 404; a grant no longer active, 409.", RESIDENT, m.Grant, answered="The grant, now withdrawn",
        params=m.GrantPath, errors=(400, 404, 409, 503),
    ),
    Operation(
        "resident_accesses", "get", "/resident/accesses", "Resident", N_("Who used my data"),
        "Who used my data, when and why: a page of my access history, newest first, each entry with its inclusion "
        "proof to the newest anchored checkpoint. Entries under legal hold show their hash and disclosure date "
        "only. `findings` reports gaps in my own numbering.", RESIDENT, m.History, query=m.ResidentAccessesQuery,
        errors=(400,),
    ),
    Operation(
        "resident_access_proof", "get", "/resident/accesses/{seq}/proof", "Resident", N_("Proof of one access"),
        "The proof file of one of my access events, for `gridledger verify proof`. Another resident's event answers "
        "404; one not anchored yet, 503 with Retry-After.", RESIDENT, m.ProofDocument, params=m.SeqPath,
        errors=(400, 404, 503),
    ),
    Operation(
        "audit_findings", "get", "/audit/findings", "Audit", N_("Audit findings for my office"),
        "Accesses checked against grants (outside scope, after withdrawal or expiry, emergencies not reviewed, "
        "refusals, volume anomalies), limited to my office's organisations and residents.", ADMIN, m.Findings,
        query=m.AuditQuery, errors=(400, 404),
    ),
    Operation(
        "audit_bundle", "get", "/audit/bundle", "Audit", N_("A signed, self-verifying bundle"),
        "A self-verifying bundle of one of my office's departments' or residents' entries (one of them is "
        "required), with proofs to the newest anchored checkpoint, signed by the installation's anchorer.", ADMIN,
        m.Bundle, query=m.AuditQuery, errors=(400, 404, 503),
    ),
    Operation(
        "audit_emergency", "get", "/audit/emergency", "Audit", N_("Emergency reads awaiting review"),
        "Emergency reads by my office's departments that no admin has reviewed yet, oldest first.", ADMIN,
        m.EmergencyList,
    ),
)}  # fmt: skip

# Residents' rights requests (ledger.rights): what an office system scripts, and a resident's own.
OPERATIONS.update({op.name: op for op in (
    Operation(
        "audit_rights_requests", "get", "/audit/rights-requests", "Audit", N_("Residents' requests for my office"),
        "Residents' requests my office decides or oversees (deletions and corrections of its committees' records, "
        "objections to reads by its organisations or about its residents), open ones first, each group oldest "
        "first, with their due date and whether they are overdue, and each decision (outcome, legal basis, reason, "
        "decider, its entry in the access log).", ADMIN, m.RightsRequestList, query=m.RightsRequestsQuery,
        errors=(400,),
    ),
    Operation(
        "audit_rights_request", "get", "/audit/rights-requests/{requestId}", "Audit", N_("One resident's request"),
        "One request my office decides or oversees; any other answers 404.", ADMIN, m.RightsRequest,
        params=m.RightsRequestPath, errors=(400, 404),
    ),
    Operation(
        "resident_rights_requests", "get", "/resident/rights-requests", "Resident", N_("My requests"),
        "My requests to correct or delete a record, and my objections, newest first, with their due date and the "
        "answer once given.", RESIDENT, m.RightsRequestList, query=m.RightsRequestsQuery, errors=(400,),
    ),
)})  # fmt: skip

# -- webhooks (ledger.webhooks): a department's subscriptions and their deliveries --

WEBHOOKS_SIGNED = (
    "Each event is POSTed to the subscription's URL as JSON `{type, timestamp, data}`, signed as the Standard "
    "Webhooks specification says: headers `webhook-id` (the same on every retry), `webhook-timestamp` and "
    "`webhook-signature` (`v1,` base64 HMAC-SHA256 over `{id}.{timestamp}.{body}`). See docs/api.md."
)
OPERATIONS.update({op.name: op for op in (
    Operation(
        "department_webhooks", "get", "/department/webhooks", "Department", N_("My department's webhook subscriptions"),
        "My department's active webhook subscriptions, oldest first.", DEPARTMENT, m.WebhookSubscriptionList,
    ),
    Operation(
        "department_webhook_create", "post", "/department/webhooks", "Department", N_("Subscribe to webhooks"),
        "Subscribes an endpoint of my department's system to events: grants to my department withdrawn, revoked "
        "or expired, consent requests answered. The answer holds the signing `secret`, shown this once and never "
        "stored. " + WEBHOOKS_SIGNED, DEPARTMENT, m.WebhookSubscriptionCreated, status=201,
        answered="The new subscription, with its secret", body=m.WebhookSubscriptionRequest, body_required=True,
        errors=(400,), example={"url": "https://health.example.gov.cn/hooks/gridledger",
                                "kinds": ["grant.withdrawn", "grant.revoked", "grant.expired"]},
    ),
    Operation(
        "department_webhook_delete", "delete", "/department/webhooks/{subscriptionId}", "Department",
        N_("Remove a webhook subscription"),
        "Removes one of my department's subscriptions: nothing more is sent to it, and its deliveries not yet made "
        "are cancelled. Another department's subscription answers 404; one removed already, 409.", DEPARTMENT,
        m.WebhookSubscription, answered="The subscription, now removed", params=m.SubscriptionPath,
        errors=(400, 404, 409),
    ),
    Operation(
        "department_webhook_deliveries", "get", "/department/webhooks/{subscriptionId}/deliveries", "Department",
        N_("Deliveries of a webhook subscription"),
        "The deliveries of one of my department's subscriptions, newest first, each with its attempts (when, the "
        "HTTP status, why it failed). A `dead` delivery failed its last attempt; the office can send it again.",
        DEPARTMENT, m.WebhookDeliveryList, params=m.SubscriptionPath, query=m.WebhookDeliveriesQuery,
        errors=(400, 404),
    ),
)})  # fmt: skip

# Consent requests (ledger.requests): a department asks a resident for a grant.
OPERATIONS.update({op.name: op for op in (
    Operation(
        "department_requests", "get", "/department/requests", "Department", N_("My department's consent requests"),
        "The consent requests my department sent, newest first, with their status: waiting, approved (with the "
        "grant), declined (with the resident's reason, if any) or expired (not answered by `answerBy`).",
        DEPARTMENT, m.ConsentRequestList, query=m.RequestsQuery, errors=(400,),
    ),
    Operation(
        "department_request_create", "post", "/department/requests", "Department", N_("Ask a resident for a grant"),
        "Asks a resident of my office for a grant to my department: categories, purpose, until a day, and a reason "
        "in plain words that the resident reads. The resident answers on their page or with their grid worker; the "
        "grant issued on approval carries `requestId` in its terms. A resident of another office answers 400 with "
        "`field` `resident`.", DEPARTMENT, m.ConsentRequest, status=201, answered="The request, waiting",
        body=m.ConsentRequestBody, body_required=True, errors=(400,),
        example={"resident": "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4", "categories": ["health"],
                 "purpose": "health-management", "validUntil": "2027-06-30", "reason": "慢病随访"},
    ),
    Operation(
        "department_request", "get", "/department/requests/{requestId}", "Department",
        N_("One of my department's consent requests"),
        "One consent request my department sent. Another department's answers 404.", DEPARTMENT, m.ConsentRequest,
        params=m.RequestPath, errors=(400, 404),
    ),
)})  # fmt: skip

#: operationId -> summary; translated on the explorer page.
# -- consent receipts (ledger.receipts) -----------------------------------------------------------
OPERATIONS["grant_receipt"] = Operation(
    "grant_receipt", "get", "/grants/{grantId}/receipt", "Department", N_("A grant's consent receipt"),
    "The grant as a consent record in the shape of ISO/IEC TS 27560 and the Kantara Consent Receipt v1.1: "
    "jurisdiction, controller, purposes and data categories with DPV codes, legal basis, validity, the status "
    "history with the party who acted and each transaction, the full terms, signed by the installation's anchorer. "
    "`gridledger verify receipt FILE --rpc-url URL` checks it against the chain alone. For the department holding "
    "the grant, its resident, and the office governing the department; anyone else's answers 404, as does a grant "
    "not on chain yet.", DEPARTMENT + RESIDENT + ADMIN, m.ConsentReceipt,
    answered="The signed receipt", params=m.GrantPath, errors=(400, 404),
)

SUMMARIES = {name: op.summary for name, op in OPERATIONS.items()}

# -- the document --------------------------------------------------------------------------------

ERRORS = {
    400: ("BadRequest", "Bad input: `field` names the parameter or body field at fault."),
    401: ("Unauthorized", "No token, a malformed, unknown or revoked token."),
    403: ("Forbidden", "The token's role may not use this endpoint, or the token's account no longer holds the "
                       "membership it was made for (`membership-changed`)."),
    404: ("NotFound", "Not found, or not yours: ids of other residents, departments and offices answer 404 too, so "
                      "they cannot be probed."),
    409: ("Conflict", "The state does not allow it (e.g. the grant is not active), or the contract refused."),
    500: ("ServerError", "Something failed on the server (logged there); nothing was returned."),
    503: ("Unavailable", "Not anchored yet (ask again after Retry-After seconds), or the chain cannot be reached."),
}  # fmt: skip
HEADERS = {
    401: {"WWW-Authenticate": {"description": 'Bearer realm="gridledger" (with error="invalid_token" for a bad one)',
                               "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait (when not anchored yet).", "schema": {"type": "integer"}}},
}  # fmt: skip
REF = "#/components/schemas/{model}"
#: The request header and answer header of an operation that answers record content with its `fields`.
ACCEPT_LANGUAGE = {
    "name": "Accept-Language", "in": "header", "required": False,
    "description": "The language of `fields` (labels and enum titles): `zh-CN` (the default, also when neither is "
                   "named) or `en`, by the usual preference rules (`en;q=0.9, zh-CN;q=0.8`).",
    "schema": {"type": "string", "default": m.LANGUAGES[0], "examples": list(m.LANGUAGES)},
}  # fmt: skip
CONTENT_LANGUAGE = {
    "Content-Language": {"description": "The language of `fields`: `zh-CN` or `en`.",
                         "schema": {"type": "string", "enum": list(m.LANGUAGES)}},
}  # fmt: skip


class _Schemas(GenerateJsonSchema):
    """Pydantic's JSON Schema, without a title on every field."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _without_null_defaults(node: Any) -> Any:
    """``"default": null`` says nothing a missing key does not (and is no value of the type)."""
    if isinstance(node, dict):
        return {k: _without_null_defaults(v) for k, v in node.items() if not (k == "default" and v is None)}
    if isinstance(node, list):
        return [_without_null_defaults(v) for v in node]
    return node


def _name(ref: dict[str, Any]) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[1]


def _parameters(model: type[BaseModel], where: str, schemas: dict[str, Any], ref: dict[str, Any]) -> list[Any]:
    """A path or query model as the operation's parameters."""
    found = schemas[_name(ref)]
    required = set(found.get("required", ()))
    parameters = []
    for name, schema in found["properties"].items():
        schema = dict(schema)
        description = schema.pop("description", None)
        parameter = {"name": name, "in": where, "required": where == "path" or name in required, "schema": schema}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _response(status: int, description: str | None = None) -> dict[str, Any]:
    name, _described = ERRORS[status]
    if description is None:
        return {"$ref": f"#/components/responses/{name}"}
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }


def _operation(op: Operation, refs: dict[Any, dict[str, Any]], schemas: dict[str, Any]) -> dict[str, Any]:
    if op.roles is None:
        who = "No token needed."
    elif not op.roles:
        who = "For: any valid token (every role)."
    else:
        who = "For: " + " or ".join(ROLE_PLURALS.get(r, r) for r in op.roles) + "."
    found: dict[str, Any] = {
        "operationId": op.name, "tags": [op.tag], "summary": op.summary, "description": f"{op.description}\n\n**{who}**",
    }  # fmt: skip
    parameters = []
    if op.params is not None:
        parameters += _parameters(op.params, "path", schemas, refs[(op.params, "validation")])
    if op.query is not None:
        parameters += _parameters(op.query, "query", schemas, refs[(op.query, "validation")])
    if op.labelled:
        parameters.append(dict(ACCEPT_LANGUAGE))
    if parameters:
        found["parameters"] = parameters
    if op.body is not None:
        media: dict[str, Any] = {"schema": refs[(op.body, "validation")]}
        if op.example is not None:
            media["example"] = op.example
        found["requestBody"] = {"required": op.body_required, "content": {"application/json": media}}
    if op.content is not None:
        media_type, schema, described = op.content
        answer = {"description": described, "content": {media_type: {"schema": schema}}}
    else:
        assert op.answer is not None, op.name
        answer = {"description": op.answered, "content": {"application/json": {"schema": refs[(op.answer, "serialization")]}}}  # fmt: skip
        if op.labelled:
            answer["headers"] = copy.deepcopy(CONTENT_LANGUAGE)
    responses: dict[str, Any] = {str(op.status): answer}
    for status in op.errors:
        responses[str(status)] = _response(status)
    if op.roles is None:
        found["security"] = []
    else:
        found["x-roles"] = list(op.roles or m.ROLES)
        for status in (401, 403, 500):
            responses.setdefault(str(status), _response(status))
    if op.refused is not None:
        responses["403"] = _response(403, op.refused)
    found["responses"] = dict(sorted(responses.items()))
    return found


@cache
def _document() -> dict[str, Any]:
    wanted: dict[tuple[type[BaseModel], Any], None] = {(m.Error, "serialization"): None}
    for op in OPERATIONS.values():
        for model in (op.params, op.query, op.body):
            if model is not None:
                wanted[(model, "validation")] = None
        if op.answer is not None:
            wanted[(op.answer, "serialization")] = None
    refs, top = models_json_schema(list(wanted), ref_template=REF, schema_generator=_Schemas)
    schemas: dict[str, Any] = _without_null_defaults(top["$defs"])
    paths: dict[str, Any] = {}
    for op in OPERATIONS.values():
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs, schemas)
    for op in OPERATIONS.values():  # parameters are described in their operations, not as objects
        for model in (op.params, op.query):
            if model is not None:
                schemas.pop(_name(refs[(model, "validation")]), None)
    responses = {}
    for status, (name, description) in ERRORS.items():
        responses[name] = {"description": description, "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}  # fmt: skip
        if status in HEADERS:
            responses[name]["headers"] = HEADERS[status]
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "gridledger API",
            "version": "1.0.0",
            "summary": "Department, resident and audit capabilities of a gridledger installation.",
            "description": (
                "Token-authenticated JSON API of gridledger, the permissioned ledger for community records. "
                "Send `Authorization: Bearer glt_…` (made with `gridledger token create --as ACCOUNT --name "
                "SYSTEM`); a token acts for one account in the organisation and role it had when the token was "
                "made, and stops working when that membership changes. Every read of personal data is logged "
                'before the data is returned. Errors are JSON `{"error", "message"}`. '
                "Guide: docs/api.md."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name, "description": description} for name, (_shown, description) in TAGS.items()],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "glt_ followed by 43 characters",
                    "description": "An API token; only its SHA-256 is stored. `gridledger token create`.",
                },  # fmt: skip
            },
            "schemas": dict(sorted(schemas.items())),
            "responses": responses,
        },
    }


def document() -> dict[str, Any]:
    """The document (a copy: callers may change it freely)."""
    return copy.deepcopy(_document())


@cache
def document_json() -> bytes:
    """The document as JSON, serialised once."""
    return json.dumps(_document(), ensure_ascii=False, separators=(",", ":")).encode()
