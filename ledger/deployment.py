"""The deployment record ``var/deployment.json``: which chain, which addresses.

It binds an installation to one chain (chain id and genesis block hash, since every
fresh Anvil has the same chain id) and to the artifacts the contracts were built from.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from .chain import rpc
from .errors import ConfigurationError


@dataclass(frozen=True)
class Deployed:
    address: str
    tx_hash: str
    block: int
    artifact_hash: str
    code_hash: str


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    genesis_hash: str
    deployer: str
    block: int
    contracts: dict[str, Deployed] = field(default_factory=dict)

    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError:
            raise ConfigurationError(f"the deployment has no {name}; run 'gridledger deploy --redeploy'") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "chainId": self.chain_id,
            "genesisHash": self.genesis_hash,
            "deployer": self.deployer,
            "block": self.block,
            "contracts": {
                name: {
                    "address": c.address,
                    "txHash": c.tx_hash,
                    "block": c.block,
                    "artifactHash": c.artifact_hash,
                    "codeHash": c.code_hash,
                }
                for name, c in self.contracts.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        try:
            return cls(
                chain_id=int(data["chainId"]),
                genesis_hash=str(data["genesisHash"]),
                deployer=str(data["deployer"]),
                block=int(data["block"]),
                contracts={
                    name: Deployed(c["address"], c["txHash"], int(c["block"]), c["artifactHash"], c["codeHash"])
                    for name, c in data["contracts"].items()
                },
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"the deployment record is malformed ({exc}); run 'gridledger deploy --redeploy'"
            ) from exc

    def binding(self) -> str:
        """What a database is bound to: chain, genesis and contract addresses."""
        return json.dumps(
            {
                "chainId": self.chain_id,
                "genesisHash": self.genesis_hash,
                "contracts": {n: c.address for n, c in sorted(self.contracts.items())},
            },
            sort_keys=True,
        )


#: Builds of a contract from earlier releases that this code still drives through today's ABI
#: (every function, event and error of theirs is in it): an installation deployed from one
#: upgrades without deploying again, and keeps that build's behaviour and cost. Deploying again
#: would start a new chain state, not carry the old one over.
EARLIER_BUILDS: dict[str, frozenset[str]] = {
    # Checkpoints in three storage slots (before issue 14's two); the same functions and events.
    "AccessLogAnchor": frozenset({"sha256:ce22d492bc88f2bb08ccfa6e668c52718415be66741c32453b317205bf5e3285"}),
}


def load(path: Path) -> Deployment | None:
    if not path.is_file():
        return None
    try:
        return Deployment.from_json(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path} is not JSON ({exc}); run 'gridledger deploy --redeploy'") from exc


def save(path: Path, deployment: Deployment) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(deployment.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def genesis_hash(w3: Web3) -> str:
    block = rpc(w3, "eth_getBlockByNumber", ["0x0", False])
    return str(block["hash"])


def mismatch(deployment: Deployment, w3: Web3, artifact_hashes: dict[str, str]) -> str | None:
    """Why ``deployment`` is not usable on the chain behind ``w3``, or None when it is."""
    chain_id = w3.eth.chain_id
    if chain_id != deployment.chain_id:
        return f"it was made on chain {deployment.chain_id}, the node is chain {chain_id}"
    if genesis_hash(w3) != deployment.genesis_hash:
        return "it was made on another chain (the genesis block differs): the node was started afresh"
    for name, deployed in deployment.contracts.items():
        code = w3.eth.get_code(Web3.to_checksum_address(deployed.address))
        if not code:
            return f"there is no code at {name}'s address {deployed.address}: the node lost the deployment"
        if Web3.keccak(code).to_0x_hex() != deployed.code_hash:
            return f"the code at {name}'s address {deployed.address} is not what was deployed"
        if artifact_hashes.get(name) != deployed.artifact_hash and deployed.artifact_hash not in EARLIER_BUILDS.get(
            name, frozenset()
        ):
            return f"{name} was deployed from an older build of the contracts"
    missing = set(artifact_hashes) - set(deployment.contracts)
    if missing:
        return f"contracts not deployed yet: {', '.join(sorted(missing))}"
    return None
