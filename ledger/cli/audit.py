"""``gridledger audit``: the office's audit."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ._base import console, main, open_ledger


@main.group(invoke_without_command=True)
@click.option("--from", "start", help="First day, YYYY-MM-DD.")
@click.option("--to", "end", help="Last day, YYYY-MM-DD.")
@click.option("--department", help="Only this department (code).")
@click.option("--resident", help="Only this resident (label or address).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the findings as machine-readable CSV (codes and ids; the office's report is its export page).")  # fmt: skip
@click.option("--bundle", "bundle_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-verifying bundle of the entries in scope.")  # fmt: skip
@click.option("--no-integrity", is_flag=True, help="Skip checking the database against the chain.")
@click.pass_context
def audit(
    ctx: click.Context,
    start: str | None,
    end: str | None,
    department: str | None,
    resident: str | None,
    csv_path: Path | None,
    bundle_path: Path | None,
    no_integrity: bool,
) -> None:
    """Findings: accesses against grants, emergency reviews, anomalies, integrity.

    Exits 1 when a finding of high severity or of integrity is reported, 2 when integrity
    could not be checked, else 0 (findings of lower severity are listed all the same).
    The printable report in Chinese or English is the web app's: the office's export page."""
    if ctx.invoked_subcommand is not None:
        return
    import json
    from collections import Counter

    from .. import audit as audit_
    from ..history import bundle

    with open_ledger() as ledger:
        ledger.indexer().run_once()
        scope = audit_.scope_of(ledger, start=start, end=end, department=department, resident=resident)
        result = audit_.run(ledger, scope, integrity=not no_integrity)
        codes = audit_.org_codes(ledger)
        for f in result.findings:
            row = audit_.finding_row(f, codes)
            console.print(f"[red]{f.kind}[/] ({f.severity}) #{row[2] or '-'} {row[3]} {row[4]}: {f.detail}",
                          highlight=False)  # fmt: skip
        report = result.integrity
        if report is not None:
            for name in report.parts:
                found = report.of(name)
                verdict = "[green]intact[/]" if not found else f"[red]{len(found)} problem(s)[/]"
                console.print(f"integrity of {name}: {verdict}")
                for problem_found in found:
                    console.print(
                        f"  [red]{problem_found.code}[/] {problem_found.subject}: {problem_found.detail}",
                        highlight=False,
                    )
            for problem in report.problems:
                console.print(f"[bold yellow]integrity not checked[/]: {problem}", highlight=False)
        kinds = Counter(f.kind for f in result.findings)
        console.print(
            f"{result.events} events, {result.in_scope} in scope, {len(result.findings)} finding(s) "
            f"{dict(kinds) if kinds else ''} in {result.seconds:.1f} s", highlight=False,
        )  # fmt: skip
        if csv_path:
            csv_path.write_text(audit_.to_csv(ledger, result), encoding="utf-8")
            console.print(f"wrote {csv_path}")
        if bundle_path:
            document = bundle(ledger, scope, ledger.account(ledger.settings.anchorer))
            bundle_path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            console.print(
                f"wrote {bundle_path}: {len(document['entries'])} entries, {len(document['withheld'])} withheld"
            )
    sys.exit(result.exit_code)


@audit.command("review")
@click.argument("seq", type=int)
@click.argument("decision", type=click.Choice(["approve", "flag"]))
@click.option("--note", required=True, help="Why (kept off the log's leaf; its hash is signed).")
@click.option("--as", "reviewer", required=True, help="An admin of the office governing the department.")
def audit_review(seq: int, decision: str, note: str, reviewer: str) -> None:
    """Approve or flag emergency access SEQ, signed and logged."""
    from ..audit import review

    with open_ledger() as ledger:
        row = review(ledger, seq, decision, note, reviewer=reviewer)
        console.print(f"review of #{seq}: {decision}, signed by {row.reviewer}, logged as #{row.review_seq}")


@audit.command("pending")
def audit_pending() -> None:
    """Emergency accesses awaiting an office review."""
    from ..audit import unreviewed

    with open_ledger() as ledger:
        for event in unreviewed(ledger):
            console.print(f"#{event.seq} by {ledger.label_of(event.accessor) or event.accessor}: {event.justification}",
                          highlight=False)  # fmt: skip
