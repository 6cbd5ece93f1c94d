"""``gridledger requests``: departments' consent requests and residents' answers."""

from __future__ import annotations

import click
from rich.table import Table

from ._base import console, main, open_ledger


def _json(value: object) -> None:
    import dataclasses
    import json

    def plain(item: object) -> object:
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            found = dataclasses.asdict(item)
            if "categories" in found:
                found["categories"] = [c.slug for c in getattr(item, "categories")]  # noqa: B009
            return found
        return item

    shown = [plain(v) for v in value] if isinstance(value, list) else plain(value)
    console.print_json(json.dumps(shown, ensure_ascii=False, default=str))


def _day(ms: int | None) -> str:
    from datetime import datetime

    from ..access import CHINA

    return "" if ms is None else datetime.fromtimestamp(ms / 1000, CHINA).strftime("%Y-%m-%d %H:%M")


@main.group()
def requests() -> None:
    """Consent requests: a department asks a resident for a grant; the resident answers."""


@requests.command("ask")
@click.option("--as", "officer", required=True, help="The asking department officer (label or address).")
@click.option("--resident", required=True, help="The resident asked (label or address).")
@click.option("--categories", required=True, help="Comma-separated record categories, e.g. health,identity.")
@click.option("--purpose", required=True, help="social-assistance, health-management, elderly-care, ...")
@click.option("--legal-basis", default="consent", show_default=True)
@click.option("--until", "until", required=True, help="Last day the grant would hold, YYYY-MM-DD.")
@click.option("--answer-by", help="Last day to answer, YYYY-MM-DD (default: the configured days from now).")
@click.option("--reason", required=True, help="Why, in plain words: the resident reads it.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def requests_ask(officer: str, resident: str, categories: str, purpose: str, legal_basis: str, until: str,
                 answer_by: str | None, reason: str, as_json: bool) -> None:  # fmt: skip
    """Ask a resident for a grant to the officer's own department."""
    from ..categories import parse_category
    from ..consent import LegalBasis, Purpose, parse_date, parse_enum
    from ..requests import ConsentRequests

    with open_ledger() as ledger:
        service = ConsentRequests(ledger)
        request_id = service.ask(
            officer, resident, [parse_category(c) for c in categories.split(",") if c.strip()],
            parse_enum(Purpose, purpose, "purpose"), parse_enum(LegalBasis, legal_basis, "legal_basis"),
            parse_date(until) + 86_400, reason,
            answer_by=(parse_date(answer_by) + 86_400) * 1000 if answer_by else None,
        )  # fmt: skip
        if as_json:
            _json(service.show(request_id))
            return
        console.print(f"request {request_id} sent; waiting for the resident's answer")


@requests.command("list")
@click.option("--resident", help="Only this resident's requests (label or address).")
@click.option("--department", help="Only this department's requests (code).")
@click.option("--office", help="Only requests of this office's departments (code).")
@click.option("--status", type=click.Choice(["waiting", "approved", "declined", "expired"]))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def requests_list(resident: str | None, department: str | None, office: str | None, status: str | None,
                  as_json: bool) -> None:  # fmt: skip
    """List requests, newest first, with their status."""
    from ..requests import ConsentRequests

    with open_ledger() as ledger:
        found = ConsentRequests(ledger).list(resident=resident, department=department, office=office, status=status)
        if as_json:
            _json(found)
            return
        table = Table("request", "resident", "department", "categories", "asked", "answer by", "status", "grant")
        for r in found:
            table.add_row(
                r.request_id[:18] + "…", ledger.label_of(r.resident) or r.resident, r.department_code or r.department[:18],
                ",".join(c.slug for c in r.categories), _day(r.asked_at), _day(r.answer_by), r.status,
                (r.grant_id[:18] + "…") if r.grant_id else "",
            )  # fmt: skip
        console.print(table)


@requests.command("show")
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def requests_show(request_id: str, as_json: bool) -> None:
    """Show REQUEST_ID: what was asked, and the answer."""
    from ..requests import ConsentRequests

    with open_ledger() as ledger:
        r = ConsentRequests(ledger).show(request_id)
        if as_json:
            _json(r)
            return
        who = ledger.label_of(r.resident) or r.resident
        console.print(f"request {r.request_id} · {r.status} · {r.department_code or r.department} → {who}",
                      highlight=False)  # fmt: skip
        console.print(f"categories {','.join(c.slug for c in r.categories)}; purpose {r.purpose}; "
                      f"legal basis {r.legal_basis}; reason: {r.reason}", highlight=False)  # fmt: skip
        console.print(f"asked {_day(r.asked_at)}; answer by {_day(r.answer_by)}", highlight=False)
        if r.decided_at is not None:
            helper = f" with {ledger.label_of(r.relayer) or r.relayer}" if r.relayer else ""
            console.print(f"answered {_day(r.decided_at)}{helper}", highlight=False)
        if r.grant_id:
            console.print(f"grant {r.grant_id} (transaction {r.tx_hash})", highlight=False)
        if r.decline_reason:
            console.print(f"the resident's reason: {r.decline_reason}", highlight=False)


@requests.command("approve")
@click.argument("request_id")
@click.option("--resident", required=True, help="The request's resident (label or address): their key signs.")
@click.option("--relayer", help="A grid worker or committee member of the resident's committee, with the resident.")
def requests_approve(request_id: str, resident: str, relayer: str | None) -> None:
    """Approve REQUEST_ID as its resident: the grant is issued with the request's terms."""
    from ..requests import ConsentRequests

    with open_ledger() as ledger:
        grant_id = ConsentRequests(ledger).approve(request_id, resident, relayer=relayer)
        console.print(f"approved: grant {grant_id} issued", highlight=False)


@requests.command("decline")
@click.argument("request_id")
@click.option("--resident", required=True, help="The request's resident (label or address).")
@click.option("--reason", help="The resident's reason (optional).")
@click.option("--relayer", help="A grid worker or committee member of the resident's committee, with the resident.")
def requests_decline(request_id: str, resident: str, reason: str | None, relayer: str | None) -> None:
    """Decline REQUEST_ID as its resident."""
    from ..requests import ConsentRequests

    with open_ledger() as ledger:
        ConsentRequests(ledger).decline(request_id, resident, reason=reason, relayer=relayer)
        console.print("declined", highlight=False)


@requests.command("stats")
@click.option("--office", help="Only this office's departments (code); default: every office.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def requests_stats(office: str | None, as_json: bool) -> None:
    """Per department: requests asked, waiting, approved, declined, expired, median time to answer."""
    from ..requests import ConsentRequests

    with open_ledger() as ledger:
        found = ConsentRequests(ledger).stats(office)
        if as_json:
            _json(found)
            return
        table = Table("department", "asked", "waiting", "approved", "declined", "expired", "median answer")
        for s in found:
            median = "" if s.median_answer_ms is None else f"{s.median_answer_ms / 3_600_000:.1f} h"
            table.add_row(s.department_code or s.department[:18], str(s.asked), str(s.waiting), str(s.approved),
                          str(s.declined), str(s.expired), median)  # fmt: skip
        console.print(table)
