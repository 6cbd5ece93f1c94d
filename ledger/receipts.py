"""Consent receipts: a grant as a consent record anyone can check against the chain alone.

Consensus-critical: what :func:`verify` accepts is what gridledger promises a resident, a
department or a court about a grant. The document (``gridledger-consent-receipt/1``, see
docs/formats.md) follows ISO/IEC TS 27560 (consent record information structure) and the
Kantara Consent Receipt Specification v1.1: jurisdiction, controller, purposes with DPV
codes, data categories, legal basis, validity, the status history with the party who acted,
and the chain evidence. It carries the grant's full terms, so that anyone can recompute the
``termsHash`` the chain holds, and it is signed (EIP-191, over its RFC 8785 canonical JSON)
by the installation's anchorer, an account the chain names as acting for the office: the
office vouches for what the chain cannot (the organisations' names).

One function, :func:`make_document`, turns the facts into the receipt. :func:`build` gathers the
facts from the ledger (terms from the store, each checked against its hash on chain; the
history from the chain's events, found from the indexed transaction hashes and checked, or
searched for on the chain when those are missing or wrong); :func:`verify` gathers them again
from the chain alone (no database, no keys, no settings: only the file and a JSON-RPC URL,
like :mod:`ledger.verifier`) and compares every field of the receipt with what it should
say. Each disagreement is a :class:`Finding` with a code and parameters; a receipt is VALID
only with none.

The receipt is a statement *as of* a block. A withdrawal or revocation after it makes the
receipt out of date: that is a finding (``status-changed``), since a department must not
show an old receipt as consent that no longer holds. Expiry after it is only a note
(``expired-since``): the receipt itself states its end of validity, so nothing is hidden.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic, keccak, to_checksum_address
from web3 import Web3

from . import formats
from .categories import Category, from_mask
from .consent import LegalBasis, Purpose
from .errors import NotFoundError, VerificationError
from .grants import GrantStatus, window_at
from .settings import PROJECT_ROOT

FORMAT = "gridledger-consent-receipt/1"
KANTARA_VERSION = "KI-CR-v1.1.0"
CONFORMS_TO = ("ISO/IEC TS 27560:2023", "Kantara Initiative Consent Receipt Specification v1.1.0")
DPV = "https://w3id.org/dpv#"
DPV_PD = "https://w3id.org/dpv/pd#"
#: Receipt ids are UUID v5 in this namespace (uuid5(NAMESPACE_URL, FORMAT)), derived from
#: the chain, the grant and the block the receipt speaks as of: the same state, the same id.
RECEIPT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, FORMAT)
LANGUAGES = ("zh-CN", "en")
MAX_SCAN = 2_000  # blocks per eth_getLogs when a transaction must be searched for (Besu's bound)


# -- the vocabularies (docs/formats.md, "Consent receipts", says why each mapping) ------------------


class ReceiptEvent(StrEnum):
    """What happened to a grant, in a receipt's ``history``. A format: never respell."""

    ISSUED = "issued"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Party(StrEnum):
    """Who acted: the resident (directly or through a relayer who sent their signature), the
    office governing the department, or time. A format: never respell."""

    RESIDENT = "resident"
    OFFICE = "office"
    TIME = "time"


class CollectionMethod(StrEnum):
    """How the consent was given (Kantara ``collectionMethod``). A format: never respell."""

    BY_RESIDENT = "issued-by-resident"
    RELAYED = "relayed-with-resident-present"  # a grid worker sent the resident's own signature


#: Purpose → the closest DPV purpose (all broader than ours: none is an exact match).
PURPOSE_DPV: dict[Purpose, str] = {
    Purpose.SOCIAL_ASSISTANCE: "dpv:PublicBenefit",
    Purpose.HEALTH_MANAGEMENT: "dpv:ServiceProvision",
    Purpose.ELDERLY_CARE: "dpv:ServiceProvision",
    Purpose.SOCIAL_INSURANCE: "dpv:PublicBenefit",
    Purpose.HOUSEHOLD_ADMINISTRATION: "dpv:RecordManagement",
    Purpose.PUBLIC_SECURITY: "dpv:ImprovePublicServices",
    Purpose.EMERGENCY_RESPONSE: "dpv:PublicBenefit",
    Purpose.RECORD_REVIEW: "dpv:RecordManagement",
    Purpose.AUDIT: "dpv:OrganisationGovernance",
    Purpose.OTHER: "dpv:Purpose",
}

#: Legal basis → (the DPV legal basis, the ground of PIPL Art. 13 para. 1).
LEGAL_BASIS_DPV: dict[LegalBasis, tuple[str, str]] = {
    LegalBasis.CONSENT: ("dpv:Consent", "PIPL Art. 13(1)(1)"),
    LegalBasis.CONTRACT: ("dpv:Contract", "PIPL Art. 13(1)(2)"),
    LegalBasis.LEGAL_DUTY: ("dpv:LegalObligation", "PIPL Art. 13(1)(3)"),
    LegalBasis.VITAL_INTERESTS: ("dpv:VitalInterest", "PIPL Art. 13(1)(4)"),
    LegalBasis.PUBLIC_INTEREST: ("dpv:PublicInterest", "PIPL Art. 13(1)(5)"),
    LegalBasis.OTHER: ("dpv:LegalBasis", "PIPL Art. 13(1)(7)"),
}


class Sensitivity(StrEnum):
    """Why a category is sensitive personal information (PIPL Art. 28). A format: never respell."""

    SPECIFIC_IDENTITY = "specific-identity"
    MEDICAL_HEALTH = "medical-health"
    FINANCIAL = "financial"
    MINORS = "minors-under-14"


#: Category → (the closest DPV personal-data concept, why it is sensitive under PIPL Art. 28 or None).
CATEGORY_DPV: dict[Category, tuple[str, Sensitivity | None]] = {
    Category.IDENTITY: ("dpv-pd:Identifying", Sensitivity.SPECIFIC_IDENTITY),  # id number, ethnicity
    Category.HOUSEHOLD: ("dpv-pd:FamilyStructure", Sensitivity.MINORS),  # lists children under 14
    Category.RESIDENCE: ("dpv-pd:PhysicalAddress", None),
    Category.HEALTH: ("dpv-pd:HealthRecord", Sensitivity.MEDICAL_HEALTH),
    Category.SOCIAL_SECURITY: ("dpv-pd:FinancialStatus", Sensitivity.SPECIFIC_IDENTITY),  # minimum living allowance
    Category.PROPERTY: ("dpv-pd:HouseOwned", Sensitivity.FINANCIAL),  # personal property (GB/T 35273-2020 B)
    Category.ELDERLY_CARE: ("dpv-pd:Health", Sensitivity.MEDICAL_HEALTH),  # care level, disability
}


class ReceiptFinding(StrEnum):
    """What is wrong with a receipt (:attr:`Finding.code`, with :attr:`Finding.params`). The
    command line and the web app word them. A format: never respell."""

    NOT_A_RECEIPT = "not-a-receipt"  # params: found (the format field)
    MALFORMED = "malformed"  # a field is missing or of the wrong kind; params: field
    BAD_SIGNATURE = "bad-signature"  # params: signer, recovered (None when unreadable)
    NO_NODE = "no-node"  # params: url, problem
    OTHER_CHAIN = "other-chain"  # params: field (chainId | genesisHash), receipt, chain
    NO_REGISTRY = "no-registry"  # no ConsentRegistry (or AccessLogAnchor of its Membership) there; params: address
    UNKNOWN_GRANT = "unknown-grant"  # params: grant
    TERMS_HASH = "terms-hash"  # the terms do not hash to the chain's termsHash; params: computed, chain
    SIGNER_NOT_OFFICE = "signer-not-office"  # params: signer, office (its office on chain, None if not an anchorer)
    EVENT_NOT_FOUND = "event-not-found"  # params: index, event, txHash
    HISTORY_INCOMPLETE = "history-incomplete"  # a status change before the receipt is missing; params: event
    STATUS_CHANGED = "status-changed"  # withdrawn or revoked after the receipt; params: receipt, chain, at
    AS_OF_MISMATCH = "as-of-mismatch"  # the block the receipt is made as of is not the chain's; params: block
    REASON_MISMATCH = "reason-mismatch"  # the revocation's reason does not hash to the chain's; params: index
    FIELD_MISMATCH = "field-mismatch"  # params: field (a path), receipt, expected


class ReceiptNote(StrEnum):
    """What a valid receipt's reader should know (:attr:`ReceiptVerdict.notes`)."""

    EXPIRED_SINCE = "expired-since"  # params: until (the grant ended by time after the receipt)


@dataclass(frozen=True)
class Finding:
    code: ReceiptFinding | ReceiptNote
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"code": str(self.code), "params": self.params}


@dataclass
class ReceiptVerdict:
    """The outcome of :func:`verify`. ``status`` is the grant's status now, as the chain has it
    (None when the chain could not be asked or does not know the grant)."""

    grant_id: str | None = None
    status: GrantStatus | None = None
    findings: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def require(self) -> None:
        """Raises :class:`VerificationError` naming the findings; returns when valid."""
        if self.findings:
            shown = "; ".join(
                f"{f.code} {json.dumps(f.params, ensure_ascii=False, default=str)}" for f in self.findings
            )
            raise VerificationError(f"the consent receipt is not valid: {shown}")

    def codes(self) -> list[str]:
        return [str(f.code) for f in self.findings]

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": "VALID" if self.ok else "INVALID",
            "grantId": self.grant_id,
            "status": None if self.status is None else str(self.status),
            "findings": [f.to_json() for f in self.findings],
            "notes": [n.to_json() for n in self.notes],
        }


# -- the facts a receipt is made from ---------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    """An organisation: its id from the chain, its code and names from the store."""

    org_id: str
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class ChainGrant:
    """``ConsentRegistry.grantOf`` (status 0 none, 1 active, 2 withdrawn, 3 revoked)."""

    resident: str
    department: str
    categories: int
    purpose: int
    legal_basis: int
    valid_from: int
    valid_until: int
    terms_hash: str
    status: int
    status_at: int
    relayer: str | None


@dataclass(frozen=True)
class TxEvent:
    """One of the grant's events as the chain has it: the log, its transaction and block."""

    event: ReceiptEvent
    tx_hash: str
    block: int
    time: int
    sender: str  # the transaction's from
    relayer: str | None = None  # issued, withdrawn: the relayer (None when the resident sent it)
    by: str | None = None  # revoked: the office admin
    reason_hash: str | None = None  # revoked


@dataclass(frozen=True)
class Facts:
    chain_id: int
    genesis_hash: str
    registry: str
    anchor: str
    grant_id: str
    grant: ChainGrant
    terms: dict[str, Any]
    department: Org
    office: Org
    events: list[TxEvent]  # issued first, then the status change if any, as of the block
    reason: str | None  # the revocation's reason when known and it hashes to the chain's
    as_of: tuple[int, str, int]  # block number, hash, timestamp
    language: str
    signer: str


def _abi(name: str) -> list[dict[str, Any]]:
    path = PROJECT_ROOT / "contracts" / "build" / f"{name}.json"
    return list(json.loads(path.read_text(encoding="utf-8"))["abi"])


def _checksum(address: str | None) -> str | None:
    if address is None or int(address, 16) == 0:
        return None
    return to_checksum_address(address)


class _Chain:
    """The chain as the receipt needs it: JSON-RPC and the shipped ABIs, nothing else."""

    def __init__(self, w3: Web3, registry: str) -> None:
        self.w3 = w3
        self.registry = w3.eth.contract(address=to_checksum_address(registry), abi=_abi("ConsentRegistry"))
        self.events = {
            ReceiptEvent.ISSUED: self.registry.events.GrantIssued(),
            ReceiptEvent.WITHDRAWN: self.registry.events.GrantWithdrawn(),
            ReceiptEvent.REVOKED: self.registry.events.GrantRevoked(),
        }
        self.topics = {
            kind: "0x" + bytes(event_abi_to_log_topic(self.registry.get_event_by_name(name).abi)).hex()
            for kind, name in (
                (ReceiptEvent.ISSUED, "GrantIssued"), (ReceiptEvent.WITHDRAWN, "GrantWithdrawn"),
                (ReceiptEvent.REVOKED, "GrantRevoked"),
            )
        }  # fmt: skip

    def membership(self) -> Any:
        return self.w3.eth.contract(address=self.registry.functions.membership().call(), abi=_abi("Membership"))

    def grant(self, grant_id: str, block: Any = "latest") -> ChainGrant | None:
        g = self.registry.functions.grantOf(formats.from_hex(grant_id)).call(block_identifier=block)
        if int(g[8]) == 0:
            return None
        return ChainGrant(
            to_checksum_address(g[0]), formats.to_hex(bytes(g[1])), int(g[2]), int(g[3]), int(g[4]), int(g[5]),
            int(g[6]), formats.to_hex(bytes(g[7])), int(g[8]), int(g[9]), _checksum(g[10]),
        )  # fmt: skip

    def office_of(self, department: str) -> str:
        org = self.membership().functions.organisation(formats.from_hex(department)).call()
        return formats.to_hex(bytes(org[2]))

    def block(self, number: Any) -> tuple[int, str, int]:
        b = self.w3.eth.get_block(number)
        return int(b["number"]), formats.to_hex(bytes(b["hash"])), int(b["timestamp"])

    def event_in(self, tx_hash: str, grant_id: str, kind: ReceiptEvent | None = None) -> TxEvent | None:
        """The grant's event (of ``kind``, or any) in transaction ``tx_hash``, or None."""
        try:
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - unknown or malformed hash: not found
            return None
        if receipt is None or receipt["status"] != 1:
            return None
        registry = self.registry.address.lower()
        for log in receipt["logs"]:
            if log["address"].lower() != registry or len(log["topics"]) < 2:
                continue
            if formats.to_hex(bytes(log["topics"][1])) != grant_id:
                continue
            for event_kind, decoder in self.events.items():
                if kind not in (None, event_kind) or "0x" + bytes(log["topics"][0]).hex() != self.topics[event_kind]:
                    continue
                args = decoder.process_log(log)["args"]
                tx = self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
                block = int(receipt["blockNumber"])
                time = int(self.w3.eth.get_block(block)["timestamp"])
                common = dict(tx_hash=formats.to_hex(bytes(receipt["transactionHash"])), block=block, time=time,
                              sender=to_checksum_address(tx["from"]))  # fmt: skip
                if event_kind == ReceiptEvent.REVOKED:
                    return TxEvent(event_kind, **common, by=to_checksum_address(args["by"]),  # type: ignore[arg-type]
                                   reason_hash=formats.to_hex(bytes(args["reasonHash"])))  # fmt: skip
                return TxEvent(event_kind, **common, relayer=_checksum(args["relayer"]))  # type: ignore[arg-type]
        return None

    def search(self, grant_id: str, kind: ReceiptEvent, first: int, last: int) -> TxEvent | None:
        """The grant's event of ``kind`` between blocks ``first`` and ``last``, searched from the
        newest window back (the event is usually near the end), ``MAX_SCAN`` blocks at a time."""
        end = last
        while end >= first:
            start = max(first, end - MAX_SCAN + 1)
            logs = self.w3.eth.get_logs({
                "address": self.registry.address, "fromBlock": start, "toBlock": end,
                "topics": [self.topics[kind], grant_id],  # type: ignore[list-item]
            })  # fmt: skip
            for log in logs:
                found = self.event_in(formats.to_hex(bytes(log["transactionHash"])), grant_id, kind)
                if found is not None:
                    return found
            end = start - 1
        return None


# -- the document ---------------------------------------------------------------------------------


def _org(org: Org) -> dict[str, Any]:
    return {"id": org.org_id, "code": org.code, "name": {"zh": org.name_zh, "en": org.name_en}}


def _status(grant: ChainGrant, events: list[TxEvent], at: int) -> GrantStatus:
    kinds = {e.event for e in events}
    if ReceiptEvent.WITHDRAWN in kinds:
        return GrantStatus.WITHDRAWN
    if ReceiptEvent.REVOKED in kinds:
        return GrantStatus.REVOKED
    return window_at(grant.valid_from, grant.valid_until, at)


def _history(facts: Facts) -> list[dict[str, Any]]:
    grant, rows = facts.grant, []
    for e in facts.events:
        row: dict[str, Any] = {"event": str(e.event), "time": e.time, "txHash": e.tx_hash, "block": e.block}
        if e.event == ReceiptEvent.REVOKED:
            row["party"] = {"role": str(Party.OFFICE), "office": facts.office.org_id, "account": e.by}
            row["reasonHash"] = e.reason_hash
            row["reason"] = facts.reason  # None when not known, or not the one the chain's hash is of
        else:
            row["party"] = {"role": str(Party.RESIDENT), "account": grant.resident, "relayer": e.relayer}
        row["sentBy"] = e.sender
        rows.append(row)
    ended = next((e.time for e in facts.events if e.event != ReceiptEvent.ISSUED), None)
    if grant.valid_until <= facts.as_of[2] and (ended is None or ended >= grant.valid_until):
        rows.append({"event": str(ReceiptEvent.EXPIRED), "time": grant.valid_until, "party": {"role": str(Party.TIME)}})
    return sorted(rows, key=lambda r: (r["time"], r["event"] != ReceiptEvent.ISSUED))


def receipt_id(chain_id: int, genesis_hash: str, registry: str, grant_id: str, block_hash: str) -> str:
    return str(uuid.uuid5(RECEIPT_NAMESPACE, f"{chain_id}:{genesis_hash}:{registry.lower()}:{grant_id}:{block_hash}"))


def make_document(facts: Facts) -> dict[str, Any]:
    """The receipt (without its signature) that ``facts`` make: the one rule for what a receipt
    says, used to write one and to check one."""
    grant, terms = facts.grant, facts.terms
    issued = facts.events[0] if facts.events and facts.events[0].event == ReceiptEvent.ISSUED else None
    categories = []
    for category in from_mask(grant.categories):
        dpv, sensitive = CATEGORY_DPV[category]
        categories.append({
            "code": int(category), "name": category.slug, "dpv": dpv,
            "sensitive": sensitive is not None, "sensitiveBecause": None if sensitive is None else str(sensitive),
        })  # fmt: skip
    purpose = Purpose(grant.purpose) if grant.purpose in Purpose._value2member_map_ else Purpose.OTHER
    basis = LegalBasis(grant.legal_basis) if grant.legal_basis in LegalBasis._value2member_map_ else LegalBasis.OTHER
    text = terms.get("purpose", {}).get("text", "") if isinstance(terms.get("purpose"), dict) else ""
    block, block_hash, block_time = facts.as_of
    return {
        "format": FORMAT,
        "version": KANTARA_VERSION,
        "conformsTo": list(CONFORMS_TO),
        "receiptId": receipt_id(facts.chain_id, facts.genesis_hash, facts.registry, facts.grant_id, block_hash),
        "asOf": {"block": block, "blockHash": block_hash, "time": block_time},
        "language": facts.language,
        "jurisdiction": "CN",
        "legalFramework": "PIPL",
        "consentTimestamp": None if issued is None else issued.time,
        "collectionMethod": str(CollectionMethod.RELAYED if grant.relayer else CollectionMethod.BY_RESIDENT),
        "piiPrincipal": {"address": grant.resident},
        "piiController": {"department": _org(facts.department), "office": _org(facts.office)},
        "purposes": [
            {
                "code": grant.purpose,
                "name": purpose.name.lower().replace("_", "-"),
                "dpv": PURPOSE_DPV[purpose],
                "text": text,
                "primaryPurpose": True,
            }
        ],  # fmt: skip
        "dataCategories": categories,
        "sensitive": any(c["sensitive"] for c in categories),
        "legalBasis": {
            "code": grant.legal_basis,
            "name": basis.name.lower().replace("_", "-"),
            "dpv": LEGAL_BASIS_DPV[basis][0],
            "pipl": LEGAL_BASIS_DPV[basis][1],
        },  # fmt: skip
        "validity": {"from": grant.valid_from, "until": grant.valid_until},
        "status": str(_status(grant, facts.events, block_time)),
        "history": _history(facts),
        "evidence": {
            "chainId": facts.chain_id,
            "genesisHash": facts.genesis_hash,
            "consentRegistry": to_checksum_address(facts.registry),
            "accessLogAnchor": to_checksum_address(facts.anchor),
            "grantId": facts.grant_id,
            "termsHash": grant.terms_hash,
        },  # fmt: skip
        "terms": terms,
        "signer": facts.signer,
    }


def sign(body: dict[str, Any], signer: LocalAccount) -> dict[str, Any]:
    signature = signer.sign_message(encode_defunct(formats.canonical_json(body))).signature
    return {**body, "signature": formats.to_hex(bytes(signature))}


# -- writing one ------------------------------------------------------------------------------------


def build(ledger: Any, grant_id: str, *, signer: LocalAccount, language: str = "zh-CN") -> dict[str, Any]:
    """The signed receipt of ``grant_id`` as of the chain's head. Raises :class:`NotFoundError`
    for a grant the chain does not know (yet), and :class:`VerificationError` when the stored
    terms do not hash to the chain's ``termsHash`` (nothing is handed out that would not verify)."""
    from sqlalchemy import select

    from .membership import org_id
    from .store.models import ChainGrant as ChainGrantRow
    from .store.models import GrantTerms, OrgProfile

    key = formats.parse_id(grant_id, field="grant_id", what="grant id")
    deployment = ledger.deployment
    registry = deployment.address("ConsentRegistry")
    chain = _Chain(ledger.w3, registry)
    as_of = chain.block("latest")
    grant = chain.grant(key, as_of[0])
    with ledger.store.session() as session:
        stored = session.get(GrantTerms, key)
        row = session.get(ChainGrantRow, key)
        profiles = {p.org_id: p for p in session.scalars(select(OrgProfile))}
    if grant is None or stored is None:
        raise NotFoundError(f"no grant {key} on chain" if grant is None else f"no stored terms for grant {key}")
    terms = json.loads(stored.terms)
    if formats.to_hex(formats.terms_hash(terms)) != grant.terms_hash:
        raise VerificationError(f"the stored terms of grant {key} do not hash to its termsHash on chain")

    def event(kind: ReceiptEvent, hints: list[str | None], first: int) -> TxEvent:
        for hint in dict.fromkeys(h for h in hints if h):
            found = chain.event_in(hint, key, kind)
            if found is not None and found.block <= as_of[0]:
                return found
        found = chain.search(key, kind, first, as_of[0])  # the store's hint was missing or wrong
        if found is None:
            raise VerificationError(f"the chain holds no {kind} event of grant {key}")
        return found

    issued = event(ReceiptEvent.ISSUED, [row.issued_tx if row else None, stored.tx_hash], deployment.block)
    events = [issued]
    if grant.status in (2, 3):
        kind = ReceiptEvent.WITHDRAWN if grant.status == 2 else ReceiptEvent.REVOKED
        events.append(event(kind, [row.status_tx if row else None, stored.status_tx], issued.block))
    reason = None
    last = events[-1]
    if (
        last.event == ReceiptEvent.REVOKED
        and stored.status_reason is not None
        and formats.to_hex(keccak(text=stored.status_reason)) == last.reason_hash
    ):
        reason = stored.status_reason  # else left out: the chain's hash alone is shown
    office_id = chain.office_of(grant.department)

    def org(oid: str) -> Org:
        p = profiles.get(oid)
        if p is None or formats.to_hex(org_id(p.code)) != oid:  # a code that is not the id's is not shown
            return Org(oid, "", "", "")
        return Org(oid, p.code, p.name_zh, p.name_en)

    facts = Facts(
        chain_id=deployment.chain_id, genesis_hash=deployment.genesis_hash, registry=registry,
        anchor=deployment.address("AccessLogAnchor"), grant_id=key, grant=grant, terms=terms,
        department=org(grant.department), office=org(office_id), events=events, reason=reason, as_of=as_of,
        language=language if language in LANGUAGES else LANGUAGES[0], signer=signer.address,
    )  # fmt: skip
    return sign(make_document(facts), signer)


# -- checking one -----------------------------------------------------------------------------------

_SHAPE: dict[str, type | tuple[type, ...]] = {
    "format": str, "receiptId": str, "asOf": dict, "language": str, "piiController": dict, "history": list,
    "evidence": dict, "terms": dict, "signer": str, "signature": str,
}  # fmt: skip


def _malformed(document: dict[str, Any]) -> str | None:
    for name, kind in _SHAPE.items():
        if not isinstance(document.get(name), kind):
            return name
    for name in ("chainId", "genesisHash", "consentRegistry", "accessLogAnchor", "grantId"):
        if name not in document["evidence"]:
            return f"evidence.{name}"
    for name, kind in (("block", int), ("blockHash", str), ("time", int)):
        if not isinstance(document["asOf"].get(name), kind):
            return f"asOf.{name}"
    for side in ("department", "office"):
        org = document["piiController"].get(side)
        if not isinstance(org, dict) or not isinstance(org.get("code"), str) or not isinstance(org.get("name"), dict):
            return f"piiController.{side}"
    for i, row in enumerate(document["history"]):
        if not isinstance(row, dict) or not isinstance(row.get("event"), str):
            return f"history[{i}]"
    try:
        formats.parse_id(str(document["evidence"]["grantId"]), field="grantId", what="grant id")
        to_checksum_address(document["evidence"]["consentRegistry"])
        to_checksum_address(document["evidence"]["accessLogAnchor"])
        to_checksum_address(document["signer"])
    except Exception:  # noqa: BLE001
        return "evidence"
    return None


def _diff(found: Any, expected: Any, path: str, out: list[Finding]) -> None:
    if isinstance(found, dict) and isinstance(expected, dict):
        for key in sorted(set(found) | set(expected)):
            _diff(found.get(key), expected.get(key), f"{path}.{key}" if path else key, out)
    elif isinstance(found, list) and isinstance(expected, list) and len(found) == len(expected):
        for i, (a, b) in enumerate(zip(found, expected, strict=True)):
            _diff(a, b, f"{path}[{i}]", out)
    elif found != expected or type(found) is not type(expected):
        out.append(Finding(ReceiptFinding.FIELD_MISMATCH, {"field": path, "receipt": found, "expected": expected}))


def verify(document: dict[str, Any], rpc_url: str) -> ReceiptVerdict:
    """Checks a receipt against the chain at ``rpc_url`` alone: every finding, not just the first."""
    verdict = ReceiptVerdict()
    found = document.get("format")
    if found != FORMAT:
        verdict.findings.append(Finding(ReceiptFinding.NOT_A_RECEIPT, {"found": found}))
        return verdict
    bad = _malformed(document)
    if bad is not None:
        verdict.findings.append(Finding(ReceiptFinding.MALFORMED, {"field": bad}))
        return verdict
    findings = verdict.findings
    evidence, grant_id = document["evidence"], str(document["evidence"]["grantId"]).lower()
    verdict.grant_id = grant_id

    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        recovered = Account.recover_message(
            encode_defunct(formats.canonical_json(body)), signature=formats.from_hex(document["signature"])
        )
    except Exception:  # noqa: BLE001 - unreadable signature or a body that is not canonical JSON
        recovered = None
    if recovered != to_checksum_address(document["signer"]):
        findings.append(Finding(ReceiptFinding.BAD_SIGNATURE, {"signer": document["signer"], "recovered": recovered}))

    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    try:
        chain_id = int(w3.eth.chain_id)
        genesis = formats.to_hex(bytes(w3.eth.get_block(0)["hash"]))
    except Exception as exc:  # noqa: BLE001 - any transport failure means the same
        findings.append(Finding(ReceiptFinding.NO_NODE, {"url": rpc_url, "problem": type(exc).__name__}))
        return verdict
    for name, value in (("chainId", chain_id), ("genesisHash", genesis)):
        if evidence[name] != value:
            findings.append(
                Finding(ReceiptFinding.OTHER_CHAIN, {"field": name, "receipt": evidence[name], "chain": value})
            )
    if any(f.code == ReceiptFinding.OTHER_CHAIN for f in findings):
        return verdict

    registry, anchor_address = (
        to_checksum_address(evidence["consentRegistry"]),
        to_checksum_address(evidence["accessLogAnchor"]),
    )
    chain = _Chain(w3, registry)
    try:
        if not w3.eth.get_code(registry):
            raise VerificationError("no code")
        domain = chain.registry.functions.eip712Domain().call()
        anchor = w3.eth.contract(address=anchor_address, abi=_abi("AccessLogAnchor"))
        if domain[1] != "gridledger ConsentRegistry" or to_checksum_address(domain[4]) != registry:
            raise VerificationError("not a ConsentRegistry")
        if anchor.functions.membership().call() != chain.registry.functions.membership().call():
            raise VerificationError("the anchor answers to another Membership")
    except Exception:  # noqa: BLE001 - no contract, or not these
        findings.append(Finding(ReceiptFinding.NO_REGISTRY, {"address": registry}))
        return verdict

    head = chain.block("latest")
    grant = chain.grant(grant_id, head[0])
    if grant is None:
        findings.append(Finding(ReceiptFinding.UNKNOWN_GRANT, {"grant": grant_id}))
        return verdict
    verdict.status = _now_status(grant, head[2])
    terms = document["terms"]
    try:
        computed = formats.to_hex(formats.terms_hash(terms))
    except Exception:  # noqa: BLE001
        computed = None
    if computed != grant.terms_hash:
        findings.append(Finding(ReceiptFinding.TERMS_HASH, {"computed": computed, "chain": grant.terms_hash}))

    as_of = document["asOf"]
    try:
        block = chain.block(as_of["block"]) if 0 <= as_of["block"] <= head[0] else None
    except Exception:  # noqa: BLE001
        block = None
    if block is None or block[1] != as_of["blockHash"] or block[2] != as_of["time"]:
        findings.append(Finding(ReceiptFinding.AS_OF_MISMATCH, {"block": as_of["block"]}))
        block = (as_of["block"], str(as_of["blockHash"]), as_of["time"])

    # The history: each transaction the receipt names, as the chain has it.
    events: list[TxEvent] = []
    reason = None
    for i, row in enumerate(document["history"]):
        if row["event"] == ReceiptEvent.EXPIRED:
            continue
        kind = ReceiptEvent(row["event"]) if row["event"] in ReceiptEvent._value2member_map_ else None
        event = chain.event_in(str(row.get("txHash")), grant_id, kind) if kind is not None else None
        if event is None or event.block > block[0] or event.event in {e.event for e in events}:
            findings.append(
                Finding(
                    ReceiptFinding.EVENT_NOT_FOUND, {"index": i, "event": row["event"], "txHash": row.get("txHash")}
                )
            )
            continue
        events.append(event)
        if event.event == ReceiptEvent.REVOKED and row.get("reason") is not None:
            if not isinstance(row["reason"], str) or formats.to_hex(keccak(text=row["reason"])) != event.reason_hash:
                findings.append(Finding(ReceiptFinding.REASON_MISMATCH, {"index": i}))
            else:
                reason = row["reason"]
    events.sort(key=lambda e: e.block)
    if not any(e.event == ReceiptEvent.ISSUED for e in events):
        findings.append(Finding(ReceiptFinding.HISTORY_INCOMPLETE, {"event": str(ReceiptEvent.ISSUED)}))
    if grant.status in (2, 3):
        changed = ReceiptEvent.WITHDRAWN if grant.status == 2 else ReceiptEvent.REVOKED
        if changed not in {e.event for e in events}:
            after = grant.status_at > block[2]
            if grant.status_at == block[2]:  # the same second: was it in a later block than asOf?
                after = chain.search(grant_id, changed, block[0] + 1, min(head[0], block[0] + MAX_SCAN)) is not None
            if after:
                findings.append(Finding(ReceiptFinding.STATUS_CHANGED, {
                    "receipt": document.get("status"), "chain": str(verdict.status), "at": grant.status_at,
                }))  # fmt: skip
            else:
                findings.append(Finding(ReceiptFinding.HISTORY_INCOMPLETE, {"event": str(changed)}))
    if grant.valid_until <= head[2] and grant.valid_until > block[2] and grant.status == 1:
        verdict.notes.append(Finding(ReceiptNote.EXPIRED_SINCE, {"until": grant.valid_until}))

    # The signer: an anchorer the chain names for the office governing the department.
    office_id = chain.office_of(grant.department)
    signer_office = formats.to_hex(
        bytes(anchor.functions.anchorerOffice(to_checksum_address(document["signer"])).call())
    )
    if signer_office != office_id:
        findings.append(Finding(ReceiptFinding.SIGNER_NOT_OFFICE, {
            "signer": document["signer"], "office": None if int(signer_office, 16) == 0 else signer_office,
        }))  # fmt: skip

    # Everything else: what the facts make, field by field.
    from .membership import org_id

    def org(oid: str, side: str) -> Org:
        given = document["piiController"][side]
        code, names = given.get("code"), given.get("name") or {}
        try:
            known = formats.to_hex(org_id(code)) == oid
        except Exception:  # noqa: BLE001 - not a code at all
            known = False
        if not known:
            return Org(oid, "", "", "")  # the diff names the code the chain does not know
        return Org(oid, code, str(names.get("zh", "")), str(names.get("en", "")))

    facts = Facts(
        chain_id=chain_id, genesis_hash=genesis, registry=registry, anchor=anchor_address, grant_id=grant_id,
        grant=grant, terms=terms, department=org(grant.department, "department"), office=org(office_id, "office"),
        events=events, reason=reason, as_of=block,
        language=document["language"] if document["language"] in LANGUAGES else "", signer=to_checksum_address(document["signer"]),
    )  # fmt: skip
    expected = make_document(facts)
    _diff(body, expected, "", findings)
    _diff_terms(terms, expected, findings)
    return verdict


def _diff_terms(terms: dict[str, Any], expected: dict[str, Any], out: list[Finding]) -> None:
    """The terms against the chain's fields and the receipt's: a terms document that hashes
    right but says something else cannot exist, but a receipt whose terms were altered is
    named by field as well as by its hash."""
    parts: list[dict[str, Any]] = [
        terms[k] if isinstance(terms.get(k), dict) else {} for k in ("controller", "purpose", "legalBasis")
    ]
    controller, purpose, basis = parts
    checks = {
        "terms.grantId": (terms.get("grantId"), expected["evidence"]["grantId"]),
        "terms.categories": (_sorted(terms.get("categories")), sorted(c["name"] for c in expected["dataCategories"])),
        "terms.validFrom": (terms.get("validFrom"), expected["validity"]["from"]),
        "terms.validUntil": (terms.get("validUntil"), expected["validity"]["until"]),
        "terms.controller.department": (controller.get("department"), expected["piiController"]["department"]["id"]),
        "terms.controller.code": (controller.get("code"), expected["piiController"]["department"]["code"]),
        "terms.purpose.code": (purpose.get("code"), expected["purposes"][0]["code"]),
        "terms.legalBasis.code": (basis.get("code"), expected["legalBasis"]["code"]),
    }  # fmt: skip
    for path, (given, want) in checks.items():
        if given != want:
            out.append(Finding(ReceiptFinding.FIELD_MISMATCH, {"field": path, "receipt": given, "expected": want}))


def _sorted(value: Any) -> Any:
    """A list of names in a stable order (the terms keep the order they were chosen in)."""
    return sorted(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value


def _now_status(grant: ChainGrant, now: int) -> GrantStatus:
    if grant.status == 2:
        return GrantStatus.WITHDRAWN
    if grant.status == 3:
        return GrantStatus.REVOKED
    return window_at(grant.valid_from, grant.valid_until, now)


# -- who may have one -------------------------------------------------------------------------------


class ReceiptReader(StrEnum):
    """Why an account may have a grant's receipt (:func:`reader_of`)."""

    RESIDENT = "resident"  # the grant is theirs
    DEPARTMENT = "department"  # an active officer of the grant's department
    OFFICE = "office"  # an active admin of the office governing the department


def reader_of(view: Any, grant_id: str, address: str) -> ReceiptReader:
    """Who ``address`` is to grant ``grant_id``, from the chain's view (:class:`ledger.chainview.
    ChainView`), never from a row. Raises :class:`NotFoundError` for anyone else, as for a grant
    the chain does not know: a grant id cannot be probed."""
    key = formats.parse_id(grant_id, field="grant_id", what="grant id")
    grant = view.grant(key)
    if grant is not None:
        if grant.resident.lower() == address.lower():
            return ReceiptReader.RESIDENT
        member = view.member(address)
        if member is not None and member.acts_as("department-officer") and member.org_id == grant.department:
            return ReceiptReader.DEPARTMENT
        department = view.organisation(grant.department)
        if (
            member is not None
            and member.acts_as("office-admin")
            and department is not None
            and member.org_id == department.office
        ):
            return ReceiptReader.OFFICE
    raise NotFoundError(f"no grant {key} whose receipt this account may have")
