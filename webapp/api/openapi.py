"""The OpenAPI 3.1 document of ``/api/v1``, served at ``/api/v1/openapi.json``.

A plain dict built once (no extra runtime dependency). Its schemas are exactly what
:mod:`.payloads` and :mod:`.routes` return, strict (every key required, no others), so
``tests/webapp/test_api.py`` validates every answer of every endpoint against them and
checks that every Flask rule under ``/api/v1`` is here with the roles its view requires
(``x-roles``, from :func:`.auth.token_required`).

Summaries are marked with :func:`N_` for the ``api`` catalogue: the explorer page shows
them translated; the document itself is English.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from ledger.access import BASES, MAX_DEFERRAL_DAYS, MAX_JUSTIFICATION
from ledger.categories import Category
from ledger.consent import Purpose
from ledger.history import FINDING_KINDS

from .auth import ROLE_PLURALS

#: Every role a token can carry (a token is made for any active member).
ALL_ROLES = ("office-admin", "committee-member", "grid-worker", "department-officer", "resident")
REFUSAL_REASONS = (
    "no-active-grant", "grant-not-active", "not-authorised", "no-duty", "anchoring-stalled", "chain-unreachable",
    "record-altered", "content-lost",
)  # fmt: skip
AUDIT_KINDS = (
    "outside-categories", "outside-time", "after-expiry", "after-withdrawal", "after-revocation",
    "wrong-department", "wrong-resident", "unknown-grant", "emergency-unreviewed", "emergency-flagged",
    "refused-attempt", "volume-anomaly", "leaf-missing", "leaf-moved", "leaf-hash-mismatch", "index-mismatch",
    "checkpoint-mismatch", "checkpoint-not-on-chain", "leaf-beyond-head",
)  # fmt: skip
HISTORY_KINDS = FINDING_KINDS  # ledger.history's, one vocabulary
GRANT_STATES = ("active", "withdrawn", "revoked", "expired", "pending")


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

#: operationId (the Flask endpoint's name) -> summary; translated on the explorer page.
SUMMARIES = {
    "ping": N_("Is the service up"),
    "openapi": N_("This OpenAPI document"),
    "explorer": N_("The API explorer page"),
    "me": N_("Who this token acts for"),
    "status": N_("The access log and its anchoring"),
    "department_grants": N_("Grants to my department"),
    "department_read": N_("Read a record (logged first)"),
    "department_accesses": N_("My department's accesses"),
    "resident_records": N_("My records"),
    "resident_grants": N_("My grants"),
    "resident_grant_issue": N_("Give a department a grant"),
    "resident_grant_withdraw": N_("Withdraw my grant"),
    "resident_accesses": N_("Who used my data"),
    "resident_access_proof": N_("Proof of one access"),
    "audit_findings": N_("Audit findings for my office"),
    "audit_bundle": N_("A signed, self-verifying bundle"),
    "audit_emergency": N_("Emergency reads awaiting review"),
}

# -- small schema helpers ----------------------------------------------------------------------


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Any], *, description: str | None = None, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """A strict object: every property required (unless ``optional``), nothing else allowed."""
    found: dict[str, Any] = {"type": "object"}
    if description:
        found["description"] = description
    found["required"] = [k for k in properties if k not in optional]
    found["properties"] = properties
    found["additionalProperties"] = False
    return found


def array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


def _routes() -> Any:
    """The routes module, for its limits and choices (imported late: it imports this module)."""
    from . import routes

    return routes


MAX_SEQ = 2**53 - 1  # routes.MAX_SEQ; a test checks they agree
INT = {"type": "integer", "minimum": 0}
SEQ = {"type": "integer", "minimum": 0, "maximum": MAX_SEQ, "description": "The log's sequence number (= leaf index)."}
MS = {"type": "integer", "minimum": 0, "description": "Milliseconds since the Unix epoch, UTC."}
SECONDS = {"type": "integer", "minimum": 0, "description": "Seconds since the Unix epoch (as on chain)."}
TEXT = {"type": "string"}
NULL_INT = {"type": ["integer", "null"], "minimum": 0}
NULL_TEXT = {"type": ["string", "null"]}
ROLE = {"type": "string", "enum": list(ALL_ROLES)}
CODE_PATTERN = "^[a-z0-9][a-z0-9-]{1,62}$"


def _schemas() -> dict[str, Any]:
    r = _routes()
    categories = [c.slug for c in Category]
    purposes = [int(p) for p in Purpose]
    return {
        "Address": {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$", "description": "An account (checksummed).",
                    "examples": ["0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"]},
        "Id": {"type": "string", "pattern": "^0x[0-9a-f]{64}$",
               "description": "A 32-byte id (record, grant, organisation), lowercase 0x hex."},
        "Hash": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$", "description": "A 32-byte hash, 0x hex."},
        "Date": {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                 "description": "A day, YYYY-MM-DD (China Standard Time)."},
        "Category": {"type": "string", "enum": categories,
                     "description": "A record category (docs/formats.md, 'Record categories')."},
        "CodeName": obj({"code": {"type": "integer"}, "name": TEXT}, description="A code and its name."),
        "Checkpoint": obj({
            "index": NULL_INT, "size": INT, "root": ref("Hash"), "txHash": ref("Hash"), "block": NULL_INT,
        }, description="An anchored checkpoint of the access log: the first `size` leaves have root `root`, "
                       "appended to AccessLogAnchor by transaction `txHash` in block `block`."),
        "Error": {
            "type": "object",
            "description": "Every error. `field` names the request field at fault (400); `reason` and `seq` "
                           "say why a read was refused and where the refusal is logged (403).",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$",
                          "examples": ["invalid-input", "unauthorized", "invalid-token", "forbidden",
                                       "membership-changed", "access-refused", "not-found", "conflict",
                                       "not-anchored-yet", "chain-unavailable"]},
                "message": {"type": "string", "description": "For people; English."},
                "field": {"type": "string", "examples": ["justification", "limit", "grantId"]},
                "reason": {"type": "string", "enum": list(REFUSAL_REASONS)},
                "seq": SEQ,
            },
            "additionalProperties": False,
        },
        "Ping": obj({"status": {"const": "ok"}}),
        "Me": obj({
            "address": ref("Address"),
            "role": ROLE,
            "organisation": obj({
                "id": ref("Id"), "code": NULL_TEXT, "name": NULL_TEXT,
                "kind": {"type": ["string", "null"], "enum": ["office", "committee", "department", None]},
            }),
            "token": obj({"id": {"type": "integer"}, "name": TEXT}),
        }, description="The account the token acts for, in the organisation and role it was made for."),
        "Status": obj({
            "log": obj({
                "size": INT, "anchoredSize": INT,
                "lagSeconds": {"type": "number", "minimum": 0,
                               "description": "Age of the oldest event no checkpoint covers yet."},
                "limitSeconds": {"type": "number", "description": "Past this lag, reads are refused."},
                "state": {"type": "string", "enum": ["ok", "anchoring", "closed"]},
            }),
            "checkpoint": nullable(ref("Checkpoint")),
        }),
        "ConsentTerms": {
            "type": "object",
            "description": "The grant's full terms (format `gridledger-consent-terms/1`); their keccak256 over "
                           "RFC 8785 JSON is the grant's termsHash on chain.",
            "required": ["format", "grantId", "controller", "categories", "purpose", "legalBasis", "validFrom",
                         "validUntil", "notice", "jurisdiction", "collectionMethod"],
            "properties": {
                "format": {"const": "gridledger-consent-terms/1"}, "grantId": ref("Id"),
                "controller": obj({"department": ref("Id"), "code": TEXT, "name": TEXT}),
                "categories": array(ref("Category")),
                "purpose": obj({"code": {"type": "integer"}, "name": TEXT, "text": TEXT}),
                "legalBasis": obj({"code": {"type": "integer"}, "name": TEXT}),
                "validFrom": SECONDS, "validUntil": SECONDS, "notice": TEXT, "jurisdiction": TEXT,
                "collectionMethod": TEXT,
            },
        },
        "Grant": obj({
            "grantId": ref("Id"),
            "resident": ref("Address"),
            "department": obj({"id": ref("Id"), "code": NULL_TEXT}),
            "categories": array(ref("Category"), minItems=1),
            "purpose": ref("CodeName"),
            "purposeText": TEXT,
            "legalBasis": ref("CodeName"),
            "validFrom": {**SECONDS, "description": "First second the grant is valid (inclusive)."},
            "validUntil": {**SECONDS, "description": "End of validity (exclusive)."},
            "status": {"type": "string", "enum": list(GRANT_STATES),
                       "description": "pending: sent, not yet on chain; expired: derived from the chain's time."},
            "relayer": nullable(ref("Address")),
            "issuedTx": nullable(ref("Hash")),
            "terms": nullable(ref("ConsentTerms")),
        }, description="A consent grant from a resident to a department."),
        "GrantList": obj({"grants": array(ref("Grant"))}),
        "GrantRequest": {
            "type": "object",
            "required": ["department", "categories", "purpose", "validUntil"],
            "properties": {
                "department": {"type": "string", "pattern": CODE_PATTERN, "description": "The department's code."},
                "categories": array(ref("Category"), minItems=1, uniqueItems=True),
                "purpose": {
                    "description": "The purpose, by code or name (statutory and emergency purposes are not "
                                   "granted by consent).",
                    "oneOf": [
                        {"type": "integer", "enum": [int(p) for p in r.GRANT_PURPOSES]},
                        {"type": "string", "enum": [p.name.lower().replace("_", "-") for p in r.GRANT_PURPOSES]},
                    ],
                },
                "validUntil": {**ref("Date"), "description": "Last day the grant is valid (to the end of it)."},
                "purposeText": {"type": "string", "maxLength": r.MAX_PURPOSE_TEXT},
                "notice": {"type": "string", "maxLength": r.MAX_NOTICE},
            },
        },
        "ReadRequest": {
            "type": "object",
            "description": "All optional: without a body the read is under an active grant of the resident's to "
                           "my department. With a justification and no basis, an emergency read.",
            "properties": {
                "basis": {"type": "string", "enum": list(r.READ_BASES)},
                "grantId": {**ref("Id"), "description": "Read under this grant (one given to my department)."},
                "justification": {"type": "string", "maxLength": MAX_JUSTIFICATION,
                                  "description": "Required for an emergency read; kept off chain, its hash logged."},
                "discloseOn": {**ref("Date"), "description": "Public security only: the resident is told of "
                               f"this read from this day (at most {MAX_DEFERRAL_DAYS} days ahead)."},
            },
        },
        "Disclosure": obj({
            "recordId": ref("Id"),
            "version": {"type": "integer", "minimum": 1},
            "certified": {"type": "boolean", "description": "false: the newest version is not certified yet."},
            "category": ref("Category"),
            "content": {"type": "object", "description": "The record's content, valid against its category's "
                        "JSON Schema (ledger/schemas/<category>.json)."},
            "access": obj({
                "seq": SEQ, "basis": {"type": "string", "enum": list(BASES)}, "grantId": nullable(ref("Id")),
            }, description="The log entry recording this read, written before the content was returned."),
        }),
        "AccessEvent": obj({
            "seq": SEQ, "time": MS, "resident": ref("Address"), "accessor": ref("Address"),
            "recordId": nullable(ref("Id")), "category": nullable(ref("Category")),
            "action": {"type": "string", "enum": ["read", "review"]},
            "outcome": {"type": "string", "enum": ["allowed", "refused"]},
            "reason": {"type": ["string", "null"], "enum": [*REFUSAL_REASONS, None]},
            "basis": {"type": ["string", "null"], "enum": [*BASES, None]},
            "grantId": nullable(ref("Id")),
            "purpose": {"type": ["integer", "null"], "enum": [*purposes, None]},
            "disclosureDate": nullable(ref("Date")),
            "block": NULL_INT,
            "justification": {**NULL_TEXT, "description": "The written justification (its hash is on the leaf)."},
        }, description="One access event of my department, from its leaf."),
        "AccessEventPage": obj({
            "events": array(ref("AccessEvent")),
            "nextBefore": {**NULL_INT, "description": "Pass as `before` for the next (older) page; null: no more."},
        }),
        "RecordVersion": obj({
            "version": {"type": "integer", "minimum": 1},
            "content": {"type": ["object", "null"], "description": "null once erased, and whenever `check` is not "
                        "`verified` (content is handed out only when it gives the commitment on chain)."},
            "check": {"enum": ["verified", "mismatch", "pending", "erased"], "description": "The content and salt "
                      "stored against the chain's commitment, checked on this request."},
            "contentHash": ref("Hash"), "prevHash": ref("Hash"),
            "createdAt": {"type": "string", "format": "date-time"},
            "onChain": {"type": "boolean"}, "certified": {"type": "boolean"},
            "signers": array(ref("Address")),
        }),
        "Record": obj({
            "recordId": ref("Id"), "category": ref("Category"), "committee": ref("Id"),
            "erased": {"type": "boolean"},
            "headVersion": {"type": ["integer", "null"], "minimum": 1},
            "certifiedVersion": {"type": ["integer", "null"], "minimum": 1},
            "versions": array(ref("RecordVersion")),
        }, description="One of my records with every version."),
        "RecordList": obj({"records": array(ref("Record"))}),
        "AccessLeaf": obj({
            "format": {"const": "gridledger-access/1"}, "seq": SEQ, "residentSeq": INT,
            "action": {"type": "string", "enum": ["read", "review"]},
            "outcome": {"type": "string", "enum": ["allowed", "refused"]},
            "reason": {"type": ["string", "null"], "enum": [*REFUSAL_REASONS, None]},
            "recordId": nullable(ref("Id")), "category": nullable(ref("Category")),
            "resident": ref("Address"), "accessor": ref("Address"), "organisation": nullable(ref("Id")),
            "basis": {"type": ["string", "null"], "enum": [*BASES, None]},
            "grantId": nullable(ref("Id")),
            "purpose": {"type": ["integer", "null"], "enum": [*purposes, None]},
            "justificationHash": nullable(ref("Hash")),
            "disclosureDate": nullable(ref("Date")),
            "block": NULL_INT, "time": MS,
            "nonce": {"type": "string", "pattern": "^0x[0-9a-f]{32}$"},
            "reviewOf": NULL_INT,
            "decision": {"type": ["string", "null"], "enum": ["approve", "flag", None]},
        }, description="A leaf of the access log, exactly as hashed (docs/formats.md, 'Access events')."),
        "HistoryEntry": obj({
            "seq": SEQ, "residentSeq": INT,
            "withheld": {"type": "boolean", "description": "Under legal hold until disclosureDate: leaf is null."},
            "disclosureDate": nullable(ref("Date")),
            "leafHash": ref("Hash"),
            "leaf": nullable(ref("AccessLeaf")),
            "proof": {**nullable(array(ref("Hash"))),
                      "description": "Inclusion proof to the response's checkpoint; null until anchored."},
            "anchored": {"type": "boolean"},
        }),
        "HistoryFinding": obj({
            "kind": {"type": "string", "enum": list(HISTORY_KINDS)}, "seq": NULL_INT, "detail": TEXT,
        }),
        "History": obj({
            "resident": ref("Address"),
            "checkpoint": nullable(ref("Checkpoint")),
            "entries": array(ref("HistoryEntry")),
            "findings": array(ref("HistoryFinding")),
            "organisations": {
                "type": "object", "description": "Code and name of each organisation in the entries, by id.",
                "propertyNames": ref("Id"),
                "additionalProperties": obj({"code": TEXT, "name": TEXT}),
            },
            "nextBefore": {**NULL_INT, "description": "Pass as `before` for the next (older) page; null: no more."},
        }, description="A page of who used my data, newest first, each with its inclusion proof."),
        "ProofEntry": obj({"seq": SEQ, "leaf": ref("AccessLeaf"), "proof": nullable(array(ref("Hash")))}),
        "WithheldProofEntry": obj({
            "seq": SEQ, "residentSeq": INT, "leafHash": ref("Hash"), "disclosureDate": ref("Date"),
            "proof": nullable(array(ref("Hash"))),
        }, description="An entry under legal hold: its hash, not its leaf, until its disclosure date."),
        "ProofDocument": obj({
            "format": {"const": "gridledger-proof/1"},
            "chainId": {"type": "integer"},
            "contract": ref("Address"),
            "checkpoint": ref("Checkpoint"),
            "entry": {"oneOf": [ref("ProofEntry"), ref("WithheldProofEntry")]},
        }, description="One entry with its inclusion proof; `gridledger verify proof` checks it against the chain."),
        "AuditScope": obj({
            "from": nullable(ref("Date")), "to": nullable(ref("Date")),
            "department": nullable(ref("Id")), "resident": nullable(ref("Address")),
        }),
        "Finding": obj({
            "kind": {"type": "string", "enum": list(AUDIT_KINDS)},
            "severity": {"type": "string", "enum": ["high", "medium", "info"]},
            "detail": TEXT, "seq": NULL_INT, "time": {**NULL_INT, "description": "Milliseconds since the epoch."},
            "organisation": nullable(ref("Id")), "organisationCode": NULL_TEXT,
            "resident": nullable(ref("Address")), "recordId": nullable(ref("Id")), "grantId": nullable(ref("Id")),
        }, description="An audit finding (docs/formats.md, 'Audit findings')."),
        "Findings": obj({
            "scope": ref("AuditScope"),
            "events": {**INT, "description": "Events in the log (all of it, read in one pass)."},
            "counts": {"type": "object", "propertyNames": {"enum": list(AUDIT_KINDS)},
                       "additionalProperties": INT, "description": "Findings per kind."},
            "findings": array(ref("Finding")),
            "perDay": array(obj({
                "organisation": ref("Id"), "organisationCode": NULL_TEXT, "day": ref("Date"), "reads": INT,
            }), description="Allowed reads per organisation of my office and day."),
        }),
        "Emergency": obj({
            "seq": SEQ, "time": MS, "resident": ref("Address"), "accessor": ref("Address"),
            "organisation": nullable(ref("Id")), "organisationCode": NULL_TEXT,
            "recordId": nullable(ref("Id")), "category": nullable(ref("Category")),
            "purpose": NULL_INT, "justification": NULL_TEXT,
        }, description="An emergency read no admin has reviewed yet."),
        "EmergencyList": obj({"emergencies": array(ref("Emergency"))}),
        "Bundle": {
            "type": "object",
            "description": "Entries in scope with inclusion proofs to one checkpoint, signed (EIP-191) by the "
                           "installation's anchorer; `gridledger verify bundle FILE --rpc-url URL` checks it "
                           "(docs/formats.md, 'Bundle').",
            "required": ["format", "chainId", "contract", "scope", "checkpoint", "entries", "withheld", "signer",
                         "signature"],
            "properties": {
                "format": {"const": "gridledger-bundle/1"},
                "chainId": {"type": "integer"},
                "contract": ref("Address"),
                "scope": ref("AuditScope"),
                "checkpoint": ref("Checkpoint"),
                "entries": array(ref("ProofEntry")),
                "withheld": array(ref("WithheldProofEntry")),
                "signer": ref("Address"),
                "signature": {"type": "string", "pattern": "^0x[0-9a-f]{130}$"},
            },
        },
    }  # fmt: skip


# -- parameters and responses --------------------------------------------------------------------


def _parameters() -> dict[str, Any]:
    r = _routes()

    def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}

    def path(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}

    return {
        "limit": query("limit", {"type": "integer", "minimum": 1, "maximum": r.MAX_LIMIT, "default": r.DEFAULT_LIMIT},
                       "How many to return, newest first."),
        "before": query("before", {"type": "integer", "minimum": 0, "maximum": r.MAX_SEQ},
                        "Paging cursor: the `nextBefore` of the previous page; entries older than it."),
        "category": query("category", ref("Category"), "Only records of this category."),
        "outcome": query("outcome", {"type": "string", "enum": list(r.OUTCOMES)}, "Only this outcome."),
        "grantStatus": query("status", {"type": "string", "enum": list(r.GRANT_STATUSES), "default": "active"},
                             "`active` (default) or `all` (withdrawn, revoked, expired too)."),
        "residentDepartment": query(
            "department", {"type": "string", "pattern": "^([a-z0-9][a-z0-9-]{1,62}|0x[0-9a-fA-F]{64})$"},
            "Only accesses by this organisation, by code (`dept-health`) or id."),
        "from": query("from", ref("Date"), "First day (inclusive)."),
        "to": query("to", ref("Date"), "Last day (inclusive)."),
        "auditDepartment": query("department", {"type": "string", "pattern": CODE_PATTERN},
                                 "An organisation of my office, by code; another office's answers 404."),
        "auditResident": query("resident", ref("Address"),
                               "A resident of my office's committees, by address (all lowercase or checksummed); anyone else "
                               "answers 404."),
        "recordId": path("recordId", ref("Id"), "The record's id."),
        "grantId": path("grantId", ref("Id"), "The grant's id."),
        "seq": path("seq", {"type": "integer", "minimum": 0}, "The access event's sequence number."),
    }  # fmt: skip


def _error(description: str, **headers: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "description": description, "content": {"application/json": {"schema": ref("Error")}},
    }  # fmt: skip
    if headers:
        found["headers"] = headers
    return found


def _responses() -> dict[str, Any]:
    return {
        "BadRequest": _error("Bad input: `field` names the parameter or body field at fault."),
        "Unauthorized": _error(
            "No token, a malformed, unknown or revoked token.",
            **{"WWW-Authenticate": {"description": 'Bearer realm="gridledger" (with error="invalid_token" for a bad one)',
                                    "schema": {"type": "string"}}},
        ),
        "Forbidden": _error("The token's role may not use this endpoint, or the token's account no longer holds "
                            "the membership it was made for (`membership-changed`)."),
        "NotFound": _error("Not found, or not yours: ids of other residents, departments and offices answer 404 "
                           "too, so they cannot be probed."),
        "Conflict": _error("The state does not allow it (e.g. the grant is not active), or the contract refused."),
        "ServerError": _error("Something failed on the server (logged there); nothing was returned."),
        "Unavailable": _error(
            "Not anchored yet (ask again after Retry-After seconds), or the chain cannot be reached.",
            **{"Retry-After": {"description": "Seconds to wait (when not anchored yet).", "schema": {"type": "integer"}}},
        ),
    }  # fmt: skip


def _r(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/{name}"}


def _ok(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


# -- operations ----------------------------------------------------------------------------------


def _operation(
    operation_id: str,
    tag: str,
    roles: tuple[str, ...] | None,
    description: str,
    responses: dict[str, Any],
    *,
    parameters: tuple[str, ...] = (),
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``roles``: None for no token; () for any valid token."""
    if roles is None:
        who = "No token needed."
    elif not roles:
        who = "For: any valid token (every role)."
    else:
        who = "For: " + " or ".join(ROLE_PLURALS.get(r, r) for r in roles) + "."
    op: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": SUMMARIES[operation_id],
        "description": f"{description}\n\n**{who}**",
    }
    if parameters:
        op["parameters"] = [{"$ref": f"#/components/parameters/{p}"} for p in parameters]
    if body is not None:
        op["requestBody"] = body
    all_responses = dict(responses)
    if roles is None:
        op["security"] = []
    else:
        op["x-roles"] = list(roles or ALL_ROLES)
        all_responses.setdefault("401", _r("Unauthorized"))
        all_responses.setdefault("403", _r("Forbidden"))
        all_responses.setdefault("500", _r("ServerError"))
    op["responses"] = dict(sorted(all_responses.items()))
    return op


def _paths() -> dict[str, Any]:
    dept, resident, admin = ("department-officer",), ("resident",), ("office-admin",)
    read_example = {"basis": "grant"}
    grant_example = {
        "department": "dept-health", "categories": ["health"], "purpose": "health-management",
        "validUntil": "2027-12-31", "purposeText": "家庭医生签约与慢病随访",
    }  # fmt: skip
    return {
        "/ping": {"get": _operation(
            "ping", "General", None, "Alive: answers without a token and without the database.",
            {"200": _ok("Ping")})},
        "/openapi.json": {"get": _operation(
            "openapi", "General", None, "This document (OpenAPI 3.1).",
            {"200": {"description": "The document", "content": {"application/json": {"schema": {"type": "object"}}}}})},
        "/docs": {"get": _operation(
            "explorer", "General", None,
            "A page to try the API in a browser with a token: it lists these operations, sends requests and "
            "shows the answers. Served by the app itself (no CDN).",
            {"200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}}})},
        "/me": {"get": _operation(
            "me", "General", (),
            "The account this token acts for, its organisation and role. Use it to check a token.",
            {"200": _ok("Me")})},
        "/status": {"get": _operation(
            "status", "General", (),
            "The access log's size, how much of it is anchored on chain, and the newest anchored checkpoint. "
            "While `state` is `closed` (anchoring has lagged past the limit) reads are refused.",
            {"200": _ok("Status")})},
        "/department/grants": {"get": _operation(
            "department_grants", "Department", dept,
            "Grants residents gave my department, oldest first; by default only the active ones.",
            {"200": _ok("GrantList"), "400": _r("BadRequest"), "404": _r("NotFound")},
            parameters=("grantStatus",))},
        "/department/records/{recordId}/read": {"post": _operation(
            "department_read", "Department", dept,
            "Reads a record's content. The service checks the basis (the grant on chain with `isActive`, or an "
            "emergency with a written justification), writes the access event to the log durably, and only then "
            "returns the content. A refusal is logged too and answers 403 with `reason` and `seq`. A `grantId` "
            "that is not a grant to my department answers 404 before anything is read or logged. Emergency "
            "reads are reviewed by the office.",
            {"200": _ok("Disclosure", "The content, and the log entry of this read"),
             "400": _r("BadRequest"),
             "403": _error("Refused and logged (`reason`, `seq`), or the token may not use this endpoint."),
             "404": _r("NotFound"), "503": _r("Unavailable")},
            parameters=("recordId",),
            body={"required": False, "content": {"application/json": {
                "schema": ref("ReadRequest"), "example": read_example}}})},
        "/department/accesses": {"get": _operation(
            "department_accesses", "Department", dept,
            "My department's access events, allowed and refused, newest first, a page at a time.",
            {"200": _ok("AccessEventPage"), "400": _r("BadRequest")},
            parameters=("limit", "before", "outcome", "category"))},
        "/resident/records": {"get": _operation(
            "resident_records", "Resident", resident,
            "My own records with every version and its content. (Reading my own data is my right of access, "
            "not a use by someone else: it is not logged.)",
            {"200": _ok("RecordList")})},
        "/resident/grants": {
            "get": _operation(
                "resident_grants", "Resident", resident, "Every grant I gave, in every status, oldest first.",
                {"200": _ok("GrantList")}),
            "post": _operation(
                "resident_grant_issue", "Resident", resident,
                "Gives a department a grant under my consent: categories, purpose, until a day. Sent to the chain "
                "and answered once mined and indexed. Only a department of my own office (the office of my "
                "committee) can be given one: another office's answers 400 with `field` `department`.",
                {"201": _ok("Grant", "The new grant"), "400": _r("BadRequest"), "409": _r("Conflict"),
                 "503": _r("Unavailable")},
                body={"required": True, "content": {"application/json": {
                    "schema": ref("GrantRequest"), "example": grant_example}}}),
        },
        "/resident/grants/{grantId}/withdraw": {"post": _operation(
            "resident_grant_withdraw", "Resident", resident,
            "Withdraws one of my active grants; reads under it are refused from then on. Another resident's "
            "grant answers 404; a grant no longer active, 409.",
            {"200": _ok("Grant", "The grant, now withdrawn"), "400": _r("BadRequest"), "404": _r("NotFound"),
             "409": _r("Conflict"), "503": _r("Unavailable")},
            parameters=("grantId",))},
        "/resident/accesses": {"get": _operation(
            "resident_accesses", "Resident", resident,
            "Who used my data, when and why: a page of my access history, newest first, each entry with its "
            "inclusion proof to the newest anchored checkpoint. Entries under legal hold show their hash and "
            "disclosure date only. `findings` reports gaps in my own numbering.",
            {"200": _ok("History"), "400": _r("BadRequest")},
            parameters=("limit", "before", "residentDepartment", "category"))},
        "/resident/accesses/{seq}/proof": {"get": _operation(
            "resident_access_proof", "Resident", resident,
            "The proof file of one of my access events, for `gridledger verify proof`. Another resident's event "
            "answers 404; one not anchored yet, 503 with Retry-After.",
            {"200": _ok("ProofDocument"), "400": _r("BadRequest"), "404": _r("NotFound"), "503": _r("Unavailable")},
            parameters=("seq",))},
        "/audit/findings": {"get": _operation(
            "audit_findings", "Audit", admin,
            "Accesses checked against grants (outside scope, after withdrawal or expiry, emergencies not "
            "reviewed, refusals, volume anomalies), limited to my office's organisations and residents.",
            {"200": _ok("Findings"), "400": _r("BadRequest"), "404": _r("NotFound")},
            parameters=("from", "to", "auditDepartment", "auditResident"))},
        "/audit/bundle": {"get": _operation(
            "audit_bundle", "Audit", admin,
            "A self-verifying bundle of one of my office's departments' or residents' entries (one of them is "
            "required), with proofs to the newest anchored checkpoint, signed by the installation's anchorer.",
            {"200": _ok("Bundle"), "400": _r("BadRequest"), "404": _r("NotFound"), "503": _r("Unavailable")},
            parameters=("from", "to", "auditDepartment", "auditResident"))},
        "/audit/emergency": {"get": _operation(
            "audit_emergency", "Audit", admin,
            "Emergency reads by my office's departments that no admin has reviewed yet, oldest first.",
            {"200": _ok("EmergencyList")})},
    }  # fmt: skip


@cache
def _document() -> dict[str, Any]:
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
                "before the data is returned. Errors are JSON `{\"error\", \"message\"}`. "
                "Guide: docs/api.md."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name, "description": description} for name, (_shown, description) in TAGS.items()],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "glt_ followed by 43 characters",
                    "description": "An API token; only its SHA-256 is stored. `gridledger token create`.",
                },  # fmt: skip
            },
            "schemas": _schemas(),
            "parameters": _parameters(),
            "responses": _responses(),
        },
    }


def document() -> dict[str, Any]:
    """The document (a copy: callers may change it freely)."""
    return copy.deepcopy(_document())


@cache
def document_json() -> bytes:
    """The document as JSON, serialised once."""
    import json

    return json.dumps(_document(), ensure_ascii=False, separators=(",", ":")).encode()
