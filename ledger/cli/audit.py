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
@click.option("--incremental", is_flag=True,
              help="Only the events since the last audit's sealed mark, checked against the chain; then mark anew. "
                   "Runs in full (and says why) when there is no mark it can believe.")  # fmt: skip
@click.option("--full", is_flag=True, help="With --incremental: audit everything now, and mark where it stopped.")
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
    incremental: bool,
    full: bool,
) -> None:
    """Findings: accesses against grants, emergency reviews, anomalies, integrity.

    Exits 1 when a finding of high severity or of integrity is reported, 2 when integrity
    could not be checked, else 0 (findings of lower severity are listed all the same).
    The printable report in Chinese or English is the web app's: the office's export page.

    With --incremental (for a daily schedule) only the events since the last audit are read:
    see docs/guide-office.md for what that cannot see, and run a full audit (or
    ``gridledger verify all``) weekly."""
    if ctx.invoked_subcommand is not None:
        return
    import json
    from collections import Counter

    from .. import audit as audit_
    from ..history import bundle

    if incremental and (start or end or department or resident or no_integrity or bundle_path):
        raise click.UsageError(
            "--incremental audits every new event with integrity: no scope, --no-integrity or --bundle"
        )
    if full and not incremental:
        raise click.UsageError("--full goes with --incremental (without it, the audit is always full)")
    with open_ledger() as ledger:
        ledger.indexer().run_once()
        scope = audit_.scope_of(ledger, start=start, end=end, department=department, resident=resident)
        if incremental:
            result = audit_.incremental(ledger, full=full)
            scope = result.scope
        else:
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
        if incremental:
            how = f"in full ({result.full_because})" if result.full_because else "incremental"
            mark = f"marked #{result.mark}" if result.mark is not None else "[yellow]mark not moved[/]"
            since, upto = result.since or 0, result.upto or 0
            covered = f"events {since}..{upto - 1}" if upto > since else f"no new anchored events after #{since - 1}"
            console.print(f"audit {how}: {covered} ({result.rows_read} rows read); "
                          f"{result.unanchored} newer events not anchored yet (the next run's); {mark}",
                          highlight=False)  # fmt: skip
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
