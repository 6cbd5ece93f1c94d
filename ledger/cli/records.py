"""``gridledger record``: residents' records."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from ._base import console, main, open_ledger


def _content(text: str) -> object:
    """Record content from a JSON string, a JSON file, or '-' for standard input."""
    import json
    from pathlib import Path

    from ..errors import InputError, Invalid

    raw = sys.stdin.read() if text == "-" else Path(text).read_text(encoding="utf-8") if Path(text).is_file() else text
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
            code=Invalid.NOT_JSON,
            field="content",
            params={"problem": exc.msg, "line": exc.lineno, "column": exc.colno},
        ) from None


@main.group()
def record() -> None:
    """Residents' records: collected once, certified k of n, erasable."""


@record.command("add")
@click.option("--subject", required=True, help="The resident the record is about (label or address).")
@click.option(
    "--category", required=True, help="identity, household, residence, health, social-security, property, elderly-care"
)
@click.option("--content", required=True, help="JSON, a JSON file, or - for standard input.")
@click.option("--as", "actor", required=True, help="The committee member or grid worker collecting it.")
def record_add(subject: str, category: str, content: str, actor: str) -> None:
    """Collect a new record (version 1)."""
    from ..categories import parse_category
    from ..records import Records

    with open_ledger() as ledger:
        record_id, tx = Records(ledger).add(
            actor=actor, subject=subject, category=parse_category(category), content=_content(content)
        )
        console.print(f"record {record_id} version 1 committed in transaction {tx}")


@record.command("update")
@click.argument("record_id")
@click.option("--content", required=True, help="JSON, a JSON file, or - for standard input.")
@click.option("--expected-version", type=int, help="The version you loaded; refused if the record changed since.")
@click.option("--as", "actor", required=True, help="A committee member or grid worker of the record's committee.")
def record_update(record_id: str, content: str, expected_version: int | None, actor: str) -> None:
    """Add a new version of RECORD_ID."""
    from ..records import Records

    with open_ledger() as ledger:
        version, tx = Records(ledger).update(
            record_id, _content(content), actor=actor, expected_version=expected_version
        )
        console.print(f"record {record_id} version {version} committed in transaction {tx}")


@record.command("sign")
@click.argument("record_id")
@click.option("--as", "signer", required=True, help="The committee member signing (custodial key).")
def record_sign(record_id: str, signer: str) -> None:
    """Approve the newest version; certifies it when k signatures are in."""
    from ..records import Records

    with open_ledger() as ledger:
        outcome = Records(ledger).sign(record_id, signer=signer)
        console.print(f"{outcome.approvals} of {outcome.threshold} signatures")
        if outcome.certify_tx:
            console.print(f"certified in transaction {outcome.certify_tx}")


@record.command("certify")
@click.argument("record_id")
@click.option("--as", "actor", help="Who sends it (a member or grid worker of the committee).")
def record_certify(record_id: str, actor: str | None) -> None:
    """Send certify with the collected signatures (sign does this by itself at k)."""
    from ..records import Records

    with open_ledger() as ledger:
        console.print(f"certified in transaction {Records(ledger).certify(record_id, actor=actor)}")


@record.command("erase")
@click.argument("record_id")
@click.option("--reason", required=True, help="The legal reason (kept off chain; its hash goes on chain).")
@click.option("--as", "actor", required=True, help="An admin of the office governing the committee.")
def record_erase(record_id: str, reason: str, actor: str) -> None:
    """Delete the content and salts of every version; record the erasure on chain."""
    from ..records import Records

    with open_ledger() as ledger:
        console.print(f"erased; recorded in transaction {Records(ledger).erase(record_id, reason, actor=actor)}")


@record.command("show")
@click.argument("record_id")
def record_show(record_id: str) -> None:
    """Show the newest version of RECORD_ID: state, commitment, signers (not the content:
    that is read, and logged, with 'gridledger access')."""
    from ..records import Records

    with open_ledger() as ledger:
        ledger.indexer().run_once()
        view = Records(ledger).show(record_id)
        head = view.head
        state = (
            "erased"
            if view.erased
            else "certified"
            if head.certified
            else "on chain, awaiting signatures"
            if head.on_chain
            else "pending"
        )
        console.print(
            f"record {view.record_id} · {view.category.slug} · subject {ledger.label_of(view.subject) or view.subject}"
        )
        console.print(f"version {head.version} · {state} · commitment {head.content_hash}")
        if head.approvals:
            console.print(f"signed by: {', '.join(ledger.label_of(a) or a for a in head.approvals)}")
        console.print(f"content: gridledger access {view.record_id} --as YOU (every read of content is logged)")


@record.command("history")
@click.argument("record_id")
def record_history(record_id: str) -> None:
    """List every version of RECORD_ID (commitments, certification), without content."""
    from ..records import Records

    with open_ledger() as ledger:
        ledger.indexer().run_once()
        view = Records(ledger).show(record_id)
        table = Table("version", "commitment", "previous", "by", "at", "on chain", "certified by")
        for v in view.versions:
            table.add_row(
                str(v.version),
                v.content_hash[:18] + "…",
                v.prev_hash[:18] + "…",
                ledger.label_of(v.created_by) or v.created_by,
                v.created_at[:19],
                "yes" if v.on_chain else "no",
                ", ".join(ledger.label_of(s) or s for s in v.signers) or ("erased" if view.erased else ""),
            )
        console.print(table)
