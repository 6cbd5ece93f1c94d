"""Upgrades lose nothing (issue 11): an installation made by an older gridledger is opened by
this one, and nothing it held is lost.

The older code is taken from git history (``git archive`` of a baseline commit) and run
from its own tree in a subprocess, with this venv: it makes a small installation on the
session's Anvil (its own deployment, its own keystore) with its own migrations: an office,
a committee, a department, a resident; a record certified, then a second version; grants,
one withdrawn; reads under a grant and on duty, one refused; an anchored checkpoint and a
read past it; a web log-in, an API token and a sealed integrity run. Then this code's
``gridledger init`` upgrades it (Alembic, to whatever head is now), and

* ``verify all`` is clean (chain, records, grants, log, seals);
* every row of the tables that hold what was acknowledged is there with every column it
  had (records and versions, approvals, grants, the access log and its checkpoints,
  accounts, organisations' names, web log-ins, API tokens, integrity runs);
* the log goes on: the next read takes the next sequence number, and the next checkpoint
  extends the old one on chain (the contract checks its consistency proof).

**Every schema change comes with such a test**: add the commit just before it to
:data:`BASELINES` (one line), so that the installation as that commit made it is upgraded
to the new head too. The builder (:data:`BUILDER`) is written against the library as it
stood at 3c48ac2; should a later baseline's API differ, give the builder a branch for it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import MetaData, create_engine, select

from ledger.access import Access
from ledger.anchoring import Anchorer
from ledger.cli import main
from ledger.context import Ledger
from ledger.settings import Settings
from ledger.store import alembic_config, current_revision
from ledger.verify import verify

from ..conftest import World
from .databases import empty_database

pytestmark = pytest.mark.chain

ROOT = Path(__file__).resolve().parents[2]
#: (commit, the migration its code leaves a database at): installations to upgrade from.
BASELINES = [
    pytest.param("3c48ac2", "0007", id="3c48ac2-before-issue-11"),
    pytest.param("07b12d3", "0009", id="07b12d3-before-org-names"),
    pytest.param("5d9eb08", "0010", id="5d9eb08-before-resident-hints"),
]
#: Columns a later migration replaced, and how the upgraded row must carry them: an
#: organisation's single name became its two names (0010), kept for its seal.
REPLACED = {("org_profiles", "name"): "legacy_name"}
#: What the older code needs of its tree (the contracts' compiled artifacts are committed).
TREE = ("ledger", "node", "webapp", "contracts/build")
#: Tables whose rows must come through an upgrade unchanged, in every column they had.
KEPT = (
    "records", "record_versions", "approvals", "grants", "access_log", "log_checkpoints", "log_nodes",
    "emergency_reviews", "accounts", "org_profiles", "web_users", "api_tokens", "verify_runs",
)  # fmt: skip

BUILDER = r"""
import json, time
from pathlib import Path

import ledger
assert Path(ledger.__file__).resolve().is_relative_to(Path.cwd().resolve()), ledger.__file__  # the older code

from argon2 import PasswordHasher
from ledger.access import Access
from ledger.anchoring import Anchorer, designate_anchorer
from ledger.categories import Category
from ledger.consent import Consent, LegalBasis, Purpose
from ledger.context import Ledger
from ledger.errors import AccessRefused
from ledger.membership import DepartmentKind, Role
from ledger.organisations import Organisations
from ledger.records import Records
from ledger.settings import Settings
from ledger.store import current_revision
from ledger.verify import record_run, verify
from node.deploy import deploy
from webapp.users import add_user, create_token

HEALTH = {"blood_type": "A", "chronic_conditions": ["高血压 hypertension"], "allergies": [], "family_doctor": "李医生"}
settings = Settings.from_env()
ledger = Ledger.open(settings, upgrade=True)
deploy(ledger)
orgs = Organisations(ledger)
orgs.create_office("office-u", "升级街道 Upgrade Office", "admin-u")
orgs.create_committee("cmte-u", "升级居委会 Upgrade Committee", "office-u", ["cmte-u-m1", "cmte-u-m2"], 2)
orgs.create_department("dept-u-health", "卫生 Health U", "office-u", DepartmentKind.HEALTH)
orgs.add_member("cmte-u-grid", "cmte-u", Role.GRID_WORKER)
orgs.add_member("dept-u-officer", "dept-u-health", Role.DEPARTMENT_OFFICER)
orgs.add_member("resident-u", "cmte-u", Role.RESIDENT, actor="cmte-u-grid")
designate_anchorer(ledger, "office-u", "admin-u")

records = Records(ledger)
record, _ = records.add(actor="cmte-u-grid", subject="resident-u", category=Category.HEALTH, content=HEALTH)
for member in ("cmte-u-m1", "cmte-u-m2"):
    records.sign(record, signer=member)
records.update(record, {**HEALTH, "blood_type": "AB"}, actor="cmte-u-m1", expected_version=1)
records.sign(record, signer="cmte-u-m1")  # version 2 waits for its second signature

consent = Consent(ledger)
terms = dict(resident="resident-u", department="dept-u-health", categories=[Category.HEALTH],
             purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT,
             valid_until=int(time.time()) + 365 * 86_400)
grant, _ = consent.issue(**terms)
withdrawn, _ = consent.issue(**terms)
consent.withdraw(withdrawn)

access = Access(ledger)
access.read(record, accessor="dept-u-officer", grant_id=grant)
access.read(record, accessor="cmte-u-m1")  # duty
try:
    access.read(record, accessor="dept-u-officer", grant_id=withdrawn)
    raise SystemExit("the read under the withdrawn grant was not refused")
except AccessRefused:
    pass
Anchorer(ledger, ledger.account(settings.anchorer), report=lambda _m: None).run_until_anchored()
anchored = ledger.log.size()
access.read(record, accessor="cmte-u-m2")  # past the checkpoint

cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
add_user(ledger, "resident-u", "correct horse 7", account="resident-u", display_name="张秀英", hasher=cheap)
create_token(ledger, "dept-u-officer", "health department system")
ledger.indexer().run_once()
report = verify(ledger, catch_up=False)
assert report.exit_code == 0, report
record_run(ledger, report, by="test")
facts = {"revision": current_revision(ledger.store.engine), "record": record, "grant": grant,
         "anchored": anchored, "size": ledger.log.size()}
ledger.close()
print("FACTS " + json.dumps(facts))
"""


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, check=False)


def _older_tree(commit: str, into: Path) -> Path:
    """The older code's tree, from git history; skips when this checkout has none."""
    if shutil.which("git") is None or _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("no git history here (an exported tree): the older code cannot be had")
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.skip(f"commit {commit} is not in this clone's history (a shallow clone?): fetch it to test the upgrade")
    archive = _git("archive", "--format=tar", commit, *TREE)
    assert archive.returncode == 0, archive.stderr.decode()
    tree = into / f"gridledger-{commit}"
    tree.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive.stdout), mode="r:") as tar:
        tar.extractall(tree, filter="data")
    return tree


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's own: a SQLite file, or a PostgreSQL schema."""
    with empty_database(request.param, tmp_path) as url:
        yield url


def _environment(var: Path, database: str, port: int) -> dict[str, str]:
    """The installation's settings, as the environment both codes read them from."""
    return {
        "GRIDLEDGER_VAR": str(var), "DATABASE_URL": database, "GRIDLEDGER_NODE_PORT": str(port),
        "GRIDLEDGER_KEY_PASSWORD": "upgrade-password", "GRIDLEDGER_KDF_WORK": str(2**10),
        "GRIDLEDGER_BLOCK_TIME": "0.2",
        "GRIDLEDGER_ANCHOR_FAIL_AFTER": "600",  # the read past the checkpoint must not close reads meanwhile
    }  # fmt: skip


def _build_with_older_code(tree: Path, env: dict[str, str]) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRIDLEDGER_") and k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-c", BUILDER],
        cwd=tree,
        env={**clean, **env, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"the older code failed to build its installation:\n{done.stdout}\n{done.stderr}"
    line = next(line for line in reversed(done.stdout.splitlines()) if line.startswith("FACTS "))
    return dict(json.loads(line[len("FACTS ") :]))


def _rows(url: str) -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    """Every row of the kept tables, by table and column (as the database hands them back)."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine, only=list(KEPT))
        found: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
        with engine.connect() as db:
            for name in KEPT:
                table = meta.tables[name]
                key = list(table.primary_key.columns) or list(table.columns)
                rows = db.execute(select(table).order_by(*key)).mappings().all()
                found[name] = {c.name: [_plain(row[c.name]) for row in rows] for c in table.columns}
        return found
    finally:
        engine.dispose()


def _names_split(ledger: Ledger, names: list[str], after: dict[str, list[Any]]) -> None:
    """Migration 0010: each name split into its Chinese and English parts, the old seal still
    valid, an edit of either part (or the old name) found, a rename sealed anew."""
    from sqlalchemy import update

    from ledger.organisations import Organisations, OrgNames
    from ledger.store.models import OrgProfile
    from ledger.verify import Problem

    assert "升级街道 Upgrade Office" in names
    split = dict(zip(names, zip(after["name_zh"], after["name_en"], strict=True), strict=True))
    assert split["升级街道 Upgrade Office"] == ("升级街道", "Upgrade Office")
    assert split["卫生 Health U"] == ("卫生", "Health U")
    office = after["org_id"][after["legacy_name"].index("升级街道 Upgrade Office")]
    for column, value in (("name_en", "Upgrade"), ("name_zh", "升级街道 Upgrade"), ("legacy_name", "升级 Office")):
        with ledger.store.session() as db, db.begin():
            old = db.get(OrgProfile, office)
            assert old is not None
            kept = getattr(old, column)
            db.execute(update(OrgProfile).where(OrgProfile.org_id == office).values({column: value}))
        found = verify(ledger, ("seals",))
        assert Problem.ROW_UNSEALED in {f.code for f in found.findings}, column
        with ledger.store.session() as db, db.begin():
            db.execute(update(OrgProfile).where(OrgProfile.org_id == office).values({column: kept}))
    Organisations(ledger).rename("office-u", OrgNames("升级街道办事处", "Upgrade Subdistrict Office"))
    with ledger.store.session() as db:
        renamed = db.get(OrgProfile, office)
        assert renamed is not None and renamed.legacy_name is None and renamed.name_zh == "升级街道办事处"
    assert verify(ledger, ("seals",)).exit_code == 0


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


@pytest.mark.parametrize(("baseline", "revision"), BASELINES)
def test_an_installation_made_by_older_code_upgrades_with_nothing_lost(
    baseline: str, revision: str, database: str, world: World, session_settings: Settings, tmp_path: Path
) -> None:
    tree = _older_tree(baseline, tmp_path)
    env = _environment(tmp_path / "var", database, session_settings.node_port)
    try:
        facts = _build_with_older_code(tree, env)
        assert facts["revision"] == revision  # the older code left it at its own migration
        before = _rows(database)
        assert len(before["records"]["record_id"]) == 1 and len(before["record_versions"]["version"]) == 2
        assert len(before["grants"]["grant_id"]) == 2 and len(before["access_log"]["seq"]) == facts["size"] == 4
        assert before["log_checkpoints"]["status"] == ["anchored"] and len(before["verify_runs"]["id"]) == 1

        upgraded = CliRunner().invoke(main, ["init"], env=env, catch_exceptions=False)  # as an operator upgrades
        assert upgraded.exit_code == 0, upgraded.output
        settings = Settings.from_env(env)
        ledger = Ledger.open(settings)
        try:
            head = ScriptDirectory.from_config(alembic_config(settings.db_url)).get_current_head()
            assert current_revision(ledger.store.engine) == head

            report = verify(ledger)
            assert report.exit_code == 0, (report.findings, report.problems)
            after = _rows(database)
            for table, columns in before.items():
                for column, values in columns.items():
                    now = after[table].get(REPLACED.get((table, column), column))
                    assert now == values, f"{table}.{column} changed in the upgrade"
            if "name" in before["org_profiles"]:  # made before 0010
                _names_split(ledger, before["org_profiles"]["name"], after["org_profiles"])

            # The log goes on where the older code left it, and the chain accepts its next checkpoint.
            read = Access(ledger).read(facts["record"], accessor="dept-u-officer", grant_id=facts["grant"])
            assert read.seq == facts["size"]
            Anchorer(ledger, ledger.account(settings.anchorer), report=lambda _m: None).run_until_anchored()
            anchored = ledger.log.anchored()
            assert anchored is not None and anchored.size == facts["size"] + 1 and anchored.prev_size == facts["anchored"]
            assert verify(ledger, ("log", "seals")).exit_code == 0
        finally:
            ledger.close()
    finally:
        world.revert()


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("民政科 Civil Affairs", ("民政科", "Civil Affairs")),
        ("碧湖社区居委会 Bihu Residents' Committee", ("碧湖社区居委会", "Bihu Residents' Committee")),
        ("甲 乙科 Health B", ("甲 乙科", "Health B")),
        ("Office A", ("Office A", "Office A")),
        ("民政科", ("民政科", "民政科")),
        ("民政科 二", ("民政科 二", "民政科 二")),
        ("  ", ("code-x", "code-x")),
    ],
)
def test_0010_splits_a_single_name_as_the_seal_check_does(name: str, split: tuple[str, str]) -> None:
    """The migration's frozen copy of the rule and :func:`ledger.seal.split_legacy_name` agree:
    an old seal is checked against the names the migration made."""
    from ledger.seal import split_legacy_name

    migration = _migration("ledger/store/migrations/versions/0010_org_names.py")
    assert migration._split(name, "code-x") == split_legacy_name(name, "code-x") == split


def _migration(path: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return migration


@pytest.mark.parametrize(
    "value",
    ["330203199001011234", "33020319900101123x", "330203900101123", "12345", "", "海曙区白鹤小区 3 幢 502 室",
     "中山东路88号302室", "白鹤小区 12-3-502", "东钱湖镇韩岭村", "502"],
)  # fmt: skip
def test_0011_masks_as_the_library_does(value: str) -> None:
    """The migration's frozen copy of the masking rules and :mod:`ledger.hints` agree."""
    from ledger.hints import mask_address, mask_id_number

    migration = _migration("ledger/store/migrations/versions/0011_resident_hints.py")
    assert migration._mask_id_number(value) == mask_id_number(value)
    assert migration._mask_address(value) == mask_address(value)


def test_0011_fills_the_hints_from_stored_identity_and_residence_versions(tmp_path: Path) -> None:
    """An installation at 0010 gets each resident's hints from the newest stored version of
    their identity and residence records; erased records and other categories give none."""
    from sqlalchemy import text

    from ledger.store import migrate

    engine = create_engine(f"sqlite:///{tmp_path / 'hints.db'}")
    try:
        migrate(engine, "0010")
        now = "2026-12-01 00:00:00"
        ident = {"name": "李秀英", "id_number": "330203195203041234", "gender": "female", "birth_date": "1952-03-04"}
        home = {"address": "白鹤小区 3 幢 2 单元 502 室", "since": "2001-05-01", "tenure": "owner"}
        moved = {**home, "address": "白鹤小区 7 幢 101 室"}
        rows = [  # record, subject, category, erased, versions
            ("0x01", "0xA", 0, None, [ident]),
            ("0x02", "0xA", 2, None, [home, moved]),
            ("0x03", "0xB", 0, now, [None]),
            ("0x04", "0xB", 3, None, [{"blood_type": "O"}]),
        ]
        with engine.begin() as db:
            for record_id, subject, category, erased, versions in rows:
                db.execute(
                    text("INSERT INTO records (record_id, committee_id, subject, category, created_by, created_at, "
                         "erased_at) VALUES (:r, '0xc', :s, :c, '0xw', :t, :e)"),
                    {"r": record_id, "s": subject, "c": category, "t": now, "e": erased},
                )  # fmt: skip
                for number, content in enumerate(versions, 1):
                    db.execute(
                        text("INSERT INTO record_versions (record_id, version, content, salt, content_hash, prev_hash, "
                             "created_by, created_at, tx_hash) VALUES (:r, :v, :c, NULL, '0x', '0x', '0xw', :t, '0x')"),
                        {"r": record_id, "v": number, "c": None if content is None else json.dumps(content), "t": now},
                    )  # fmt: skip
        migrate(engine, "0011")
        with engine.connect() as db:
            found = db.execute(
                text("SELECT resident, id_number_masked, id_record_id, address_masked, address_version "
                     "FROM resident_hints ORDER BY resident")
            ).all()  # fmt: skip
        assert [tuple(r) for r in found] == [("0xA", "330203********1234", "0x01", "白鹤小区 7 幢", 2)]
    finally:
        engine.dispose()
