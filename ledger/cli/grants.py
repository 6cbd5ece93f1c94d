"""``gridledger grant``: residents' consent grants."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import click
from rich.table import Table

from ._base import console, main, open_ledger


@main.group()
def grant() -> None:
    """Residents' consent grants to departments."""


@grant.command("issue")
@click.option("--resident", required=True, help="The resident granting (label or address).")
@click.option("--department", required=True, help="Code of the department.")
@click.option("--categories", required=True, help="Comma-separated record categories, e.g. health,identity.")
@click.option(
    "--purpose", required=True, help="social-assistance, health-management, elderly-care, social-insurance, ..."
)
@click.option("--legal-basis", default="consent", show_default=True)
@click.option("--until", "until", required=True, help="Last day of validity, YYYY-MM-DD (exclusive of the next day).")
@click.option("--from", "start", help="First day, YYYY-MM-DD (default: now).")
@click.option("--purpose-text", default="", help="The purpose in plain words (kept off chain).")
@click.option("--relayer", help="A grid worker sending it for the resident (the resident still signs).")
def grant_issue(
    resident: str,
    department: str,
    categories: str,
    purpose: str,
    legal_basis: str,
    until: str,
    start: str | None,
    purpose_text: str,
    relayer: str | None,
) -> None:
    """Issue a grant from a resident to a department."""
    from ..categories import parse_category
    from ..consent import Consent, LegalBasis, Purpose, parse_date, parse_enum

    with open_ledger() as ledger:
        grant_id, tx = Consent(ledger).issue(
            resident=resident, department=department,
            categories=[parse_category(c) for c in categories.split(",") if c.strip()],
            purpose=parse_enum(Purpose, purpose, "purpose"), legal_basis=parse_enum(LegalBasis, legal_basis, "legal_basis"),
            valid_until=parse_date(until) + 86_400, valid_from=parse_date(start) if start else None,
            purpose_text=purpose_text, relayer=relayer,
        )  # fmt: skip
        console.print(f"grant {grant_id} issued in transaction {tx}")


@grant.command("withdraw")
@click.argument("grant_id")
@click.option("--relayer", help="A grid worker sending it for the resident (the resident still signs).")
def grant_withdraw(grant_id: str, relayer: str | None) -> None:
    """Withdraw GRANT_ID as its resident."""
    from ..consent import Consent

    with open_ledger() as ledger:
        console.print(f"withdrawn in transaction {Consent(ledger).withdraw(grant_id, relayer=relayer)}")


@grant.command("revoke")
@click.argument("grant_id")
@click.option("--reason", required=True)
@click.option("--as", "actor", required=True, help="An admin of the office governing the department.")
def grant_revoke(grant_id: str, reason: str, actor: str) -> None:
    """Revoke GRANT_ID as an office admin."""
    from ..consent import Consent

    with open_ledger() as ledger:
        console.print(f"revoked in transaction {Consent(ledger).revoke(grant_id, reason, actor=actor)}")


@grant.command("list")
@click.option("--resident", help="Only this resident's grants.")
@click.option("--department", help="Only grants to this department (code).")
def grant_list(resident: str | None, department: str | None) -> None:
    """List grants and their status as the chain has it."""
    from datetime import datetime

    from ..consent import Consent

    with open_ledger() as ledger:
        ledger.indexer().run_once()
        table = Table("grant", "resident", "department", "categories", "valid until", "status")
        for g in Consent(ledger).list(resident=resident, department=department):
            until = datetime.fromtimestamp(g.valid_until, UTC).strftime("%Y-%m-%d")
            table.add_row(
                g.grant_id[:18] + "…",
                ledger.label_of(g.resident) or g.resident,
                g.department_code or g.department[:18],
                ",".join(c.slug for c in g.categories),
                until,
                g.status,
            )
        console.print(table)


@grant.command("show")
@click.argument("grant_id")
def grant_show(grant_id: str) -> None:
    """Show GRANT_ID with its full terms."""
    import json

    from ..consent import Consent

    with open_ledger() as ledger:
        ledger.indexer().run_once()
        g = Consent(ledger).show(grant_id)
        console.print(
            f"grant {g.grant_id} · {g.status} · {ledger.label_of(g.resident) or g.resident} → {g.department_code}"
        )
        console.print_json(json.dumps(g.terms, ensure_ascii=False))


@grant.command("receipt")
@click.argument("grant_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write it here (default: print).")
def grant_receipt(grant_id: str, output: Path | None) -> None:
    """Write GRANT_ID's consent receipt (ISO/IEC TS 27560 / Kantara shape), signed by the
    installation's anchorer; 'gridledger verify receipt FILE --rpc-url URL' checks it."""
    import json

    from ..receipts import build

    with open_ledger() as ledger:
        receipt = build(ledger, grant_id, signer=ledger.account(ledger.settings.anchorer))
    text = json.dumps(receipt, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"consent receipt of grant {receipt['evidence']['grantId']} written to {output}", highlight=False)
