"""Deploying the contracts and recording the deployment in ``var/deployment.json``.

Run again against the same chain, it reuses the deployment after checking the code
at each address. Against a different chain it refuses unless told to redeploy.
Deployment transactions go through the outbox like every other write.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode as abi_encode
from web3 import Web3

from ledger import deployment as deployment_file
from ledger.chain import CONTRACTS, artifact
from ledger.context import Ledger
from ledger.deployment import Deployed, Deployment
from ledger.errors import ConfigurationError, ContractRevert
from ledger.outbox import Call, raise_for_revert

GOVERNANCE_LABEL = "governance"
DEPLOY_GAS = 6_000_000


@dataclass(frozen=True)
class DeployResult:
    deployment: Deployment
    reused: bool
    reason: str | None = None


def constructor_args(name: str, governance: str, deployed: dict[str, Deployed]) -> bytes:
    """The ABI-encoded constructor arguments of ``name``; ``deployed`` holds the
    contracts deployed before it (in :data:`CONTRACTS` order)."""
    if name == "Membership":
        return abi_encode(["address"], [governance])
    if name in ("RecordLedger", "ConsentRegistry", "AccessLogAnchor"):
        membership = deployed.get("Membership")
        if membership is None:
            raise ConfigurationError(f"{name} needs Membership deployed before it; check the order of CONTRACTS")
        return abi_encode(["address"], [membership.address])
    raise ConfigurationError(f"no constructor arguments known for {name}")


def deploy(ledger: Ledger, *, redeploy: bool = False) -> DeployResult:
    settings = ledger.settings
    hashes = ledger.artifact_hashes()
    existing = deployment_file.load(settings.deployment_file)
    if existing is not None:
        problem = deployment_file.mismatch(existing, ledger.w3, hashes)
        if problem is None:
            ledger.check_binding(existing)
            ledger.bind(existing)
            return DeployResult(existing, reused=True)
        if not redeploy:
            raise ConfigurationError(
                f"{settings.deployment_file} cannot be reused: {problem}. "
                "Run 'gridledger deploy --redeploy' to deploy afresh (with a fresh database)."
            )
    else:
        problem = None
    ledger.require_unbound()

    governance = ledger.new_account(GOVERNANCE_LABEL, "governance")
    ledger.outbox.prepare(governance)
    genesis = deployment_file.genesis_hash(ledger.w3)
    contracts: dict[str, Deployed] = {}
    for name in CONTRACTS:
        data = artifact(settings, name)
        code = bytes.fromhex(data["bytecode"][2:]) + constructor_args(name, governance.address, contracts)
        with ledger.store.session() as session, session.begin():
            row = ledger.outbox.enqueue(session, governance, Call(None, code, DEPLOY_GAS, f"deploy.{name}"))
            tx_hash = row.tx_hash
        (mined,) = ledger.outbox.wait([tx_hash], timeout=120)
        try:
            raise_for_revert([mined])
        except ContractRevert as exc:
            raise ConfigurationError(f"deploying {name} reverted: {exc}") from exc
        address = Web3.to_checksum_address(mined.contract_address or "")
        runtime = ledger.w3.eth.get_code(address)
        contracts[name] = Deployed(
            address, tx_hash, int(mined.block_number or 0), hashes[name], Web3.keccak(runtime).to_0x_hex()
        )
    result = Deployment(
        chain_id=settings.chain_id,
        genesis_hash=genesis,
        deployer=governance.address,
        block=min(c.block for c in contracts.values()),
        contracts=contracts,
    )
    ledger.bind(result)
    deployment_file.save(settings.deployment_file, result)
    ledger.__dict__.pop("deployment", None)
    return DeployResult(result, reused=False, reason=problem)
