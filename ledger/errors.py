"""Errors raised by gridledger.

One root, :class:`LedgerError`, and a few subclasses that mean something to the
caller. Messages say what was expected, what was found, and what to do.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Invalid(StrEnum):
    """Why input was refused (:attr:`InputError.code`), with :attr:`InputError.params`.
    A format (docs/formats.md): the API sends it as ``code``; never respell."""

    REQUIRED = "required"  # the field is empty and must not be
    UNKNOWN_CHOICE = "unknown-choice"  # params: value, choices
    TOO_LONG = "too-long"  # params: max
    TOO_SHORT = "too-short"  # params: min
    BAD_DATE = "bad-date"  # params: value (expected YYYY-MM-DD)
    END_BEFORE_START = "end-before-start"
    NOT_IN_FUTURE = "not-in-future"
    TOO_FAR_AHEAD = "too-far-ahead"  # params: days
    NOT_PERMITTED = "not-permitted"  # this kind of account may not set the field
    BAD_ID = "bad-id"  # params: what, value
    BAD_SIGNATURE = "bad-signature"  # params: problem
    HIGH_S_SIGNATURE = "high-s-signature"
    NOT_JSON = "not-json"  # params: problem, line, column
    NOT_AN_OBJECT = "not-an-object"
    SCHEMA = "schema"  # the record content does not fit its category's schema; params: problem
    UNKNOWN_FIELD = "unknown-field"  # params: category, problem
    BAD_USERNAME = "bad-username"
    TAKEN = "taken"  # params: value
    NOT_EMERGENCY_READ = "not-emergency-read"  # params: seq
    NO_SUCH_DEPARTMENT = "no-such-department"
    OTHER_OFFICE = "other-office"  # params: department, office, own
    NO_SCOPE = "no-scope"  # a department or a resident must be named
    INVALID = "invalid"  # any other value the API's validation refused; params: problem
    # residents' rights requests (ledger.rights)
    NOT_OWN_ENTRY = "not-own-entry"  # an objection to an entry that is not the resident's own; params: seq
    NOT_A_READ = "not-a-read"  # an objection to an entry that is not a use of the data; params: seq
    RECORD_ERASED = "record-erased"  # a request about a record that is erased already
    NOT_A_FIELD = "not-a-field"  # a correction of a field the category's schema does not have; params: category, value
    WRONG_KIND = "wrong-kind"  # an outcome that does not answer this kind of request; params: kind, value, choices
    BASIS_REQUIRED = "basis-required"  # a refused deletion names its legal basis (ledger.rights.RefusalBasis)
    # -- webhooks (ledger.webhooks) --
    BAD_URL = "bad-url"  # a webhook endpoint URL refused; params: problem (a UrlProblem)
    NOT_A_RESIDENT = "not-a-resident"  # the account named is not an active resident (consent requests)
    # -- bulk reads (ledger.access) --
    TOO_MANY = "too-many"  # more items than one request may carry; params: max, count
    DUPLICATE = "duplicate"  # the same item named twice in one request; params: value


class Refusal(StrEnum):
    """Why a read was refused (:attr:`AccessRefused.reason`, the leaf's ``reason``). On disk
    in the log's leaves: never respell."""

    NO_ACTIVE_GRANT = "no-active-grant"  # params: category
    GRANT_NOT_ACTIVE = "grant-not-active"  # params: grant, category
    NOT_AUTHORISED = "not-authorised"  # params: basis
    NO_DUTY = "no-duty"
    ANCHORING_STALLED = "anchoring-stalled"  # params: lag, limit; or size, anchored (log behind the chain)
    CHAIN_UNREACHABLE = "chain-unreachable"  # params: asking, problem
    RECORD_ALTERED = "record-altered"  # the stored content does not match its commitment on chain
    CONTENT_LOST = "content-lost"  # the version was committed after the backup the database was restored from


class LedgerError(Exception):
    """Root of every error gridledger raises on purpose."""


class ConfigurationError(LedgerError):
    """The settings, the deployment file or the installed tools are not usable."""


class CompilerError(ConfigurationError):
    """No suitable Solidity compiler, or the sources do not compile."""


class NodeError(LedgerError):
    """The chain node is missing, unreachable, not ours, or misbehaving."""


class KeystoreError(LedgerError):
    """A key cannot be found, created or unlocked."""


class StoreError(LedgerError):
    """The off-chain database refused or lost something."""


class EntriesLost(StoreError):
    """Access-log entries a restore from a backup lost (``log_gaps``): anchored on chain,
    their leaves gone. Not an alteration: the chain proves they existed."""


class NotFoundError(LedgerError):
    """A thing that was asked for does not exist."""


class InputError(LedgerError):
    """Input failed validation: ``code`` says why and ``params`` with what (for callers to
    word), ``field`` names the offending field (dotted path); the message is English, for
    logs and the command line."""

    def __init__(self, message: str, *, code: Invalid, field: str = "", params: dict[str, Any] | None = None) -> None:
        self.field = field
        self.code = Invalid(code)
        self.params = dict(params or {})
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class ConflictError(LedgerError):
    """The thing changed since it was read (a concurrent update)."""


class LeaseLost(ConflictError):
    """Another worker took over a job this one held a lease for (:mod:`ledger.lease`)."""


class ContractRevert(LedgerError):
    """A contract call reverted; carries the decoded Solidity error name and arguments."""

    def __init__(self, name: str, args: dict[str, Any] | None = None, *, raw: str = "") -> None:
        self.name = name
        self.args_by_name = dict(args or {})
        self.raw = raw
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.args_by_name.items())
        super().__init__(f"{name}({shown})" if shown or name else f"reverted without data {raw}")


class VerificationError(LedgerError):
    """Data, a proof or the chain did not check out."""


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


class AccessRefused(LedgerError):
    """An access was refused; the refusal itself is in the access log as ``seq``."""

    def __init__(
        self, reason: Refusal, message: str, *, seq: int | None = None, params: dict[str, Any] | None = None
    ) -> None:
        self.reason = Refusal(reason)
        self.params = dict(params or {})
        self.message = message
        self.seq = seq
        logged = f" (logged as access event #{seq})" if seq is not None else ""
        super().__init__(f"access refused: {message}{logged}")


class Conflict(StrEnum):
    """Why a change was refused as a conflict (:attr:`RequestConflict.code`). In the API: never
    respell."""

    ALREADY_DECIDED = "already-decided"  # the rights request has been answered already
    ALREADY_DRAFTED = "already-drafted"  # a corrected version is drafted already, awaiting signatures
    ALREADY_ASKED = "already-asked"  # the same request is open already


class RequestConflict(ConflictError):
    """A residents' rights request cannot take this step (:mod:`ledger.rights`): ``code`` says
    why, ``params`` with what."""

    def __init__(self, message: str, *, code: Conflict, params: dict[str, Any] | None = None) -> None:
        self.code = Conflict(code)
        self.params = dict(params or {})
        self.message = message
# -- webhooks (ledger.webhooks) -----------------------------------------------------------------


class Forbidden(LedgerError):
    """The acting account may not do this: the chain's membership says so (its role, its
    status, or the organisation it belongs to)."""


class SignatureProblem(StrEnum):
    """Why :func:`ledger.webhooks.verify_signature` rejected a webhook (:attr:`SignatureRejected.problem`)."""

    MISSING_HEADER = "missing-header"  # params: header
    BAD_TIMESTAMP = "bad-timestamp"  # the webhook-timestamp header is not a whole number of seconds
    STALE = "stale"  # the timestamp is outside the tolerance; params: timestamp, now, tolerance
    NO_SIGNATURE = "no-signature"  # no v1 signature in the webhook-signature header
    BAD_SIGNATURE = "bad-signature"  # no v1 signature matches (wrong secret, changed body, id or time)
    BAD_SECRET = "bad-secret"  # the secret given to the verifier is not a whsec_ secret


class SignatureRejected(VerificationError):
    """A webhook whose signature does not check out: ``problem`` says why."""

    def __init__(self, problem: SignatureProblem, message: str, *, params: dict[str, Any] | None = None) -> None:
        self.problem = SignatureProblem(problem)
        self.params = dict(params or {})
# -- consent requests (ledger.requests) ---------------------------------------------------------


class RequestProblem(StrEnum):
    """Why a consent request cannot be answered or asked by this account
    (:attr:`NotAllowed.code`, :attr:`ConsentRequestConflict.code`), with their ``params``. A format
    (docs/formats.md): the API sends it as ``code``; never respell."""

    NOT_AN_OFFICER = "not-an-officer"  # the asker is not an active department officer
    NOT_YOURS = "not-yours"  # the answerer is not the resident the request is for
    NOT_A_RESIDENT = "not-a-resident"  # the request's resident is no longer an active resident
    NOT_A_HELPER = "not-a-helper"  # the relayer is not an active helper of the resident's committee now
    NOT_THEIR_DEPARTMENT = "not-their-department"  # an officer asked about another department's request
    DEPARTMENT_GONE = "department-gone"  # the department is no longer a department of the resident's office
    ALREADY_ANSWERED = "already-answered"  # params: status
    EXPIRED = "expired"  # params: answer_by (milliseconds since the epoch)


class NotAllowed(LedgerError):
    """The chain says this account may not do this (``code``, ``params``); nothing was done."""

    def __init__(self, message: str, *, code: RequestProblem, params: dict[str, Any] | None = None) -> None:
        self.code = RequestProblem(code)
        self.params = dict(params or {})
        self.message = message
        super().__init__(message)


class ConsentRequestConflict(ConflictError):
    """A consent request is no longer waiting for an answer (``code``, ``params``)."""

    def __init__(self, message: str, *, code: RequestProblem, params: dict[str, Any] | None = None) -> None:
        self.code = RequestProblem(code)
        self.params = dict(params or {})
        self.message = message
        super().__init__(message)
