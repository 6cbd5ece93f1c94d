"""Compiling the contracts offline, through py-solc-x's standard-JSON interface.

A native ``solc`` of the pinned version is used when one is installed (on PATH, in
py-solc-x's folder, or named by ``GRIDLEDGER_SOLC``); otherwise the pinned solc-js
from ``node_modules`` through ``solc-launcher.cjs``, which speaks the same standard
JSON. Same version and settings give the same bytecode either way.

The compiled artifacts are committed under ``contracts/build/`` so that running
gridledger never needs a compiler; a test recompiles and fails when they are stale.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
import solcx.install
from solcx.exceptions import SolcError

from ledger.errors import CompilerError
from ledger.settings import Settings

#: The compiler and settings are part of the build: change them only on purpose,
#: recompile, and say why in docs/decisions.md.
SOLC_VERSION = "0.8.37"
EVM_VERSION = "cancun"
OPTIMIZER = {"enabled": True, "runs": 200}
REMAPPINGS = ["@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"]

LAUNCHER = Path(__file__).resolve().parent / "solc-launcher.cjs"


@dataclass(frozen=True)
class Compiler:
    """A compiler executable that speaks native solc's command line."""

    path: str
    kind: str  # "native" or "solc-js"
    version: str


def find_compiler(settings: Settings) -> Compiler:
    """The compiler to use: a native solc of the pinned version, else solc-js.

    Raises :class:`CompilerError` saying how to get one when neither is there.
    """
    for candidate in _native_candidates():
        version = _version_of(candidate)
        if version == SOLC_VERSION:
            return Compiler(str(candidate), "native", version)
    if shutil.which("node") is None:
        raise CompilerError(
            f"no native solc {SOLC_VERSION} and no Node.js to run solc-js; "
            "install Node.js 20+ and run 'npm ci' in the project folder"
        )
    solc_js = settings.node_modules / "solc" / "package.json"
    if not solc_js.is_file():
        raise CompilerError(
            f"no native solc {SOLC_VERSION} and no solc-js at {solc_js.parent}; run 'npm ci' in {settings.root}"
        )
    pinned = json.loads(solc_js.read_text())["version"]
    if pinned != SOLC_VERSION:
        raise CompilerError(f"node_modules has solc-js {pinned}, the build pins {SOLC_VERSION}; run 'npm ci'")
    return Compiler(str(LAUNCHER), "solc-js", SOLC_VERSION)


def _native_candidates() -> list[Path]:
    found: list[Path] = []
    explicit = os.environ.get("GRIDLEDGER_SOLC")
    if explicit:
        found.append(Path(explicit))
    on_path = shutil.which("solc")
    if on_path:
        found.append(Path(on_path))
    try:
        for version in solcx.get_installed_solc_versions():
            if str(version) == SOLC_VERSION:
                found.append(Path(solcx.install.get_executable(version)))
    except Exception:  # noqa: BLE001 - py-solc-x's folder missing is not an error here
        pass
    return found


def _version_of(binary: Path) -> str | None:
    try:
        return str(solcx.wrapper.get_solc_version(binary))
    except (OSError, SolcError, subprocess.SubprocessError):
        return None


def standard_input(settings: Settings) -> dict[str, Any]:
    """The standard-JSON input for every ``contracts/*.sol`` file."""
    sources = sorted(settings.contracts_dir.glob("*.sol"))
    if not sources:
        raise CompilerError(f"no Solidity sources in {settings.contracts_dir}")
    return {
        "language": "Solidity",
        "sources": {f"contracts/{p.name}": {"urls": [f"contracts/{p.name}"]} for p in sources},
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": OPTIMIZER,
            "remappings": REMAPPINGS,
            "outputSelection": {
                f"contracts/{p.name}": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
                for p in sources
            },
        },
    }


def compile_contracts(settings: Settings, compiler: Compiler | None = None) -> dict[str, dict[str, Any]]:
    """Compiles the contracts and returns artifacts by contract name (not written)."""
    compiler = compiler or find_compiler(settings)
    input_data = standard_input(settings)
    # Sources are given as URLs: the compiler reads them (and their imports) from disk,
    # inside the project folder only.
    for unit in input_data["sources"].values():
        unit["content"] = (settings.root / unit.pop("urls")[0]).read_text(encoding="utf-8")
    try:
        output = solcx.compile_standard(
            input_data,
            base_path=str(settings.root),
            allow_paths=[str(settings.root)],
            solc_binary=compiler.path,
        )
    except SolcError as exc:
        raise CompilerError(f"compilation failed with {compiler.kind} solc {compiler.version}:\n{exc}") from exc
    warnings = [
        e.get("formattedMessage", e.get("message", ""))
        for e in output.get("errors", [])
        if e.get("severity") == "warning"
    ]
    if warnings:
        raise CompilerError("the contracts compile with warnings; fix them:\n" + "\n".join(warnings))
    artifacts: dict[str, dict[str, Any]] = {}
    for source_name, contracts in sorted(output.get("contracts", {}).items()):
        for name, data in sorted(contracts.items()):
            bytecode = data["evm"]["bytecode"]["object"]
            if not bytecode:
                continue  # interfaces and abstract contracts: nothing to deploy
            artifacts[name] = {
                "contractName": name,
                "sourceName": source_name,
                "compiler": {"version": compiler.version, "evmVersion": EVM_VERSION, "optimizer": OPTIMIZER},
                "abi": data["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
            }
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def write_artifacts(settings: Settings, artifacts: dict[str, dict[str, Any]]) -> list[Path]:
    """Writes ``contracts/build/<Name>.json`` and removes artifacts of contracts that are gone."""
    settings.build_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in artifacts.items():
        path = settings.build_dir / f"{name}.json"
        path.write_text(render(artifact), encoding="utf-8")
        written.append(path)
    for stale in settings.build_dir.glob("*.json"):
        if stale.stem not in artifacts:
            stale.unlink()
    return written


def stale_artifacts(settings: Settings, artifacts: dict[str, dict[str, Any]]) -> list[str]:
    """Names of committed artifacts that differ from a fresh compile (or are missing/extra)."""
    stale = []
    on_disk = {p.stem for p in settings.build_dir.glob("*.json")}
    for name, artifact in artifacts.items():
        path = settings.build_dir / f"{name}.json"
        if not path.is_file() or path.read_text(encoding="utf-8") != render(artifact):
            stale.append(name)
    stale.extend(sorted(on_disk - set(artifacts)))
    return stale
