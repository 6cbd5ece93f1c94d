"""A populated installation to tamper with: records (certified, with a second version,
erased), approvals, grants (active, withdrawn, revoked, relayed), every kind of access
(grant, duty, emergency and its review, refused, a police read under legal hold and its
review), anchored checkpoints and events past the last one, on the session's Anvil.

Built once per module through the real services, on SQLite; the PostgreSQL backend gets
the same rows copied into a database of its own. Each trial gets a fresh copy of the
database (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL) and edits
only that; the chain is never written by a trial, and the world's chain state is restored
when the module ends."""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import MetaData, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from ledger.access import Access, today
from ledger.anchoring import Anchorer
from ledger.audit import review
from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import AccessRefused
from ledger.membership import Role
from ledger.organisations import Organisations
from ledger.records import Records
from ledger.settings import Settings
from ledger.store import make_engine, migrate
from ledger.verify import record_run, verify
from webapp.users import add_user, create_token, disable_user, revoke_token

from ..conftest import World, postgres_url

HEALTH = {"blood_type": "A", "chronic_conditions": ["高血压 hypertension"], "allergies": [], "family_doctor": "李医生"}
PROPERTY = {"certificate_number": "沪(2026)浦字第000123号", "address": "金桥路 1 号 No. 1 Jinqiao Road", "area_m2": 62}
SECOND_RESIDENT = "cmte-a-resident-2"
DAY = 86_400


@dataclass
class Facts:
    """What the populated installation holds, for the trials to aim at."""

    resident: str
    resident2: str
    officer: str
    department: str  # org id of the health department
    police_org: str
    record: str  # the resident's health record: v1, v2 certified
    property: str  # the second resident's property record, certified
    erased: str  # an erased record
    grant: str  # the resident -> health department, health, active
    withdrawn: str
    revoked: str
    relayed: str
    emergency: int  # seq of the officer's emergency read (reviewed)
    review: int  # seq of its review
    held: int  # seq of the police read under legal hold
    held_review: int  # seq of the review of the held read
    refused: int
    grant_read: int
    anchored: int  # events the last checkpoint covers
    size: int  # events in the log (some past the checkpoint)


@dataclass
class Populated:
    settings: Settings  # of the populated SQLite database
    facts: Facts
    db_path: Path


def _populate(settings: Settings, world: type[World]) -> Facts:
    ledger = Ledger.open(settings, upgrade=True)
    try:
        ledger.indexer().run_once()
        orgs = Organisations(ledger)
        orgs.add_member(SECOND_RESIDENT, world.committee, Role.RESIDENT, actor=world.grid_worker)
        records = Records(ledger)
        record, _ = records.add(actor=world.grid_worker, subject=world.resident, category=Category.HEALTH,
                                content=HEALTH)  # fmt: skip
        records.sign(record, signer=world.members[0])
        records.update(record, {**HEALTH, "blood_type": "AB"}, actor=world.members[0], expected_version=1)
        for member in world.members[:2]:
            records.sign(record, signer=member)
        prop, _ = records.add(actor=world.grid_worker, subject=SECOND_RESIDENT, category=Category.PROPERTY,
                              content=PROPERTY)  # fmt: skip
        for member in world.members[:2]:
            records.sign(prop, signer=member)
        erased, _ = records.add(actor=world.grid_worker, subject=world.resident, category=Category.PROPERTY,
                                content={**PROPERTY, "area_m2": 48})  # fmt: skip
        records.erase(erased, "居民申请删除 the resident asked", actor=world.admin)

        consent = Consent(ledger)
        year = int(time.time()) + 365 * DAY
        terms: dict[str, Any] = dict(resident=world.resident, department=world.department, categories=[Category.HEALTH],
                                     purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=year)  # fmt: skip
        grant, _ = consent.issue(**terms)
        withdrawn, _ = consent.issue(**terms)
        revoked, _ = consent.issue(**terms)
        relayed, _ = consent.issue(**{**terms, "relayer": world.grid_worker})
        consent.withdraw(withdrawn)
        consent.revoke(revoked, "核查 checked: no longer needed", actor=world.admin)

        access = Access(ledger)
        grant_read = access.read(record, accessor=world.officer, grant_id=grant).seq
        access.read(record, accessor=world.members[0])  # duty
        access.read(prop, accessor=world.admin)  # the office's audit read
        emergency = access.read(prop, accessor=world.officer, justification="急救 ambulance call").seq
        with pytest.raises(AccessRefused) as caught:
            access.read(prop, accessor=world.officer, basis="grant")
        refused = int(caught.value.seq or 0)
        review_row = review(ledger, emergency, "approve", "急救属实 the call was real", reviewer=world.admin)
        held = access.read(record, accessor=world.police_officer, basis="emergency",
                           justification="案件调查 case 2026-17", disclose_on=(today() + timedelta(days=90)).isoformat()).seq  # fmt: skip
        held_review = review(ledger, held, "approve", "调查需要 needed for the case", reviewer=world.admin).review_seq
        anchorer = Anchorer(ledger, ledger.account(ledger.settings.anchorer), report=lambda _m: None)
        anchorer.run_until_anchored()
        anchored = ledger.log.size()
        access.read(record, accessor=world.members[1])  # past the last checkpoint
        access.read(prop, accessor=world.members[1])
        hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        add_user(ledger, "resident", "correct horse 7", account=world.resident, display_name="张秀英", hasher=hasher)
        add_user(ledger, "officer", "correct horse 7", account=world.officer, display_name="赵磊", hasher=hasher)
        add_user(ledger, "gone", "correct horse 7", account=world.members[2], display_name="刘伟", hasher=hasher)
        disable_user(ledger, "gone")
        create_token(ledger, world.officer, "health department system")
        revoke_token(ledger, create_token(ledger, world.officer, "old system").id)
        ledger.indexer().run_once()
        report = verify(ledger, catch_up=False)
        assert report.exit_code == 0, report  # the populated installation is clean
        record_run(ledger, report, by="test")
        return Facts(
            resident=ledger.address_of(world.resident), resident2=ledger.address_of(SECOND_RESIDENT),
            officer=ledger.address_of(world.officer), department=_org(world.department),
            police_org=_org(world.police), record=record, property=prop, erased=erased, grant=grant,
            withdrawn=withdrawn, revoked=revoked, relayed=relayed, emergency=emergency,
            review=review_row.review_seq, held=held, held_review=held_review, refused=refused,
            grant_read=grant_read, anchored=anchored, size=ledger.log.size(),
        )  # fmt: skip
    finally:
        ledger.close()


def _org(code: str) -> str:
    from ledger.membership import org_id

    return "0x" + org_id(code).hex()


@pytest.fixture(scope="module")
def populated(world: World, session_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Populated]:
    """The populated installation (SQLite file); the chain's world state comes back after."""
    world.revert()  # start from the world, whatever ran before
    path = tmp_path_factory.mktemp("tamper") / "populated.db"
    shutil.copyfile(world.db_path, path)
    for suffix in ("-wal", "-shm"):
        if Path(str(world.db_path) + suffix).exists():
            shutil.copyfile(str(world.db_path) + suffix, str(path) + suffix)
    settings = session_settings.with_(database_url=f"sqlite:///{path}")
    try:
        facts = _populate(settings, World)
        with sqlite3.connect(path) as raw:  # one file holds everything: copies are plain file copies
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        yield Populated(settings, facts, path)
    finally:
        world.revert()


class Backend:
    """Fresh copies of the populated database on one backend."""

    name = ""

    def copy(self) -> str:
        raise NotImplementedError

    def drop(self, url: str) -> None:
        pass

    def close(self) -> None:
        pass


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, populated: Populated, folder: Path) -> None:
        self.source = populated.db_path
        self.folder = folder
        self.count = itertools.count()

    def copy(self) -> str:
        target = self.folder / f"trial-{next(self.count)}.db"
        shutil.copyfile(self.source, target)
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm", ".writer-lock"):
            Path(str(path) + suffix).unlink(missing_ok=True)


class PostgresBackend(Backend):
    """The populated rows copied once into a schema of their own (``pop``) of a database of
    the module's; each trial resets a second schema (``trial``) to them in one transaction
    (cheaper than a database per trial, which copies the whole catalogue)."""

    name = "postgresql"

    def __init__(self, populated: Populated, base_url: str) -> None:
        self.base = make_url(base_url)
        self.admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
        self.database = f"gl_tamper_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{self.database}"'))
        plain = self.base.set(database=self.database)
        self.engine = create_engine(plain)
        with self.engine.begin() as c:
            c.execute(text("CREATE SCHEMA pop"))
            c.execute(text("CREATE SCHEMA trial"))
        source = create_engine(f"sqlite:///{populated.db_path}")
        for schema in ("pop", "trial"):
            engine = make_engine(self._url(schema))
            migrate(engine)
            if schema == "pop":
                _copy_rows(source, engine)
            engine.dispose()
        source.dispose()
        meta = MetaData()
        meta.reflect(self.engine, schema="pop")
        self.tables = [t.name for t in meta.sorted_tables]

    def _url(self, schema: str) -> str:
        url = self.base.set(database=self.database).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def copy(self) -> str:
        with self.engine.begin() as c:
            for table in reversed(self.tables):  # DELETE, not TRUNCATE: a few hundred rows, no new files
                c.execute(text(f'DELETE FROM trial."{table}"'))
            for table in self.tables:
                c.execute(text(f'INSERT INTO trial."{table}" SELECT * FROM pop."{table}"'))
            for table, column in c.execute(text(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'trial' "
                "AND column_default LIKE 'nextval%'"
            )).all():  # fmt: skip
                c.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('trial.\"{table}\"', '{column}'), "
                    f'COALESCE((SELECT MAX("{column}") FROM trial."{table}"), 0) + 1, false)'
                ))  # fmt: skip
        return self._url("trial")

    def close(self) -> None:
        self.engine.dispose()
        with self.admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        self.admin.dispose()


def _copy_rows(source: Any, target: Any) -> None:
    """Every row of every table, then each serial sequence past the copied ids."""
    meta = MetaData()
    meta.reflect(target)
    with source.connect() as src, target.begin() as dst:
        for table in reversed(meta.sorted_tables):  # what the migrations put in (log_head's row) goes first
            if table.name != "alembic_version":
                dst.execute(table.delete())
        for table in meta.sorted_tables:
            if table.name == "alembic_version":
                continue
            rows = [dict(r._mapping) for r in src.execute(select(table))]
            if rows:
                dst.execute(insert(table), rows)
            serial = [c.name for c in table.primary_key.columns
                      if c.autoincrement is True or (c.name == "id" and c.type.python_type is int)]  # fmt: skip
            for column in serial:
                dst.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "
                    f"COALESCE((SELECT MAX({column}) FROM {table.name}), 0) + 1, false) "
                    f"WHERE pg_get_serial_sequence('{table.name}', '{column}') IS NOT NULL"
                ))  # fmt: skip


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, populated: Populated, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    if request.param == "sqlite":
        found: Backend = SqliteBackend(populated, tmp_path_factory.mktemp("trials"))
    else:
        base = postgres_url()
        if base is None:
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
        found = PostgresBackend(populated, base)
    yield found
    found.close()


@pytest.fixture
def trial(backend: Backend, populated: Populated) -> Iterator[Ledger]:
    """A ledger over a fresh copy of the populated database, on the module's backend."""
    url = backend.copy()
    ledger = Ledger.open(populated.settings.with_(database_url=url))
    try:
        yield ledger
    finally:
        ledger.close()
        backend.drop(url)
