"""Residents' rights requests (:mod:`ledger.rights`) as the pages show them: one item per
request, its field and value worded from the category's JSON Schema (:mod:`webapp.content`),
its dates in China time, its codes left for the templates to word (:mod:`webapp.presentation`).
Shared by the resident's, the committee's and the office's pages, and by nothing that writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.access import CHINA
from ledger.rights import RequestView

from . import content


def day_of(ms: int | None) -> str:
    """A moment (ms) as its day in China time, YYYY-MM-DD."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(CHINA).date().isoformat()


@dataclass(frozen=True)
class RequestItem:
    view: RequestView
    field_label: str  # a correction: the field's worded title
    proposed_text: str  # a correction: the value asked for, worded
    asked_day: str
    due_day: str
    decided_day: str
    resident_name: str = ""
    asked_by_name: str = ""
    decider_name: str = ""

    def __getattr__(self, name: str) -> Any:  # the view's own fields: item.kind, item.status, ...
        return getattr(self.view, name)


def item(view: RequestView, names: dict[str, str] | None = None) -> RequestItem:
    shown = names or {}
    label = text = ""
    if view.category is not None and view.field:
        label = content.labels(view.category).get(view.field, view.field)
        rows = content.fields(view.category, {view.field: view.proposed})
        text = rows[0].value if rows else ""
    return RequestItem(
        view=view, field_label=label, proposed_text=text, asked_day=day_of(view.asked_at),
        due_day=day_of(view.due_at), decided_day=day_of(view.decided_at),
        resident_name=shown.get(view.resident, ""), asked_by_name=shown.get(view.asked_by, ""),
        decider_name=shown.get(view.decider or "", ""),
    )  # fmt: skip


def items(views: list[RequestView], names: dict[str, str] | None = None) -> list[RequestItem]:
    return [item(v, names) for v in views]


def people(views: list[RequestView]) -> set[str]:
    """The addresses a list of requests names (for display names)."""
    return {a for v in views for a in (v.resident, v.asked_by, v.decider) if a}


def field_choices(category: Any) -> list[tuple[str, str]]:
    """(field, worded title) of every field a correction of ``category`` may name."""
    from ledger.rights import fields_of

    labels = content.labels(category)
    return [(f, labels.get(f, f)) for f in fields_of(category)]
