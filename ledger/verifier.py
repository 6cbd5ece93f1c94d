"""The standalone verifier: checks a proof file or a bundle against the chain alone.

Consensus-critical: what it accepts is what gridledger promises residents and auditors.

No database, no keys, no settings: only the file, a JSON-RPC URL and the
AccessLogAnchor ABI shipped with the code. Each check is a numbered step; the first
that fails decides the verdict and is named. Anyone (a resident, a court, another
office) can run it against any node of the chain.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import to_checksum_address
from web3 import Web3

from . import formats
from .accesslog import FORMAT as LEAF_FORMAT
from .accesslog import LEAF_FIELDS, canonical_leaf
from .errors import VerificationError
from .history import BUNDLE_FORMAT, PROOF_FORMAT
from .merkle import leaf_hash, verify_inclusion
from .settings import PROJECT_ROOT


@dataclass
class Step:
    number: int
    title: str
    ok: bool = False
    detail: str = ""


@dataclass
class Verdict:
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def failed(self) -> Step | None:
        return next((s for s in self.steps if not s.ok), None)

    def require(self) -> None:
        """Raises :class:`VerificationError` naming the failing step; returns when valid."""
        failed = self.failed
        if failed is not None or not self.steps:
            where = f"step {failed.number} ({failed.title}): {failed.detail}" if failed else "nothing was checked"
            raise VerificationError(f"not valid: {where}")

    def run(self, title: str, check: Callable[[], str]) -> bool:
        step = Step(len(self.steps) + 1, title)
        self.steps.append(step)
        try:
            step.detail = check()
            step.ok = True
        except (VerificationError, KeyError, TypeError, ValueError) as exc:
            step.detail = _message(exc)
        except Exception as exc:  # noqa: BLE001 - a node failure is a failed step, not a crash
            step.detail = f"{type(exc).__name__}: {exc}"
        return step.ok


def _message(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"the file lacks the field {exc}"
    return str(exc)


def _anchor_abi() -> list[dict[str, Any]]:
    path = PROJECT_ROOT / "contracts" / "build" / "AccessLogAnchor.json"
    return list(json.loads(path.read_text(encoding="utf-8"))["abi"])


class _Chain:
    def __init__(self, rpc_url: str) -> None:
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        self.rpc_url = rpc_url


def verify_proof(document: dict[str, Any], rpc_url: str) -> Verdict:
    """Checks one entry (a proof file) against the chain."""
    verdict = Verdict()
    if not verdict.run("the file is a gridledger proof", lambda: _format(document, PROOF_FORMAT)):
        return verdict
    chain = _Chain(rpc_url)
    if not _chain_steps(verdict, chain, document):
        return verdict
    verdict.run(
        "the entry is included in the anchored checkpoint", lambda: _entry(document["entry"], document["checkpoint"])
    )
    return verdict


def verify_bundle(document: dict[str, Any], rpc_url: str) -> Verdict:
    """Checks a bundle: its signature, its checkpoint, every entry's proof and scope."""
    verdict = Verdict()
    if not verdict.run("the file is a gridledger bundle", lambda: _format(document, BUNDLE_FORMAT)):
        return verdict
    if not verdict.run("the bundle's signature is its signer's", lambda: _signature(document)):
        return verdict
    chain = _Chain(rpc_url)
    if not _chain_steps(verdict, chain, document):
        return verdict
    if not verdict.run("the signer is a designated anchorer on chain", lambda: _signer(chain, document)):
        return verdict
    if not verdict.run("every entry is included in the checkpoint", lambda: _entries(document)):
        return verdict
    verdict.run("every entry is within the bundle's scope, none missing", lambda: _scope(document))
    return verdict


def load(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise VerificationError(f"{path} cannot be read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise VerificationError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise VerificationError(f"{path} holds JSON, but not an object")
    return document


# -- steps ------------------------------------------------------------------------------------


def _format(document: dict[str, Any], expected: str) -> str:
    found = document.get("format")
    if found != expected:
        raise VerificationError(f"format is {found!r}, expected {expected!r}")
    return expected


def _chain_steps(verdict: Verdict, chain: _Chain, document: dict[str, Any]) -> bool:
    return (
        verdict.run("the node is on the bundle's chain", lambda: _chain_id(chain, document))
        and verdict.run("AccessLogAnchor is deployed at the address", lambda: _contract(chain, document))
        and verdict.run("the chain holds the checkpoint", lambda: _checkpoint(chain, document))
        and verdict.run("the checkpoint's transaction anchored it", lambda: _transaction(chain, document))
    )


def _chain_id(chain: _Chain, document: dict[str, Any]) -> str:
    try:
        found = chain.w3.eth.chain_id
    except Exception as exc:  # noqa: BLE001
        raise VerificationError(f"no node answers at {chain.rpc_url}: {type(exc).__name__}") from exc
    if found != document["chainId"]:
        raise VerificationError(f"the node is chain {found}; the file names chain {document['chainId']}")
    return f"chain {found} at {chain.rpc_url}"


def _anchor(chain: _Chain, document: dict[str, Any]) -> Any:
    return chain.w3.eth.contract(address=to_checksum_address(document["contract"]), abi=_anchor_abi())


def _contract(chain: _Chain, document: dict[str, Any]) -> str:
    address = to_checksum_address(document["contract"])
    if not chain.w3.eth.get_code(address):
        raise VerificationError(f"no contract at {address}")
    _anchor(chain, document).functions.latest().call()
    return address


def _checkpoint(chain: _Chain, document: dict[str, Any]) -> str:
    cp = document["checkpoint"]
    index, size, root = int(cp["index"]), int(cp["size"]), formats.from_hex(cp["root"])
    try:
        on_chain = _anchor(chain, document).functions.checkpointAt(index).call()
    except Exception as exc:  # noqa: BLE001 - out of range reverts
        raise VerificationError(f"the chain has no checkpoint #{index}") from exc
    if int(on_chain[0]) != size or bytes(on_chain[1]) != root:
        raise VerificationError(
            f"checkpoint #{index} on chain is size {on_chain[0]}, root 0x{bytes(on_chain[1]).hex()}; "
            f"the file says size {size}, root {cp['root']}"
        )
    return f"checkpoint #{index}: {size} events, root {cp['root']}"


def _transaction(chain: _Chain, document: dict[str, Any]) -> str:
    cp = document["checkpoint"]
    receipt = chain.w3.eth.get_transaction_receipt(cp["txHash"])
    if receipt["status"] != 1 or int(receipt["blockNumber"]) != int(cp["block"]):
        raise VerificationError(f"transaction {cp['txHash']} did not succeed in block {cp['block']}")
    events = _anchor(chain, document).events.CheckpointAppended().process_receipt(receipt)
    for event in events:
        args = event["args"]
        if (
            int(args["index"]) == int(cp["index"])
            and int(args["size"]) == int(cp["size"])
            and formats.to_hex(bytes(args["root"])) == cp["root"]
        ):
            return f"{cp['txHash']} in block {cp['block']}"
    raise VerificationError(f"transaction {cp['txHash']} did not append checkpoint #{cp['index']}")


def _check_leaf(leaf: dict[str, Any]) -> bytes:
    if leaf.get("format") != LEAF_FORMAT or set(leaf) != set(LEAF_FIELDS):
        raise VerificationError(f"the leaf is not a {LEAF_FORMAT} event")
    return leaf_hash(canonical_leaf(leaf))


def _entry(entry: dict[str, Any], checkpoint: dict[str, Any]) -> str:
    seq, size = int(entry["seq"]), int(checkpoint["size"])
    if "leaf" in entry:
        digest = _check_leaf(entry["leaf"])
        if entry["leaf"]["seq"] != seq:
            raise VerificationError(f"entry #{seq} holds the leaf of #{entry['leaf']['seq']}")
    else:
        digest = formats.from_hex(entry["leafHash"])
    if entry.get("proof") is None:
        raise VerificationError(f"entry #{seq} has no inclusion proof")
    proof = [formats.from_hex(h) for h in entry["proof"]]
    try:
        verify_inclusion(seq, size, digest, proof, formats.from_hex(checkpoint["root"]))
    except VerificationError as exc:
        raise VerificationError(f"entry #{seq}: {exc}") from exc
    return f"entry #{seq}" + (
        " (withheld until " + str(entry.get("disclosureDate")) + ")" if "leaf" not in entry else ""
    )


def _signature(document: dict[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != "signature"}
    message = encode_defunct(formats.canonical_json(body))
    try:
        signer = Account.recover_message(message, signature=formats.from_hex(document["signature"]))
    except Exception as exc:  # noqa: BLE001
        raise VerificationError(f"the signature is malformed: {exc}") from exc
    if signer != to_checksum_address(document["signer"]):
        raise VerificationError(f"signed by {signer}, not by the named signer {document['signer']}")
    return f"signed by {signer}"


def _signer(chain: _Chain, document: dict[str, Any]) -> str:
    office = bytes(_anchor(chain, document).functions.anchorerOffice(to_checksum_address(document["signer"])).call())
    if office == bytes(32):
        raise VerificationError(f"{document['signer']} is not a designated anchorer of this log")
    return f"anchorer for office {formats.to_hex(office)}"


def _entries(document: dict[str, Any]) -> str:
    checkpoint = document["checkpoint"]
    for entry in [*document["entries"], *document["withheld"]]:
        _entry(entry, checkpoint)
    return f"{len(document['entries'])} entries and {len(document['withheld'])} withheld, all included"


def _scope(document: dict[str, Any]) -> str:
    from datetime import date, datetime, timedelta, timezone

    scope = document["scope"]
    china = timezone(timedelta(hours=8))
    seqs = [int(e["seq"]) for e in [*document["entries"], *document["withheld"]]]
    if len(set(seqs)) != len(seqs):
        raise VerificationError("an entry appears twice")
    for entry in document["entries"]:
        leaf = entry["leaf"]
        if scope.get("resident") and leaf["resident"] != scope["resident"]:
            raise VerificationError(f"entry #{entry['seq']} is about another resident")
        if scope.get("department") and leaf["organisation"] != scope["department"]:
            raise VerificationError(f"entry #{entry['seq']} is by another organisation")
        day = datetime.fromtimestamp(leaf["time"] / 1000, china).date()
        if scope.get("from") and day < date.fromisoformat(scope["from"]):
            raise VerificationError(f"entry #{entry['seq']} is before {scope['from']}")
        if scope.get("to") and day > date.fromisoformat(scope["to"]):
            raise VerificationError(f"entry #{entry['seq']} is after {scope['to']}")
    if scope.get("resident") and not scope.get("from") and not scope.get("to") and not scope.get("department"):
        numbers = sorted(
            [int(e["leaf"]["residentSeq"]) for e in document["entries"]]
            + [int(e["residentSeq"]) for e in document["withheld"]]
        )
        if numbers != list(range(len(numbers))):
            missing = sorted(set(range(numbers[-1] + 1 if numbers else 0)) - set(numbers))
            raise VerificationError(f"the resident's access numbers {missing[:10]} are missing")
        return f"{len(numbers)} accesses, numbered 0..{len(numbers) - 1} without a gap"
    return "all entries match; completeness is proven only for a resident's whole history"
