"""``gridledger backup``, ``gridledger restore``: backing up an installation and restoring it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ._base import console, err, load_settings, main, open_ledger


@main.command("backup")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def backup_command(directory: Path) -> None:
    """Back up the database (online), the keystores (encrypted, as they are) and the
    deployment record into DIRECTORY (new or empty), with a manifest of SHA-256 hashes."""
    from ..backup import backup

    with open_ledger() as ledger:
        made = backup(ledger, directory)
    m = made.manifest
    console.print(
        f"backed up {m['database']['kind']} (migration {m['database']['schemaRevision']}, {m['log']['size']} log events, "
        f"{sum(1 for f in m['files'] if f.startswith('keys/'))} keys) at chain block {m['chain']['head']['number']} "
        f"to {directory} in {made.seconds:.1f} s", highlight=False,
    )  # fmt: skip


@main.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite a database that holds data.")
def restore_command(directory: Path, force: bool) -> None:
    """Restore the backup in DIRECTORY and catch it up with the chain (stop the web app and
    the worker first). Then run 'gridledger verify all': it names what the backup lacked."""
    from ..backup import restore

    done = restore(load_settings(ask_password=True), directory, force=force, report=err.print)
    console.print(f"restored the {done.database} database from {directory} (migration {done.revision}"
                  + (f", upgraded to {done.migrated_to}" if done.migrated_to else "") + ")", highlight=False)  # fmt: skip
    if done.deployment_written:
        console.print("wrote the deployment record from the backup")
    console.print(f"keys: {done.keys_added} restored"
                  + (f", {done.keys_kept} kept as they were (they differ from the backup's)" if done.keys_kept else ""))  # fmt: skip
    console.print(f"caught up with the chain: {done.events_indexed} events indexed, {done.checkpoints} checkpoints "
                  f"recorded, {done.erasures} erasures and {done.statuses} grant withdrawals or revocations applied "
                  "again", highlight=False)  # fmt: skip
    for sender, (old, new) in sorted(done.nonces.items()):
        console.print(f"nonce of {sender}: {old} -> {new} (used on chain after the backup)", highlight=False)
    if done.lost_events:
        console.print(
            f"access log: {done.log_size} events restored; events #{done.log_size}..#{done.resumed_at - 1} anchored "
            f"after the backup are lost; the log goes on from #{done.resumed_at}"
            + (f"; {done.unprovable} restored events can no longer be proven" if done.unprovable else ""),
            highlight=False,
        )  # fmt: skip
    else:
        console.print(f"access log: {done.log_size} events restored; nothing anchored was lost", highlight=False)
    console.print("run 'gridledger verify all': it names each version, grant and log entry the backup lacked")
    if done.problem:
        err.print(f"[bold red]not complete:[/] {done.problem}", highlight=False)
        sys.exit(1)
