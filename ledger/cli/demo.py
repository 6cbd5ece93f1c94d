"""``gridledger demo``: the demo subdistrict."""

from __future__ import annotations

import click

from ._base import console, main, open_ledger


@main.command()
@click.option("--logins", is_flag=True, help="Only print the demo log-ins (who to try, what to look at).")
@click.option("--url", default=None, help="The web app's address, shown above the log-ins.")
def demo(logins: bool, url: str | None) -> None:
    """Create (or reuse) the demo subdistrict: one office, three committees of five, four
    departments, about 300 residents (GRIDLEDGER_DEMO_RESIDENTS) with their records, grants,
    accesses and web log-ins."""
    from ..demo import build_demo, print_logins, require_faker

    require_faker()  # before anything is opened: without the demo extra, say what to install
    if logins:
        print_logins(url, console)
        return
    with open_ledger(upgrade=True) as ledger:
        report = build_demo(ledger, console)
        console.print(report)
    console.print("the demo log-ins: 'gridledger demo --logins'")
