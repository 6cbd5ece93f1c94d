"""``gridledger webhooks``: department systems' signed webhooks (:mod:`ledger.webhooks`).

Who may do what is the chain's to say, as everywhere: ``--as`` names the acting account (a
department officer for its own department's subscriptions, an office admin for its
departments' deliveries and dead letters)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click
from rich.table import Column, Table

from ._base import console, main, open_ledger

if TYPE_CHECKING:
    from ..webhooks import DeliveryView

ACTOR = click.option("--as", "actor", required=True, help="The acting account (label or address).")


def _when(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@main.group()
def webhooks() -> None:
    """Signed webhooks for department systems: subscriptions, deliveries, dead letters."""


@webhooks.command("add")
@ACTOR
@click.option("--url", required=True, help="The endpoint of the department's system (https:// or http://).")
@click.option("--kinds", default="", help="Comma-separated event kinds (default: all of them): grant.withdrawn, "
              "grant.revoked, grant.expired, request.decided.")  # fmt: skip
def webhooks_add(actor: str, url: str, kinds: str) -> None:
    """Subscribe the officer's department; prints the signing secret, shown this once."""
    from ..webhooks import EventKind, Webhooks

    chosen = [k for k in kinds.split(",") if k.strip()] or [str(k) for k in EventKind]
    with open_ledger() as ledger:
        made = Webhooks(ledger).create(actor, url, chosen)
    s = made.subscription
    console.print(f"subscription {s.id} of {s.department_code or s.department} for {', '.join(s.kinds)} at {s.url}")
    console.print("signing secret (keep it in the receiving system; it is shown once, never stored):")
    click.echo(made.secret)


@webhooks.command("list")
@ACTOR
@click.option("--all", "everything", is_flag=True, help="Removed subscriptions too.")
def webhooks_list(actor: str, everything: bool) -> None:
    """Subscriptions the account may see."""
    from ..webhooks import Webhooks

    with open_ledger() as ledger:
        found = Webhooks(ledger).subscriptions(actor, include_removed=everything)
    table = Table(Column("id", no_wrap=True), "department", "url", "kinds", "since", "state")
    for s in found:
        state = "active" if s.active else f"removed {_when(s.removed_at)}"
        if not s.sealed:
            state += ", ALTERED in the database: not sent to"
        table.add_row(s.id, s.department_code or s.department, s.url, ",".join(s.kinds), _when(s.created_at), state)
    console.print(table)


@webhooks.command("remove")
@ACTOR
@click.argument("subscription_id")
def webhooks_remove(actor: str, subscription_id: str) -> None:
    """Remove a subscription of the officer's department (its pending deliveries are cancelled)."""
    from ..webhooks import Webhooks

    with open_ledger() as ledger:
        removed = Webhooks(ledger).remove(actor, subscription_id)
    console.print(f"subscription {removed.id} removed")


def _deliveries_table(found: list[DeliveryView]) -> Table:
    table = Table(Column("id", no_wrap=True), "department", "kind", "state", "attempts", "last", "queued", "next / done")
    for d in found:
        last = f"{d.last_status or ''} {d.last_error or ''}".strip()
        done = d.delivered_at or d.dead_at or (d.next_attempt_at if d.state == "pending" else None)
        table.add_row(d.id, d.department_code or d.department, d.kind, d.state, str(d.attempts), last,
                      _when(d.created_at), _when(done) or "now")  # fmt: skip
    return table


@webhooks.command("deliveries")
@ACTOR
@click.option("--subscription", "subscription_id", help="Only this subscription's.")
@click.option("--state", type=click.Choice(["pending", "delivered", "dead", "cancelled"]), help="Only in this state.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
def webhooks_deliveries(actor: str, subscription_id: str | None, state: str | None, limit: int) -> None:
    """Deliveries the account may see, newest first."""
    from ..webhooks import Webhooks

    with open_ledger() as ledger:
        found = Webhooks(ledger).deliveries(actor, subscription_id=subscription_id, state=state, limit=limit)
    console.print(_deliveries_table(found))


@webhooks.command("dead")
@ACTOR
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 1000))
def webhooks_dead(actor: str, limit: int) -> None:
    """The dead letters: deliveries whose last attempt failed. Exit code 1 when there are any."""
    from ..webhooks import Webhooks

    with open_ledger() as ledger:
        found = Webhooks(ledger).deliveries(actor, state="dead", limit=limit)
    console.print(_deliveries_table(found))
    if found:
        raise SystemExit(1)


@webhooks.command("replay")
@ACTOR
@click.argument("delivery_id")
def webhooks_replay(actor: str, delivery_id: str) -> None:
    """Send a dead letter again (an office admin): same id, attempts from zero."""
    from ..webhooks import Webhooks

    with open_ledger() as ledger:
        again = Webhooks(ledger).replay(actor, delivery_id)
    console.print(f"delivery {again.id} will be sent again (sent again {again.replays} time(s) so far)")


@webhooks.command("deliver")
def webhooks_deliver() -> None:
    """One delivery pass now: expired grants enqueued, then every due delivery sent once."""
    from ..webhooks import Deliverer, enqueue_expiries

    with open_ledger() as ledger:
        expired = enqueue_expiries(ledger)
        done = Deliverer(ledger).run_once()
    console.print(f"{expired} expiries enqueued; {done.delivered} delivered, {done.retried} to retry, "
                  f"{done.dead} dead, {done.cancelled} cancelled, {done.skipped} left for later")  # fmt: skip
