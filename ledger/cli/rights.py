"""``gridledger rights``: residents' rights requests (corrections, deletions, objections)."""

from __future__ import annotations

import json
from datetime import datetime

import click

from ._base import console, main, open_ledger


def _when(ms: int | None) -> str:
    from ..access import CHINA

    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, CHINA).isoformat(timespec="minutes")


@main.group()
def rights() -> None:
    """Residents' rights requests: list, show, ask, decide."""


@rights.command("list")
@click.option("--resident", help="Only this resident's (label or address).")
@click.option("--office", help="Only those this office decides or oversees (code).")
@click.option("--open", "only_open", is_flag=True, help="Only those waiting for a decision.")
@click.option("--overdue", is_flag=True, help="Only those past their due date.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def rights_list(resident: str | None, office: str | None, only_open: bool, overdue: bool, as_json: bool) -> None:
    """Requests with their status and due date, oldest first."""
    from .. import formats
    from ..errors import NotFoundError
    from ..membership import org_id
    from ..rights import Rights

    with open_ledger() as ledger:
        service = Rights(ledger)
        if resident:
            found = list(reversed(service.of_resident(resident)))
        elif office:
            found = service.office_queue(formats.to_hex(org_id(office)))
        else:
            from sqlalchemy import select

            from ..store.models import RightsRequest

            with ledger.store.session() as session:
                ids = list(session.scalars(select(RightsRequest.request_id).order_by(RightsRequest.asked_at)))
            found = []
            for request_id in ids:
                try:
                    found.append(service.get(request_id))
                except NotFoundError:  # a row without its seal: not shown
                    continue
        found = [r for r in found if (not only_open or r.open) and (not overdue or r.overdue)]
        for r in found:
            if as_json:
                console.print(json.dumps(r.json(), ensure_ascii=False), highlight=False, soft_wrap=True)
                continue
            flag = " [red]overdue[/]" if r.overdue else ""
            outcome = f" -> {r.outcome}" if r.outcome else ""
            who = ledger.label_of(r.resident) or r.resident
            console.print(f"{r.request_id} {r.kind} {r.status}{outcome} of {who}, due {_when(r.due_at)}{flag}",
                          highlight=False)  # fmt: skip
        if not as_json:
            console.print(f"{len(found)} request(s)")


@rights.command("show")
@click.argument("request_id")
def rights_show(request_id: str) -> None:
    """One request, with its decision."""
    from ..rights import Rights

    with open_ledger() as ledger:
        console.print_json(json.dumps(Rights(ledger).get(request_id).json(), ensure_ascii=False))


@rights.command("ask")
@click.argument("kind", type=click.Choice(["correction", "deletion", "objection"]))
@click.argument("target")
@click.option("--field", help="A correction: the field of the record's schema.")
@click.option("--value", help="A correction: what it should be.")
@click.option("--comment", default="", help="What the resident says.")
@click.option("--resident", help="An objection asked on a resident's behalf: the resident (label or address).")
@click.option("--as", "actor", required=True, help="The resident, or a grid worker or committee member with them.")
def rights_ask(kind: str, target: str, field: str | None, value: str | None, comment: str, resident: str | None,
               actor: str) -> None:  # fmt: skip
    """Ask for a correction or deletion of record TARGET, or object to access event TARGET."""
    from ..rights import Rights

    with open_ledger() as ledger:
        service = Rights(ledger)
        if kind == "correction":
            if not field or value is None:
                raise click.UsageError("a correction names --field and --value")
            made = service.ask_correction(target, field=field, value=value, comment=comment, actor=actor)
        elif kind == "deletion":
            made = service.ask_deletion(target, comment=comment, actor=actor)
        else:
            made = service.object_to(int(target), comment=comment, actor=actor, resident=resident)
        console.print(f"{made.request_id}: {made.kind} asked, due {_when(made.due_at)}", highlight=False)


@rights.command("decide")
@click.argument("request_id")
@click.argument("outcome", type=click.Choice(["declined", "erased", "refused", "upheld", "not-upheld"]))
@click.option("--reason", required=True, help="Why (the resident reads it; its hash is signed and logged).")
@click.option("--basis", help="A refused deletion: its legal basis (retention-period, technically-infeasible, "
              "statutory-duty, purpose-not-achieved, public-health).")  # fmt: skip
@click.option("--as", "actor", required=True, help="The committee member or office admin deciding.")
def rights_decide(request_id: str, outcome: str, reason: str, basis: str | None, actor: str) -> None:
    """Decide request REQUEST_ID, signed and logged. (A correction is corrected by drafting the
    new version: 'gridledger rights draft', then signing it.)"""
    from ..rights import Rights

    with open_ledger() as ledger:
        done = Rights(ledger).decide(request_id, outcome, reason, actor=actor, basis=basis)
        console.print(f"{done.request_id}: {done.outcome}, signed by {done.decider}, logged as #{done.decision_seq}",
                      highlight=False)  # fmt: skip


@rights.command("draft")
@click.argument("request_id")
@click.option("--as", "actor", required=True, help="A committee member of the record's committee.")
def rights_draft(request_id: str, actor: str) -> None:
    """Draft the corrected version a correction asks for (then sign it as usual)."""
    from ..rights import Rights

    with open_ledger() as ledger:
        version = Rights(ledger).draft(request_id, actor=actor)
        console.print(f"{request_id}: version {version} drafted; it is corrected once certified", highlight=False)


@rights.command("settle")
def rights_settle() -> None:
    """Corrections whose drafted version the chain has certified become corrected."""
    from ..rights import Rights

    with open_ledger() as ledger:
        for done in Rights(ledger).settle():
            console.print(f"{done.request_id}: corrected (version {done.draft_version})", highlight=False)
