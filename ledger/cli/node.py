"""``gridledger node``: the managed local chain node (Anvil)."""

from __future__ import annotations

import sys

from ._base import console, load_settings, main


@main.group()
def node() -> None:
    """Run the managed local chain node (Anvil)."""


@node.command("start")
def node_start() -> None:
    """Start Anvil in the background (reuses a running one)."""
    from node.local import LocalNode

    status = LocalNode(load_settings()).start()
    console.print(
        f"node running: pid {status.pid}, {status.client_version}, chain {status.chain_id}, "
        f"block {status.block_number}, {status.rpc_url}"
    )


@node.command("stop")
def node_stop() -> None:
    """Stop the node: its keeper writes a last snapshot to var/chain/ first."""
    from node.local import LocalNode

    stopped = LocalNode(load_settings()).stop()
    console.print("node stopped, state saved" if stopped else "node was not running")


@node.command("status")
def node_status() -> None:
    """Say whether the node runs, and where its chain is."""
    from node.local import LocalNode

    status = LocalNode(load_settings()).status()
    if not status.running:
        console.print(f"node not running (state file {status.state_file})")
        sys.exit(3)
    console.print(
        f"node running: pid {status.pid}, {status.client_version}, chain {status.chain_id}, "
        f"block {status.block_number}, {status.rpc_url}"
    )
