"""``gridledger deploy``: deploying the contracts."""

from __future__ import annotations

import click

from ._base import console, main, open_ledger


@main.command()
@click.option("--redeploy", is_flag=True, help="Deploy afresh even if var/deployment.json names another chain.")
def deploy(redeploy: bool) -> None:
    """Deploy the contracts (or reuse the deployment on this chain)."""
    from node.deploy import deploy as run_deploy

    with open_ledger(upgrade=True) as ledger:
        result = run_deploy(ledger, redeploy=redeploy)
        verb = "reused" if result.reused else "deployed"
        for name, deployed in result.deployment.contracts.items():
            console.print(f"{verb} {name} at {deployed.address} (block {deployed.block})")
        console.print(f"deployment record: {ledger.settings.deployment_file}")
