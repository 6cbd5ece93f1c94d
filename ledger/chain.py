"""Talking to the chain: connection, contract artifacts, and decoding reverts.

Only standard JSON-RPC is used (``eth_call``, ``eth_sendRawTransaction``,
``eth_getLogs`` ...), so the same code runs against Anvil and Hyperledger Besu.
Nothing here calls ``eth_sendTransaction`` or ``eth_accounts``: every write is
signed locally.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, cast

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import is_address, keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract

from .errors import ConfigurationError, ContractRevert, NodeError
from .settings import Settings

#: The contracts gridledger deploys, in deployment order.
CONTRACTS = ("Membership", "RecordLedger", "ConsentRegistry", "AccessLogAnchor")


def connect(settings: Settings, *, timeout: float = 30.0) -> Web3:
    """A Web3 connected to ``settings.rpc_url`` whose chain id is ``settings.chain_id``."""
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": timeout}))
    try:
        chain_id = w3.eth.chain_id
    except Exception as exc:  # noqa: BLE001 - any transport failure means the same to the user
        raise NodeError(f"no chain node answers at {settings.rpc_url}: start one with 'gridledger node start'") from exc
    if chain_id != settings.chain_id:
        raise NodeError(f"the node at {settings.rpc_url} is chain {chain_id}; expected chain {settings.chain_id}")
    return w3


def rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    """A raw JSON-RPC call; raises :class:`NodeError` on an error reply."""
    reply = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    if "error" in reply:
        raise NodeError(f"{method} failed: {reply['error'].get('message')}")
    return reply["result"]


@cache
def _read_artifact(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"no compiled artifact at {path}; run 'gridledger compile'") from None


def artifact(settings: Settings, name: str) -> dict[str, Any]:
    return _read_artifact(settings.build_dir / f"{name}.json")


def artifact_hash(settings: Settings, name: str) -> str:
    """SHA-256 of an artifact's ABI and creation bytecode: what a deployment was made from."""
    data = artifact(settings, name)
    payload = json.dumps({"abi": data["abi"], "bytecode": data["bytecode"]}, sort_keys=True).encode()
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def contract(w3: Web3, settings: Settings, name: str, address: str) -> Contract:
    return w3.eth.contract(address=to_checksum_address(address), abi=artifact(settings, name)["abi"])


@dataclass(frozen=True)
class _ErrorAbi:
    name: str
    names: tuple[str, ...]
    types: tuple[str, ...]


@dataclass(frozen=True)
class Call:
    """One contract call to be signed: target (None to deploy), calldata, gas limit."""

    to: str | None
    data: bytes
    gas: int
    purpose: str


class ContractCalls:
    """Builds outbox :class:`~ledger.outbox.Call` objects for one deployed contract.

    Calldata is encoded with eth-abi from selectors and types computed once from the
    ABI: web3's per-call ``encode_abi`` costs more than signing the transaction."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.address = contract.address
        self._functions: dict[str, tuple[bytes, list[str]]] = {}
        for item in cast(list[dict[str, Any]], contract.abi):
            if item.get("type") == "function":
                types = [abi_type(i) for i in item["inputs"]]
                selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                self._functions[item["name"]] = (selector, types)

    def _call(self, fn_name: str, args: Sequence[object], gas: int, purpose: str) -> Call:
        selector, types = self._functions[fn_name]
        return Call(to=self.address, data=selector + abi_encode(types, list(args)), gas=gas, purpose=purpose)


def abi_type(item: dict[str, Any]) -> str:
    """The canonical type string of an ABI input, tuples spelled out."""
    if item["type"].startswith("tuple"):
        inner = ",".join(abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])


class ErrorDecoder:
    """Turns revert data into the Solidity error's name and arguments."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, _ErrorAbi] = {
            bytes.fromhex("08c379a0"): _ErrorAbi("Error", ("message",), ("string",)),
            bytes.fromhex("4e487b71"): _ErrorAbi("Panic", ("code",), ("uint256",)),
        }
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = tuple(abi_type(i) for i in item["inputs"])
                selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                self._errors[selector] = _ErrorAbi(item["name"], tuple(i["name"] for i in item["inputs"]), types)

    @classmethod
    def for_settings(cls, settings: Settings) -> ErrorDecoder:
        return cls(artifact(settings, name)["abi"] for name in CONTRACTS)

    def decode(self, data: bytes | str | None) -> ContractRevert:
        raw = (
            bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else bytes(data or b"")
        )
        if len(raw) < 4:
            return ContractRevert("", raw="0x" + raw.hex())
        known = self._errors.get(raw[:4])
        if known is None:
            return ContractRevert(f"UnknownError(0x{raw[:4].hex()})", raw="0x" + raw.hex())
        try:
            values = abi_decode(list(known.types), raw[4:])
        except Exception:  # noqa: BLE001 - malformed data still deserves a name
            return ContractRevert(known.name, raw="0x" + raw.hex())
        return ContractRevert(
            known.name, dict(zip(known.names, (jsonable(v) for v in values), strict=False)), raw="0x" + raw.hex()
        )


#: Addresses remembered checksummed (checksumming costs tens of µs; a process meets few addresses).
ADDRESS_CACHE = 65_536


@lru_cache(maxsize=ADDRESS_CACHE)
def checksum_address(address: str) -> str:
    """``address`` in its EIP-55 checksummed form (remembered; raises ``ValueError`` on
    what is not an address, as ``to_checksum_address`` does)."""
    return str(to_checksum_address(address))


@lru_cache(maxsize=ADDRESS_CACHE)
def as_address(text: str) -> str | None:
    """``text`` checksummed when it is an address (any case), else None (remembered)."""
    return str(to_checksum_address(text)) if is_address(text) else None


def jsonable(value: Any) -> Any:
    """A decoded ABI value as JSON wants it: bytes as 0x-hex, addresses checksummed."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return checksum_address(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def revert_data(error: dict[str, Any]) -> str | None:
    """The revert data in a JSON-RPC error object (Anvil and Besu both use ``data``)."""
    data = error.get("data")
    if isinstance(data, dict):  # some nodes nest it
        data = data.get("data") or data.get("result")
    if isinstance(data, str) and data.startswith("0x"):
        return data
    return None


def simulate(w3: Web3, decoder: ErrorDecoder, tx: dict[str, Any], block: str | int = "latest") -> bytes:
    """``eth_call`` of ``tx``; raises the decoded :class:`ContractRevert` if it would revert."""
    call = {k: v for k, v in tx.items() if k in ("from", "to", "data", "gas", "value")}
    for key in ("gas", "value"):
        if key in call and isinstance(call[key], int):
            call[key] = hex(call[key])
    block_id = hex(block) if isinstance(block, int) else block
    reply = w3.provider.make_request("eth_call", [call, block_id])  # type: ignore[arg-type]
    if "error" in reply:
        data = revert_data(dict(reply["error"]))
        if data is None and "revert" not in str(reply["error"].get("message", "")).lower():
            raise NodeError(f"eth_call failed: {reply['error'].get('message')}")
        raise decoder.decode(data)
    result = reply["result"]
    return bytes.fromhex(result[2:])
