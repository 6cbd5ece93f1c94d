"""``gridledger user``: web log-ins (without Flask: :mod:`ledger.webusers`)."""

from __future__ import annotations

import click

from ._base import console, main, open_ledger


@main.group()
def user() -> None:
    """Log-ins for the web app."""


@user.command("add")
@click.argument("username")
@click.option("--account", required=True, help="The account (label or address) the user acts as.")
@click.option("--name", "display_name", required=True, help="The person's name as shown on the pages.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Asked when not given.")
@click.option("--replace", is_flag=True, help="Set a new password and name for an existing user.")
def user_add(username: str, account: str, display_name: str, password: str, replace: bool) -> None:
    """Create a web log-in acting as ACCOUNT; what it may do comes from the membership on chain."""
    from ..webusers import add_user

    with open_ledger() as ledger:
        made = add_user(ledger, username, password, account=account, display_name=display_name, replace=replace)
    console.print(f"user {made.username} acts as {made.address}")
    if replace:
        console.print("every session of the old password has ended")


@user.command("disable")
@click.argument("username")
def user_disable(username: str) -> None:
    """Stop USERNAME from logging in and end its sessions ('user add --replace' enables it again)."""
    from ..webusers import disable_user

    with open_ledger() as ledger:
        disable_user(ledger, username)
    console.print(f"user {username} is disabled; its sessions have ended")
