"""The audit: planted violations are found, reviews settle emergencies, anomalies stand
out, and every kind of tampering with the log's table is reported. The machine-readable CSV."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import replace

import pytest
from sqlalchemy import text

from ledger import audit
from ledger.access import Access, now_ms
from ledger.accesslog import Draft
from ledger.anchoring import Anchorer
from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import AccessRefused
from ledger.membership import org_id
from ledger.records import Records

HEALTH = {"blood_type": "A", "chronic_conditions": [], "allergies": ["花粉"], "family_doctor": "张医生"}


class Scenario:
    def __init__(self, ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
        self.ledger = ledger
        records = Records(ledger)
        self.record_id, _ = records.add(
            actor=world.grid_worker, subject=world.resident, category=Category.HEALTH, content=HEALTH
        )
        records.sign(self.record_id, signer=world.members[0])
        records.sign(self.record_id, signer=world.members[1])
        consent = Consent(ledger)
        self.grant_id, _ = consent.issue(
            resident=world.resident, department=world.department, categories=[Category.HEALTH],
            purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + 86_400 * 30,
        )  # fmt: skip
        access = Access(ledger)
        self.allowed = access.read(self.record_id, accessor=world.officer).seq
        self.emergency = access.read(self.record_id, accessor=world.officer, justification="急救 ambulance").seq
        consent.withdraw(self.grant_id)
        with pytest.raises(AccessRefused) as refused:
            access.read(self.record_id, accessor=world.officer)
        self.refused = refused.value.seq
        self.resident = ledger.address_of(world.resident)
        self.officer = ledger.address_of(world.officer)
        self.department = "0x" + org_id(world.department).hex()
        self.anchorer = Anchorer(ledger, ledger.account(ledger.settings.anchorer))

    def plant(self, **changes: object) -> int:
        """An access written straight to the log, as a careless or dishonest service could."""
        head = int(self.ledger.w3.eth.block_number)
        draft = Draft(
            action="read", outcome="allowed", resident=self.resident, accessor=self.officer, time=now_ms(),
            record_id=self.record_id, category="health", organisation=self.department, basis="grant",
            grant_id=self.grant_id, purpose=2, block=head,
        )  # fmt: skip
        return self.ledger.log.append([replace(draft, **changes)])[0].seq  # type: ignore[arg-type]


@pytest.fixture
def scenario(ledger: Ledger, world) -> Scenario:  # type: ignore[no-untyped-def]
    return Scenario(ledger, world)


def _kinds(result: audit.Audit) -> dict[str, list[int | None]]:
    found: dict[str, list[int | None]] = {}
    for f in result.findings:
        found.setdefault(f.kind, []).append(f.seq)
    return found


def test_a_clean_log_has_only_the_expected_findings(scenario: Scenario) -> None:
    scenario.anchorer.run_until_anchored()
    result = audit.run(scenario.ledger)
    kinds = _kinds(result)
    assert kinds == {"refused-attempt": [scenario.refused], "emergency-unreviewed": [scenario.emergency]}
    assert result.integrity is not None and result.integrity.exit_code == 0, result.integrity
    assert scenario.ledger.view.checkpoint().size == 3  # type: ignore[union-attr]


def test_planted_violations_are_listed(scenario: Scenario, world) -> None:  # type: ignore[no-untyped-def]
    after = scenario.plant()  # the grant was withdrawn in an earlier block
    outside = scenario.plant(category="property", block=None)
    elsewhere = scenario.plant(organisation="0x" + org_id(world.police).hex(), block=None)
    late = scenario.plant(time=now_ms() + 40 * 86_400_000, block=None)
    unknown = scenario.plant(grant_id="0x" + "42" * 32)
    kinds = _kinds(audit.run(scenario.ledger, integrity=False))
    assert after in kinds["after-withdrawal"]
    assert outside in kinds["outside-categories"]
    assert elsewhere in kinds["wrong-department"]
    assert late in kinds["after-expiry"]
    assert unknown in kinds["unknown-grant"]
    assert scenario.allowed not in kinds["after-withdrawal"]  # read before the withdrawal: fine


def test_reviews_settle_emergencies_and_a_flag_is_a_finding(scenario: Scenario, world) -> None:  # type: ignore[no-untyped-def]
    audit.review(scenario.ledger, scenario.emergency, "approve", "医院确认 confirmed", reviewer=world.admin)
    assert "emergency-unreviewed" not in _kinds(audit.run(scenario.ledger, integrity=False))
    other = Access(scenario.ledger).read(scenario.record_id, accessor=world.officer, justification="看看 curious")
    audit.review(scenario.ledger, other.seq, "flag", "无紧急情况 no emergency", reviewer=world.second_admin)
    assert _kinds(audit.run(scenario.ledger, integrity=False))["emergency-flagged"] == [other.seq]
    assert [e.seq for e in audit.unreviewed(scenario.ledger)] == []


def test_a_department_far_above_its_usual_volume_is_an_anomaly(scenario: Scenario, world) -> None:  # type: ignore[no-untyped-def]
    day = 86_400_000
    start = now_ms() - 10 * day
    drafts = []
    org = "0x" + org_id(world.police).hex()
    for d in range(8):
        for i in range(60 if d == 5 else 3):
            drafts.append(Draft(
                action="read", outcome="allowed", resident=scenario.resident, accessor=scenario.officer,
                time=start + d * day + i, record_id=scenario.record_id, category="health", organisation=org,
                basis="duty",
            ))  # fmt: skip
    scenario.ledger.log.append(drafts)
    anomalies = [f for f in audit.run(scenario.ledger, integrity=False).findings if f.kind == "volume-anomaly"]
    assert len(anomalies) == 1 and anomalies[0].organisation == org and "60 reads" in anomalies[0].detail


def test_scope_limits_the_findings(scenario: Scenario, world) -> None:  # type: ignore[no-untyped-def]
    ledger = scenario.ledger
    other = audit.scope_of(ledger, start=None, end=None, department=world.police, resident=None)
    assert audit.run(ledger, other, integrity=False).findings == []
    mine = audit.scope_of(ledger, start=None, end=None, department=world.department, resident=world.resident)
    assert len(audit.run(ledger, mine, integrity=False).findings) == 2


def _tamper_edit(ledger: Ledger, seq: int) -> None:
    with ledger.store.engine.begin() as c:
        leaf = c.execute(text("SELECT leaf FROM access_log WHERE seq = :s"), {"s": seq}).scalar_one()
        c.execute(text("UPDATE access_log SET leaf = :l WHERE seq = :s"),
                  {"l": bytes(leaf).replace(b'"allowed"', b'"refused"'), "s": seq})  # fmt: skip


def _tamper_delete(ledger: Ledger, seq: int) -> None:
    with ledger.store.engine.begin() as c:
        c.execute(text("DELETE FROM access_log WHERE seq = :s"), {"s": seq})


def _tamper_insert(ledger: Ledger, seq: int) -> None:
    with ledger.store.engine.begin() as c:
        rows = (
            c.execute(text("SELECT * FROM access_log WHERE seq >= :s ORDER BY seq DESC"), {"s": seq}).mappings().all()
        )
        for row in rows:  # make room, then slip a copy in
            c.execute(text("UPDATE access_log SET seq = seq + 1, resident_seq = resident_seq + 1000 WHERE seq = :s"),
                      {"s": row["seq"]})  # fmt: skip
        fake = dict(rows[-1])
        fake["resident_seq"] = 999
        c.execute(text(f"INSERT INTO access_log ({', '.join(fake)}) VALUES ({', '.join(':' + k for k in fake)})"), fake)


def _tamper_swap(ledger: Ledger, seq: int) -> None:
    with ledger.store.engine.begin() as c:
        a = c.execute(text("SELECT leaf, leaf_hash FROM access_log WHERE seq = :s"), {"s": seq}).one()
        b = c.execute(text("SELECT leaf, leaf_hash FROM access_log WHERE seq = :s"), {"s": seq + 1}).one()
        c.execute(
            text("UPDATE access_log SET leaf = :l, leaf_hash = :h WHERE seq = :s"), {"l": b[0], "h": b[1], "s": seq}
        )
        c.execute(text("UPDATE access_log SET leaf = :l, leaf_hash = :h WHERE seq = :s"),
                  {"l": a[0], "h": a[1], "s": seq + 1})  # fmt: skip


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_tamper_edit, {"leaf-hash-mismatch", "checkpoint-mismatch"}),
        (_tamper_delete, {"leaf-missing", "checkpoint-mismatch"}),
        (_tamper_insert, {"leaf-moved", "checkpoint-mismatch"}),
        (_tamper_swap, {"leaf-moved", "checkpoint-mismatch"}),
    ],
    ids=["edit", "delete", "insert", "reorder"],
)
def test_verify_reports_each_kind_of_tampering(scenario: Scenario, tamper, expected: set[str]) -> None:  # type: ignore[no-untyped-def]
    scenario.anchorer.run_until_anchored()
    tamper(scenario.ledger, scenario.emergency)
    report = audit.run(scenario.ledger).integrity
    assert report is not None and report.exit_code == 1
    kinds = {str(f.code) for f in report.of("log")}
    assert expected <= kinds, kinds
    assert scenario.anchorer.cycle() is None  # and the anchorer refuses to anchor over it


def test_the_machine_readable_csv_holds_codes(scenario: Scenario) -> None:
    scenario.anchorer.run_until_anchored()
    result = audit.run(scenario.ledger)
    rows = list(csv.reader(io.StringIO(audit.to_csv(scenario.ledger, result))))
    assert rows[0] == list(audit.CSV_COLUMNS)
    assert {r[0] for r in rows[1:]} == {"refused-attempt", "emergency-unreviewed"}
    assert all(r[4] == "dept-a-health" for r in rows[1:])  # organisations by code, not id


def test_the_audit_counts_each_organisations_reads(scenario: Scenario, world) -> None:  # type: ignore[no-untyped-def]
    result = audit.run(scenario.ledger, integrity=False)
    assert result.reads[scenario.department] == audit.Reads(allowed=2, refused=1, emergency=1, reviewed=0)
    audit.review(scenario.ledger, scenario.emergency, "approve", "急救 confirmed", reviewer=world.admin)
    assert audit.run(scenario.ledger, integrity=False).reads[scenario.department].reviewed == 1


def test_the_audit_with_integrity_judges_the_same_leaves_in_verifys_pass(scenario: Scenario, world) -> None:  # type: ignore[no-untyped-def]
    """With integrity the judge sees the leaves as verify reads them (one pass); the findings
    are those of the audit's own pass without integrity."""
    scenario.plant()
    scenario.plant(category="property", block=None)
    scenario.anchorer.run_until_anchored()

    def seen(result: audit.Audit) -> list[tuple[str, int | None]]:
        return [(f.kind, f.seq) for f in result.findings]

    alone = audit.run(scenario.ledger, integrity=False)
    together = audit.run(scenario.ledger)
    assert together.integrity is not None and together.integrity.log_read and together.integrity.exit_code == 0
    assert seen(together) == seen(alone) and together.events == alone.events == 5
