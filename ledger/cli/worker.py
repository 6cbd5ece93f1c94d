"""``gridledger worker``: the background worker: sends, indexes, anchors."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import click

from ..settings import Settings
from ._base import console, load_settings, main

if TYPE_CHECKING:
    from ..context import Ledger


#: Seconds between a waiting worker's tries to reach the node: doubling up to the last.
NODE_WAIT = (0.25, 5.0)


def _open_when_the_node_answers(settings: Settings) -> Ledger:
    """The ledger, once the node answers: a worker started while the node is down (a
    restart after a crash of both) waits for it and says so, rather than exiting."""
    from ..context import Ledger
    from ..errors import NodeError

    pause, said = NODE_WAIT[0], ""
    while True:
        try:
            return Ledger.open(settings)
        except NodeError as exc:
            if str(exc) != said:
                console.print(f"waiting for the chain node: {exc}", highlight=False)
                said = str(exc)
        time.sleep(pause)
        pause = min(pause * 2, NODE_WAIT[1])


@main.command()
@click.option("--once", is_flag=True, help="One cycle, then exit.")
@click.option("--interval", type=float, default=0.5, show_default=True, help="Seconds between cycles.")
@click.option("--no-anchor", is_flag=True, help="Do not anchor the access log (another worker does).")
def worker(once: bool, interval: float, no_anchor: bool) -> None:
    """Send the outbox, record receipts, recover lost blocks, index events, and anchor the
    access log (every GRIDLEDGER_ANCHOR_INTERVAL s or GRIDLEDGER_ANCHOR_EVERY events)."""
    from ..context import Ledger
    from ..worker import Worker

    settings = load_settings(ask_password=True)
    # SIGTERM (a supervisor, systemd, 'project.py run' stopping) ends it like Ctrl-C:
    # the current cycles finish, nothing is cut off half-way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        ledger = Ledger.open(settings) if once else _open_when_the_node_answers(settings)
    except KeyboardInterrupt:
        console.print("worker stopped before the node answered")
        return
    try:
        runner = Worker(
            ledger, interval=interval, anchor=not no_anchor, report=lambda line: console.print(line, highlight=False)
        )
        if once:
            runner.once()
            return
        holder = f" as {runner.lease.holder}" if runner.lease is not None else " (not anchoring: --no-anchor)"
        console.print(f"worker running against {ledger.settings.rpc_url}{holder}; Ctrl-C to stop", highlight=False)
        runner.run()
        console.print("worker stopped")
    finally:
        ledger.close()
