"""Deployment: reused on the same chain, refused on another unless redeploying, and a
redeploy never reuses a database that serves another deployment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ledger import deployment as deployment_file
from ledger.context import Ledger
from ledger.errors import ConfigurationError, StoreError
from ledger.settings import Settings
from node.deploy import deploy


def _private_var(settings: Settings, tmp_path: Path) -> Settings:
    """The session's deployment and keys, copied so this test may change them."""
    var = tmp_path / "var"
    shutil.copytree(settings.keys_dir, var / "keys")
    shutil.copyfile(settings.deployment_file, var / "deployment.json")
    return settings.with_(var_dir=var)


def test_second_deploy_reuses_the_deployment(ledger: Ledger) -> None:
    before = ledger.settings.deployment_file.read_text()
    result = deploy(ledger)
    assert result.reused
    assert ledger.settings.deployment_file.read_text() == before
    record = json.loads(before)
    assert set(record) == {"chainId", "genesisHash", "deployer", "block", "contracts"}
    membership = record["contracts"]["Membership"]
    assert ledger.w3.keccak(ledger.w3.eth.get_code(membership["address"])).to_0x_hex() == membership["codeHash"]
    assert membership["artifactHash"].startswith("sha256:")


def test_deployment_of_another_chain_is_refused_without_redeploy(ledger: Ledger, tmp_path: Path) -> None:
    settings = _private_var(ledger.settings, tmp_path)
    record = json.loads(settings.deployment_file.read_text())
    record["genesisHash"] = "0x" + "ab" * 32
    settings.deployment_file.write_text(json.dumps(record))
    other = Ledger(settings, ledger.store, ledger.w3)
    with pytest.raises(ConfigurationError, match="another chain .* --redeploy"):
        deploy(other)
    with pytest.raises(ConfigurationError, match="cannot be used: it was made on another chain"):
        other.deployment  # noqa: B018 - every command checks before it acts


def test_redeploy_refuses_a_database_of_another_deployment(ledger: Ledger, tmp_path: Path) -> None:
    settings = _private_var(ledger.settings, tmp_path)
    settings.deployment_file.unlink()
    governance = ledger.address_of("governance")
    nonce_before = ledger.w3.eth.get_transaction_count(governance)
    with pytest.raises(StoreError, match="needs a fresh database"):
        deploy(Ledger(settings, ledger.store, ledger.w3), redeploy=True)
    assert ledger.w3.eth.get_transaction_count(governance) == nonce_before  # nothing was sent


def test_redeploy_with_a_fresh_database_makes_a_new_deployment(ledger: Ledger, tmp_path: Path) -> None:
    settings = _private_var(ledger.settings, tmp_path).with_(database_url=f"sqlite:///{tmp_path / 'fresh.db'}")
    record = json.loads(settings.deployment_file.read_text())
    record["genesisHash"] = "0x" + "cd" * 32
    settings.deployment_file.write_text(json.dumps(record))
    fresh = Ledger.open(settings, upgrade=True)
    try:
        result = deploy(fresh, redeploy=True)
        assert not result.reused and "another chain" in (result.reason or "")
        saved = deployment_file.load(settings.deployment_file)
        assert saved is not None
        assert saved.address("Membership") != ledger.deployment.address("Membership")
        assert saved.genesis_hash == deployment_file.genesis_hash(ledger.w3)
        assert deploy(fresh).reused  # and from now on it is reused
    finally:
        fresh.close()


def test_a_contract_from_a_known_earlier_build_is_still_used_and_an_unknown_build_is_not(ledger: Ledger) -> None:
    found = deployment_file.load(ledger.settings.deployment_file)
    assert found is not None
    hashes = ledger.artifact_hashes()
    assert deployment_file.mismatch(found, ledger.w3, hashes) is None
    # The session's chain runs today's build; a record naming an earlier one that this code still
    # drives (the same functions and events) is as good, any other build is refused.
    (earlier,) = deployment_file.EARLIER_BUILDS["AccessLogAnchor"]
    assert earlier != hashes["AccessLogAnchor"]
    older = deployment_file.Deployment(found.chain_id, found.genesis_hash, found.deployer, found.block, {
        name: deployment_file.Deployed(
            c.address, c.tx_hash, c.block, earlier if name == "AccessLogAnchor" else c.artifact_hash, c.code_hash
        )
        for name, c in found.contracts.items()
    })  # fmt: skip
    assert deployment_file.mismatch(older, ledger.w3, hashes) is None
    unknown = {**hashes, "AccessLogAnchor": "sha256:" + "0" * 64}  # the code builds something else today
    assert deployment_file.mismatch(found, ledger.w3, unknown) == (
        "AccessLogAnchor was deployed from an older build of the contracts"
    )
