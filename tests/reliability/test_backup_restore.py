"""Backup and restore (issue 11): a populated installation is backed up, keeps writing (record
versions, grants, logged reads, a checkpoint anchored after the backup), and is restored. After
the restore catches up with the chain, ``verify all`` names exactly what the chain proves the
backup lacked, each with its own code, and nothing else; nonces move past what the chain used;
new writes and reads work, the log goes on at the chain's last checkpoint, the next checkpoint
anchors, and a resident's proofs verify with the standalone verifier. On SQLite and PostgreSQL,
on the session's Anvil (its state is put back after each test)."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from ledger.access import Access
from ledger.anchoring import Anchorer
from ledger.backup import MANIFEST, backup, read_manifest, restore
from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import AccessRefused, ConfigurationError, Refusal, StoreError, VerificationError
from ledger.history import HistoryFindingKind, proof_document, resident_history
from ledger.records import Records
from ledger.settings import Settings
from ledger.store import make_engine, migrate
from ledger.store.models import GrantTerms, LogGap, NonceCursor, Record, RecordVersion, ResidentHint
from ledger.verifier import verify_proof
from ledger.verify import Problem, verify

from ..conftest import World, postgres_url
from .conftest import HEALTH, PROPERTY, _copy_rows

pytestmark = [pytest.mark.chain, pytest.mark.slow]

YEAR = 365 * 86_400


@dataclass
class Installation:
    """A live installation on a copy of the session world's database."""

    settings: Settings
    backend: str

    def open(self) -> Ledger:
        return Ledger.open(self.settings)


def _sqlite(world: World, session_settings: Settings, folder: Path, name: str) -> Settings:
    db = folder / f"{name}.db"
    shutil.copyfile(world.db_path, db)
    for suffix in ("-wal", "-shm"):
        if Path(str(world.db_path) + suffix).exists():
            shutil.copyfile(str(world.db_path) + suffix, str(db) + suffix)
    return session_settings.with_(database_url=f"sqlite:///{db}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest, world: World, session_settings: Settings, tmp_path: Path) -> Iterator[Installation]:
    """The world's database as a live installation (a PostgreSQL schema of its own, or a
    SQLite file); the chain is put back afterwards."""
    world.revert()
    if request.param == "sqlite":
        yield Installation(_sqlite(world, session_settings, tmp_path, "live"), "sqlite")
        world.revert()
        return
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    migrate(engine)
    source = create_engine(f"sqlite:///{world.db_path}")
    _copy_rows(source, engine)
    source.dispose()
    engine.dispose()
    try:
        yield Installation(session_settings.with_(database_url=url), "postgresql")
    finally:
        world.revert()
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _anchor(ledger: Ledger) -> int:
    Anchorer(ledger, ledger.account(ledger.settings.anchorer), report=lambda _m: None).run_until_anchored()
    anchored = ledger.log.anchored()
    assert anchored is not None
    return anchored.size


IDENTITY = {"name": "张秀英", "id_number": "330203195203041234", "gender": "female", "birth_date": "1952-03-04"}


def _terms(world: type[World]) -> dict[str, Any]:
    return dict(resident=world.resident, department=world.department, categories=[Category.HEALTH],
                purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT,
                valid_until=int(time.time()) + YEAR)  # fmt: skip


def _found(report: Any) -> set[tuple[str, str, str, int | None]]:
    return {(f.part, str(f.code), f.subject, f.version) for f in report.findings}


def test_restore_names_exactly_what_the_chain_proves_lost(live: Installation, world: World, tmp_path: Path) -> None:
    w = World
    ledger = live.open()
    try:
        ledger.indexer().run_once()
        records, consent, access = Records(ledger), Consent(ledger), Access(ledger)
        kept, _ = records.add(actor=w.grid_worker, subject=w.resident, category=Category.HEALTH, content=HEALTH)
        erased, _ = records.add(actor=w.grid_worker, subject=w.resident, category=Category.IDENTITY,
                                content=IDENTITY)  # fmt: skip
        revoked, _ = consent.issue(**_terms(w))
        withdrawn, _ = consent.issue(**_terms(w))
        before = [access.read(kept, accessor=w.officer, grant_id=revoked).seq,
                  access.read(kept, accessor=w.members[0]).seq]  # fmt: skip
        anchored = _anchor(ledger)
        made = backup(ledger, tmp_path / "backup")
        assert made.manifest["log"] == {"size": anchored, "anchored": anchored}

        # Everything from here on lives in the chain, and in a database the restore replaces.
        records.update(kept, {**HEALTH, "blood_type": "AB"}, actor=w.members[0], expected_version=1)
        added, _ = records.add(actor=w.grid_worker, subject=w.resident, category=Category.PROPERTY,
                               content={**PROPERTY, "area_m2": 40})  # fmt: skip
        records.erase(erased, "居民申请删除 the resident asked", actor=w.admin)
        issued, _ = consent.issue(**_terms(w))
        after = [access.read(kept, accessor=w.officer, grant_id=revoked).seq for _ in range(3)]
        after.append(access.read(added, accessor=w.members[1]).seq)
        consent.revoke(revoked, "核查 no longer needed", actor=w.admin)
        consent.withdraw(withdrawn)
        resumed_at = _anchor(ledger)
        assert resumed_at == anchored + len(after)
        with ledger.store.session() as session:
            cursors_live = {c.sender: c.next_nonce for c in session.scalars(select(NonceCursor))}
    finally:
        ledger.close()

    target = live.settings
    if live.backend == "sqlite":  # the machine was lost: restore into a new database file
        target = live.settings.with_(database_url=f"sqlite:///{tmp_path / 'restored.db'}")
    else:  # the database was damaged: restore over it, which needs --force
        with pytest.raises(StoreError, match="holds data"):
            restore(target, tmp_path / "backup")
    done = restore(target, tmp_path / "backup", force=live.backend == "postgresql", report=lambda _m: None)
    assert (done.log_size, done.resumed_at, done.unprovable, done.problem) == (anchored, resumed_at, 0, None)
    assert done.erasures == 1 and done.statuses == 2 and done.checkpoints == 1
    assert done.nonces and all(new == cursors_live[sender] for sender, (_old, new) in done.nonces.items())

    restored = Ledger.open(target)
    try:
        report = verify(restored)
        assert report.problems == [] and report.pending == 0
        assert _found(report) == {
            ("records", str(Problem.CONTENT_LOST), kept, 2),
            ("records", str(Problem.CONTENT_LOST), added, 1),
            ("records", str(Problem.REASON_LOST), erased, None),
            ("grants", str(Problem.REASON_LOST), revoked, None),
            ("grants", str(Problem.TERMS_LOST), issued, None),
            ("log", str(Problem.ENTRIES_LOST), f"#{anchored}..#{resumed_at - 1}", None),
        }
        with restored.store.session() as session:  # the chain's erasure and statuses, applied again
            assert session.get(Record, erased).erased_at is not None  # type: ignore[union-attr]
            assert not list(session.scalars(select(RecordVersion.content).where(
                RecordVersion.record_id == erased, RecordVersion.content.is_not(None))))  # fmt: skip
            hint = session.get(ResidentHint, restored.address_of(w.resident))  # the backup's hint, cleared
            assert hint is not None and hint.id_number_masked is None and hint.id_record_id is None
            assert session.get(GrantTerms, revoked).status == "revoked"  # type: ignore[union-attr]
            assert session.get(GrantTerms, withdrawn).status == "withdrawn"  # type: ignore[union-attr]
            gap = session.scalars(select(LogGap)).one()
            assert (gap.start_seq, gap.end_seq) == (anchored, resumed_at)

        # New writes and reads: the log goes on at the chain's last checkpoint, numbers skip the gap.
        records, consent, access = Records(restored), Consent(restored), Access(restored)
        version, _ = records.update(kept, {**HEALTH, "blood_type": "A"}, actor=w.members[0])
        assert version == 3  # on the chain's head, whose content the restore lost
        fresh, _ = consent.issue(**_terms(w))
        read = access.read(kept, accessor=w.officer, grant_id=fresh)
        assert read.seq == resumed_at
        leaf = json.loads(restored.log.event(read.seq).leaf)
        assert leaf["residentSeq"] == len(before) + len(after)  # its count, plus every number the gap may have used
        assert _anchor(restored) == resumed_at + 1

        history = resident_history(restored, w.resident)
        lost = [f for f in history.findings if f.kind == HistoryFindingKind.ENTRIES_LOST]
        assert [f.kind for f in history.findings] == [HistoryFindingKind.ENTRIES_LOST]
        assert lost[0].params["first"] == anchored and lost[0].params["last"] == resumed_at - 1
        proven = {e.seq for e in history.entries if e.proof is not None}
        assert proven == {*before, read.seq}
        for seq in (before[0], read.seq):
            assert verify_proof(proof_document(restored, seq), restored.settings.rpc_url).ok

        assert _found(verify(restored)) == _found(report)  # the next checkpoint is consistent; nothing new is wrong

        # A restore written into the database cannot pass a deletion off as a loss: without its seal
        # the losses are named as what they would otherwise be.
        with restored.store.engine.begin() as c:
            c.execute(text("UPDATE restores SET backup_block = backup_block - 1"))
        codes = {str(f.code) for f in verify(restored).findings}
        assert {str(Problem.ROW_UNSEALED), str(Problem.VERSION_MISSING), str(Problem.LEAF_MISSING)} <= codes
        assert not codes & {str(Problem.CONTENT_LOST), str(Problem.TERMS_LOST), str(Problem.ENTRIES_LOST)}
    finally:
        restored.close()


def test_restore_refuses_another_chain_another_deployment_and_a_damaged_backup(
    world: World, session_settings: Settings, tmp_path: Path
) -> None:
    """The refusals come before the database is touched (on SQLite; nothing here depends on
    the backend)."""
    settings = _sqlite(world, session_settings, tmp_path, "live")
    ledger = Ledger.open(settings)
    try:
        made = backup(ledger, tmp_path / "backup")
    finally:
        ledger.close()
    source = made.directory
    fresh = settings.with_(database_url=f"sqlite:///{tmp_path / 'fresh.db'}")

    other_chain = fresh.with_(chain_id=fresh.chain_id + 1)
    with pytest.raises(ConfigurationError, match="chain"):
        restore(other_chain, source)

    other_var = tmp_path / "other-var"
    other_var.mkdir()
    deployment = json.loads((fresh.deployment_file).read_text())
    deployment["contracts"]["AccessLogAnchor"]["address"] = "0x" + "12" * 20
    (other_var / "deployment.json").write_text(json.dumps(deployment))
    with pytest.raises(ConfigurationError, match="another deployment"):
        restore(fresh.with_(var_dir=other_var), source)

    with pytest.raises(StoreError, match="holds data"):
        restore(settings, source)  # the live database, without --force

    damaged = tmp_path / "damaged"
    shutil.copytree(source, damaged)
    with (damaged / "database.sqlite").open("r+b") as handle:
        handle.seek(5000)
        byte = handle.read(1)
        handle.seek(5000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(VerificationError, match="database.sqlite is damaged"):
        restore(fresh, damaged)
    extra = tmp_path / "extra"
    shutil.copytree(source, extra)
    (extra / "keys" / "0xplanted.json").write_text("{}")
    with pytest.raises(VerificationError, match="not in its manifest"):
        read_manifest(extra)
    (damaged / MANIFEST).unlink()
    with pytest.raises(VerificationError, match="no manifest.json"):
        restore(fresh, damaged)
    assert not Path(str(tmp_path / "fresh.db")).exists()  # nothing was written by a refused restore


def test_a_backup_taken_while_writes_go_on_restores_to_a_consistent_state(
    live: Installation, world: World, tmp_path: Path
) -> None:
    """Logged reads, record updates and checkpoints run in threads while the backup is taken;
    the restored database is one state of the live one: after catching up, the only findings
    are losses, and the log resumes after the chain's checkpoint and anchors on."""
    w = World
    ledger = live.open()
    stop = threading.Event()
    errors: list[BaseException] = []
    done_count = {"read": 0, "update": 0, "checkpoint": 0}
    changed = threading.Condition()
    try:
        ledger.indexer().run_once()
        records, access = Records(ledger), Access(ledger)
        record, _ = records.add(actor=w.grid_worker, subject=w.resident, category=Category.HEALTH, content=HEALTH)
        anchorer = Anchorer(ledger, ledger.account(ledger.settings.anchorer), interval=0.0, report=lambda _m: None)
        blood = iter(["A", "B", "AB", "O"] * 200)

        def update_record() -> bool:
            records.update(record, {**HEALTH, "blood_type": next(blood)}, actor=w.members[1])
            return True

        def loop(kind: str, step: Any, pace: float) -> None:
            try:
                while not stop.is_set():
                    if step() is not None:
                        with changed:
                            done_count[kind] += 1
                            changed.notify_all()
                    stop.wait(pace)  # pacing on a shared machine, not timing
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
                stop.set()
                with changed:
                    changed.notify_all()

        def reached(want: int) -> None:
            wanted = {kind: n + want for kind, n in done_count.items()}
            with changed:
                assert changed.wait_for(lambda: stop.is_set() or all(done_count[k] >= v for k, v in wanted.items()),
                                        timeout=120)  # fmt: skip
            assert not errors, errors

        threads = [
            threading.Thread(target=loop, args=("read", lambda: access.read(record, accessor=w.members[0]), 0.01)),
            threading.Thread(target=loop, args=("update", update_record, 0.0)),
            threading.Thread(target=loop, args=("checkpoint", anchorer.cycle, 0.05)),
        ]
        for thread in threads:
            thread.start()
        reached(2)  # some of everything before the backup ...
        made = backup(ledger, tmp_path / "backup")
        reached(2)  # ... and after
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        final = _anchor(ledger)
    finally:
        stop.set()
        ledger.close()

    target = live.settings
    if live.backend == "sqlite":
        target = live.settings.with_(database_url=f"sqlite:///{tmp_path / 'restored.db'}")
    done = restore(target, made.directory, force=True, report=lambda _m: None)
    assert (done.log_size, done.resumed_at, done.problem) == (made.manifest["log"]["size"], final, None)
    restored = Ledger.open(target)
    try:
        report = verify(restored)
        assert report.problems == [] and report.pending == 0
        lost_kinds = {str(Problem.CONTENT_LOST), str(Problem.ENTRIES_LOST), str(Problem.PROOFS_LOST)}
        found = {str(f.code) for f in report.findings}
        assert found <= lost_kinds, [f.json() for f in report.findings]
        assert (str(Problem.ENTRIES_LOST) in found) == (done.lost_events > 0)
        assert (str(Problem.PROOFS_LOST) in found) == (done.unprovable > 0)
        assert str(Problem.CONTENT_LOST) in found  # versions were committed after the backup
        access = Access(restored)
        with pytest.raises(AccessRefused) as refused:  # its newest version was committed after the backup
            access.read(record, accessor=w.members[0])
        assert (refused.value.reason, refused.value.seq) == (Refusal.CONTENT_LOST, final)
        Records(restored).update(record, HEALTH, actor=w.members[1])  # the committee enters it again
        assert access.read(record, accessor=w.members[0]).seq == final + 1
        assert _anchor(restored) == final + 2
        assert {str(f.code) for f in verify(restored).findings} <= lost_kinds
    finally:
        restored.close()


def test_the_commands_back_up_restore_and_refuse_to_overwrite(
    world: World, session_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from ledger.cli import main

    settings = _sqlite(world, session_settings, tmp_path, "live")
    for name, value in {"GRIDLEDGER_VAR": str(settings.var_dir), "DATABASE_URL": settings.db_url,
                        "GRIDLEDGER_NODE_PORT": str(settings.node_port), "GRIDLEDGER_KEY_PASSWORD": "test-password",
                        "GRIDLEDGER_BLOCK_TIME": "0.2"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    made = runner.invoke(main, ["backup", str(tmp_path / "b")], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    assert "backed up sqlite" in made.output and (tmp_path / "b" / MANIFEST).is_file()
    refused = runner.invoke(main, ["restore", str(tmp_path / "b")], catch_exceptions=False)
    assert refused.exit_code == 1 and "holds data" in refused.output
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    assert runner.invoke(main, ["init"], catch_exceptions=False).exit_code == 0  # an empty schema is no data
    done = runner.invoke(main, ["restore", str(tmp_path / "b")], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "nothing anchored was lost" in done.output and "gridledger verify all" in done.output
    checked = runner.invoke(main, ["verify", "all"], catch_exceptions=False)
    assert checked.exit_code == 0, checked.output  # nothing happened after the backup: nothing is lost
