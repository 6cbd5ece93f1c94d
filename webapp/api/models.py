"""The JSON API's typed models: every path, query and body it reads, every answer it gives,
and its error shape. They are the one source: the routes read requests into them and shape
answers with them (:mod:`.routes`), and the OpenAPI document is generated from them and the
route table (:mod:`.spec`).

On the wire names are camelCase (snake_case here); ids and hashes are 0x hex; times of
access events are milliseconds since the epoch (as in the log's leaves), grant validity
seconds (as on chain). Answers are strict (every key required, no others), so the tests can
hold every answer to the document. Requests ignore keys they do not know, as they always did.

Vocabularies come from the library (``ledger/``): each one here is built from the enum, tuple
or named constants that define it there, never copied.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from flask import Response, current_app
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError, core_schema
from web3 import Web3
from werkzeug.exceptions import default_exceptions
from werkzeug.http import HTTP_STATUS_CODES

from ledger import history
from ledger import receipts as _receipts
from ledger.access import BASES, MAX_BULK, MAX_DEFERRAL_DAYS, MAX_JUSTIFICATION, BulkStatus, LogState, ReadBasis
from ledger.accesslog import FORMAT as LEAF_FORMAT
from ledger.accesslog import Action as LeafAction
from ledger.accesslog import Outcome as LeafOutcome
from ledger.audit import Decision, FindingKind, Severity
from ledger.audit import Finding as AuditFinding
from ledger.categories import Category, parse_category
from ledger.consent import TERMS_FORMAT, GrantView, LegalBasis, Purpose, parse_enum
from ledger.errors import InputError, Invalid, Refusal
from ledger.formats import parse_id
from ledger.grants import GrantStatus
from ledger.history import BUNDLE_FORMAT, PROOF_FORMAT, HistoryFindingKind
from ledger.membership import CODE_PATTERN, OrgKind, Role, name_of
from ledger.records import Check, RecordView
from ledger.requests import MAX_REASON, REQUEST_PURPOSES, ConsentStatus, RequestView
from ledger.rights import RefusalBasis, RequestKind, RequestOutcome, RequestStatus
from ledger.webhooks import MAX_URL, AttemptError, DeliveryState, DeliveryView, EventKind, SubscriptionView

from .. import content as content_
from .. import errors

# -- limits ---------------------------------------------------------------------------------------

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_PURPOSE_TEXT = 500
MAX_NOTICE = 2_000
#: The largest sequence number the log uses (a safe integer in its leaves); larger numbers
#: in a URL or a cursor are refused before they reach the database.
MAX_SEQ = 2**53 - 1


# -- vocabularies, from the library ---------------------------------------------------------------


@dataclass(frozen=True)
class OneOf:
    """Field metadata: the value is one of a vocabulary's codes (validated, and an ``enum``
    in the document)."""

    choices: tuple[str, ...]

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], Any]) -> Any:
        return core_schema.literal_schema(list(self.choices))


def _codes(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


#: Every role a token can carry (a token is made for any active member).
ROLES = _codes(name_of(r) for r in Role if r != Role.NONE)
ORG_KINDS = _codes(name_of(k) for k in OrgKind if k != OrgKind.NONE)
CATEGORIES = _codes(c.slug for c in Category)
#: Why a read was refused (ledger.errors.Refusal).
REFUSAL_REASONS = _codes(Refusal)
#: What an audit finds about accesses (ledger.audit; the integrity check's codes are
#: ledger.verify.Problem, reported apart).
AUDIT_KINDS = _codes(FindingKind)
SEVERITIES = _codes(Severity)
HISTORY_KINDS = _codes(HistoryFindingKind)
#: A department reads under a grant or in an emergency; ``duty`` is the committee's and office's.
READ_BASES = _codes(b for b in ReadBasis if b != ReadBasis.DUTY)
#: A grant's status (ledger.grants): the chain's, with time, and pending until it is on chain.
GRANT_STATES = _codes(GrantStatus)
#: Purposes a resident may grant for (the others are statutory duties and emergencies, not consent).
GRANT_PURPOSES = tuple(
    p for p in Purpose if p not in (Purpose.EMERGENCY_RESPONSE, Purpose.RECORD_REVIEW, Purpose.AUDIT)
)
ACTIONS = _codes(LeafAction)
OUTCOMES = _codes(LeafOutcome)
LOG_STATES = _codes(LogState)
CHECKS = _codes(Check)
DECISIONS = _codes([*Decision, *RequestOutcome])  # an emergency review's, or a rights request's (ledger.rights)
INVALID_CODES = _codes(Invalid)
#: ``status`` of ``GET /department/grants``: the active ones, or every one.
GRANT_LISTINGS = ("active", "all")


def http_code(name: str) -> str:
    """An HTTP error's code: its name, as webapp.errors spells it (``Method Not Allowed`` ->
    ``method-not-allowed``)."""
    return name.lower().replace(" ", "-")


class ErrorCode(StrEnum):
    """The ``error`` codes the API sends itself; with the ledger errors' codes
    (:data:`webapp.errors.STATUS`) and the names of the HTTP errors Flask raises they make
    :data:`ERROR_CODES`."""

    INVALID_INPUT = "invalid-input"
    UNAUTHORIZED = "unauthorized"
    INVALID_TOKEN = "invalid-token"
    FORBIDDEN = "forbidden"
    MEMBERSHIP_CHANGED = "membership-changed"
    CONFLICT = "conflict"
    NOT_ANCHORED_YET = "not-anchored-yet"
    INTERNAL_ERROR = "internal-error"


ERROR_CODES = _codes([
    *ErrorCode, *(code for _kind, _status, code in errors.STATUS),
    *(http_code(HTTP_STATUS_CODES[status]) for status in default_exceptions),
])  # fmt: skip

RoleName = Annotated[str, OneOf(ROLES)]
CategorySlug = Annotated[str, OneOf(CATEGORIES), Field(description="A record category (docs/formats.md).")]
RefusalReason = Annotated[str, OneOf(REFUSAL_REASONS)]
Basis = Annotated[str, OneOf(BASES)]
Action = Annotated[str, OneOf(ACTIONS)]
Outcome = Annotated[str, OneOf(OUTCOMES)]

# -- values -------------------------------------------------------------------------------------------

ADDRESS = r"^0x[0-9a-fA-F]{40}$"
ID = r"^0x[0-9a-f]{64}$"
HASH = r"^0x[0-9a-fA-F]{64}$"
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
ORG_CODE = CODE_PATTERN.pattern

Address = Annotated[str, Field(pattern=ADDRESS, description="An account (checksummed).",
                               examples=["0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"])]  # fmt: skip
Id = Annotated[str, Field(pattern=ID, description="A 32-byte id (record, grant, organisation), lowercase 0x hex.")]
Hash = Annotated[str, Field(pattern=HASH, description="A 32-byte hash, 0x hex.")]
Day = Annotated[str, Field(pattern=DATE, description="A day, YYYY-MM-DD (China Standard Time).",
                           json_schema_extra={"format": "date"})]  # fmt: skip
Count = Annotated[int, Field(ge=0)]
Seq = Annotated[int, Field(ge=0, le=MAX_SEQ, description="The log's sequence number (= leaf index).")]
Ms = Annotated[int, Field(ge=0, description="Milliseconds since the Unix epoch, UTC.")]
Seconds = Annotated[int, Field(ge=0, description="Seconds since the Unix epoch (as on chain).")]
Version = Annotated[int, Field(ge=1)]


class _Answer(BaseModel):
    """An answer: camelCase, strict, every key always present."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True,
        extra="forbid", json_schema_serialization_defaults_required=True,
    )  # fmt: skip


# -- errors -------------------------------------------------------------------------------------------


class Error(BaseModel):
    """Every error. `field` names the request field at fault and `code` why (400); `reason` and
    `seq` say why a read was refused and where the refusal is logged (403); `params` what the
    code or reason is about (docs/formats.md, 'Codes')."""

    model_config = ConfigDict(extra="forbid")

    error: Annotated[str, OneOf(ERROR_CODES)]
    message: str = Field(description="For people; English.")
    field: str | SkipJsonSchema[None] = Field(None, examples=["justification", "limit", "grantId"])
    code: Annotated[str, OneOf(INVALID_CODES)] | SkipJsonSchema[None] = None
    reason: RefusalReason | SkipJsonSchema[None] = None
    params: dict[str, Any] | SkipJsonSchema[None] = None
    seq: Seq | SkipJsonSchema[None] = None


def error_answer(status: int, code: str, message: str, /, **extra: Any) -> tuple[Response, int]:
    """An error in the API's shape (:class:`Error`), with its status."""
    body = Error(error=code, message=message, **extra).model_dump_json(exclude_none=True)
    return current_app.response_class(body, mimetype="application/json"), status


# -- reading requests ---------------------------------------------------------------------------------


def _refuse(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid", "{message}", {"message": message})


def _bare(exc: InputError) -> str:
    """The library's message without the field it puts in front (the API names the field itself)."""
    return str(exc).removeprefix(f"{exc.field}: ") if exc.field else str(exc)


def _library(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A library parser as a validator: its :class:`InputError` becomes the field's error."""

    def run(value: Any) -> Any:
        try:
            return check(value)
        except InputError as exc:
            raise _refuse(_bare(exc)) from None

    return run


def _text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _day(value: Any) -> date:
    if isinstance(value, str) and re.fullmatch(DATE[1:-1], value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _refuse(f"expected a date as YYYY-MM-DD; got {value!r}")


def _org_code(value: str) -> str:
    if not CODE_PATTERN.match(value):
        raise _refuse(f"an organisation code is 2-63 characters of a-z, 0-9 and '-'; got {value!r}")
    return value


def _org_ref(value: str) -> str:
    """An organisation by its code or its 0x id (an ``0x`` code is an id, never a code)."""
    if value.startswith("0x"):
        return str(_library(lambda v: parse_id(v, field="department", what="organisation id"))(value))
    return _org_code(value)


def _address(value: str) -> str:
    if not Web3.is_address(value):
        raise _refuse(f"a resident is named by their 0x address; got {value!r}")
    return str(Web3.to_checksum_address(value))


def _category(value: Any) -> Any:
    """Any spelling the library accepts (``health``, ``HEALTH``, ``social-security``), as its slug."""
    if isinstance(value, str):
        try:
            return parse_category(value).slug
        except InputError:
            return value  # refused with the choices by the vocabulary
    return value


def _purpose(value: Any, allowed: Iterable[Purpose], who: str) -> Purpose:
    """A purpose given by its code (2) or name (health-management), one of ``allowed``."""
    if isinstance(value, bool) or value is None:
        raise _refuse("give the purpose as its code (e.g. 2) or name (e.g. health-management)")
    if isinstance(value, int):
        try:
            purpose = Purpose(value)
        except ValueError:
            raise _refuse(f"unknown purpose code {value}") from None
    elif isinstance(value, str):
        purpose = _library(lambda v: parse_enum(Purpose, v, "purpose"))(value)
    else:
        raise _refuse("expected a purpose code or name")
    allowed = tuple(allowed)
    if purpose not in allowed:
        raise _refuse(f"{who} for one of: {', '.join(name_of(p) for p in allowed)}")
    return purpose


def _grant_purpose(value: Any) -> Purpose:
    return _purpose(value, GRANT_PURPOSES, "a resident grants")


DayIn = Annotated[date, PlainValidator(_day), WithJsonSchema({"type": "string", "format": "date", "pattern": DATE})]
OrgCodeIn = Annotated[str, BeforeValidator(_text), AfterValidator(_org_code),
                      WithJsonSchema({"type": "string", "pattern": ORG_CODE})]  # fmt: skip
CategoryIn = Annotated[str, OneOf(CATEGORIES), BeforeValidator(_category)]
GrantPurposeIn = Annotated[Purpose, PlainValidator(_grant_purpose), WithJsonSchema({"oneOf": [
    {"type": "integer", "enum": [int(p) for p in GRANT_PURPOSES]},
    {"type": "string", "enum": [name_of(p) for p in GRANT_PURPOSES]},
]})]  # fmt: skip


def _parse_id(what: str, field: str) -> Callable[[Any], Any]:
    return _library(lambda value: parse_id(value, field=field, what=what))


RecordIdIn = Annotated[str, AfterValidator(_parse_id("record id", "recordId")),
                       WithJsonSchema({"type": "string", "pattern": ID, "description": "The record's id."})]  # fmt: skip
GrantIdIn = Annotated[str, AfterValidator(_parse_id("grant id", "grantId")),
                      WithJsonSchema({"type": "string", "pattern": ID, "description": "The grant's id."})]  # fmt: skip


class _Request(BaseModel):
    """A request's path, query or body, by the names on the wire; unknown keys are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_alias=True, validate_by_name=False, extra="ignore")


class RecordPath(_Request):
    record_id: RecordIdIn


class GrantPath(_Request):
    grant_id: GrantIdIn


class SeqPath(_Request):
    seq: int = Field(ge=0, description="The access event's sequence number.")


Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="How many to return, newest first.")]
Before = Annotated[int, Field(ge=0, le=MAX_SEQ)]
BEFORE = "Paging cursor: the `nextBefore` of the previous page; entries older than it."
CategoryFilter = Annotated[CategoryIn | SkipJsonSchema[None], Field(description="Only records of this category.")]


class GrantsQuery(_Request):
    status: Annotated[str, OneOf(GRANT_LISTINGS)] = Field(
        "active", description="`active` (default) or `all` (withdrawn, revoked, expired too)."
    )


class DepartmentAccessesQuery(_Request):
    limit: Limit = DEFAULT_LIMIT
    before: Before | SkipJsonSchema[None] = Field(None, description=BEFORE)
    outcome: Outcome | SkipJsonSchema[None] = Field(None, description="Only this outcome.")
    category: CategoryFilter = None


class ResidentAccessesQuery(_Request):
    limit: Limit = DEFAULT_LIMIT
    before: Before | SkipJsonSchema[None] = Field(None, description=BEFORE)
    department: Annotated[str | SkipJsonSchema[None], AfterValidator(lambda v: v if v is None else _org_ref(v)),
                          WithJsonSchema({"type": "string", "pattern": f"^({ORG_CODE[1:-1]}|0x[0-9a-fA-F]{{64}})$"})] = (
        Field(None, description="Only accesses by this organisation, by code (`dept-health`) or id.")
    )  # fmt: skip
    category: CategoryFilter = None


class AuditQuery(_Request):
    start: DayIn | SkipJsonSchema[None] = Field(None, alias="from", description="First day (inclusive).")
    end: DayIn | SkipJsonSchema[None] = Field(None, alias="to", description="Last day (inclusive).")
    department: OrgCodeIn | SkipJsonSchema[None] = Field(
        None, description="An organisation of my office, by code; another office's answers 404."
    )
    resident: Annotated[str | SkipJsonSchema[None], AfterValidator(lambda v: v if v is None else _address(v)),
                        WithJsonSchema({"type": "string", "pattern": ADDRESS,
                                        "examples": ["0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"]})] = Field(
        None, description="A resident of my office's committees, by address (all lowercase or checksummed); "
                          "anyone else answers 404.",
    )  # fmt: skip


class ReadRequest(_Request):
    """All optional: without a body the read is under an active grant of the resident's to my
    department. With a justification and no basis, an emergency read."""

    basis: Annotated[str, OneOf(READ_BASES)] | SkipJsonSchema[None] = None
    grant_id: GrantIdIn | SkipJsonSchema[None] = Field(
        None, description="Read under this grant (one given to my department)."
    )
    justification: str | SkipJsonSchema[None] = Field(
        None, max_length=MAX_JUSTIFICATION,
        description="Required for an emergency read; kept off chain, its hash logged.",
    )  # fmt: skip
    disclose_on: DayIn | SkipJsonSchema[None] = Field(
        None, description="Public security only: the resident is told of this read from this day "
                          f"(at most {MAX_DEFERRAL_DAYS} days ahead).",
    )  # fmt: skip


class BulkReadRequest(_Request):
    """Up to MAX_BULK records read at once, each under its own basis and logged."""

    record_ids: list[str] = Field(
        description=f"The records to read: 1 to {MAX_BULK} record ids, none twice.",
        json_schema_extra={"minItems": 1, "maxItems": MAX_BULK, "uniqueItems": True, "items": {"pattern": ID}},
    )
    basis: Annotated[str, OneOf(READ_BASES)] | SkipJsonSchema[None] = Field(
        None, description="Without one: each record under an active grant of its resident's to my department "
                          "(with a justification: an emergency).",
    )  # fmt: skip
    justification: str | SkipJsonSchema[None] = Field(
        None, max_length=MAX_JUSTIFICATION,
        description="Required for emergency reads; kept off chain, its hash logged with each read.",
    )  # fmt: skip


class GrantRequest(_Request):
    department: OrgCodeIn = Field(description="The department's code.")
    categories: list[CategoryIn] = Field(min_length=1, json_schema_extra={"uniqueItems": True})
    purpose: GrantPurposeIn = Field(
        description="The purpose, by code or name (statutory and emergency purposes are not granted by consent)."
    )
    valid_until: DayIn = Field(description="Last day the grant is valid (to the end of it).")
    purpose_text: str | SkipJsonSchema[None] = Field(None, max_length=MAX_PURPOSE_TEXT)
    notice: str | SkipJsonSchema[None] = Field(None, max_length=MAX_NOTICE)


# -- answers ------------------------------------------------------------------------------------------


class CodeName(_Answer):
    """A code and its name."""

    code: int
    name: str

    @classmethod
    def of(cls, kind: type[enum.IntEnum], code: int) -> CodeName:
        try:
            name = name_of(kind(code))
        except ValueError:
            name = str(code)
        return cls(code=code, name=name)


class Checkpoint(_Answer):
    """An anchored checkpoint of the access log: the first `size` leaves have root `root`, appended
    to AccessLogAnchor by transaction `txHash` in block `block` (both null until the installation's
    record of that transaction is confirmed by its receipt)."""

    index: Count | None
    size: Count
    root: Hash
    tx_hash: Hash | None
    block: Count | None


class Names(_Answer):
    """An organisation's name in each language the pages speak."""

    zh_cn: str = Field(alias="zh-CN", examples=["甲卫生健康办"])
    en: str = Field(examples=["Health A"])


ORG_NAME = "The English name (as the API has always given it); `names` has it in each language."


class ContentField(_Answer):
    """One field of a record's content as the pages show it (webapp/content.py): labelled by
    its schema title, an enum value by its title (never its code), in the language asked for."""

    path: str = Field(description="The field in `content`, as the library names it: `blood_type`, `members[0].name`.",
                      examples=["blood_type"])  # fmt: skip
    label: str = Field(examples=["血型"])
    value: str = Field(examples=["O型"])


#: The languages of ``fields``, the default first.
LANGUAGES = (content_.CHINESE, content_.ENGLISH)
FIELDS = ("`content` as labelled rows in schema order, in the language asked for with `Accept-Language` "
          "(`zh-CN`, the default, or `en`); the same words as the pages.")  # fmt: skip


def content_fields(category: Category, content: Any, locale: str) -> list[ContentField]:
    """A version's content as the API's labelled rows, in ``locale`` (``zh-CN`` or ``en``)."""
    return [ContentField(path=r.path, label=r.label, value=r.value) for r in content_.fields(category, content, locale)]


class Ping(_Answer):
    status: Literal["ok"]


class MeOrganisation(_Answer):
    id: Id
    code: str | None
    name: str | None = Field(description=ORG_NAME)
    names: Names | None
    kind: Annotated[str, OneOf(ORG_KINDS)] | None


class MeToken(_Answer):
    id: int
    name: str


class Me(_Answer):
    """The account the token acts for, in the organisation and role it was made for."""

    address: Address
    role: RoleName
    organisation: MeOrganisation
    token: MeToken


class LogHealth(_Answer):
    size: Count
    anchored_size: Count
    lag_seconds: float = Field(ge=0, description="Age of the oldest event no checkpoint covers yet.")
    limit_seconds: float = Field(description="Past this lag, reads are refused.")
    state: Annotated[str, OneOf(LOG_STATES)]


class Status(_Answer):
    log: LogHealth
    checkpoint: Checkpoint | None


class TermsController(_Answer):
    department: Id
    code: str
    name: str


class TermsPurpose(_Answer):
    code: int
    name: str
    text: str


class TermsBasis(_Answer):
    code: int
    name: str


class ConsentTerms(_Answer):
    """The grant's full terms (format `gridledger-consent-terms/1`); their keccak256 over RFC 8785
    JSON is the grant's termsHash on chain."""

    format: Annotated[str, OneOf((TERMS_FORMAT,))]
    grant_id: Id
    controller: TermsController
    categories: list[CategorySlug]
    purpose: TermsPurpose
    legal_basis: TermsBasis
    valid_from: Seconds
    valid_until: Seconds
    notice: str
    jurisdiction: str
    collection_method: str
    # Only in the terms of a grant that answers a consent request (ledger.requests): left out,
    # never null, elsewhere, so that the terms shown hash to the termsHash on chain.
    request_id: Id | None = Field(
        None, exclude_if=lambda v: v is None, description="The consent request this grant answers, when it does."
    )

    model_config = ConfigDict(json_schema_serialization_defaults_required=False)


class GrantDepartment(_Answer):
    id: Id
    code: str | None


class Grant(_Answer):
    """A consent grant from a resident to a department."""

    grant_id: Id
    resident: Address
    department: GrantDepartment
    categories: list[CategorySlug] = Field(min_length=1)
    purpose: CodeName
    purpose_text: str
    legal_basis: CodeName
    valid_from: Seconds = Field(description="First second the grant is valid (inclusive).")
    valid_until: Seconds = Field(description="End of validity (exclusive).")
    status: Annotated[str, OneOf(GRANT_STATES)] = Field(
        description="pending: sent, not yet on chain; expired: derived from the chain's time."
    )
    relayer: Address | None
    issued_tx: Hash | None
    terms: ConsentTerms | None

    @classmethod
    def of(cls, view: GrantView) -> Grant:
        terms = view.terms or {}
        purpose = terms.get("purpose") if isinstance(terms.get("purpose"), dict) else {}
        return cls(
            grant_id=view.grant_id, resident=view.resident,
            department=GrantDepartment(id=view.department, code=view.department_code),
            categories=[c.slug for c in view.categories], purpose=CodeName.of(Purpose, view.purpose),
            purpose_text=(purpose or {}).get("text") or "", legal_basis=CodeName.of(LegalBasis, view.legal_basis),
            valid_from=view.valid_from, valid_until=view.valid_until, status=view.status, relayer=view.relayer,
            issued_tx=view.issued_tx, terms=ConsentTerms.model_validate(view.terms) if view.terms else None,
        )  # fmt: skip


class GrantList(_Answer):
    grants: list[Grant]


class DisclosureAccess(_Answer):
    """The log entry recording this read, written before the content was returned."""

    seq: Seq
    basis: Basis
    grant_id: Id | None


class Disclosure(_Answer):
    record_id: Id
    version: Version
    certified: bool = Field(description="false: the newest version is not certified yet.")
    category: CategorySlug
    content: dict[str, Any] = Field(
        description="The record's content, valid against its category's JSON Schema (ledger/schemas/<category>.json)."
    )
    fields: list[ContentField] = Field(description=FIELDS)
    access: DisclosureAccess


class BulkReadRefusal(_Answer):
    """Why one record of a bulk read was refused, and where the refusal is logged."""

    reason: RefusalReason
    seq: Seq
    message: str = Field(description="For people; English.")
    params: dict[str, Any] = Field(description="What the reason is about (docs/formats.md, 'Codes').")


class BulkReadResult(_Answer):
    """One record's result, in the order asked: `read` (with `record`), `refused` (with
    `refusal`, logged) or `not-found` (no such record, or erased: nothing read, nothing logged)."""

    record_id: Id
    status: Annotated[str, OneOf(_codes(BulkStatus))]
    record: Disclosure | None
    refusal: BulkReadRefusal | None


class BulkReadAnswer(_Answer):
    results: list[BulkReadResult]
    read: int = Field(ge=0, description="How many were read (and logged).")
    refused: int = Field(ge=0, description="How many were refused (and logged).")
    not_found: int = Field(ge=0, description="How many are not on chain or erased (nothing logged).")


class AccessEvent(_Answer):
    """One access event of my department, from its leaf."""

    seq: Seq
    time: Ms
    resident: Address
    accessor: Address
    record_id: Id | None
    category: CategorySlug | None
    action: Action
    outcome: Outcome
    reason: RefusalReason | None
    basis: Basis | None
    grant_id: Id | None
    purpose: Purpose | None
    disclosure_date: Day | None
    block: Count | None
    justification: str | None = Field(description="The written justification (its hash is on the leaf).")

    @classmethod
    def of(cls, leaf: dict[str, Any], justification: str | None) -> AccessEvent:
        """A department's own access event, from its leaf (the truth)."""
        fields = {k: leaf.get(k) for k in ("recordId", "category", "reason", "basis", "grantId", "purpose",
                                           "disclosureDate", "block")}  # fmt: skip
        return cls.model_validate({
            "seq": leaf["seq"], "time": leaf["time"], "resident": leaf["resident"], "accessor": leaf["accessor"],
            "action": leaf["action"], "outcome": leaf["outcome"], **fields, "justification": justification,
        })  # fmt: skip


class AccessEventPage(_Answer):
    events: list[AccessEvent]
    next_before: Count | None = Field(description="Pass as `before` for the next (older) page; null: no more.")


class RecordVersion(_Answer):
    version: Version
    content: dict[str, Any] | None = Field(
        description="null once erased, and whenever `check` is not `verified` (content is handed out only when it "
                    "gives the commitment on chain)."
    )  # fmt: skip
    fields: list[ContentField] | None = Field(description=f"{FIELDS} null when `content` is.")
    check: Annotated[str, OneOf(CHECKS)] = Field(
        description="The content and salt stored against the chain's commitment, checked on this request."
    )
    content_hash: Hash
    prev_hash: Hash
    created_at: datetime
    on_chain: bool
    certified: bool
    signers: list[Address]


class Record(_Answer):
    """One of my records with every version."""

    record_id: Id
    category: CategorySlug
    committee: Id
    erased: bool
    head_version: Version | None
    certified_version: Version | None
    versions: list[RecordVersion]

    @classmethod
    def of(cls, view: RecordView, locale: str) -> Record:
        certified = [v.version for v in view.versions if v.certified]
        return cls(
            record_id=view.record_id, category=view.category.slug, committee=view.committee_id, erased=view.erased,
            head_version=view.versions[-1].version if view.versions else None,
            certified_version=max(certified) if certified else None,
            versions=[
                RecordVersion(
                    version=v.version, content=v.content,
                    fields=content_fields(view.category, v.content, locale) if v.content is not None else None,
                    check=v.check, content_hash=v.content_hash,
                    prev_hash=v.prev_hash, created_at=_stored_time(v.created_at), on_chain=v.on_chain,
                    certified=v.certified, signers=v.signers,
                )
                for v in view.versions
            ],
        )  # fmt: skip


def _stored_time(text: str) -> datetime:
    """A time as the store wrote it (UTC; SQLite hands it back without its zone)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class RecordList(_Answer):
    records: list[Record]


class AccessLeaf(_Answer):
    """A leaf of the access log, exactly as hashed (docs/formats.md, 'Access events')."""

    format: Annotated[str, OneOf((LEAF_FORMAT,))]
    seq: Seq
    resident_seq: Count
    action: Action
    outcome: Outcome
    reason: RefusalReason | None
    record_id: Id | None
    category: CategorySlug | None
    resident: Address
    accessor: Address
    organisation: Id | None
    basis: Basis | None
    grant_id: Id | None
    purpose: Purpose | None
    justification_hash: Hash | None
    disclosure_date: Day | None
    block: Count | None
    time: Ms
    nonce: str = Field(pattern=r"^0x[0-9a-f]{32}$")
    review_of: Count | None
    decision: Annotated[str, OneOf(DECISIONS)] | None


Proof = Annotated[list[Hash] | None, Field(description="Inclusion proof to the checkpoint; null until anchored.")]


class HistoryEntry(_Answer):
    seq: Seq
    resident_seq: Count
    withheld: bool = Field(description="Under legal hold until disclosureDate: leaf is null.")
    disclosure_date: Day | None
    leaf_hash: Hash
    leaf: AccessLeaf | None
    proof: Proof
    anchored: bool

    @classmethod
    def of(cls, entry: history.Entry) -> HistoryEntry:
        return cls(
            seq=entry.seq, resident_seq=entry.resident_seq, withheld=entry.withheld,
            disclosure_date=entry.disclose_on, leaf_hash=entry.leaf_hash,
            leaf=AccessLeaf.model_validate(entry.leaf) if entry.leaf is not None else None,
            proof=entry.proof, anchored=entry.proof is not None,
        )  # fmt: skip


class HistoryFinding(_Answer):
    kind: Annotated[str, OneOf(HISTORY_KINDS)]
    seq: Count | None
    detail: str = Field(description="For people; English.")
    params: dict[str, Any] = Field(description="What the kind is about (docs/formats.md, 'Codes').")

    @classmethod
    def of(cls, finding: history.Finding) -> HistoryFinding:
        return cls(kind=finding.kind, seq=finding.seq, detail=finding.detail, params=finding.params)


class OrgName(_Answer):
    code: str
    name: str = Field(description=ORG_NAME)
    names: Names


class History(_Answer):
    """A page of who used my data, newest first, each with its inclusion proof."""

    resident: Address
    checkpoint: Checkpoint | None
    entries: list[HistoryEntry]
    findings: list[HistoryFinding]
    organisations: dict[Id, OrgName] = Field(description="Code and name of each organisation in the entries, by id.")
    next_before: Count | None = Field(description="Pass as `before` for the next (older) page; null: no more.")

    @classmethod
    def of(cls, found: history.History, organisations: dict[str, OrgName]) -> History:
        return cls(
            resident=found.resident,
            checkpoint=Checkpoint.model_validate(found.checkpoint) if found.checkpoint else None,
            entries=[HistoryEntry.of(e) for e in found.entries],
            findings=[HistoryFinding.of(f) for f in found.findings],
            organisations=organisations, next_before=found.next_before,
        )  # fmt: skip


class ProofEntry(_Answer):
    seq: Seq
    leaf: AccessLeaf
    proof: Proof


class WithheldProofEntry(_Answer):
    """An entry under legal hold: its hash, not its leaf, until its disclosure date."""

    seq: Seq
    resident_seq: Count
    leaf_hash: Hash
    disclosure_date: Day
    proof: Proof


class ProofDocument(_Answer):
    """One entry with its inclusion proof; `gridledger verify proof` checks it against the chain."""

    format: Annotated[str, OneOf((PROOF_FORMAT,))]
    chain_id: int
    contract: Address
    checkpoint: Checkpoint
    entry: ProofEntry | WithheldProofEntry


class AuditScope(_Answer):
    start: Day | None = Field(alias="from")
    end: Day | None = Field(alias="to")
    department: Id | None
    resident: Address | None


class Finding(_Answer):
    """An audit finding (docs/formats.md, 'Audit findings')."""

    kind: Annotated[str, OneOf(AUDIT_KINDS)]
    severity: Annotated[str, OneOf(SEVERITIES)]
    detail: str = Field(description="For people; English.")
    params: dict[str, Any] = Field(description="What the kind is about (docs/formats.md, 'Codes').")
    seq: Count | None
    time: Count | None = Field(description="Milliseconds since the epoch.")
    organisation: Id | None
    organisation_code: str | None
    resident: Address | None
    record_id: Id | None
    grant_id: Id | None

    @classmethod
    def of(cls, finding: AuditFinding, codes: dict[str, str]) -> Finding:
        return cls(
            kind=finding.kind, severity=finding.severity, detail=finding.detail, params=finding.params,
            seq=finding.seq, time=finding.time,
            organisation=finding.organisation, organisation_code=codes.get(finding.organisation or ""),
            resident=finding.resident, record_id=finding.record_id, grant_id=finding.grant_id,
        )  # fmt: skip


class DayReads(_Answer):
    organisation: Id
    organisation_code: str | None
    day: Day
    reads: Count


class Findings(_Answer):
    scope: AuditScope
    events: Count = Field(description="Events in the log (all of it, read in one pass).")
    counts: dict[Annotated[str, OneOf(AUDIT_KINDS)], Count] = Field(description="Findings per kind.")
    findings: list[Finding]
    per_day: list[DayReads] = Field(description="Allowed reads per organisation of my office and day.")


class Emergency(_Answer):
    """An emergency read no admin has reviewed yet."""

    seq: Seq
    time: Ms
    resident: Address
    accessor: Address
    organisation: Id | None
    organisation_code: str | None
    record_id: Id | None
    category: CategorySlug | None
    purpose: Purpose | None
    justification: str | None

    @classmethod
    def of(cls, seq: int, stored_leaf: Any, justification: str | None, codes: dict[str, str]) -> Emergency:
        leaf = json.loads(bytes(stored_leaf))
        return cls(
            seq=seq, time=leaf["time"], resident=leaf["resident"], accessor=leaf["accessor"],
            organisation=leaf["organisation"], organisation_code=codes.get(leaf["organisation"] or ""),
            record_id=leaf.get("recordId"), category=leaf.get("category"), purpose=leaf.get("purpose"),
            justification=justification,
        )  # fmt: skip


class EmergencyList(_Answer):
    emergencies: list[Emergency]


class Bundle(_Answer):
    """Entries in scope with inclusion proofs to one checkpoint, signed (EIP-191) by the
    installation's anchorer; `gridledger verify bundle FILE --rpc-url URL` checks it
    (docs/formats.md, 'Bundle')."""

    format: Annotated[str, OneOf((BUNDLE_FORMAT,))]
    chain_id: int
    contract: Address
    scope: AuditScope
    checkpoint: Checkpoint
    entries: list[ProofEntry]
    withheld: list[WithheldProofEntry]
    signer: Address
    signature: str = Field(pattern=r"^0x[0-9a-f]{130}$")


# -- consent receipts (ledger.receipts; docs/formats.md, 'Consent receipts') ----------------------

class ReceiptAsOf(_Answer):
    block: Count
    block_hash: Hash
    time: Seconds


class ReceiptNames(_Answer):
    zh: str
    en: str


class ReceiptOrg(_Answer):
    id: Id
    code: str = Field(description="The organisation's public code; empty when the store's code is not the id's.")
    name: ReceiptNames


class ReceiptController(_Answer):
    """The PII controller: the department, and the office governing it."""

    department: ReceiptOrg
    office: ReceiptOrg


class ReceiptPrincipal(_Answer):
    address: Address = Field(description="The resident's account: no name, no id number.")


class ReceiptPurpose(_Answer):
    code: Count
    name: str
    dpv: str = Field(description="The closest DPV purpose (https://w3id.org/dpv#).")
    text: str
    primary_purpose: bool


class ReceiptCategory(_Answer):
    code: Count
    name: CategorySlug
    dpv: str = Field(description="The closest DPV personal-data concept (https://w3id.org/dpv/pd#).")
    sensitive: bool = Field(description="Sensitive personal information under PIPL Art. 28.")
    sensitive_because: Annotated[str, OneOf(_codes(_receipts.Sensitivity))] | None


class ReceiptLegalBasis(_Answer):
    code: Count
    name: str
    dpv: str
    pipl: str = Field(description="The ground of PIPL Art. 13 para. 1.")


class ReceiptValidity(_Answer):
    start: Seconds = Field(alias="from", description="First second the grant is valid (inclusive).")
    until: Seconds = Field(description="End of validity (exclusive).")


class ResidentParty(_Answer):
    role: Annotated[str, OneOf((str(_receipts.Party.RESIDENT),))]
    account: Address
    relayer: Address | None = Field(description="The grid worker who sent the resident's signature, if any.")


class OfficeParty(_Answer):
    role: Annotated[str, OneOf((str(_receipts.Party.OFFICE),))]
    office: Id
    account: Address


class TimeParty(_Answer):
    role: Annotated[str, OneOf((str(_receipts.Party.TIME),))]


class ResidentEvent(_Answer):
    """Issued or withdrawn: by the resident, directly or through a relayer."""

    event: Annotated[str, OneOf((str(_receipts.ReceiptEvent.ISSUED), str(_receipts.ReceiptEvent.WITHDRAWN)))]
    time: Seconds
    party: ResidentParty
    tx_hash: Hash
    block: Count
    sent_by: Address


class RevokedEvent(_Answer):
    """Revoked by the office, with the hash of its reason (and the reason, when known)."""

    event: Annotated[str, OneOf((str(_receipts.ReceiptEvent.REVOKED),))]
    time: Seconds
    party: OfficeParty
    tx_hash: Hash
    block: Count
    sent_by: Address
    reason_hash: Hash
    reason: str | None


class ExpiredEvent(_Answer):
    """Ended by time, at validUntil: no transaction."""

    event: Annotated[str, OneOf((str(_receipts.ReceiptEvent.EXPIRED),))]
    time: Seconds
    party: TimeParty


class ReceiptEvidence(_Answer):
    chain_id: int
    genesis_hash: Hash
    consent_registry: Address
    access_log_anchor: Address
    grant_id: Id
    terms_hash: Hash


class ConsentReceipt(_Answer):
    """A grant as a consent record (ISO/IEC TS 27560, Kantara Consent Receipt v1.1), signed
    (EIP-191) by the installation's anchorer; `gridledger verify receipt FILE --rpc-url URL`
    checks it against the chain alone (docs/formats.md, 'Consent receipts')."""

    format: Annotated[str, OneOf((_receipts.FORMAT,))]
    version: str
    conforms_to: list[str]
    receipt_id: str = Field(description="UUID v5 of the chain, the grant and the block it speaks as of.")
    as_of: ReceiptAsOf
    language: Annotated[str, OneOf(_receipts.LANGUAGES)]
    jurisdiction: str
    legal_framework: str
    consent_timestamp: Seconds
    collection_method: Annotated[str, OneOf(_codes(_receipts.CollectionMethod))]
    pii_principal: ReceiptPrincipal
    pii_controller: ReceiptController
    purposes: list[ReceiptPurpose]
    data_categories: list[ReceiptCategory]
    sensitive: bool
    legal_basis: ReceiptLegalBasis
    validity: ReceiptValidity
    status: Annotated[str, OneOf(GRANT_STATES)]
    history: list[ResidentEvent | RevokedEvent | ExpiredEvent]
    evidence: ReceiptEvidence
    terms: ConsentTerms
    signer: Address
    signature: str = Field(pattern=r"^0x[0-9a-f]{130}$")
# -- residents' rights requests (ledger.rights) ----------------------------------------------------

REQUEST_KINDS = _codes(RequestKind)
REQUEST_STATUSES = _codes(RequestStatus)
REQUEST_OUTCOMES = _codes(RequestOutcome)
REFUSAL_BASES = _codes(RefusalBasis)
#: ``status`` of the request listings: waiting for a decision, decided, or every one.
REQUEST_LISTINGS = ("open", "decided", "all")
RequestIdIn = Annotated[str, AfterValidator(_parse_id("request id", "requestId")),
                        WithJsonSchema({"type": "string", "pattern": ID, "description": "The request's id."})]  # fmt: skip


class RightsRequestPath(_Request):
    request_id: RequestIdIn


class RightsRequestsQuery(_Request):
    status: Annotated[str, OneOf(REQUEST_LISTINGS)] = Field(
        "all", description="`open` (waiting for a decision), `decided`, or `all` (default)."
    )
    kind: Annotated[str, OneOf(REQUEST_KINDS)] | SkipJsonSchema[None] = Field(None, description="Only this kind.")
    overdue: bool | SkipJsonSchema[None] = Field(None, description="`true`: only requests past their due date.")


class RightsRequest(_Answer):
    """A resident's request (PIPL Art. 44, 46, 47) and its decision (docs/formats.md, 'Rights
    requests'). The field, value, comment and reason are personal data: never on chain."""

    request_id: Id
    kind: Annotated[str, OneOf(REQUEST_KINDS)]
    status: Annotated[str, OneOf(REQUEST_STATUSES)]
    resident: Address
    record_id: Id | None
    category: CategorySlug | None
    access_seq: Count | None = Field(description="An objection: the access event objected to.")
    field: str | None = Field(description="A correction: the field of the category's JSON Schema.")
    proposed: Any = Field(description="A correction: the value asked for, as the schema types it.")
    comment: str
    asked_by: Address = Field(description="The resident, or the grid worker or committee member with them.")
    asked_at: Ms
    due_at: Ms
    overdue: bool = Field(description="Not decided and past `dueAt`.")
    draft_version: Count | None = Field(description="A correction: the version drafted to answer it.")
    outcome: Annotated[str, OneOf(REQUEST_OUTCOMES)] | None
    basis: Annotated[str, OneOf(REFUSAL_BASES)] | None = Field(description="A refused deletion: its legal basis.")
    reason: str | None = Field(description="The decider's reason (its hash is signed and on the decision's leaf).")
    decider: Address | None
    decided_at: Ms | None
    decision_seq: Count | None = Field(description="The decision's entry in the access log.")

    @classmethod
    def of(cls, view: Any) -> RightsRequest:
        data = view.json()
        for key in ("committeeId", "officeId", "draftedBy"):
            data.pop(key, None)
        return cls.model_validate(data)


class RightsRequestList(_Answer):
    requests: list[RightsRequest]
# -- webhooks (ledger.webhooks) -----------------------------------------------------------------------

#: What a department system can subscribe to, how a delivery stands, why an attempt failed.
EVENT_KINDS = _codes(EventKind)
DELIVERY_STATES = _codes(DeliveryState)
ATTEMPT_ERRORS = _codes(AttemptError)
SUBSCRIPTION_ID = r"^whs_[0-9a-f]{32}$"
DELIVERY_ID = r"^msg_[0-9a-f]{32}$"
EventKindName = Annotated[str, OneOf(EVENT_KINDS)]


class SubscriptionPath(_Request):
    subscription_id: str = Field(pattern=SUBSCRIPTION_ID, description="The subscription's id.")


class WebhookSubscriptionRequest(_Request):
    url: str = Field(min_length=1, max_length=MAX_URL, description="The endpoint: https:// (or http://), no "
                     "user name or password in it. Each event is POSTed there, signed.")  # fmt: skip
    kinds: list[EventKindName] = Field(min_length=1, json_schema_extra={"uniqueItems": True},
                                       description="The events to send (docs/formats.md, 'Webhooks').")  # fmt: skip


class WebhookDeliveriesQuery(_Request):
    state: Annotated[str, OneOf(DELIVERY_STATES)] | SkipJsonSchema[None] = Field(None, description="Only this state.")
    limit: Limit = DEFAULT_LIMIT


class WebhookSubscription(_Answer):
    """A department system's endpoint for signed webhooks."""

    subscription_id: str = Field(pattern=SUBSCRIPTION_ID)
    department: GrantDepartment
    url: str
    kinds: list[EventKindName]
    active: bool = Field(description="false: removed; nothing more is sent to it.")
    created_by: Address
    created_at: Ms
    removed_at: Ms | None
    sealed: bool = Field(description="false: the subscription was changed in the database behind the installation's "
                         "back; nothing is sent to it.")  # fmt: skip

    @classmethod
    def fields_of(cls, view: SubscriptionView) -> dict[str, Any]:
        return {
            "subscription_id": view.id, "department": GrantDepartment(id=view.department, code=view.department_code),
            "url": view.url, "kinds": [str(k) for k in view.kinds], "active": view.active,
            "created_by": view.created_by, "created_at": view.created_at, "removed_at": view.removed_at,
            "sealed": view.sealed,
        }  # fmt: skip

    @classmethod
    def of(cls, view: SubscriptionView) -> WebhookSubscription:
        return cls(**cls.fields_of(view))


class WebhookSubscriptionCreated(WebhookSubscription):
    secret: str = Field(pattern=r"^whsec_[A-Za-z0-9+/=]+$", description="The signing secret: shown this once, never "
                        "stored (docs/api.md, 'Webhooks'). Keep it in the receiving system.")  # fmt: skip


class WebhookSubscriptionList(_Answer):
    subscriptions: list[WebhookSubscription]


class WebhookAttempt(_Answer):
    number: int = Field(ge=1)
    at: Ms
    status: int | None = Field(description="The HTTP status answered; null when no answer came.")
    error: Annotated[str, OneOf(ATTEMPT_ERRORS)] | None = Field(description="Why it failed; null when delivered.")


class WebhookDelivery(_Answer):
    """One event for one subscription; its id is the `webhook-id` header of every attempt."""

    delivery_id: str = Field(pattern=DELIVERY_ID)
    subscription_id: str = Field(pattern=SUBSCRIPTION_ID)
    kind: EventKindName
    state: Annotated[str, OneOf(DELIVERY_STATES)]
    attempts: Count = Field(description="Attempts since it was queued (or last sent again).")
    next_attempt_at: Ms = Field(description="When a pending delivery is tried next (0: at once).")
    created_at: Ms
    last_attempt_at: Ms | None
    last_status: int | None
    last_error: Annotated[str, OneOf(ATTEMPT_ERRORS)] | None
    delivered_at: Ms | None
    dead_at: Ms | None
    replays: Count = Field(description="Times the office sent it again after it failed.")
    data: dict[str, Any] = Field(description="The event's `data`, as sent (ids and codes only).")
    tried: list[WebhookAttempt]

    @classmethod
    def of(cls, view: DeliveryView) -> WebhookDelivery:
        return cls(
            delivery_id=view.id, subscription_id=view.subscription_id, kind=str(view.kind), state=str(view.state),
            attempts=view.attempts, next_attempt_at=view.next_attempt_at, created_at=view.created_at,
            last_attempt_at=view.last_attempt_at, last_status=view.last_status,
            last_error=str(view.last_error) if view.last_error else None, delivered_at=view.delivered_at,
            dead_at=view.dead_at, replays=view.replays, data=view.data,
            tried=[WebhookAttempt(number=a.number, at=a.at, status=a.status, error=str(a.error) if a.error else None)
                   for a in view.tried],
        )  # fmt: skip


class WebhookDeliveryList(_Answer):
    deliveries: list[WebhookDelivery]
# -- consent requests (ledger.requests) -----------------------------------------------------------

REQUEST_STATES = _codes(ConsentStatus)
REQUEST_PURPOSE_NAMES = tuple(name_of(p) for p in REQUEST_PURPOSES)
LEGAL_BASES = _codes(name_of(b) for b in LegalBasis)
ConsentRequestIdIn = Annotated[str, AfterValidator(_parse_id("request id", "requestId")),
                        WithJsonSchema({"type": "string", "pattern": ID, "description": "The request's id."})]  # fmt: skip


def _request_purpose(value: Any) -> Purpose:
    return _purpose(value, REQUEST_PURPOSES, "a department asks")


RequestPurposeIn = Annotated[Purpose, PlainValidator(_request_purpose), WithJsonSchema({"oneOf": [
    {"type": "integer", "enum": [int(p) for p in REQUEST_PURPOSES]},
    {"type": "string", "enum": list(REQUEST_PURPOSE_NAMES)},
]})]  # fmt: skip


class RequestPath(_Request):
    request_id: ConsentRequestIdIn


class RequestsQuery(_Request):
    status: Annotated[str, OneOf(REQUEST_STATES)] | SkipJsonSchema[None] = Field(
        None, description="Only requests in this status (`expired`: waiting past the answer-by day)."
    )


class ConsentRequestBody(_Request):
    """What my department asks a resident for; the resident approves, declines, or lets it expire."""

    resident: Annotated[str, AfterValidator(_address), WithJsonSchema({"type": "string", "pattern": ADDRESS})] = Field(
        description="The resident, by address (a resident of a committee of my office)."
    )
    categories: list[CategoryIn] = Field(min_length=1, json_schema_extra={"uniqueItems": True})
    purpose: RequestPurposeIn = Field(description="The purpose, by code or name.")
    legal_basis: Annotated[str, OneOf(LEGAL_BASES)] = Field("consent", description="The grant's legal basis.")
    valid_until: DayIn = Field(description="Last day the grant would be valid (to the end of it).")
    answer_by: DayIn | SkipJsonSchema[None] = Field(
        None, description="Last day to answer (to the end of it); default: the installation's usual days."
    )
    reason: str = Field(min_length=1, max_length=MAX_REASON, description="Why, in plain words: the resident reads it.")


class ConsentRequest(_Answer):
    """A department's request that a resident grant it consent, and the answer."""

    request_id: Id
    resident: Address
    department: GrantDepartment
    officer: Address
    categories: list[CategorySlug] = Field(min_length=1)
    purpose: CodeName
    legal_basis: CodeName
    valid_until: Seconds = Field(description="End of the grant's validity, if approved (exclusive).")
    reason: str
    asked_at: Ms
    answer_by: Ms = Field(description="A waiting request expires at this time.")
    status: Annotated[str, OneOf(REQUEST_STATES)] = Field(description="expired: derived from `answerBy` and the time.")
    decided_at: Ms | None
    relayer: Address | None = Field(description="The grid worker or committee member who helped the resident.")
    decline_reason: str | None
    grant_id: Id | None = Field(description="The grant issued on approval; its terms carry `requestId`.")

    @classmethod
    def of(cls, view: RequestView) -> ConsentRequest:
        return cls(
            request_id=view.request_id, resident=view.resident,
            department=GrantDepartment(id=view.department, code=view.department_code), officer=view.officer,
            categories=[c.slug for c in view.categories], purpose=CodeName.of(Purpose, view.purpose),
            legal_basis=CodeName.of(LegalBasis, view.legal_basis), valid_until=view.valid_until, reason=view.reason,
            asked_at=view.asked_at, answer_by=view.answer_by, status=view.status, decided_at=view.decided_at,
            relayer=view.relayer, decline_reason=view.decline_reason, grant_id=view.grant_id,
        )  # fmt: skip


class ConsentRequestList(_Answer):
    requests: list[ConsentRequest]
