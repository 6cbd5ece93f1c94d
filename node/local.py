"""The managed local chain: Anvil from the pinned npm package.

Bound to 127.0.0.1, a fixed chain id, zero gas price, interval mining, a block gas
limit far above what the writers can fill, and its chain persisted under ``var/chain/``:
loaded at start, and snapshotted every few seconds and on stop by the node's keeper
(:mod:`node.keeper`), which writes a snapshot only when it is consistent. Anvil's own
periodic dump is not used: it can hold a block's effects without the block.

:func:`build_command` is pure: it returns the argument list and starts nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import NodeError
from ledger.settings import Settings

ANVIL_PACKAGE = "@foundry-rs/anvil"
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class NodeStatus:
    running: bool
    pid: int | None
    rpc_url: str
    client_version: str | None = None
    chain_id: int | None = None
    block_number: int | None = None
    state_file: str | None = None


def find_anvil(settings: Settings) -> Path:
    """The Anvil binary from ``node_modules`` (or ``GRIDLEDGER_ANVIL``, or PATH)."""
    explicit = os.environ.get("GRIDLEDGER_ANVIL")
    if explicit:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise NodeError(f"GRIDLEDGER_ANVIL={explicit} is not an executable file")
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    system = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}.get(platform.system())
    if arch and system:
        exe = "anvil.exe" if system == "win32" else "anvil"
        bundled = settings.node_modules / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / exe
        if bundled.is_file():
            return bundled
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise NodeError(
        f"Anvil is not installed: expected it in {settings.node_modules}/@foundry-rs/. "
        f"Run 'npm ci' in {settings.root} (it installs the pinned {ANVIL_PACKAGE}), "
        "or set GRIDLEDGER_ANVIL to an anvil binary."
    )


def state_file(settings: Settings) -> Path:
    return settings.chain_dir / "state.json"


def build_command(settings: Settings, binary: Path | str, *, load: bool = False) -> list[str]:
    """The Anvil command line for ``settings`` (``load``: from the state file). Pure:
    starts nothing, touches no file. Anvil neither dumps nor loads on its own otherwise:
    the keeper does."""
    block_time = settings.block_time
    loading = ["--load-state", str(state_file(settings))] if load else []
    return [
        str(binary),
        "--host", settings.node_host,
        "--port", str(settings.node_port),
        "--chain-id", str(settings.chain_id),
        "--block-time", f"{block_time:g}",
        "--gas-limit", str(settings.block_gas_limit),
        "--gas-price", "0",
        "--block-base-fee-per-gas", "0",
        "--disable-min-priority-fee",
        *loading,
        "--no-request-size-limit",
        "--quiet",
    ]  # fmt: skip


def keeper_command(settings: Settings, binary: Path | str, *, load: bool) -> list[str]:
    """The keeper's command line: it runs :func:`build_command`'s Anvil. Pure."""
    return [
        sys.executable, "-m", "node.keeper",
        str(state_file(settings)), settings.rpc_url, str(settings.state_interval), "--",
        *build_command(settings, binary, load=load),
    ]  # fmt: skip


class LocalNode:
    """Starts, stops and reports on the managed Anvil (its keeper and Anvil: one process
    group, the keeper's; :attr:`pid` is the keeper's)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid_file = settings.chain_dir / "node.pid"
        self.anvil_pid_file = settings.chain_dir / "anvil.pid"
        self.log_file = settings.chain_dir / "anvil.log"

    # -- queries -------------------------------------------------------------------

    def pid(self) -> int | None:
        """The pid of our node (its keeper), if the pid file names a live process."""
        return _live_pid(self.pid_file)

    def anvil_pid(self) -> int | None:
        """The pid of Anvil itself, the keeper's child (to crash it alone in tests)."""
        return _live_pid(self.anvil_pid_file) if self.pid() is not None else None

    def status(self) -> NodeStatus:
        pid = self.pid()
        url = self.settings.rpc_url
        if pid is None:
            return NodeStatus(False, None, url, state_file=str(state_file(self.settings)))
        try:
            return NodeStatus(
                True,
                pid,
                url,
                client_version=_rpc(url, "web3_clientVersion"),
                chain_id=int(_rpc(url, "eth_chainId"), 16),
                block_number=int(_rpc(url, "eth_blockNumber"), 16),
                state_file=str(state_file(self.settings)),
            )
        except NodeError:
            return NodeStatus(True, pid, url, state_file=str(state_file(self.settings)))

    # -- control -------------------------------------------------------------------

    def start(self) -> NodeStatus:
        """Starts Anvil in the background and waits until it answers as ours.

        Reuses a node we already run. Refuses, starting nothing, when the port is
        held by anything else.
        """
        if self.pid() is not None:
            status = self.status()
            if status.chain_id == self.settings.chain_id:
                return status
            raise NodeError(f"our Anvil (pid {status.pid}) runs but does not answer at {self.settings.rpc_url}")
        binary = find_anvil(self.settings)
        self._refuse_if_port_taken()
        self.settings.chain_dir.mkdir(parents=True, exist_ok=True)
        path = state_file(self.settings)
        repair_genesis(path)
        command = keeper_command(self.settings, binary, load=path.exists())
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.settings.root,
            )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise NodeError(f"Anvil exited with code {process.returncode} at start; see {self.log_file}")
            try:
                version = _rpc(self.settings.rpc_url, "web3_clientVersion", timeout=0.5)
            except NodeError:
                time.sleep(0.1)
                continue
            chain_id = int(_rpc(self.settings.rpc_url, "eth_chainId"), 16)
            if not str(version).lower().startswith("anvil") or chain_id != self.settings.chain_id:
                self._terminate(process.pid, signal.SIGKILL)
                raise NodeError(f"the node at {self.settings.rpc_url} is {version} on chain {chain_id}, not ours")
            return self.status()
        self._terminate(process.pid, signal.SIGKILL)
        raise NodeError(
            f"Anvil did not answer at {self.settings.rpc_url} within {START_TIMEOUT:.0f} s; see {self.log_file}"
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """Stops the node gracefully: the keeper takes a last snapshot and stops Anvil.
        False when it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        self._terminate(pid, signal.SIGTERM, timeout)
        return True

    def kill(self) -> None:
        """Kills the node, keeper and Anvil, without a last snapshot (``kill -9`` of
        the group), as a crash of its machine would."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            self._terminate(pid, signal.SIGKILL)

    def _terminate(self, pid: int, sig: signal.Signals, timeout: float = 10.0) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            if _is_zombie(pid):
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        # The kernel tears the listening socket down just after the process is gone;
        # a stop is complete only when the port is free for the next start.
        while time.monotonic() < deadline + 5.0 and self._port_accepts():
            time.sleep(0.05)

    def _port_accepts(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((self.settings.node_host, self.settings.node_port)) == 0

    def _refuse_if_port_taken(self) -> None:
        host, port = self.settings.node_host, self.settings.node_port
        if not self._port_accepts():
            return
        try:
            version = _rpc(f"http://{host}:{port}", "web3_clientVersion", timeout=1.0)
            what = f"a node we did not start ({version})"
        except NodeError:
            what = "another program"
        raise NodeError(
            f"port {port} on {host} is taken by {what}; nothing was started. "
            "Stop it, or set GRIDLEDGER_NODE_PORT to a free port."
        )


#: Block header fields in the order of their RLP encoding (London … Prague).
_HEADER_FIELDS = (
    "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot", "logsBloom",
    "difficulty", "number", "gasLimit", "gasUsed", "timestamp", "extraData", "mixHash", "nonce",
    "baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot", "requestsHash",
)  # fmt: skip
_HEADER_INTS = {"difficulty", "number", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas", "blobGasUsed",
                "excessBlobGas"}  # fmt: skip


def _header_hash(header: dict[str, Any]) -> str:
    import rlp
    from eth_utils import keccak

    items: list[int | bytes] = []
    for name in _HEADER_FIELDS:
        value = header.get(name)
        if value is None:
            break
        items.append(int(value, 16) if name in _HEADER_INTS else bytes.fromhex(value[2:]))
    return "0x" + keccak(rlp.encode(items)).hex()


def repair_genesis(path: Path) -> bool:
    """Leaves one genesis block in Anvil's state file: the one block 1 builds on.

    Anvil (1.7) makes a fresh genesis block at every start (stamped with the time), keeps
    it beside the loaded one and dumps both; loading a file with several, it takes
    whichever comes last, in no fixed order. From the second restart on the chain could
    come back with another genesis hash, and every deployment on it would be refused as
    "another chain". Returns True when the file was rewritten."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    blocks = state.get("blocks") if isinstance(state, dict) else None
    if not isinstance(blocks, list):
        return False
    genesis = [b for b in blocks if int(b["header"]["number"], 16) == 0]
    if len(genesis) < 2:
        return False
    first = next((b for b in blocks if int(b["header"]["number"], 16) == 1), None)
    parent = first["header"]["parentHash"] if first else None
    keep = next((g for g in genesis if parent is not None and _header_hash(g["header"]) == parent), None)
    if keep is None:  # no block 1 yet, or a header this code cannot hash: the oldest is the original
        keep = min(genesis, key=lambda g: int(g["header"]["timestamp"], 16))
    state["blocks"] = [b for b in blocks if int(b["header"]["number"], 16) != 0 or b is keep]
    draft = path.with_name(path.name + ".repair")
    draft.write_text(json.dumps(state), encoding="utf-8")
    os.replace(draft, path)
    return True


def _live_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    if _is_zombie(pid):
        return None
    return pid


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().split(b") ", 1)[1][:1] == b"Z"
    except (OSError, IndexError):
        return False


def _rpc(url: str, method: str, params: list[Any] | None = None, timeout: float = 5.0) -> Any:
    """One JSON-RPC call with the standard library (used before web3 is worth building)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise NodeError(f"no JSON-RPC answer from {url} to {method}: {exc}") from exc
    if "error" in reply:
        raise NodeError(f"{method} failed at {url}: {reply['error'].get('message')}")
    return reply["result"]
