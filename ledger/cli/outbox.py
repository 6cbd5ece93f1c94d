"""``gridledger outbox``: the chain writes waiting, sent and in conflict."""

from __future__ import annotations

import sys

from rich.table import Table

from ._base import console, err, main, open_ledger


@main.command()
def outbox() -> None:
    """Chain writes by status; any in conflict are listed, and the exit code is 1."""
    from sqlalchemy import select

    from ..store.models import OutboxTx

    with open_ledger() as ledger:
        counts = ledger.outbox.counts()
        table = Table("status", "writes")
        for status in ("queued", "sent", "mined", "reverted", "conflict", "dropped"):
            if counts.get(status):
                table.add_row(status, str(counts[status]))
        console.print(table)
        if not counts.get("conflict"):
            return
        with ledger.store.session() as session:
            rows = session.scalars(select(OutboxTx).where(OutboxTx.status == "conflict").order_by(OutboxTx.id))
            listed = Table("id", "sender", "nonce", "purpose", "transaction", "why")
            for row in rows:
                listed.add_row(str(row.id), row.sender, str(row.nonce), row.purpose or "", row.tx_hash,
                               row.last_error or "")  # fmt: skip
        err.print(listed)
        sys.exit(1)
