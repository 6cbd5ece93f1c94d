"""``gridledger token``: API tokens (without Flask: :mod:`ledger.webusers`)."""

from __future__ import annotations

import click

from ._base import console, main, open_ledger


@main.group()
def token() -> None:
    """API tokens for other systems (only their hashes are kept)."""


@token.command("create")
@click.option("--as", "account", required=True, help="The account the token acts for (label or address).")
@click.option("--name", required=True, help="The system that will use it.")
def token_create(account: str, name: str) -> None:
    """Print a new token for ACCOUNT in its current organisation and role; shown once."""
    from ..webusers import create_token

    with open_ledger() as ledger:
        issued = create_token(ledger, account, name)
    console.print(f"token #{issued.id} ({issued.role} of {issued.org_id[:10]}…); keep it secret, it is shown once:")
    click.echo(issued.token)


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Stop a token from working."""
    from ..webusers import revoke_token

    with open_ledger() as ledger:
        revoke_token(ledger, token_id)
    console.print(f"token #{token_id} revoked")
