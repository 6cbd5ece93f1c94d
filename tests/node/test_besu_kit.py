"""The Besu production kit: what it renders and what it refuses. Besu itself is not run."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import ConfigurationError
from node.besu import TEMPLATE_DIR, TEMPLATES, render, write_kit

GOVERNANCE = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
MEMBER = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
ENODE_1 = "enode://" + "a1" * 64 + "@10.0.0.11:30303"
ENODE_2 = "enode://" + "b2" * 64 + "@10.0.0.12:30303?discport=30304"
#: APIs gridledger may be given: the required ones and the documented optional ones.
ALLOWED_APIS = {"ETH", "NET", "WEB3", "DEBUG", "TXPOOL"}

COMPLETE_VALUES: dict[str, dict[str, str]] = {
    "qbftConfigFile.json": {"CHAIN_ID": "20261", "VALIDATORS": "4"},
    "config.toml": {
        "RPC_HOST": "10.0.0.11",
        "HOST_ALLOWLIST": '["localhost", "10.0.0.11"]',
        "BOOTNODES": json.dumps([ENODE_1]),
    },
    "permissions_config.toml": {
        "ACCOUNTS_ALLOWLIST": json.dumps([GOVERNANCE]),
        "NODES_ALLOWLIST": json.dumps([ENODE_1]),
    },
}


def template(name: str) -> str:
    return (TEMPLATE_DIR / TEMPLATES[name]).read_text(encoding="utf-8")


def kit(tmp_path: Path, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Writes the kit and returns (qbftConfigFile, config, permissions) parsed."""
    arguments: dict[str, Any] = {"chain_id": 20261, "accounts": [GOVERNANCE, MEMBER], "nodes": [ENODE_1, ENODE_2]}
    arguments.update(kwargs)
    write_kit(tmp_path, **arguments)
    genesis_input = json.loads((tmp_path / "qbftConfigFile.json").read_text(encoding="utf-8"))
    config = tomllib.loads((tmp_path / "config.toml").read_text(encoding="utf-8"))
    permissions = tomllib.loads((tmp_path / "permissions_config.toml").read_text(encoding="utf-8"))
    return genesis_input, config, permissions


# -- render ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_renders_with_complete_values_to_valid_json_or_toml(name: str) -> None:
    text = render(template(name), COMPLETE_VALUES[name])
    assert "{{" not in text and "}}" not in text
    parsed = json.loads(text) if name.endswith(".json") else tomllib.loads(text)
    assert parsed  # not empty


def test_render_replaces_each_placeholder_once_and_does_not_expand_values() -> None:
    assert render("a={{A}} b={{B}} a={{A}}", {"A": "1", "B": "{{A}}"}) == "a=1 b={{A}} a=1"


def test_a_missing_value_is_refused_naming_the_placeholder() -> None:
    values = dict(COMPLETE_VALUES["config.toml"])
    del values["BOOTNODES"]
    with pytest.raises(ConfigurationError, match=r"no value for \{\{BOOTNODES\}\}"):
        render(template("config.toml"), values)


def test_every_missing_value_is_named() -> None:
    with pytest.raises(ConfigurationError) as caught:
        render(template("qbftConfigFile.json"), {})
    assert "{{CHAIN_ID}}" in str(caught.value) and "{{VALIDATORS}}" in str(caught.value)


def test_an_unused_value_is_refused_naming_it() -> None:
    values = {**COMPLETE_VALUES["qbftConfigFile.json"], "GAS_LIMIT": "0x1"}
    with pytest.raises(ConfigurationError, match="not used by the template: GAS_LIMIT"):
        render(template("qbftConfigFile.json"), values)


def test_a_malformed_placeholder_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"malformed placeholder.*\{\{ chain id \}\}"):
        render("chainId={{ chain id }}", {})


# -- genesis -----------------------------------------------------------------------------


def test_genesis_is_qbft_cancun_with_zero_base_fee_and_a_high_gas_limit(tmp_path: Path) -> None:
    genesis_input, _, _ = kit(tmp_path, chain_id=424242)
    genesis = genesis_input["genesis"]
    config = genesis["config"]
    assert config["chainId"] == 424242
    assert config["zeroBaseFee"] is True
    assert config["shanghaiTime"] == 0 and config["cancunTime"] == 0
    for milestone in ("homesteadBlock", "byzantiumBlock", "istanbulBlock", "berlinBlock", "londonBlock"):
        assert config[milestone] == 0, milestone
    assert config["qbft"] == {"blockperiodseconds": 2, "epochlength": 30000, "requesttimeoutseconds": 4}
    assert "ibft2" not in config and "clique" not in config
    assert int(genesis["gasLimit"], 16) >= 1_000_000_000
    assert int(genesis["gasLimit"], 16) == 2_000_000_000
    assert int(genesis["baseFeePerGas"], 16) == 0
    assert int(genesis["difficulty"], 16) == 1
    assert "extraData" not in genesis  # generate-blockchain-config writes it from the generated keys
    assert genesis_input["blockchain"] == {"nodes": {"generate": True, "count": 4}}


def test_validator_count_goes_into_the_key_generation(tmp_path: Path) -> None:
    genesis_input, _, _ = kit(tmp_path, validators=7)
    assert genesis_input["blockchain"]["nodes"]["count"] == 7


# -- node configuration ----------------------------------------------------------------------


def test_config_accepts_zero_gas_price_and_bounds_log_ranges(tmp_path: Path) -> None:
    _, config, _ = kit(tmp_path)
    assert config["min-gas-price"] == 0
    assert 1 <= config["rpc-max-logs-range"] <= 2000
    assert config["rpc-http-max-batch-size"] >= 2000  # gridledger batches 2,000 receipt requests
    assert config["revert-reason-enabled"] is True


def test_config_exposes_only_the_documented_apis_on_a_private_interface(tmp_path: Path) -> None:
    _, config, _ = kit(tmp_path, rpc_host="10.1.2.3")
    assert config["rpc-http-enabled"] is True
    apis = config["rpc-http-api"]
    assert {"ETH", "NET", "WEB3"} <= set(apis) <= ALLOWED_APIS
    for api in ("PERSONAL", "ADMIN", "CLIQUE", "IBFT", "QBFT", "MINER", "PERM", "PLUGINS", "TRACE", "EEA", "PRIV"):
        assert api not in apis
    assert config["rpc-http-host"] == "10.1.2.3"
    assert config["host-allowlist"] == ["localhost", "127.0.0.1", "10.1.2.3"]
    assert "*" not in config["host-allowlist"] and "all" not in config["host-allowlist"]
    assert "rpc-http-cors-origins" not in config  # Besu's default: none
    assert not config.get("rpc-ws-enabled", False)
    assert not config.get("graphql-http-enabled", False)


def test_config_enables_no_option_that_unlocks_or_exposes_accounts(tmp_path: Path) -> None:
    kit(tmp_path)
    text = (tmp_path / "config.toml").read_text(encoding="utf-8")
    active = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for word in ("unlock", "personal", "password", "account-", "signer", "keystore", "0.0.0.0"):
        assert word not in active.lower(), word


def test_config_turns_on_file_based_account_and_node_permissioning(tmp_path: Path) -> None:
    _, config, _ = kit(tmp_path)
    assert config["permissions-accounts-config-file-enabled"] is True
    assert config["permissions-nodes-config-file-enabled"] is True
    assert config["permissions-accounts-config-file"] == "permissions_config.toml"
    assert config["permissions-nodes-config-file"] == "permissions_config.toml"
    assert config["genesis-file"] == "genesis.json"
    assert config["data-path"] == "data"


def test_bootnodes_are_the_allowlisted_nodes(tmp_path: Path) -> None:
    _, config, permissions = kit(tmp_path)
    assert config["bootnodes"] == [ENODE_1, ENODE_2]
    assert set(config["bootnodes"]) <= set(permissions["nodes-allowlist"])


def test_every_option_name_is_one_the_kit_checked_against_besu_docs(tmp_path: Path) -> None:
    """A typo in an option name would stop Besu at start; the list is the documented names used."""
    _, config, _ = kit(tmp_path)
    documented = {
        "data-path",
        "genesis-file",
        "sync-mode",
        "data-storage-format",
        "sync-min-peers",
        "p2p-port",
        "bootnodes",
        "rpc-http-enabled",
        "rpc-http-host",
        "rpc-http-port",
        "rpc-http-api",
        "host-allowlist",
        "rpc-max-logs-range",
        "rpc-http-max-batch-size",
        "revert-reason-enabled",
        "min-gas-price",
        "tx-pool-max-prioritized",
        "tx-pool-max-future-by-sender",
        "permissions-accounts-config-file-enabled",
        "permissions-accounts-config-file",
        "permissions-nodes-config-file-enabled",
        "permissions-nodes-config-file",
    }
    assert set(config) == documented


# -- permissions -------------------------------------------------------------------------


def test_permissions_list_the_given_accounts_and_nodes(tmp_path: Path) -> None:
    _, _, permissions = kit(tmp_path)
    assert set(permissions) == {"accounts-allowlist", "nodes-allowlist"}
    assert permissions["accounts-allowlist"] == [GOVERNANCE, MEMBER]
    assert permissions["nodes-allowlist"] == [ENODE_1, ENODE_2]


def test_empty_lists_render_as_empty_toml_arrays(tmp_path: Path) -> None:
    _, config, permissions = kit(tmp_path, accounts=[], nodes=[])
    assert permissions == {"accounts-allowlist": [], "nodes-allowlist": []}
    assert config["bootnodes"] == []


@pytest.mark.parametrize(
    ("account", "message"),
    [
        (GOVERNANCE.lower(), "not in checksummed form"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "not in checksummed form"),  # last letter's case wrong
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA", "not an account address"),  # 19 bytes
        ("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "not an account address"),  # no 0x
        ("governance", "not an account address"),
        ("", "not an account address"),
    ],
)
def test_an_invalid_account_is_refused(tmp_path: Path, account: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        write_kit(tmp_path, chain_id=20261, accounts=[GOVERNANCE, account])
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_duplicate_account_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="duplicate account"):
        write_kit(tmp_path, chain_id=20261, accounts=[GOVERNANCE, MEMBER, GOVERNANCE])


@pytest.mark.parametrize(
    "node",
    [
        "10.0.0.11:30303",
        "enr:-Iu4QLm7bZGdAOh7",
        "enode://" + "a1" * 63 + "@10.0.0.11:30303",  # 63-byte node id
        "enode://" + "zz" * 64 + "@10.0.0.11:30303",  # not hex
        "enode://" + "a1" * 64 + "@10.0.0.11",  # no port
        "enode://" + "a1" * 64 + '@10.0.0.11:30303"]\naccounts-allowlist=["0x00',  # TOML injection
        "http://" + "a1" * 64 + "@10.0.0.11:30303",
    ],
)
def test_an_invalid_enode_is_refused(tmp_path: Path, node: str) -> None:
    with pytest.raises(ConfigurationError, match="not an enode URL"):
        write_kit(tmp_path, chain_id=20261, nodes=[ENODE_1, node])
    assert list(tmp_path.iterdir()) == []


def test_a_duplicate_enode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="duplicate enode URL"):
        write_kit(tmp_path, chain_id=20261, nodes=[ENODE_1, ENODE_1.upper().replace("ENODE://", "enode://")])


# -- write_kit arguments and output ----------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "8.8.8.8", "node.example.org", ""])
def test_the_rpc_host_must_be_a_private_or_loopback_address(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigurationError, match="rpc host"):
        write_kit(tmp_path, chain_id=20261, rpc_host=host)


@pytest.mark.parametrize("chain_id", [0, -1, 31337, True])
def test_a_bad_chain_id_is_refused(tmp_path: Path, chain_id: int) -> None:
    with pytest.raises(ConfigurationError, match="chain id"):
        write_kit(tmp_path, chain_id=chain_id)


def test_zero_validators_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="validators"):
        write_kit(tmp_path, chain_id=20261, validators=0)


def test_write_kit_writes_exactly_the_three_files(tmp_path: Path) -> None:
    out = tmp_path / "kit" / "validator-1"
    written = write_kit(out, chain_id=20261, accounts=[GOVERNANCE], nodes=[ENODE_1])
    assert written == [out / "qbftConfigFile.json", out / "config.toml", out / "permissions_config.toml"]
    assert sorted(p.name for p in out.iterdir()) == ["config.toml", "permissions_config.toml", "qbftConfigFile.json"]
    for path in written:
        assert not re.search(r"\{\{|\}\}", path.read_text(encoding="utf-8")), path.name


def test_write_kit_is_repeatable(tmp_path: Path) -> None:
    first = {p.name: p.read_text(encoding="utf-8") for p in write_kit(tmp_path / "a", chain_id=20261)}
    second = {p.name: p.read_text(encoding="utf-8") for p in write_kit(tmp_path / "a", chain_id=20261)}
    assert first == second
