"""The figures of :mod:`ledger.metrics` in the Prometheus text exposition format 0.0.4.

Every family has its ``# HELP`` and ``# TYPE`` lines and every series is always there
(0 when there is nothing to count), so an alert's expression has a series to test before
the first failure. A time that cannot be measured is left out (no checkpoint yet: no
checkpoint age), except the last integrity check's age, which is ``+Inf`` before the first
run: never checked is as overdue as it gets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from ledger.access import Closed
from ledger.metrics import Figures

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


@dataclass
class Family:
    name: str
    help: str
    type: str = "gauge"
    samples: list[tuple[Labels, float]] = field(default_factory=list)

    def add(self, value: float | bool, **labels: str) -> Family:
        self.samples.append((tuple(labels.items()), float(value)))
        return self


def families(figures: Figures) -> list[Family]:
    """The metric families of ``figures``, in a fixed order."""
    out: list[Family] = []

    def gauge(name: str, text: str, value: float | bool | None = None) -> Family:
        family = Family(name, text)
        if value is not None:
            family.add(value)
        out.append(family)
        return family

    waiting = gauge("gridledger_outbox_transactions",
                    "Signed transactions stored in the outbox and not yet mined, by status (queued: not sent yet).")
    oldest = gauge("gridledger_outbox_oldest_age_seconds",
                   "Seconds since the oldest transaction of each waiting status was stored (0 when none waits).")
    for status in sorted(figures.outbox_waiting):
        waiting.add(figures.outbox_waiting[status], status=status)
        oldest.add(figures.outbox_oldest_seconds.get(status, 0.0), status=status)
    failed = gauge("gridledger_outbox_failed_transactions",
                   "Transactions the outbox holds as failed, by status (reverted by a contract; dropped: their nonce "
                   "was used by another transaction).")
    for status in sorted(figures.outbox_failed):
        failed.add(figures.outbox_failed[status], status=status)

    gauge("gridledger_log_events", "Access events the database holds.", figures.log_events)
    gauge("gridledger_log_unanchored_events", "Access events no anchored checkpoint covers yet.",
          figures.unanchored_events)
    gauge("gridledger_log_oldest_unanchored_age_seconds",
          "Seconds the oldest unanchored access event has waited (0 when all are anchored).",
          figures.oldest_unanchored_seconds)
    checkpoint = figures.checkpoint
    gauge("gridledger_log_checkpoint_events", "Access events the newest anchored checkpoint covers (0: none yet).",
          0 if checkpoint is None else checkpoint.size)
    if checkpoint is not None:
        gauge("gridledger_log_checkpoint_age_seconds", "Seconds since the block that anchored the newest checkpoint.",
              checkpoint.age_seconds)

    gauge("gridledger_reads_fail_after_seconds",
          "Seconds an event may wait unanchored before reads close (GRIDLEDGER_ANCHOR_FAIL_AFTER).",
          figures.fail_after_seconds)
    closed = gauge("gridledger_reads_closed",
                   "1 for the reason reads of personal data are refused now (fail closed), 0 for the others.")
    for reason in Closed:
        closed.add(figures.closed == reason, reason=str(reason))

    run = figures.verify
    if run is not None:
        gauge("gridledger_verify_last_run_timestamp_seconds",
              "When the last 'gridledger verify all' run ended (seconds since the epoch).", run.at_ms / 1000)
        gauge("gridledger_verify_last_run_exit_code",
              "Exit code of the last verify run: 0 clean, 1 findings, 2 could not check.", run.exit_code)
        gauge("gridledger_verify_last_run_trusted",
              "1 when the last verify run's row carries its valid seal; 0: someone wrote it into the database, "
              "its result means nothing.", run.trusted)
    gauge("gridledger_verify_last_run_age_seconds", "Seconds since the last verify run (+Inf: never run).",
          math.inf if run is None else run.age_seconds)

    out.append(_node_up(figures.node_up))
    if figures.head_block is not None and figures.head_age_seconds is not None:
        gauge("gridledger_chain_head_block_number", "Number of the chain's newest block.", figures.head_block)
        gauge("gridledger_chain_head_age_seconds", "Seconds since the chain's newest block was made.",
              figures.head_age_seconds)
    return out


def unreachable() -> list[Family]:
    """What can be said when the installation cannot even be opened because the node
    does not answer: that."""
    return [_node_up(False)]


def _node_up(up: bool) -> Family:
    return Family("gridledger_node_up", "1 when the chain node answers, 0 when it does not.").add(up)


def render(found: Iterable[Family]) -> str:
    lines: list[str] = []
    for family in found:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for labels, value in family.samples:
            inner = ",".join(f'{key}="{_escape_label(text)}"' for key, text in labels)
            lines.append(f"{family.name}{{{inner}}} {_value(value)}" if labels else f"{family.name} {_value(value)}")
    return "\n".join(lines) + "\n"


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
