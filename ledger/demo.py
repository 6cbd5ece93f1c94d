"""The demo subdistrict: one office, three residents' committees of five members
with k = 3 (and a grid worker each), four departments, a few residents, and the
account that anchors the access log.

Idempotent: run again, it finds what exists (in the indexed tables) and adds only
what is missing, so nothing is duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console

from .anchoring import designate_anchorer
from .context import Ledger
from .membership import DepartmentKind, Role
from .organisations import Organisations
from .outbox import raise_for_revert

OFFICE = ("office-jinqiao", "金桥街道办事处 Jinqiao Subdistrict Office")
COMMITTEES = [
    ("committee-bihu", "碧湖社区居委会 Bihu Residents' Committee"),
    ("committee-yuqiao", "玉桥社区居委会 Yuqiao Residents' Committee"),
    ("committee-donglin", "东林社区居委会 Donglin Residents' Committee"),
]
DEPARTMENTS = [
    ("dept-civil-affairs", "民政科 Civil Affairs", DepartmentKind.CIVIL_AFFAIRS),
    ("dept-health", "卫生健康办 Health", DepartmentKind.HEALTH),
    ("dept-public-security", "派出所 Public Security", DepartmentKind.PUBLIC_SECURITY),
    ("dept-social-security", "社保所 Social Security", DepartmentKind.SOCIAL_SECURITY),
]
MEMBERS_PER_COMMITTEE = 5
THRESHOLD = 3
RESIDENTS_PER_COMMITTEE = 2


@dataclass
class DemoReport:
    created: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)

    def __rich__(self) -> str:
        lines = [f"demo subdistrict: {len(self.created)} created, {len(self.reused)} already there"]
        lines += [f"  + {item}" for item in self.created]
        if self.reused:
            lines.append(f"  = reused: {', '.join(self.reused)}")
        return "\n".join(lines)


def build_demo(ledger: Ledger, console: Console | None = None) -> DemoReport:
    orgs = Organisations(ledger, wait=False)
    report = DemoReport()
    ledger.sync()

    def stage(name: str, steps: list[tuple[str, bool, object]]) -> None:
        hashes = []
        for label, exists, submit in steps:
            if exists:
                report.reused.append(label)
            else:
                hashes.append(submit())  # type: ignore[operator]
                report.created.append(label)
        if hashes:
            if console:
                console.print(f"{name}: {len(hashes)} transaction(s)…")
            done = ledger.outbox.wait(hashes, timeout=120)
            ledger.indexer().run_once()  # the next stage's checks read the indexed tables
            raise_for_revert(done)

    code, name = OFFICE
    stage("office", [(code, orgs.exists(code), lambda: orgs.create_office(code, name, "jinqiao-admin-1"))])

    steps: list[tuple[str, bool, object]] = []
    for c_code, c_name in COMMITTEES:
        labels = [f"{c_code}-member-{i}" for i in range(1, MEMBERS_PER_COMMITTEE + 1)]
        steps.append(
            (
                c_code,
                orgs.exists(c_code),
                lambda c_code=c_code, c_name=c_name, labels=labels: orgs.create_committee(
                    c_code, c_name, code, labels, THRESHOLD
                ),
            )
        )
    for d_code, d_name, kind in DEPARTMENTS:
        steps.append(
            (
                d_code,
                orgs.exists(d_code),
                lambda d_code=d_code, d_name=d_name, kind=kind: orgs.create_department(d_code, d_name, code, kind),
            )
        )
    stage("committees and departments", steps)

    steps = []
    for c_code, _ in COMMITTEES:
        label = f"{c_code}-grid-worker"
        steps.append(
            (
                label,
                orgs.is_member(label),
                lambda label=label, c_code=c_code: orgs.add_member(label, c_code, Role.GRID_WORKER),
            )
        )
    for d_code, _, _ in DEPARTMENTS:
        label = f"{d_code}-officer"
        steps.append(
            (
                label,
                orgs.is_member(label),
                lambda label=label, d_code=d_code: orgs.add_member(label, d_code, Role.DEPARTMENT_OFFICER),
            )
        )
    stage("grid workers and officers", steps)

    steps = []
    for c_code, _ in COMMITTEES:
        for i in range(1, RESIDENTS_PER_COMMITTEE + 1):
            label = f"{c_code}-resident-{i}"
            worker = f"{c_code}-grid-worker"
            steps.append(
                (
                    label,
                    orgs.is_member(label),
                    lambda label=label, c_code=c_code, worker=worker: orgs.add_member(
                        label, c_code, Role.RESIDENT, actor=worker
                    ),
                )
            )
    stage("residents (registered by their grid worker)", steps)

    # The access log's anchorer, designated by the office's admin (the worker anchors with it).
    _account, tx = designate_anchorer(ledger, code, "jinqiao-admin-1")
    (report.reused if tx is None else report.created).append(f"the access log's anchorer ({ledger.settings.anchorer})")
    return report
