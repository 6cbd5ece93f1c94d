"""Compiling offline: committed artifacts are fresh; a missing compiler is explained."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ledger.errors import CompilerError
from ledger.settings import Settings
from node.compiler import LAUNCHER, SOLC_VERSION, compile_contracts, find_compiler, stale_artifacts


@pytest.fixture(scope="module")
def fresh_build() -> dict:
    return compile_contracts(Settings.from_env({}))


def test_committed_artifacts_are_fresh(fresh_build: dict) -> None:
    stale = stale_artifacts(Settings.from_env({}), fresh_build)
    assert stale == [], f"contracts/build/ is stale for {stale}: run 'gridledger compile' and commit"


def test_artifacts_pin_compiler_and_carry_abi_and_bytecode(fresh_build: dict) -> None:
    membership = fresh_build["Membership"]
    assert membership["compiler"] == {
        "version": SOLC_VERSION,
        "evmVersion": "cancun",
        "optimizer": {"enabled": True, "runs": 200},
    }
    assert membership["bytecode"].startswith("0x60") and len(membership["deployedBytecode"]) > 1000
    assert any(item.get("name") == "MembershipUnauthorized" for item in membership["abi"])


def test_missing_compiler_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDLEDGER_SOLC", raising=False)
    node_dir = Path(shutil.which("node") or "/usr/bin/node").parent
    monkeypatch.setenv("PATH", str(node_dir))  # Node.js, but no solc and no node_modules
    monkeypatch.setattr("solcx.get_installed_solc_versions", lambda: [])
    with pytest.raises(CompilerError, match="run 'npm ci'"):
        find_compiler(Settings.from_env({}).with_(root=tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # not even Node.js
    with pytest.raises(CompilerError, match="install Node.js"):
        find_compiler(Settings.from_env({}).with_(root=tmp_path))


def _launch(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    root = Settings.from_env({}).root
    return subprocess.run([str(LAUNCHER), *args], input=stdin, capture_output=True, text=True, cwd=root, timeout=120)


def test_launcher_answers_like_native_solc() -> None:
    result = _launch(["--version"])
    assert result.returncode == 0
    assert f"Version: {SOLC_VERSION}+commit." in result.stdout


def test_launcher_refuses_unknown_options() -> None:
    result = _launch(["--bin", "x.sol"])
    assert result.returncode == 2
    assert "unsupported option --bin" in result.stderr


def test_launcher_reads_imports_only_inside_allowed_paths(tmp_path: Path) -> None:
    secret = tmp_path / "Secret.sol"
    secret.write_text("// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\ncontract Secret {}\n")
    source = f'// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\nimport "{secret}";\ncontract A {{}}\n'
    request = {
        "language": "Solidity",
        "sources": {"A.sol": {"content": source}},
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    }
    root = Settings.from_env({}).root
    result = _launch(["--standard-json", "--base-path", str(root), "--allow-paths", str(root)], json.dumps(request))
    output = json.loads(result.stdout)
    errors = [e["message"] for e in output.get("errors", []) if e["severity"] == "error"]
    assert any("not found inside the allowed paths" in e for e in errors), errors


def test_contracts_compile_without_warnings(fresh_build: dict) -> None:
    """compile_contracts raises on any compiler warning; reaching here means none."""
    assert set(fresh_build) == {"Membership", "RecordLedger", "ConsentRegistry", "AccessLogAnchor"}


def test_record_ledger_and_consent_registry_name_the_membership_they_trust(ledger) -> None:  # type: ignore[no-untyped-def]
    membership = ledger.deployment.address("Membership")
    assert ledger.contract("RecordLedger").functions.membership().call() == membership
    assert ledger.contract("ConsentRegistry").functions.membership().call() == membership
