"""Figures for monitoring one installation: what an office with no IT staff must be told
before its residents notice (the web app's ``/metrics`` renders them for Prometheus).

A scrape costs the same however long the log and the outbox grow: every figure is one
indexed lookup or one question to the chain, never a pass over a table.

* the outbox: transactions waiting (queued, sent) and failed (reverted, dropped, or any
  other status that is neither waiting nor mined), counted on the status index, which
  skips the mined rows (nearly all of them); the oldest waiting one of each status by its
  first row on that index;
* the access log: its size (``log_head``), the chain's newest checkpoint (size and the
  block time it was anchored at), and the oldest event no checkpoint covers (its leaf, by
  sequence number);
* whether reads are closed, and why (:class:`ledger.access.Closed`), decided as a read
  decides it (:class:`ledger.access.Health`);
* the last ``verify all`` run and whether its seal holds (:func:`ledger.verify.last_run`);
* the chain node: whether it answers, its head block and how old that block is.

While the chain cannot be asked, the log's figures are measured against the newest
checkpoint the database recorded as anchored, and reads count as closed
(``chain-unreachable``): that is what a read meets then.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, union_all

from .access import Closed, health_against
from .context import Ledger
from .errors import LedgerError, NodeError
from .outbox import PENDING
from .store.models import OutboxTx
from .verify import last_run

#: Failed statuses always reported (0 when none), so an alert's series exists before the first.
FAILED = ("reverted", "dropped")
SETTLED = "mined"

_OUTBOX = cast(Table, OutboxTx.__table__)
# Every status but mined, as two ranges of the status index (an inequality, or an OR of the
# two, has SQLite scan the whole index).
_BY_STATUS = union_all(
    select(_OUTBOX.c.status, func.count()).where(_OUTBOX.c.status < SETTLED).group_by(_OUTBOX.c.status),
    select(_OUTBOX.c.status, func.count()).where(_OUTBOX.c.status > SETTLED).group_by(_OUTBOX.c.status),
)


def _oldest(status: str) -> Any:
    return select(_OUTBOX.c.created_at).where(_OUTBOX.c.status == status).order_by(_OUTBOX.c.id).limit(1)


_OLDEST = {status: _oldest(status) for status in PENDING}


@dataclass(frozen=True)
class Checkpoint:
    """The newest anchored checkpoint: how many events it covers, how long ago."""

    size: int
    age_seconds: float


@dataclass(frozen=True)
class LastVerify:
    """The newest stored ``verify all`` run. ``trusted`` False: its seal does not hold, so
    its result and time are whatever someone wrote into the database."""

    at_ms: int
    age_seconds: float
    exit_code: int
    trusted: bool


@dataclass(frozen=True)
class Figures:
    at_ms: int  # when they were taken (milliseconds since the epoch)
    outbox_waiting: dict[str, int]  # queued | sent -> transactions
    outbox_oldest_seconds: dict[str, float]  # queued | sent -> age of the oldest (0 when none)
    outbox_failed: dict[str, int]  # reverted | dropped | any other unsettled status -> transactions
    log_events: int
    unanchored_events: int
    oldest_unanchored_seconds: float  # 0 when every event is anchored
    checkpoint: Checkpoint | None  # None before the first
    fail_after_seconds: float
    closed: Closed | None  # None while reads are open
    node_up: bool
    head_block: int | None  # None while the node does not answer
    head_age_seconds: float | None
    verify: LastVerify | None  # None before the first run


def collect(ledger: Ledger, *, at_ms: int | None = None) -> Figures:
    """The figures now (or at ``at_ms``: ages are counted to it). Raises only when the
    database cannot be read; the chain not answering is a figure (``node_up``)."""
    now = int(time.time() * 1000) if at_ms is None else at_ms
    waiting, failed = {status: 0 for status in PENDING}, {status: 0 for status in FAILED}
    oldest: dict[str, float] = {}
    with ledger.store.engine.connect() as db:
        for status, count in db.execute(_BY_STATUS):
            (waiting if status in PENDING else failed)[str(status)] = int(count)
        for status, query in _OLDEST.items():
            created = db.execute(query).scalar_one_or_none()
            oldest[status] = 0.0 if created is None else _age(now, _ms(created))

    limit = ledger.settings.anchor_fail_after
    node_up, head_block, head_age, checkpoint = True, None, None, None
    try:
        view = ledger.view
        head_block, head_time = view.head()
        on_chain = view.checkpoint()
    except NodeError:
        node_up = False
    except LedgerError:
        raise  # not the node: the installation cannot be opened (the scrape fails, loudly)
    except Exception:  # noqa: BLE001 - any transport failure means "unreachable"
        node_up = False
    if node_up:
        head_age = _age(now, head_time * 1000)
        anchored = 0 if on_chain is None else on_chain.size
        if on_chain is not None:
            checkpoint = Checkpoint(on_chain.size, _age(now, on_chain.anchored_at * 1000))
    else:  # the newest checkpoint the database recorded as anchored
        head_block = None
        row = ledger.log.anchored()
        anchored = 0 if row is None else int(row.size)
        if row is not None and row.anchored_at is not None:
            checkpoint = Checkpoint(anchored, _age(now, _ms(row.anchored_at)))
    state = health_against(ledger.log, anchored, limit)

    closed = Closed.CHAIN_UNREACHABLE if not node_up else state.closed_reason(now)
    found = last_run(ledger)
    verified = None
    if found is not None:
        run, trusted = found
        verified = LastVerify(int(run.at), _age(now, int(run.at)), int(run.exit_code), trusted)
    return Figures(
        at_ms=now, outbox_waiting=waiting, outbox_oldest_seconds=oldest, outbox_failed=failed,
        log_events=state.size, unanchored_events=max(0, state.size - state.anchored_size),
        oldest_unanchored_seconds=state.lag_at(now), checkpoint=checkpoint, fail_after_seconds=limit,
        closed=closed, node_up=node_up, head_block=head_block, head_age_seconds=head_age, verify=verified,
    )  # fmt: skip


def _ms(value: datetime) -> int:
    """A stored time in milliseconds (SQLite hands back naive datetimes, written in UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def _age(now_ms: int, then_ms: int) -> float:
    return max(0.0, (now_ms - then_ms) / 1000)
