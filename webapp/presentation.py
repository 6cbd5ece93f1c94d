"""The library's codes in people's words: the one place that does it.

The library speaks in codes (one ``StrEnum`` per vocabulary in ``ledger/``) and parameters;
here each code gets its words, in the page's language (Chinese and English, from the
catalogue beside this file), and per audience where the wording differs: a resident reads
about *their* grants and the people who read their data; staff (officers, committee
members, office admins and auditors) read the terms of the trade. Pages, the office's audit
and the error pages all come here; nothing parses the library's English.

Every member of every enum has words (``tests/webapp/test_presentation.py`` iterates the
enums, so a new code without words fails).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from flask import Flask
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel.speaklater import LazyString

from ledger.access import CHINA, LogState, ReadBasis
from ledger.accesslog import Action, Outcome
from ledger.audit import Decision, Finding, FindingKind, FullBecause, Severity
from ledger.errors import (
    AccessRefused,
    ConfigurationError,
    Conflict,
    ConflictError,
    ConsentRequestConflict,
    ContractRevert,
    Forbidden,
    InputError,
    Invalid,
    LedgerError,
    NodeError,
    NotAllowed,
    NotFoundError,
    Refusal,
    RequestConflict,
    RequestProblem,
    VerificationError,
)
from ledger.grants import ENDED, IN_FORCE, GrantStatus
from ledger.history import Finding as HistoryFinding
from ledger.history import HistoryFindingKind
from ledger.inbox import Item as InboxItem
from ledger.inbox import ItemKind
from ledger.membership import Status as MemberStatus
from ledger.membership import name_of as code_of
from ledger.requests import ConsentStatus
from ledger.rights import RefusalBasis, RequestKind, RequestOutcome, RequestStatus
from ledger.verify import Problem
from ledger.webhooks import AttemptError, DeliveryState, EventKind, UrlProblem

from .i18n import CATEGORY_NAMES, PURPOSE_NAMES, format_ms, lazy_gettext, name_of


class Audience(StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"  # officers, committee members, office admins, auditors


RESIDENT, STAFF = Audience.RESIDENT, Audience.STAFF

# -- names: a code in a few words ---------------------------------------------------------------

#: A grant's status (ledger.grants), the same for everyone.
GRANT_STATUS_NAMES: dict[str, LazyString] = {
    GrantStatus.PENDING: lazy_gettext("Pending"),
    GrantStatus.NOT_YET_VALID: lazy_gettext("Not yet valid"),
    GrantStatus.ACTIVE: lazy_gettext("Active"),
    GrantStatus.EXPIRED: lazy_gettext("Expired"),
    GrantStatus.WITHDRAWN: lazy_gettext("Withdrawn"),
    GrantStatus.REVOKED: lazy_gettext("Revoked"),
}
#: A member's status on chain (ledger.membership.Status).
MEMBER_STATUS_NAMES: dict[str, LazyString] = {
    code_of(MemberStatus.NONE): lazy_gettext("Not a member"),
    code_of(MemberStatus.ACTIVE): lazy_gettext("Active"),
    code_of(MemberStatus.SUSPENDED): lazy_gettext("Suspended"),
    code_of(MemberStatus.REVOKED): lazy_gettext("Revoked"),
}
#: What a resident is told about a grant of theirs beside its sentence.
GRANT_NOTES: dict[str, LazyString] = {
    GrantStatus.PENDING: lazy_gettext("Being written to the chain — usually a few seconds."),
    GrantStatus.NOT_YET_VALID: lazy_gettext("This permission starts on its first day; it cannot be used before."),
    GrantStatus.ACTIVE: lazy_gettext("This permission can be used now."),
    GrantStatus.EXPIRED: lazy_gettext("This permission has ended. It can no longer be used."),
    GrantStatus.WITHDRAWN: lazy_gettext("You withdrew this permission. It can no longer be used."),
    GrantStatus.REVOKED: lazy_gettext("The subdistrict office cancelled this permission. It can no longer be used."),
}
BASIS_NAMES: dict[Audience, dict[str, LazyString]] = {
    RESIDENT: {
        ReadBasis.GRANT: lazy_gettext("Your grant"),
        ReadBasis.DUTY: lazy_gettext("Statutory duty"),
        ReadBasis.EMERGENCY: lazy_gettext("Emergency"),
    },
    STAFF: {
        ReadBasis.GRANT: lazy_gettext("Grant"),
        ReadBasis.DUTY: lazy_gettext("Duty"),
        ReadBasis.EMERGENCY: lazy_gettext("Emergency"),
    },
}
OUTCOME_NAMES: dict[str, LazyString] = {
    Outcome.ALLOWED: lazy_gettext("Allowed"),
    Outcome.REFUSED: lazy_gettext("Refused"),
}
ACTION_NAMES: dict[str, LazyString] = {
    Action.READ: lazy_gettext("Read"),
    Action.REVIEW: lazy_gettext("Review"),
}
LOG_STATE_NAMES: dict[str, LazyString] = {
    LogState.OK: lazy_gettext("Anchored"),
    LogState.ANCHORING: lazy_gettext("Anchoring"),
    LogState.CLOSED: lazy_gettext("Reads closed"),
}
DECISION_NAMES: dict[Audience, dict[str, LazyString]] = {
    RESIDENT: {Decision.APPROVE: lazy_gettext("approved"), Decision.FLAG: lazy_gettext("flagged for follow-up")},
    STAFF: {Decision.APPROVE: lazy_gettext("Approved"), Decision.FLAG: lazy_gettext("Flagged")},
}
SEVERITY_NAMES: dict[str, LazyString] = {
    Severity.HIGH: lazy_gettext("High"),
    Severity.MEDIUM: lazy_gettext("Medium"),
    Severity.INFO: lazy_gettext("Info"),
}
FINDING_NAMES: dict[str, LazyString] = {
    FindingKind.OUTSIDE_CATEGORIES: lazy_gettext("Outside the grant's categories"),
    FindingKind.OUTSIDE_TIME: lazy_gettext("Before the grant started"),
    FindingKind.AFTER_EXPIRY: lazy_gettext("After the grant expired"),
    FindingKind.AFTER_WITHDRAWAL: lazy_gettext("After the resident withdrew the grant"),
    FindingKind.AFTER_REVOCATION: lazy_gettext("After the office revoked the grant"),
    FindingKind.WRONG_DEPARTMENT: lazy_gettext("Grant of another department"),
    FindingKind.WRONG_RESIDENT: lazy_gettext("Grant of another resident"),
    FindingKind.UNKNOWN_GRANT: lazy_gettext("Grant unknown to the chain"),
    FindingKind.EMERGENCY_UNREVIEWED: lazy_gettext("Emergency access awaiting review"),
    FindingKind.EMERGENCY_FLAGGED: lazy_gettext("Emergency access flagged"),
    FindingKind.REFUSED: lazy_gettext("Refused attempt"),
    FindingKind.VOLUME_ANOMALY: lazy_gettext("Unusual volume"),
}
#: Why an incremental audit (ledger.audit.incremental) audited everything instead.
FULL_BECAUSE_NAMES: dict[str, LazyString] = {
    FullBecause.NO_MARK: lazy_gettext("no audit has run before"),
    FullBecause.NO_SEAL_KEY: lazy_gettext("the keystore password is not set, so the last audit's mark cannot be checked"),
    FullBecause.MARK_UNSEALED: lazy_gettext(
        "the last audit's mark was written or changed behind the ledger's back; the integrity check names it"
    ),
    FullBecause.MARK_UNREADABLE: lazy_gettext("the last audit's mark could not be read"),
    FullBecause.MARK_OFF_CHAIN: lazy_gettext("the checkpoint the last audit's mark names is not on the chain"),
    FullBecause.FRONTIER_DIFFERS: lazy_gettext("the last audit's mark does not fit its checkpoint on the chain"),
    FullBecause.ASKED: lazy_gettext("a full audit was asked for"),
}
#: What an integrity finding (ledger.verify) says is wrong, in a few words, for the office.
PROBLEM_NAMES: dict[str, LazyString] = {
    # chain: the indexed tables against the chain's events
    Problem.INDEX_MISSING: lazy_gettext("Chain data missing from the database"),
    Problem.INDEX_EXTRA: lazy_gettext("Chain data the chain does not hold"),
    Problem.INDEX_DIFFERS: lazy_gettext("Chain data kept here differs from the chain"),
    Problem.EVENT_MISSING: lazy_gettext("A chain event is missing"),
    Problem.EVENT_EXTRA: lazy_gettext("An event the chain does not have"),
    Problem.EVENT_DIFFERS: lazy_gettext("A chain event differs from the chain"),
    Problem.CURSOR_OFF_CHAIN: lazy_gettext("The indexer's position is not on the chain"),
    # records
    Problem.RECORD_DIFFERS: lazy_gettext("A record differs from the chain"),
    Problem.CONTENT_EDITED: lazy_gettext("A record's content was changed"),
    Problem.VERSION_DIFFERS: lazy_gettext("A record version differs from the chain"),
    Problem.VERSION_MISSING: lazy_gettext("A record version is missing"),
    Problem.NEVER_ANCHORED: lazy_gettext("Never written to the chain"),
    Problem.NO_CONTENT: lazy_gettext("A record's content is missing"),
    Problem.ERASURE_NOT_ANCHORED: lazy_gettext("An erasure not on the chain"),
    Problem.CONTENT_AFTER_ERASURE: lazy_gettext("Content kept after erasure"),
    Problem.APPROVAL_INVALID: lazy_gettext("An approval signature is not valid"),
    Problem.CONTENT_LOST: lazy_gettext("A record's content lost with a restore"),
    Problem.REASON_LOST: lazy_gettext("A written reason lost with a restore"),
    Problem.HINT_DIFFERS: lazy_gettext("A masked ID number or address differs from its record"),
    # grants
    Problem.TERMS_EDITED: lazy_gettext("A grant's terms were changed"),
    Problem.FIELDS_DIFFER: lazy_gettext("A grant differs from the chain"),
    Problem.STATUS_DIFFERS: lazy_gettext("A grant's status differs from the chain"),
    Problem.UNKNOWN_GRANT: lazy_gettext("A grant the chain does not know"),
    Problem.TERMS_LOST: lazy_gettext("A grant's terms lost with a restore"),
    # the access log
    Problem.LEAF_MISSING: lazy_gettext("A log entry is missing"),
    Problem.LEAF_MOVED: lazy_gettext("A log entry is out of place"),
    Problem.LEAF_UNREADABLE: lazy_gettext("A log entry cannot be read"),
    Problem.LEAF_HASH_MISMATCH: lazy_gettext("A log entry does not match its hash"),
    Problem.LEAF_UNSEALED: lazy_gettext("A log entry without a valid seal"),
    Problem.COLUMN_DIFFERS: lazy_gettext("A log column differs from its entry"),
    Problem.JUSTIFICATION_DIFFERS: lazy_gettext("A written justification was changed"),
    Problem.NUMBERING: lazy_gettext("A gap or repeat in a resident's access numbers"),
    Problem.BEYOND_HEAD: lazy_gettext("A log entry beyond the log's end"),
    Problem.HEAD_UNSEALED: lazy_gettext("The log's end without a valid seal"),
    Problem.NODE_DIFFERS: lazy_gettext("A stored log hash is wrong"),
    Problem.NODE_MISSING: lazy_gettext("A stored log hash is missing"),
    Problem.NODE_EXTRA: lazy_gettext("A stored log hash that should not be there"),
    Problem.CHECKPOINT_MISMATCH: lazy_gettext("The log no longer gives a checkpoint on the chain"),
    Problem.CHECKPOINT_NOT_ON_CHAIN: lazy_gettext("A checkpoint is not on the chain"),
    Problem.CHECKPOINT_ROW_DIFFERS: lazy_gettext("A checkpoint's details differ from the chain"),
    Problem.CHECKPOINT_ROW_MISSING: lazy_gettext("A checkpoint on the chain is not recorded"),
    Problem.REVIEW_DIFFERS: lazy_gettext("An emergency review differs from its log entry"),
    Problem.REVIEW_MISSING: lazy_gettext("An emergency review is missing"),
    Problem.ENTRIES_LOST: lazy_gettext("Log entries lost with a restore"),
    Problem.PROOFS_LOST: lazy_gettext("Log proofs lost with a restore"),
    Problem.GAP_DIFFERS: lazy_gettext("A recorded gap in the log does not fit the chain"),
    # seals
    Problem.ROW_UNSEALED: lazy_gettext("A row without a valid seal"),
    Problem.CODE_MISMATCH: lazy_gettext("An organisation's code does not match the chain"),
}
#: Why a read was refused: to staff in a few words, to the resident whose data it was in a
#: sentence about the people who asked.
REFUSAL_NAMES: dict[Audience, dict[str, LazyString]] = {
    STAFF: {
        Refusal.NO_ACTIVE_GRANT: lazy_gettext("no active grant"),
        Refusal.GRANT_NOT_ACTIVE: lazy_gettext("grant not active"),
        Refusal.NOT_AUTHORISED: lazy_gettext("not authorised"),
        Refusal.NO_DUTY: lazy_gettext("no duty to read"),
        Refusal.ANCHORING_STALLED: lazy_gettext("anchoring stalled"),
        Refusal.CHAIN_UNREACHABLE: lazy_gettext("chain unreachable"),
        Refusal.RECORD_ALTERED: lazy_gettext("record altered in the database"),
        Refusal.CONTENT_LOST: lazy_gettext("content lost with a restore"),
    },
    RESIDENT: {
        Refusal.NO_ACTIVE_GRANT: lazy_gettext("They had no permission from you for these records."),
        Refusal.GRANT_NOT_ACTIVE: lazy_gettext("The permission they named was withdrawn, cancelled or had ended."),
        Refusal.NOT_AUTHORISED: lazy_gettext("They are not allowed to ask for these records."),
        Refusal.NO_DUTY: lazy_gettext("Their work does not include these records."),
        Refusal.ANCHORING_STALLED: lazy_gettext("The system was paused for safety, so nothing was shown."),
        Refusal.CHAIN_UNREACHABLE: lazy_gettext("The permission could not be checked, so nothing was shown."),
        Refusal.RECORD_ALTERED: lazy_gettext(
            "Your record stored here did not match the chain, so nothing was shown. Tell your office."
        ),
        Refusal.CONTENT_LOST: lazy_gettext(
            "The newest version of your record was lost when your office restored its records from a "
            "backup, so nothing was shown."
        ),
    },
}

#: Why a read was refused, to the officer who asked, in a sentence.
REFUSAL_SENTENCES: dict[str, LazyString] = {
    Refusal.NO_ACTIVE_GRANT: lazy_gettext(
        "Your department holds no active grant from this resident that covers this kind of record."
    ),
    Refusal.GRANT_NOT_ACTIVE: lazy_gettext(
        "This grant is not active for this record now: the resident withdrew it, the office revoked it, "
        "it expired, or it does not cover this kind of record."
    ),
    Refusal.NOT_AUTHORISED: lazy_gettext(
        "You may not read this record. An emergency read is only for officers of a department under the "
        "same subdistrict office as the record's committee."
    ),
    Refusal.NO_DUTY: lazy_gettext("Only the record's own committee and its office read records on duty."),
    Refusal.ANCHORING_STALLED: lazy_gettext(
        "Reads are paused for everyone: the access log has not been anchored on the chain for too long, "
        "and no data is handed out that could not be proved logged. Reads resume by themselves once "
        "anchoring works again; try again in a few minutes, or call the office."
    ),
    Refusal.CHAIN_UNREACHABLE: lazy_gettext(
        "The chain cannot be reached to check the grant, so the read was refused. Try again in a minute."
    ),
    Refusal.RECORD_ALTERED: lazy_gettext(
        "The record stored here does not match its fingerprint on the chain: someone changed the database, so "
        "nothing was shown. The refusal is logged; tell the subdistrict office."
    ),
    Refusal.CONTENT_LOST: lazy_gettext(
        "The newest version of this record was lost when the office restored its database from a backup, so "
        "nothing was shown. The committee has to enter it again; the refusal is logged."
    ),
}


def _lookup(table: dict[Any, Any], code: Any) -> str:
    return name_of(table, code) if code is not None else ""


def grant_status_name(status: str | None) -> str:
    return _lookup(GRANT_STATUS_NAMES, status)


def status_name(status: str | None) -> str:
    """A grant's or a member's status (the badges share one macro)."""
    if status in GRANT_STATUS_NAMES:
        return grant_status_name(status)
    return _lookup(MEMBER_STATUS_NAMES, status)


def grant_note(status: str | None) -> str:
    return str(GRANT_NOTES.get(status or "", ""))


def basis_name(basis: str | None, audience: Audience = RESIDENT) -> str:
    return _lookup(BASIS_NAMES[audience], basis)


def outcome_name(outcome: str | None) -> str:
    return _lookup(OUTCOME_NAMES, outcome)


def action_name(action: str | None) -> str:
    return _lookup(ACTION_NAMES, action)


def log_state_name(state: str | None) -> str:
    return _lookup(LOG_STATE_NAMES, state)


def decision_name(decision: str | None, audience: Audience = STAFF) -> str:
    return _lookup(DECISION_NAMES[audience], decision)


def severity_name(severity: str | None) -> str:
    return _lookup(SEVERITY_NAMES, severity)


def full_because_name(code: str | None) -> str:
    return _lookup(FULL_BECAUSE_NAMES, code)


def finding_name(kind: str | None) -> str:
    return _lookup(FINDING_NAMES, kind)


def problem_name(code: str | None) -> str:
    """An integrity finding's code (ledger.verify.Problem) in a few words."""
    return _lookup(PROBLEM_NAMES, code)


def problem_advice(code: str | None) -> str:
    """What an integrity finding means and what the office should do."""
    found = PROBLEM_ADVICE.get(code or "")
    return str(found) if found is not None else ""


def refusal_name(reason: str | None, audience: Audience = STAFF) -> str:
    if not reason:
        return ""
    found = REFUSAL_NAMES[audience].get(reason)
    if found is not None:
        return str(found)
    return _("Refused.") if audience == RESIDENT else str(reason)


def refusal_sentence(reason: str | None) -> str:
    """Why a read was refused, in a sentence, to the officer who asked."""
    found = REFUSAL_SENTENCES.get(reason or "")
    return str(found) if found is not None else refusal_name(reason, STAFF)


# -- sentences: a code and its params ---------------------------------------------------------


def finding_detail(finding: Finding) -> str:
    """What an audit finding is about, for the office and auditors, from its kind and params."""
    kind, params = finding.kind, finding.params
    if kind == FindingKind.REFUSED:
        return _("Refused: %(reason)s", reason=refusal_name(params.get("reason"), STAFF))
    if kind == FindingKind.OUTSIDE_CATEGORIES:
        category = params.get("category")
        return _(
            "%(category)s records are outside the grant's categories.",
            category=name_of(CATEGORY_NAMES, category) if category else _("Uncategorised"),
        )
    if kind in (FindingKind.AFTER_WITHDRAWAL, FindingKind.AFTER_REVOCATION):
        return _("Read after block %(block)s, where the grant ended.", block=params.get("block", "?"))
    if kind == FindingKind.VOLUME_ANOMALY:
        usual = "{:g}".format(params.get("usual", 0))
        return _(
            "%(count)s reads on %(day)s, against a usual %(usual)s a day.",
            count=params.get("count"), day=params.get("day"), usual=usual,
        )  # fmt: skip
    return str(FINDING_DETAILS.get(kind, finding_name(kind)))


#: Findings whose words need no params.
FINDING_DETAILS: dict[str, LazyString] = {
    FindingKind.UNKNOWN_GRANT: lazy_gettext("The read names a grant the chain does not know."),
    FindingKind.WRONG_RESIDENT: lazy_gettext("The grant is another resident's."),
    FindingKind.WRONG_DEPARTMENT: lazy_gettext("The grant is to another department."),
    FindingKind.AFTER_EXPIRY: lazy_gettext("Read after the grant expired."),
    FindingKind.OUTSIDE_TIME: lazy_gettext("Read before the grant started."),
    FindingKind.EMERGENCY_UNREVIEWED: lazy_gettext("No admin has reviewed this emergency read yet."),
    FindingKind.EMERGENCY_FLAGGED: lazy_gettext("An admin flagged this emergency read as not justified."),
}

_EDITED = lazy_gettext(
    "The database may have been changed behind the ledger's back. Restore it from a backup and run "
    "gridledger verify all again."
)
_REINDEX = lazy_gettext(
    "The copy of the chain's data kept in the database may have been changed. Ask the technical staff to check "
    "the indexer and run gridledger verify all again."
)
_LOST = lazy_gettext(
    "Expected after restoring the database from a backup: nothing was changed. Enter again what was lost where "
    "the office still has it."
)

#: What an integrity finding means and what the office should do, in a sentence or two.
PROBLEM_ADVICE: dict[str, LazyString] = {
    Problem.INDEX_MISSING: _REINDEX,
    Problem.INDEX_EXTRA: _REINDEX,
    Problem.INDEX_DIFFERS: _REINDEX,
    Problem.EVENT_MISSING: _REINDEX,
    Problem.EVENT_EXTRA: _REINDEX,
    Problem.EVENT_DIFFERS: _REINDEX,
    Problem.CURSOR_OFF_CHAIN: lazy_gettext(
        "The database was indexed from a block the chain does not have (another chain, or the chain was reset). "
        "Ask the technical staff to check which node the installation uses."
    ),
    Problem.RECORD_DIFFERS: lazy_gettext(
        "A record's committee, resident, category, author or erasure in the database differs from the chain. "
        "Restore the database from a backup and run gridledger verify all again."
    ),
    Problem.CONTENT_EDITED: lazy_gettext(
        "The record's content in the database no longer matches its commitment on the chain: the database may "
        "have been changed. Restore it from a backup and run gridledger verify all again."
    ),
    Problem.VERSION_DIFFERS: _EDITED,
    Problem.VERSION_MISSING: lazy_gettext(
        "The chain has a version of a record that the database lacks. Restore the database from a newer backup, "
        "or ask the committee to enter the version again."
    ),
    Problem.NEVER_ANCHORED: lazy_gettext(
        "The database has a record version or grant the chain never received: it was written into the database "
        "directly. Nobody relies on it; find out who wrote it and restore from a backup."
    ),
    Problem.NO_CONTENT: lazy_gettext(
        "A version on the chain has no content in the database, and it was not erased. Restore the content from a "
        "backup, or ask the committee to enter it again."
    ),
    Problem.ERASURE_NOT_ANCHORED: lazy_gettext(
        "The record is marked erased in the database but not on the chain. Restore it from a backup; to erase it, "
        "use the erasure the ledger offers."
    ),
    Problem.CONTENT_AFTER_ERASURE: lazy_gettext(
        "The record was erased on the chain, but its content is still stored. The content must be removed: ask "
        "the technical staff to complete the erasure."
    ),
    Problem.APPROVAL_INVALID: _EDITED,
    Problem.CONTENT_LOST: _LOST,
    Problem.REASON_LOST: _LOST,
    Problem.TERMS_EDITED: lazy_gettext(
        "The grant's terms in the database no longer match those on the chain: the database may have been "
        "changed. Restore it from a backup and run gridledger verify all again."
    ),
    Problem.FIELDS_DIFFER: _EDITED,
    Problem.STATUS_DIFFERS: _EDITED,
    Problem.UNKNOWN_GRANT: lazy_gettext(
        "The database has a grant the chain does not know: it was written into the database directly. It gives "
        "no right to read; find out who wrote it and restore from a backup."
    ),
    Problem.TERMS_LOST: _LOST,
    Problem.HINT_DIFFERS: lazy_gettext(
        "A masked ID number or address shown to departments does not come from the record version it names: "
        "the database may have been changed. It decides nothing; restore from a backup and run gridledger "
        "verify all again."
    ),
    Problem.LEAF_MISSING: lazy_gettext(
        "An entry of the access log was deleted from the database. Restore the database from a backup and run "
        "gridledger verify all again."
    ),
    Problem.LEAF_MOVED: _EDITED,
    Problem.LEAF_UNREADABLE: _EDITED,
    Problem.LEAF_HASH_MISMATCH: lazy_gettext(
        "An entry of the access log was changed after it was written. Restore the database from a backup and run "
        "gridledger verify all again."
    ),
    Problem.LEAF_UNSEALED: lazy_gettext(
        "An entry of the access log was not written by this installation. Restore the database from a backup and "
        "find out who wrote it."
    ),
    Problem.COLUMN_DIFFERS: _EDITED,
    Problem.JUSTIFICATION_DIFFERS: lazy_gettext(
        "The written reason for an access was changed after it was logged. Restore the database from a backup and "
        "run gridledger verify all again."
    ),
    Problem.NUMBERING: _EDITED,
    Problem.BEYOND_HEAD: _EDITED,
    Problem.HEAD_UNSEALED: _EDITED,
    Problem.NODE_DIFFERS: _EDITED,
    Problem.NODE_MISSING: _EDITED,
    Problem.NODE_EXTRA: _EDITED,
    Problem.CHECKPOINT_MISMATCH: lazy_gettext(
        "The access log no longer gives a checkpoint anchored on the chain: entries were changed or removed. "
        "Restore the database from a backup and run gridledger verify all again."
    ),
    Problem.CHECKPOINT_NOT_ON_CHAIN: lazy_gettext(
        "The database says a checkpoint of the access log is anchored, but the chain does not have it. Ask the "
        "technical staff to check the anchoring, and run gridledger verify all again."
    ),
    Problem.CHECKPOINT_ROW_DIFFERS: _EDITED,
    Problem.CHECKPOINT_ROW_MISSING: _EDITED,
    Problem.REVIEW_DIFFERS: _EDITED,
    Problem.REVIEW_MISSING: _EDITED,
    Problem.ENTRIES_LOST: lazy_gettext(
        "Entries of the access log anchored on the chain were lost when the database was restored from a backup. "
        "The gap is recorded; nothing needs doing unless it is unexpected."
    ),
    Problem.PROOFS_LOST: lazy_gettext(
        "Some entries restored from a backup can no longer be proven against the chain, because entries beside "
        "them were lost. Nothing needs doing unless the restore is unexpected."
    ),
    Problem.GAP_DIFFERS: _EDITED,
    Problem.ROW_UNSEALED: lazy_gettext(
        "A log-in, name or label in the database was not written by this installation. Find out who wrote it, "
        "and restore the database from a backup."
    ),
    Problem.CODE_MISMATCH: lazy_gettext(
        "An organisation's code in the database does not give its id on the chain: it was changed. Restore the "
        "database from a backup."
    ),
}


def history_finding(finding: HistoryFinding) -> str:
    """A finding of a resident's history as a warning the resident can act on."""
    kind, params = finding.kind, finding.params
    if kind == HistoryFindingKind.RESIDENT_SEQ_GAP:
        number = params.get("number")
        if number is None:
            return _("An entry is missing from your history — tell your subdistrict office.")
        return _(
            "Entry No. %(number)s is missing from your history — tell your subdistrict office.",
            number=int(number) + 1,  # the pages count from 1, the log from 0
        )
    if kind == HistoryFindingKind.RESIDENT_SEQ_REPEAT:
        return _("An entry number appears twice in your history — tell your subdistrict office.")
    if kind == HistoryFindingKind.ENTRIES_LOST:
        return _(
            "On %(when)s your subdistrict office restored its records from a backup, and entries %(first)s to "
            "%(last)s of the access log were lost. The chain proves these accesses happened, but not whose data "
            "they touched: any of your entries No. %(your_first)s to %(your_last)s may have been among them. "
            "Ask your office what was recorded then.",
            when=format_ms(params.get("restoredAt")), first=int(params["first"]) + 1, last=int(params["last"]) + 1,
            your_first=int(params["yourFirst"]) + 1, your_last=int(params["yourLast"]) + 1,
        )  # fmt: skip
    if kind == HistoryFindingKind.PROOF_LOST:
        return _(
            "Log entry %(seq)s is kept, but the proof that it was anchored on the chain was lost when your office "
            "restored its records from a backup.", seq=finding.seq,
        )  # fmt: skip
    if kind == HistoryFindingKind.JUSTIFICATION_ALTERED:
        return _(
            "The reason written for log entry %(seq)s is not the one logged — tell your subdistrict office.",
            seq=finding.seq,
        )
    # LEAF_MISMATCH, PROOF_UNAVAILABLE
    return _("Log entry %(seq)s does not check out — tell your subdistrict office.", seq=finding.seq)


def invalid(code: Invalid | str, params: dict[str, Any] | None = None) -> str:
    """Why input was refused (an :class:`InputError`'s code and params), for anyone."""
    p = params or {}
    match code:
        case Invalid.REQUIRED:
            return _("This must be filled in.")
        case Invalid.UNKNOWN_CHOICE:
            return _("Choose one of the options offered.")
        case Invalid.TOO_LONG:
            return _("At most %(max)s characters.", max=p.get("max", "?"))
        case Invalid.TOO_SHORT:
            return _("At least %(min)s characters.", min=p.get("min", "?"))
        case Invalid.BAD_DATE:
            return _("Give a date as YYYY-MM-DD.")
        case Invalid.END_BEFORE_START:
            return _("The end is before the start.")
        case Invalid.NOT_IN_FUTURE:
            return _("The date must be in the future.")
        case Invalid.TOO_FAR_AHEAD:
            return _("At most %(days)s days ahead.", days=p.get("days", "?"))
        case Invalid.NOT_PERMITTED:
            return _("Your organisation may not set this.")
        case Invalid.BAD_ID:
            return _("An id is 0x followed by 64 hexadecimal digits.")
        case Invalid.BAD_SIGNATURE:
            return _("The signature is not valid.")
        case Invalid.HIGH_S_SIGNATURE:
            return _("The signature is not in its low-s form (EIP-2).")
        case Invalid.NOT_JSON:
            return _("This is not valid JSON.")
        case Invalid.NOT_AN_OBJECT:
            return _("The request body must be a JSON object.")
        case Invalid.SCHEMA:
            return _("This does not fit the record's form.")
        case Invalid.UNKNOWN_FIELD:
            return _("This is not a field of these records.")
        case Invalid.BAD_USERNAME:
            return _("Use 1 to 64 of a–z, 0–9, '-', '_' and '.'.")
        case Invalid.TAKEN:
            return _("This name is taken.")
        case Invalid.NOT_EMERGENCY_READ:
            return _("Access #%(seq)s is not an emergency read.", seq=p.get("seq", "?"))
        case Invalid.NO_SUCH_DEPARTMENT:
            return _("There is no such department on the chain.")
        case Invalid.OTHER_OFFICE:
            return _(
                "%(department)s belongs to another subdistrict office; a resident can grant only to the "
                "departments of their own office.",
                department=p.get("department", "?"),
            )
        case Invalid.NO_SCOPE:
            return _("Name a department or a resident.")
        # residents' rights requests (ledger.rights)
        case Invalid.NOT_OWN_ENTRY:
            return _("This entry is not in your history.")
        case Invalid.NOT_A_READ:
            return _("This entry is not a use of your data.")
        case Invalid.RECORD_ERASED:
            return _("This record is erased already.")
        case Invalid.NOT_A_FIELD:
            return _("Choose one of the record's fields.")
        case Invalid.WRONG_KIND:
            return _("This answer does not fit this kind of request.")
        case Invalid.BASIS_REQUIRED:
            return _("Name the legal basis for the refusal.")
        case Invalid.BAD_URL:  # webhooks
            return url_problem(p.get("problem"))
        case Invalid.NOT_A_RESIDENT:
            return _("There is no active resident by that name, code or address.")
        case Invalid.TOO_MANY:  # bulk reads
            return _("At most %(max)s in one request.", max=p.get("max", "?"))
        case Invalid.DUPLICATE:
            return _("This is named twice.")
    return _("This value is not accepted.")  # Invalid.INVALID


#: What a person is told about an error with no code of its own, by its class.
ERROR_WORDS: dict[type[LedgerError], LazyString] = {
    NotFoundError: lazy_gettext("There is no such thing here."),
    ConflictError: lazy_gettext("It changed while you were looking at it. Reload the page and try again."),
    ContractRevert: lazy_gettext("The chain refused this change."),
    NodeError: lazy_gettext("The chain cannot be reached just now. Try again in a minute."),
    ConfigurationError: lazy_gettext("This installation is not set up for that yet. Tell your administrator."),
    VerificationError: lazy_gettext("A check failed: the stored data does not match the chain. Tell your office."),
    LedgerError: lazy_gettext("Something went wrong. It has been logged."),
}


def error(exc: LedgerError, audience: Audience = STAFF) -> str:
    """An error page's message: the error's code in words, never its English text."""
    if isinstance(exc, InputError):
        return invalid(exc.code, exc.params)
    if isinstance(exc, RequestConflict):  # residents' rights requests (ledger.rights)
        return conflict_words(exc.code)
    if isinstance(exc, (NotAllowed, ConsentRequestConflict)):
        return request_problem(exc.code, exc.params, audience)
    if isinstance(exc, AccessRefused):
        reason = refusal_name(exc.reason, STAFF)
        if exc.seq is not None:
            return _("The read was refused (%(reason)s); the refusal is logged as access #%(seq)s.",
                     reason=reason, seq=exc.seq)  # fmt: skip
        return _("The read was refused (%(reason)s).", reason=reason)
    for kind in type(exc).__mro__:
        if kind in ERROR_WORDS:
            return str(ERROR_WORDS[kind])
    return str(ERROR_WORDS[LedgerError])


def init_app(app: Flask) -> None:
    """The words as Jinja globals (``status_name(g.status)``, ``basis_name(b, 'staff')``)."""
    app.jinja_env.globals.update(
        grant_in_force=lambda status: status in IN_FORCE,  # withdraw and revoke are offered
        grant_ended=sorted(ENDED),  # the statuses of a grant that is over
        status_name=status_name,
        grant_status_name=grant_status_name,
        grant_note=grant_note,
        basis_name=basis_name,
        outcome_name=outcome_name,
        action_name=action_name,
        log_state_name=log_state_name,
        decision_name=decision_name,
        severity_name=severity_name,
        finding_name=finding_name,
        full_because_name=full_because_name,
        finding_detail=finding_detail,
        problem_name=problem_name,
        problem_advice=problem_advice,
        refusal_name=refusal_name,
        refusal_sentence=refusal_sentence,
        history_finding=history_finding,
        invalid_words=invalid,
        consent_request_status_name=consent_request_status_name,
        request_sentence=request_sentence,
        answer_day=answer_day,
    )
    _init_rights(app)
    app.jinja_env.globals.update(WEBHOOK_WORDS)


# -- the resident's inbox (ledger.inbox) --------------------------------------------------------


def say_day(iso: str | None, today: date | None = None) -> str:
    """A day as a resident says it: "10 月 3 日" / "3 October", with the year when it is not
    this year's."""
    try:
        day = date.fromisoformat(str(iso))
    except ValueError:
        return str(iso or "")
    this_year = (today or datetime.now(CHINA).date()).year == day.year
    locale = get_locale()
    if locale is not None and locale.language == "zh":
        return f"{day.month} 月 {day.day} 日" if this_year else f"{day.year} 年 {day.month} 月 {day.day} 日"
    return f"{day.day} {_MONTHS[day.month - 1]}" if this_year else f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip


def _say_list(names: list[str]) -> str:
    locale = get_locale()
    if locale is not None and locale.language == "zh":
        return "、".join(names)
    if len(names) <= 1:
        return "".join(names)
    return _("%(first)s and %(last)s", first=", ".join(names[:-1]), last=names[-1])


def inbox_sentence(item: InboxItem, org: Callable[[str | None], str], today: date | None = None) -> str:
    """An inbox item in one plain sentence, in the resident's words. ``org`` names an
    organisation from its id."""
    p = item.params
    day = say_day(p.get("day"), today)
    who = org(p.get("organisation"))
    category = in_sentence(name_of(CATEGORY_NAMES, p.get("category"))) if p.get("category") else _("personal")
    if item.kind == ItemKind.DATA_READ:
        if p.get("basis") == ReadBasis.GRANT:
            return _("%(organisation)s looked at your %(category)s record on %(day)s, with your permission.",
                     organisation=who, category=category, day=day)  # fmt: skip
        if p.get("basis") == ReadBasis.EMERGENCY:
            return _("%(organisation)s looked at your %(category)s record on %(day)s in an emergency, without your "
                     "permission. The subdistrict office checks every such use.",
                     organisation=who, category=category, day=day)  # fmt: skip
        return _("%(organisation)s looked at your %(category)s record on %(day)s, as part of its duty to look after "
                 "your records.", organisation=who, category=category, day=day)  # fmt: skip
    if item.kind == ItemKind.READ_REFUSED:
        return _("%(organisation)s asked to see your %(category)s record on %(day)s and was refused: they saw "
                 "nothing.", organisation=who, category=category, day=day)  # fmt: skip
    if item.kind == ItemKind.READ_REVIEWED:
        if p.get("decision") == Decision.FLAG:
            return _("On %(day)s %(organisation)s checked an emergency use of your data and is following it up.",
                     organisation=who, day=day)  # fmt: skip
        return _("On %(day)s %(organisation)s checked an emergency use of your data and found it justified.",
                 organisation=who, day=day)  # fmt: skip
    if item.kind == ItemKind.CONSENT_REQUEST:
        asked = request_sentence(org(p.get("department")), list(p.get("categories") or []), int(p.get("validUntil") or 0),
                                 str(p.get("reason") or ""))  # fmt: skip
        return _("%(sentence)s Please answer by %(day)s.", sentence=asked, day=answer_day(int(p.get("answerBy") or 0)))
    if item.kind == ItemKind.REQUEST_DECIDED:
        return _request_decided_sentence(str(p.get("decision") or ""), who, category, day)
    # GRANT_ENDING
    categories = _say_list([in_sentence(name_of(CATEGORY_NAMES, c)) for c in p.get("categories") or []])
    return _("Your permission for %(department)s to use your %(categories)s records for %(purpose)s ends soon: "
             "%(day)s is its last day.", department=org(p.get("department")), categories=categories,
             purpose=in_sentence(name_of(PURPOSE_NAMES, p.get("purpose"))), day=say_day(p.get("lastDay"), today))  # fmt: skip


# -- residents' rights requests (ledger.rights) ---------------------------------------------------

ACTION_NAMES[Action.DECIDE] = lazy_gettext("Decision on a request")
PROBLEM_NAMES[Problem.DECISION_DIFFERS] = lazy_gettext("A decision on a resident's request was changed")
PROBLEM_NAMES[Problem.DECISION_MISSING] = lazy_gettext("A decision on a resident's request is missing")
PROBLEM_ADVICE[Problem.DECISION_DIFFERS] = lazy_gettext(
    "A decision on a resident's request in the database no longer matches its signed statement or its entry in "
    "the access log: the database may have been changed. Restore it from a backup and run gridledger verify all "
    "again."
)
PROBLEM_ADVICE[Problem.DECISION_MISSING] = lazy_gettext(
    "The access log holds a decision on a resident's request that the database does not record, or the other way "
    "round: a row was changed or deleted. Restore the database from a backup and run gridledger verify all again."
)

REQUEST_KIND_NAMES: dict[Audience, dict[str, LazyString]] = {
    RESIDENT: {
        RequestKind.CORRECTION: lazy_gettext("Correct a record"),
        RequestKind.DELETION: lazy_gettext("Delete a record"),
        RequestKind.OBJECTION: lazy_gettext("“I did not expect this”"),
    },
    STAFF: {
        RequestKind.CORRECTION: lazy_gettext("Correction"),
        RequestKind.DELETION: lazy_gettext("Deletion"),
        RequestKind.OBJECTION: lazy_gettext("Objection"),
    },
}
REQUEST_STATUS_NAMES: dict[Audience, dict[str, LazyString]] = {
    RESIDENT: {
        RequestStatus.OPEN: lazy_gettext("Waiting for an answer"),
        RequestStatus.DRAFTED: lazy_gettext("The corrected record is waiting for the committee’s signatures"),
        RequestStatus.DECIDING: lazy_gettext("Being answered"),
        RequestStatus.DECIDED: lazy_gettext("Answered"),
    },
    STAFF: {
        RequestStatus.OPEN: lazy_gettext("Waiting for a decision"),
        RequestStatus.DRAFTED: lazy_gettext("Corrected version awaiting signatures"),
        RequestStatus.DECIDING: lazy_gettext("Being decided"),
        RequestStatus.DECIDED: lazy_gettext("Decided"),
    },
}
REQUEST_OUTCOME_NAMES: dict[Audience, dict[str, LazyString]] = {
    RESIDENT: {
        RequestOutcome.CORRECTED: lazy_gettext("Corrected"),
        RequestOutcome.DECLINED: lazy_gettext("Not corrected"),
        RequestOutcome.ERASED: lazy_gettext("Deleted"),
        RequestOutcome.REFUSED: lazy_gettext("Not deleted"),
        RequestOutcome.UPHELD: lazy_gettext("The office agrees with you"),
        RequestOutcome.NOT_UPHELD: lazy_gettext("The office found this use was allowed"),
    },
    STAFF: {
        RequestOutcome.CORRECTED: lazy_gettext("Corrected"),
        RequestOutcome.DECLINED: lazy_gettext("Declined"),
        RequestOutcome.ERASED: lazy_gettext("Erased"),
        RequestOutcome.REFUSED: lazy_gettext("Refused"),
        RequestOutcome.UPHELD: lazy_gettext("Upheld"),
        RequestOutcome.NOT_UPHELD: lazy_gettext("Not upheld"),
    },
}
REFUSAL_BASIS_NAMES: dict[str, LazyString] = {
    RefusalBasis.RETENTION_PERIOD: lazy_gettext("A retention period set by law has not ended (PIPL Art. 47)"),
    RefusalBasis.TECHNICALLY_INFEASIBLE: lazy_gettext(
        "Deletion is technically not feasible; the data is only stored and protected (PIPL Art. 47)"
    ),
    RefusalBasis.STATUTORY_DUTY: lazy_gettext("Needed to carry out a statutory duty (PIPL Art. 13(3))"),
    RefusalBasis.PURPOSE_NOT_ACHIEVED: lazy_gettext(
        "None of the grounds for deletion applies: the record is still needed for its purpose (PIPL Art. 47)"
    ),
    RefusalBasis.PUBLIC_HEALTH: lazy_gettext(
        "Needed for a public health emergency or to protect someone’s life (PIPL Art. 13(4))"
    ),
}
CONFLICT_WORDS: dict[str, LazyString] = {
    Conflict.ALREADY_DECIDED: lazy_gettext("This request has been answered already."),
    Conflict.ALREADY_DRAFTED: lazy_gettext("The corrected version is drafted already and waits for its signatures."),
    Conflict.ALREADY_ASKED: lazy_gettext("The same request is waiting for an answer already."),
}


def request_kind_name(kind: str | None, audience: Audience = STAFF) -> str:
    return _lookup(REQUEST_KIND_NAMES[Audience(audience)], kind)


def request_status_name(status: str | None, audience: Audience = STAFF) -> str:
    return _lookup(REQUEST_STATUS_NAMES[Audience(audience)], status)


def request_outcome_name(outcome: str | None, audience: Audience = STAFF) -> str:
    return _lookup(REQUEST_OUTCOME_NAMES[Audience(audience)], outcome)


def refusal_basis_name(basis: str | None) -> str:
    return _lookup(REFUSAL_BASIS_NAMES, basis)


def conflict_words(code: str | None) -> str:
    return _lookup(CONFLICT_WORDS, code)


def _init_rights(app: Flask) -> None:
    app.jinja_env.globals.update(
        request_kind_name=request_kind_name,
        request_status_name=request_status_name,
        request_outcome_name=request_outcome_name,
        refusal_basis_name=refusal_basis_name,
    )


# -- webhooks (ledger.webhooks) -----------------------------------------------------------------

EVENT_KIND_NAMES: dict[str, LazyString] = {
    EventKind.GRANT_WITHDRAWN: lazy_gettext("Grant withdrawn by the resident"),
    EventKind.GRANT_REVOKED: lazy_gettext("Grant revoked by the office"),
    EventKind.GRANT_EXPIRED: lazy_gettext("Grant expired"),
    EventKind.REQUEST_DECIDED: lazy_gettext("Consent request answered"),
}
DELIVERY_STATE_NAMES: dict[str, LazyString] = {
    DeliveryState.PENDING: lazy_gettext("Waiting to be sent"),
    DeliveryState.DELIVERED: lazy_gettext("Delivered"),
    DeliveryState.DEAD: lazy_gettext("Failed: not sent again by itself"),
    DeliveryState.CANCELLED: lazy_gettext("Cancelled: subscription removed"),
}
ATTEMPT_ERROR_NAMES: dict[str, LazyString] = {
    AttemptError.CONNECTION_REFUSED: lazy_gettext("Connection refused: nothing answers at that address"),
    AttemptError.TIMEOUT: lazy_gettext("No answer in time"),
    AttemptError.UNREACHABLE: lazy_gettext("The address cannot be reached"),
    AttemptError.TLS: lazy_gettext("Secure connection (TLS) failed"),
    AttemptError.HTTP_STATUS: lazy_gettext("The department's system answered with an error"),
    AttemptError.CHAIN_MISMATCH: lazy_gettext("Not confirmed by the chain yet: not sent"),
    AttemptError.ALTERED: lazy_gettext("The subscription was changed in the database: never sent"),
}
URL_PROBLEM_NAMES: dict[str, LazyString] = {
    UrlProblem.SCHEME: lazy_gettext("The address must start with https:// or http://."),
    UrlProblem.NO_HOST: lazy_gettext("The address names no server."),
    UrlProblem.CREDENTIALS: lazy_gettext("Leave the user name and password out of the address."),
    UrlProblem.FRAGMENT: lazy_gettext("Leave the part after # out of the address."),
    UrlProblem.BAD_PORT: lazy_gettext("The port must be a number from 1 to 65535."),
    UrlProblem.SPACES: lazy_gettext("An address has no spaces."),
    UrlProblem.TOO_LONG: lazy_gettext("The address is too long."),
}
ERROR_WORDS[Forbidden] = lazy_gettext("Your role may not do this.")


def event_kind_name(kind: str | None) -> str:
    return _lookup(EVENT_KIND_NAMES, kind)


def delivery_state_name(state: str | None) -> str:
    return _lookup(DELIVERY_STATE_NAMES, state)


def attempt_error_name(error: str | None) -> str:
    return _lookup(ATTEMPT_ERROR_NAMES, error)


def url_problem(problem: str | None) -> str:
    """Why a webhook address was refused (``Invalid.BAD_URL``'s ``problem``)."""
    if problem in URL_PROBLEM_NAMES:
        return str(URL_PROBLEM_NAMES[problem])
    return _("This is not a usable web address.")


WEBHOOK_WORDS = {
    "event_kind_name": event_kind_name,
    "delivery_state_name": delivery_state_name,
    "attempt_error_name": attempt_error_name,
}


# -- consent requests (ledger.requests) ---------------------------------------------------------

#: A consent request's status: the resident reads about their own answer.
CONSENT_REQUEST_STATUS_NAMES: dict[Audience, dict[str, LazyString]] = {
    RESIDENT: {
        ConsentStatus.WAITING: lazy_gettext("Waiting for your answer"),
        ConsentStatus.APPROVED: lazy_gettext("You agreed"),
        ConsentStatus.DECLINED: lazy_gettext("You said no"),
        ConsentStatus.EXPIRED: lazy_gettext("Expired unanswered"),
    },
    STAFF: {
        ConsentStatus.WAITING: lazy_gettext("Waiting for an answer"),
        ConsentStatus.APPROVED: lazy_gettext("Approved by the resident"),
        ConsentStatus.DECLINED: lazy_gettext("Declined by the resident"),
        ConsentStatus.EXPIRED: lazy_gettext("Expired unanswered"),
    },
}


def consent_request_status_name(status: str | None, audience: Audience = STAFF) -> str:
    return _lookup(CONSENT_REQUEST_STATUS_NAMES[Audience(audience)], status)


def request_problem(code: RequestProblem | str, params: dict[str, Any] | None = None, audience: Audience = STAFF) -> str:
    """Why a consent request could not be asked or answered, in words."""
    p = params or {}
    match code:
        case RequestProblem.NOT_AN_OFFICER:
            return _("Only an active department officer can ask a resident for permission.")
        case RequestProblem.NOT_YOURS:
            if audience == RESIDENT:
                return _("This request is not for you.")
            return _("This request is for another resident.")
        case RequestProblem.NOT_A_RESIDENT:
            return _("The resident is no longer an active resident of a residents' committee, so the request cannot be answered.")
        case RequestProblem.NOT_A_HELPER:
            return _("Only a grid worker or committee member of the resident's own committee can help answer it.")
        case RequestProblem.NOT_THEIR_DEPARTMENT:
            return _("This request belongs to another department.")
        case RequestProblem.DEPARTMENT_GONE:
            return _("The department is no longer a department of this subdistrict office; the request cannot be approved.")
        case RequestProblem.ALREADY_ANSWERED:
            status = consent_request_status_name(str(p["status"]), audience) if p.get("status") in set(ConsentStatus) else ""
            if status:
                return _("This request was already answered (%(status)s).", status=status)
            return _("This request was already answered.")
        case RequestProblem.EXPIRED:
            return _("This request ran past its answer-by date without an answer; it can no longer be answered.")
    return str(ERROR_WORDS[LedgerError])


def long_day(day: date) -> str:
    """A day as people write it: "30 June 2027", "2027 年 6 月 30 日"."""
    locale = get_locale()
    if locale is not None and locale.language == "zh":
        return f"{day.year} 年 {day.month} 月 {day.day} 日"
    return f"{day.day} {calendar.month_name[day.month]} {day.year}"


def in_sentence(name: str) -> str:
    """A name shown as a heading ("Health", "Elderly care") inside an English sentence ("your
    health records"); an acronym ("ID") and Chinese stay as they are."""
    if len(name) > 1 and name[0].isupper() and name[1].islower():
        return name[0].lower() + name[1:]
    return name


def request_sentence(
    department: str, categories: list[str], valid_until: int, reason: str, audience: Audience = RESIDENT, name: str = ""
) -> str:
    """What a department asks, in one sentence: to the resident ("The health office would
    like to see your health records until 30 June 2027, for chronic disease follow-up."), or
    to the helper beside them, naming the resident."""
    locale = get_locale()
    chinese = locale is not None and locale.language == "zh"
    kinds = [in_sentence(str(CATEGORY_NAMES.get(c, c))) for c in categories]
    joined = "、".join(kinds) if chinese else (
        kinds[0] if len(kinds) == 1 else _("%(first)s and %(last)s", first=", ".join(kinds[:-1]), last=kinds[-1])
    )
    last = datetime.fromtimestamp(valid_until - 1, UTC).astimezone(CHINA).date()
    values = {"department": department, "categories": joined, "until": long_day(last),
              "reason": reason.strip().rstrip("。.！!"), "name": name}  # fmt: skip
    if audience == RESIDENT:
        return _("%(department)s would like to see your %(categories)s records until %(until)s, for %(reason)s.", **values)
    return _("%(department)s would like to see the %(categories)s records of %(name)s until %(until)s, for %(reason)s.",
             **values)  # fmt: skip


def answer_day(answer_by_ms: int) -> str:
    """A request's last day to answer, as people write it (``answer_by`` is its exclusive end)."""
    return long_day(datetime.fromtimestamp((answer_by_ms - 1) / 1000, UTC).astimezone(CHINA).date())


def _request_decided_sentence(outcome: str, who: str, category: str, day: str) -> str:
    """The answer to one of the resident's requests, as the inbox says it, naming who decided
    (the decision's entry in "Who used my data" holds the reason)."""
    match outcome:
        case RequestOutcome.CORRECTED:
            return _("On %(day)s %(organisation)s corrected your %(category)s record as you asked.",
                     day=day, organisation=who, category=category)  # fmt: skip
        case RequestOutcome.DECLINED:
            return _("On %(day)s %(organisation)s answered your request to correct your %(category)s record: it was "
                     "not changed. Open it to read why.", day=day, organisation=who, category=category)  # fmt: skip
        case RequestOutcome.ERASED:
            return _("On %(day)s %(organisation)s deleted your %(category)s record as you asked.",
                     day=day, organisation=who, category=category)  # fmt: skip
        case RequestOutcome.REFUSED:
            return _("On %(day)s %(organisation)s answered your request to delete your %(category)s record: it was "
                     "not deleted. Open it to read why.", day=day, organisation=who, category=category)  # fmt: skip
        case RequestOutcome.UPHELD:
            return _("On %(day)s %(organisation)s agreed with you: that use of your %(category)s record was not right. "
                     "Open it to read what happens now.", day=day, organisation=who, category=category)  # fmt: skip
        case _:
            return _("On %(day)s %(organisation)s answered your objection to a use of your %(category)s record: the "
                     "use was allowed. Open it to read why.", day=day, organisation=who, category=category)  # fmt: skip
