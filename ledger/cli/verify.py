"""``gridledger verify``: checking the database against the chain, and the standalone verifier."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import LedgerError
from ._base import console, err, main, open_ledger


@main.group()
def verify() -> None:
    """Check the database against the chain, its leaves and its seals (exit 0 clean, 1 findings, 2 could not check)."""


def _verify_command(parts: tuple[str, ...], *, keep: bool) -> None:
    """Runs the checks of ``parts``, prints one line per finding and a summary, and exits
    0 (clean), 1 (findings) or 2 (could not check)."""
    from ..verify import record_run
    from ..verify import verify as run_checks

    try:
        opened = open_ledger()
        ledger = opened.__enter__()
    except LedgerError as exc:
        err.print(f"[bold red]could not check:[/] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(2)
    try:
        report = run_checks(ledger, parts)
        for f in report.findings:  # one line each: easy to read, grep and diff
            where = f.subject if f.version is None else f"{f.subject} v{f.version}"
            console.print(f"[red]{f.code}[/] ({f.part}) {where}: {f.detail}", highlight=False)
        for problem in report.problems:
            console.print(f"[bold yellow]not checked[/]: {problem}", highlight=False)
        checked = ", ".join(f"{report.checked.get(p, 0)} {p}" for p in parts)
        console.print(
            f"checked {checked} against the chain in {report.seconds:.1f} s; {report.pending} still being written; "
            f"{len(report.findings)} finding(s)", highlight=False,
        )  # fmt: skip
        if keep and ledger.can_seal:
            record_run(ledger, report, by="cli")
    finally:
        opened.__exit__(None, None, None)
    sys.exit(report.exit_code)


@verify.command("all")
def verify_all_command() -> None:
    """Everything: the indexed tables, records, grants, the access log and the seals. The
    run is kept for the office's dashboard; schedule it and alert on exit 1 (or 2)."""
    from ..verify import PARTS

    _verify_command(PARTS, keep=True)


def _part_command(part: str, summary: str) -> None:
    @verify.command(part, help=summary)
    def command() -> None:
        _verify_command((part,), keep=False)


_part_command(
    "chain", "The indexed tables (organisations, members, record versions, grants, events) against the chain."
)
_part_command("records", "Every record and version (commitments recomputed) and every approval against the chain.")
_part_command("grants", "Every stored grant (terms, fields, transactions, status) against the chain.")
_part_command("log", "Every leaf and column of the access log, its size, subtree hashes, checkpoints and reviews.")
_part_command("seals", "The rows only this installation vouches for: labels, names, log-ins, tokens, runs.")


def _print_verdict(verdict: object) -> None:
    from ..verifier import Verdict

    assert isinstance(verdict, Verdict)
    for step in verdict.steps:
        mark = "[green]ok[/]" if step.ok else "[bold red]FAILED[/]"
        console.print(f"{step.number}. {step.title}: {mark} {step.detail}", highlight=False)
    failed = verdict.failed
    if failed is None:
        console.print("[bold green]VALID[/]: every step checked out against the chain")
    else:
        console.print(f"[bold red]INVALID[/]: step {failed.number} failed ({failed.title})", highlight=False)
        sys.exit(1)


@verify.command("bundle")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rpc-url", required=True, help="Any node of the chain, e.g. http://127.0.0.1:8545.")
def verify_bundle_command(path: Path, rpc_url: str) -> None:
    """Check an audit bundle against the chain alone (no database, no keys)."""
    from ..verifier import load, verify_bundle

    _print_verdict(verify_bundle(load(path), rpc_url))


@verify.command("proof")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rpc-url", required=True, help="Any node of the chain, e.g. http://127.0.0.1:8545.")
def verify_proof_command(path: Path, rpc_url: str) -> None:
    """Check one access entry's proof file against the chain alone."""
    from ..verifier import load, verify_proof

    _print_verdict(verify_proof(load(path), rpc_url))


# -- consent receipts -------------------------------------------------------------------------


@verify.command("receipt")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rpc-url", required=True, help="Any node of the chain, e.g. http://127.0.0.1:8545.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON (verdict, status, findings, notes).")
def verify_receipt_command(path: Path, rpc_url: str, as_json: bool) -> None:
    """Check a consent receipt against the chain alone (no database, no keys): exit 0 VALID,
    1 with any finding, 2 when the file cannot be read."""
    import json

    from ..errors import VerificationError
    from ..receipts import verify as verify_receipt
    from ..verifier import load

    try:
        document = load(path)
    except VerificationError as exc:
        err.print(f"[bold red]could not check:[/] {exc}", highlight=False)
        sys.exit(2)
    verdict = verify_receipt(document, rpc_url)
    if as_json:
        click.echo(json.dumps(verdict.to_json(), ensure_ascii=False, indent=2, default=str))
    else:
        for finding in verdict.findings:  # one line each: code and its parameters
            params = json.dumps(finding.params, ensure_ascii=False, default=str)
            console.print(f"[red]{finding.code}[/] {params}", highlight=False)
        for note in verdict.notes:
            console.print(f"[yellow]note[/] {note.code} {json.dumps(note.params, default=str)}", highlight=False)
        status = f"; the grant is {verdict.status} on chain now" if verdict.status else ""
        if verdict.ok:
            console.print(f"[bold green]VALID[/]: grant {verdict.grant_id}{status}", highlight=False)
        else:
            console.print(f"[bold red]INVALID[/]: {len(verdict.findings)} finding(s){status}", highlight=False)
    sys.exit(0 if verdict.ok else 1)
