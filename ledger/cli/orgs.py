"""``gridledger org``, ``gridledger member``: organisations and the accounts acting for them."""

from __future__ import annotations

import click
from rich.table import Table

from ..errors import LedgerError
from ._base import console, main, open_ledger


@main.group()
def org() -> None:
    """Organisations: subdistrict offices, residents' committees, departments."""


@org.command("create")
@click.argument("code")
@click.option("--name-zh", required=True, help="Chinese name, as pages in Chinese show it (kept off chain).")
@click.option("--name-en", required=True, help="English name, as pages in English show it (kept off chain).")
@click.option("--kind", type=click.Choice(["office", "committee", "department"]), required=True)
@click.option("--parent", help="Code of the office a committee or department belongs to.")
@click.option(
    "--department-kind", type=click.Choice(["civil-affairs", "health", "public-security", "social-security", "other"])
)
@click.option("--admin", "admin_label", help="Office: label of its first admin account (a key is made).")
@click.option("--member", "members", multiple=True, help="Committee: label of a signing member (repeat).")
@click.option("--threshold", type=int, help="Committee: signatures needed to certify (k of n).")
@click.option("--as", "actor", help="Sign as this account (label or address).")
def org_create(
    code: str,
    name_zh: str,
    name_en: str,
    kind: str,
    parent: str | None,
    department_kind: str | None,
    admin_label: str | None,
    members: tuple[str, ...],
    threshold: int | None,
    actor: str | None,
) -> None:
    """Create an organisation with public code CODE."""
    from ..membership import DepartmentKind, parse
    from ..organisations import Organisations, OrgNames

    name = OrgNames(name_zh, name_en)
    with open_ledger() as ledger:
        orgs = Organisations(ledger)
        if kind == "office":
            if not admin_label:
                raise LedgerError("an office needs --admin LABEL for its first admin")
            tx = orgs.create_office(code, name, admin_label, registrar=actor or "governance")
        elif parent is None:
            raise LedgerError(f"a {kind} needs --parent OFFICE_CODE")
        elif kind == "committee":
            if not members or threshold is None:
                raise LedgerError("a committee needs --member LABEL (repeat) and --threshold K")
            tx = orgs.create_committee(code, name, parent, list(members), threshold, actor=actor)
        else:
            if not department_kind:
                raise LedgerError("a department needs --department-kind")
            tx = orgs.create_department(code, name, parent, parse(DepartmentKind, department_kind), actor=actor)  # type: ignore[arg-type]
        console.print(f"created {kind} {code} in transaction {tx}")


@org.command("list")
def org_list() -> None:
    """List organisations as the chain has them."""
    from ..organisations import Organisations

    with open_ledger() as ledger:
        ledger.indexer().run_once()  # read only: index up to the head, send nothing
        table = Table("code", "name (zh)", "name (en)", "kind", "parent", "k of n", "accounts", "id")
        for o in Organisations(ledger).organisations():
            kind = o.kind + (f" ({o.department_kind})" if o.department_kind else "")
            kn = f"{o.threshold} of {o.active_signers}" if o.kind == "committee" else ""
            table.add_row(
                o.code or "?",
                o.names.zh if o.names else "?",
                o.names.en if o.names else "?",
                kind,
                o.parent_code or "",
                kn,
                str(o.members),
                o.org_id[:18] + "…",
            )
        console.print(table)


@org.command("rename")
@click.argument("code")
@click.option("--name-zh", required=True, help="The new Chinese name.")
@click.option("--name-en", required=True, help="The new English name.")
def org_rename(code: str, name_zh: str, name_en: str) -> None:
    """Give organisation CODE new names (off chain: no transaction)."""
    from ..organisations import Organisations, OrgNames

    names = OrgNames(name_zh, name_en)
    with open_ledger() as ledger:
        Organisations(ledger).rename(code, names)
        console.print(f"renamed {code}: {names.zh} / {names.en}")


@org.command("threshold")
@click.argument("code")
@click.argument("threshold", type=int)
@click.option("--as", "actor", help="Sign as this account (label or address).")
def org_threshold(code: str, threshold: int, actor: str | None) -> None:
    """Set committee CODE's signing threshold k."""
    from ..organisations import Organisations

    with open_ledger() as ledger:
        tx = Organisations(ledger).set_threshold(code, threshold, actor=actor)
        console.print(f"threshold of {code} set to {threshold} in transaction {tx}")


@main.group()
def member() -> None:
    """Accounts acting for organisations, and residents."""


ROLE_CHOICES = ["office-admin", "committee-member", "grid-worker", "department-officer", "resident"]


@member.command("add")
@click.argument("label")
@click.option("--org", "org_code", required=True, help="Code of the organisation.")
@click.option("--role", type=click.Choice(ROLE_CHOICES), required=True)
@click.option("--as", "actor", help="Sign as this account (label or address).")
def member_add(label: str, org_code: str, role: str, actor: str | None) -> None:
    """Add an account labelled LABEL (a key is made in the keystore)."""
    from ..membership import Role, parse
    from ..organisations import Organisations

    with open_ledger() as ledger:
        tx = Organisations(ledger).add_member(label, org_code, parse(Role, role), actor=actor)  # type: ignore[arg-type]
        console.print(f"added {label} ({ledger.address_of(label)}) as {role} of {org_code} in transaction {tx}")


def _status_command(name: str, verb: str) -> None:
    @member.command(name, help=f"{verb.capitalize()} the account WHO (label or address).")
    @click.argument("who")
    @click.option("--as", "actor", help="Sign as this account (label or address).")
    def command(who: str, actor: str | None) -> None:
        from ..organisations import Organisations

        with open_ledger() as ledger:
            tx = getattr(Organisations(ledger), name)(who, actor=actor)
            console.print(f"{verb} {who} in transaction {tx}")


_status_command("suspend", "suspended")
_status_command("reinstate", "reinstated")
_status_command("revoke", "revoked")


@member.command("list")
@click.option("--org", "org_code", help="Only this organisation.")
def member_list(org_code: str | None) -> None:
    """List accounts as the chain has them."""
    from ..organisations import Organisations

    with open_ledger() as ledger:
        ledger.indexer().run_once()  # read only: index up to the head, send nothing
        table = Table("label", "address", "organisation", "role", "status")
        for m in Organisations(ledger).members(org_code):
            table.add_row(m.label or "", m.address, m.org_code or "?", m.role, m.status)
        console.print(table)
