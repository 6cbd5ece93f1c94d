"""``gridledger access``, ``gridledger log``: reading a record under a basis, and the access log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from ._base import console, err, main, open_ledger

if TYPE_CHECKING:
    from ..lease import LeaseState


@main.command()
@click.argument("record_id")
@click.option("--as", "accessor", required=True, help="Who reads (label or address): an officer, member or admin.")
@click.option("--basis", type=click.Choice(["grant", "duty", "emergency"]), help="Default: chosen from your role.")
@click.option("--grant", "grant_id", help="The grant to read under (default: any active one of your department).")
@click.option("--emergency", "justification", help="Read under emergency basis with this written justification.")
@click.option("--disclose-on", help="Public security: keep it from the resident until YYYY-MM-DD.")
@click.option("--justification", "case", help="With --disclose-on: the investigation (kept off the log's leaf).")
def access(
    record_id: str,
    accessor: str,
    basis: str | None,
    grant_id: str | None,
    justification: str | None,
    disclose_on: str | None,
    case: str | None,
) -> None:
    """Read RECORD_ID under a basis. The access is logged before the content is shown;
    a refusal is logged too."""
    import json

    from ..access import Access

    if justification is not None and basis is None:
        basis = "emergency"
    with open_ledger() as ledger:
        got = Access(ledger).read(
            record_id, accessor=accessor, basis=basis, grant_id=grant_id,
            justification=justification or case, disclose_on=disclose_on,
        )  # fmt: skip
        status = "certified" if got.certified else "not yet certified"
        under = f"grant {got.grant_id}" if got.grant_id else got.basis
        err.print(f"logged as access event #{got.seq} ({under}); version {got.version}, {status}", highlight=False)
        console.print_json(json.dumps(got.content, ensure_ascii=False))


@main.command("access-many")
@click.argument("record_ids", nargs=-1)
@click.option("--from", "from_file", type=click.File("r", encoding="utf-8"),
              help="Read the record ids from this file, one a line ('-': standard input).")  # fmt: skip
@click.option("--as", "accessor", required=True, help="Who reads (label or address): an officer, member or admin.")
@click.option("--basis", type=click.Choice(["grant", "duty", "emergency"]), help="Default: chosen from your role.")
@click.option("--emergency", "justification", help="Read under emergency basis with this written justification.")
def access_many(
    record_ids: tuple[str, ...], from_file: TextIO | None, accessor: str, basis: str | None,
    justification: str | None,
) -> None:  # fmt: skip
    """Read many records at once (at most 1,000), each under its own basis: every read and
    every refusal is logged, in one transaction, before any content is shown. Prints one JSON
    line per record, in the order given: status read (with seq and content), refused (with
    reason and seq) or not-found. Exits 1 when any record was not read."""
    import json

    from ..access import Access, BulkStatus

    ids = list(record_ids)
    if from_file is not None:
        ids += [line.strip() for line in from_file if line.strip()]
    if justification is not None and basis is None:
        basis = "emergency"
    with open_ledger() as ledger:
        got = Access(ledger).read_many(ids, accessor=accessor, basis=basis, justification=justification)
    for one in got:
        line: dict[str, object] = {"recordId": one.record_id, "status": str(one.status)}
        if one.disclosure is not None:
            d = one.disclosure
            line.update(seq=d.seq, basis=str(d.basis), grantId=d.grant_id, version=d.version, content=d.content)
        if one.refusal is not None:
            line.update(reason=str(one.refusal.reason), seq=one.refusal.seq, message=one.refusal.message)
        click.echo(json.dumps(line, ensure_ascii=False))  # one line each, never wrapped
    read = sum(1 for one in got if one.status == BulkStatus.READ)
    refused = sum(1 for one in got if one.status == BulkStatus.REFUSED)
    err.print(f"{read} read, {refused} refused (all logged), {len(got) - read - refused} not found", highlight=False)
    if read < len(got):
        sys.exit(1)


@main.group()
def log() -> None:
    """The access log: anchoring, status, a resident's history, proofs."""


@log.command("anchorer")
@click.option("--office", required=True, help="Code of the office designating the anchorer.")
@click.option("--as", "actor", required=True, help="An admin of that office.")
def log_anchorer(office: str, actor: str) -> None:
    """Create (or reuse) the anchorer account and designate it on AccessLogAnchor."""
    from ..anchoring import designate_anchorer

    with open_ledger() as ledger:
        account, tx = designate_anchorer(ledger, office, actor)
        label = ledger.settings.anchorer
        if tx is None:
            console.print(f"{label} ({account.address}) is already a designated anchorer")
        else:
            console.print(f"designated {label} ({account.address}) for {office} in {tx}")


@log.command("anchor")
@click.option("--timeout", type=float, default=60.0, show_default=True)
def log_anchor(timeout: float) -> None:
    """Anchor everything logged so far now, and wait for the chain to accept it."""
    from ..anchoring import anchor_now

    with open_ledger() as ledger:
        anchor_now(ledger, timeout=timeout, report=lambda line: err.print(line, highlight=False))
        anchored = ledger.log.anchored()
        if anchored is None:
            console.print("the log is empty: nothing to anchor")
        else:
            console.print(f"anchored {anchored.size} events: checkpoint #{anchored.chain_index} in {anchored.tx_hash}")


@log.command("status")
def log_status() -> None:
    """How much of the log is anchored, and whether reads are open or failed closed."""
    from ..access import health
    from ..history import anchored_checkpoint
    from ..lease import read_lease

    with open_ledger() as ledger:
        state = health(ledger.log, ledger.view, ledger.settings.anchor_fail_after)
        checkpoint = anchored_checkpoint(ledger)
        console.print(f"events: {state.size}; anchored: {state.anchored_size}; state: {state.state}", highlight=False)
        if state.behind:
            console.print(
                f"[red]the database holds {state.size} events, fewer than the {state.anchored_size} the chain has "
                "anchored: it was cut back or restored from an old backup (run 'gridledger verify all')[/]"
            )
        if checkpoint is not None:
            console.print(
                f"last checkpoint: #{checkpoint['index']} size {checkpoint['size']} root {checkpoint['root']} "
                f"in {checkpoint['txHash'] or 'a transaction this database does not confirm'} "
                f"(block {checkpoint['block']})", highlight=False,
            )  # fmt: skip
        if state.oldest_unanchored_ms is not None:
            console.print(
                f"oldest unanchored event waited {state.lag_seconds:.1f} s (reads close after "
                f"{state.limit_seconds:.0f} s)", highlight=False,
            )  # fmt: skip
        console.print(f"anchoring lease: {_lease_words(read_lease(ledger.store))}", highlight=False)
        if state.closed:
            sys.exit(1)


def _lease_words(lease: LeaseState | None) -> str:
    """The anchoring lease in words: who anchors, and for how long without a renewal."""
    import time

    if lease is None:
        return "never taken (no worker has run against this database)"
    if lease.released:
        return f"free (released by {lease.holder})"
    left = lease.expires_at / 1000 - time.time()
    if left <= 0:
        return f"expired {-left:.1f} s ago (last held by {lease.holder}): no worker is anchoring"
    renewed = time.time() - lease.renewed_at / 1000
    return f"held by {lease.holder}, renewed {renewed:.1f} s ago, expires in {left:.1f} s"


@log.command("history")
@click.argument("resident")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def log_history(resident: str, as_json: bool) -> None:
    """RESIDENT's accesses, newest first, each with its inclusion proof."""
    import dataclasses
    import json
    from datetime import datetime

    from ..access import CHINA
    from ..history import resident_history

    with open_ledger() as ledger:
        history = resident_history(ledger, resident)
        if as_json:
            console.print_json(json.dumps(dataclasses.asdict(history), ensure_ascii=False))
            return
        cp = history.checkpoint
        if cp:
            console.print(f"proofs lead to checkpoint #{cp['index']} ({cp['size']} events) anchored in {cp['txHash']}")
        for e in history.entries:
            mark = "[green]proven[/]" if e.proof is not None else "[yellow]awaiting anchoring[/]"
            if e.leaf is None:
                console.print(f"#{e.seq} (your {e.resident_seq}) an access under legal hold, disclosed on "
                              f"{e.disclose_on} {mark}", highlight=False)  # fmt: skip
                continue
            leaf = e.leaf
            when = datetime.fromtimestamp(leaf["time"] / 1000, CHINA).isoformat(timespec="seconds")
            who = ledger.label_of(leaf["accessor"]) or leaf["accessor"]
            what = f"{leaf['outcome']} {leaf['action']} of {leaf['category']} record {leaf['recordId'][:10]}…"
            if leaf["action"] == "decide":  # a decision on the resident's rights request (ledger.rights)
                what = f"decision {leaf['decision']} on a request about {leaf['category']} record"
            why = leaf["basis"] or leaf["reason"]
            console.print(f"#{e.seq} (your {e.resident_seq}) {when} {who}: {what} ({why}) {mark}", highlight=False)
        for f in history.findings:
            console.print(f"[red]finding[/] {f.kind}: {f.detail}", highlight=False)
        if history.findings:
            sys.exit(1)


@log.command("proof")
@click.argument("seq", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def log_proof(seq: int, out: Path) -> None:
    """Write access event SEQ with its inclusion proof, for 'gridledger verify proof'."""
    import json

    from ..history import proof_document

    with open_ledger() as ledger:
        out.write_text(json.dumps(proof_document(ledger, seq), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        console.print(f"wrote {out}")
