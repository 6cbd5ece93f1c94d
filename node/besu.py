"""The Hyperledger Besu production kit: QBFT, zero gas price, local permissioning.

The templates in ``node/besu/`` are rendered into the three files an operator needs:

* ``qbftConfigFile.json`` -- input of ``besu operator generate-blockchain-config``, which
  makes the validator keys and the genesis (Shanghai and Cancun active at genesis, for
  contracts compiled for the ``cancun`` EVM; ``zeroBaseFee``; 2 s blocks);
* ``config.toml`` -- the validators' node configuration (``min-gas-price=0``, JSON-RPC on
  a private interface with ETH, NET and WEB3 only, ``rpc-max-logs-range=2000``);
* ``permissions_config.toml`` -- the accounts and nodes allowlists.

gridledger runs unchanged against such a network: it signs every transaction locally,
sends raw legacy transactions with gas price 0 and reads events in windows of at most
2,000 blocks. Besu itself is not run in the tests here (it cannot be installed on the
development machines); the tests check what is rendered. See ``node/besu/README.md``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from eth_utils import is_address, is_checksum_address

from ledger.errors import ConfigurationError
from ledger.settings import LOCAL_CHAIN_ID

TEMPLATE_DIR = Path(__file__).resolve().parent / "besu"
#: Rendered file name -> template file name.
TEMPLATES: dict[str, str] = {
    "qbftConfigFile.json": "qbftConfigFile.json.template",
    "config.toml": "config.toml.template",
    "permissions_config.toml": "permissions_config.toml.template",
}

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_ENODE = re.compile(r"enode://[0-9a-fA-F]{128}@[A-Za-z0-9.\-]+:\d{1,5}(\?discport=\d{1,5})?")


def render(template_text: str, values: Mapping[str, str]) -> str:
    """Replaces every ``{{NAME}}`` in ``template_text`` with ``values[NAME]``.

    Raises :class:`ConfigurationError` naming the placeholders without a value, the values
    no placeholder uses, or a malformed placeholder. Values are inserted as they are (not
    rendered again)."""
    found = [match.group(1) for match in _PLACEHOLDER.finditer(template_text)]
    malformed = sorted({name for name in found if not _NAME.fullmatch(name)})
    if malformed:
        raise ConfigurationError(f"malformed placeholder(s): {', '.join('{{' + n + '}}' for n in malformed)}")
    wanted = set(found)
    missing = sorted(wanted - values.keys())
    unused = sorted(values.keys() - wanted)
    problems = []
    if missing:
        problems.append(f"no value for {', '.join('{{' + n + '}}' for n in missing)}")
    if unused:
        problems.append(f"value(s) not used by the template: {', '.join(unused)}")
    if problems:
        raise ConfigurationError("; ".join(problems))
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template_text)


def write_kit(
    out_dir: Path,
    *,
    chain_id: int,
    validators: int = 4,
    rpc_host: str = "127.0.0.1",
    accounts: Sequence[str] = (),
    nodes: Sequence[str] = (),
) -> list[Path]:
    """Renders the three templates into ``out_dir`` and returns the written paths.

    ``accounts`` are checksummed addresses allowed to send transactions; ``nodes`` are
    enode URLs allowed to connect (also used as bootnodes). Everything is checked before
    anything is written; existing files of the same names are replaced."""
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id < 1:
        raise ConfigurationError(f"chain id must be a positive integer; got {chain_id!r}")
    if chain_id == LOCAL_CHAIN_ID:
        raise ConfigurationError(f"chain id {LOCAL_CHAIN_ID} is the local Anvil node's; give the network its own")
    if isinstance(validators, bool) or not isinstance(validators, int) or validators < 1:
        raise ConfigurationError(f"validators must be a positive integer; got {validators!r}")
    enodes = _enodes(nodes)
    values = {
        "qbftConfigFile.json": {"CHAIN_ID": str(chain_id), "VALIDATORS": str(validators)},
        "config.toml": {
            "RPC_HOST": _private_host(rpc_host),
            "HOST_ALLOWLIST": _toml_array(list(dict.fromkeys(["localhost", "127.0.0.1", rpc_host]))),
            "BOOTNODES": _toml_array(enodes),
        },
        "permissions_config.toml": {
            "ACCOUNTS_ALLOWLIST": _toml_array(_accounts(accounts)),
            "NODES_ALLOWLIST": _toml_array(enodes),
        },
    }
    rendered = {
        name: render((TEMPLATE_DIR / template).read_text(encoding="utf-8"), values[name])
        for name, template in TEMPLATES.items()
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in rendered.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _private_host(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigurationError(f"rpc host must be an IP address of a private interface; got {host!r}") from None
    if address.is_unspecified or not (address.is_private or address.is_loopback):
        raise ConfigurationError(f"rpc host must be a private or loopback address, not {host}")
    return host


def _accounts(accounts: Sequence[str]) -> list[str]:
    for account in accounts:
        # Besu wants the 0x prefix, which is_address does not insist on.
        if not isinstance(account, str) or not account.startswith("0x") or not is_address(account):
            raise ConfigurationError(f"not an account address (0x and 40 hex digits): {account!r}")
        if not is_checksum_address(account):
            raise ConfigurationError(f"account {account} is not in checksummed form (EIP-55)")
    _refuse_duplicates("account", [a.lower() for a in accounts])
    return list(accounts)


def _enodes(nodes: Sequence[str]) -> list[str]:
    for node in nodes:
        if not isinstance(node, str) or not node.startswith("enode://") or not _ENODE.fullmatch(node):
            raise ConfigurationError(f"not an enode URL (enode://<128 hex digits>@<host>:<port>): {node!r}")
    _refuse_duplicates("enode URL", [n.lower() for n in nodes])
    return list(nodes)


def _refuse_duplicates(kind: str, items: list[str]) -> None:
    repeated = sorted({item for item in items if items.count(item) > 1})
    if repeated:
        raise ConfigurationError(f"duplicate {kind}(s): {', '.join(repeated)}")


def _toml_array(items: Sequence[str]) -> str:
    """A TOML array of strings, one per line (JSON string syntax is valid TOML)."""
    if not items:
        return "[]"
    return "[\n" + "".join(f"  {json.dumps(item)},\n" for item in items) + "]"
