"""Shared fixtures: one Anvil per test session, a small world built once through the
real services, and per test a copy of the world's database plus an EVM snapshot that
is reverted afterwards."""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.providers.rpc import HTTPProvider

from ledger.anchoring import designate_anchorer
from ledger.context import Ledger
from ledger.membership import DepartmentKind, Role
from ledger.organisations import Organisations, OrgNames
from ledger.settings import Settings
from node.deploy import deploy
from node.local import LocalNode

FORBIDDEN_METHODS = {"eth_sendTransaction", "eth_accounts", "personal_sendTransaction", "eth_sign"}


class ForbiddenRpc(AssertionError):
    pass


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the session's node is marked ``chain`` whatever its module says, so
    ``-m "not chain"`` runs without a node. Tests that start nodes of their own say so
    with the mark themselves."""
    for item in items:
        if {"anvil", "world"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.chain)


@pytest.fixture(autouse=True, scope="session")
def _no_node_accounts() -> Iterator[None]:
    """Fails any test whose code asks the node to sign: every write must be signed locally."""
    original_one = HTTPProvider.make_request
    original_batch = HTTPProvider.make_batch_request

    def guarded_one(self: HTTPProvider, method: Any, params: Any) -> Any:
        if method in FORBIDDEN_METHODS:
            raise ForbiddenRpc(f"{method} called: gridledger must sign every transaction itself")
        return original_one(self, method, params)

    def guarded_batch(self: HTTPProvider, requests: Any) -> Any:
        for method, _params in requests:
            if method in FORBIDDEN_METHODS:
                raise ForbiddenRpc(f"{method} called in a batch")
        return original_batch(self, requests)

    HTTPProvider.make_request = guarded_one  # type: ignore[method-assign]
    HTTPProvider.make_batch_request = guarded_batch  # type: ignore[method-assign]
    yield
    HTTPProvider.make_request = original_one  # type: ignore[method-assign]
    HTTPProvider.make_batch_request = original_batch  # type: ignore[method-assign]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(var_dir: Path, port: int, **extra: str) -> Settings:
    env = {
        "GRIDLEDGER_VAR": str(var_dir),
        "GRIDLEDGER_NODE_PORT": str(port),
        "GRIDLEDGER_KEY_PASSWORD": "test-password",
        "GRIDLEDGER_BLOCK_TIME": "0.2",
        "GRIDLEDGER_STATE_INTERVAL": "1",
        "GRIDLEDGER_KDF_WORK": str(2**10),
        **extra,
    }
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def session_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    var = tmp_path_factory.mktemp("var")
    return make_settings(var, free_port(), DATABASE_URL=f"sqlite:///{var / 'world.db'}")


@pytest.fixture(scope="session")
def anvil(session_settings: Settings) -> Iterator[LocalNode]:
    node = LocalNode(session_settings)
    node.start()
    yield node
    node.stop()


@dataclass
class World:
    """What the session's world holds. Labels name accounts in the shared keystore."""

    db_path: Path
    snapshot: str
    w3: Web3

    office = "office-a"
    other_office = "office-b"
    committee = "cmte-a"
    other_committee = "cmte-b"
    department = "dept-a-health"
    admin = "admin-a1"
    second_admin = "admin-a2"
    other_admin = "admin-b1"
    members = ("cmte-a-m1", "cmte-a-m2", "cmte-a-m3")
    suspended = "cmte-a-suspended"
    revoked = "cmte-a-revoked"
    other_member = "cmte-b-m1"
    grid_worker = "cmte-a-grid"
    resident = "cmte-a-resident"
    officer = "dept-a-officer"
    police = "dept-a-police"
    police_officer = "dept-a-police-officer"
    stranger = "stranger"

    def revert(self) -> None:
        # Revert just after a block is mined, never while the interval miner is making one:
        # twice in CI a revert left a hole (a block number the node no longer served).
        start = self.w3.eth.block_number
        deadline = time.monotonic() + 2
        while self.w3.eth.block_number == start and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.w3.provider.make_request("evm_revert", [self.snapshot])["result"] is True  # type: ignore[arg-type]
        self.snapshot = self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def world(anvil: LocalNode, session_settings: Settings) -> World:
    ledger = Ledger.open(session_settings, upgrade=True)
    try:
        deploy(ledger)
        orgs = Organisations(ledger)
        w = World
        orgs.create_office(w.office, OrgNames("甲街道办事处", "Office A"), w.admin)
        orgs.create_office(w.other_office, OrgNames("乙街道办事处", "Office B"), w.other_admin)
        orgs.add_member(w.second_admin, w.office, Role.OFFICE_ADMIN)
        orgs.create_committee(w.committee, OrgNames("甲居委会", "Committee A"), w.office, [*w.members, w.suspended, w.revoked], 2)
        orgs.create_committee(w.other_committee, OrgNames("乙居委会", "Committee B"), w.other_office, [w.other_member], 1)
        orgs.create_department(w.department, OrgNames("甲卫生健康办", "Health A"), w.office, DepartmentKind.HEALTH)
        orgs.add_member(w.grid_worker, w.committee, Role.GRID_WORKER)
        orgs.add_member(w.officer, w.department, Role.DEPARTMENT_OFFICER)
        orgs.add_member(w.resident, w.committee, Role.RESIDENT, actor=w.grid_worker)
        orgs.suspend(w.suspended)
        orgs.suspend(w.revoked)
        orgs.revoke(w.revoked)
        orgs.create_department(w.police, OrgNames("甲派出所", "Police A"), w.office, DepartmentKind.PUBLIC_SECURITY)
        orgs.add_member(w.police_officer, w.police, Role.DEPARTMENT_OFFICER)
        designate_anchorer(ledger, w.office, w.admin)
        ledger.new_account(w.stranger, "member")
        ledger.outbox.pump()
    finally:
        ledger.close()
    db_path = Path(session_settings.db_url.split("///", 1)[1])
    w3 = Web3(Web3.HTTPProvider(session_settings.rpc_url))
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    return World(db_path, snapshot, w3)


def copy_database(source: Path, target: Path) -> Path:
    """A copy of the SQLite database at ``source`` (with its WAL, if any) at ``target``."""
    shutil.copyfile(source, target)
    for suffix in ("-wal", "-shm"):
        if Path(str(source) + suffix).exists():
            shutil.copyfile(str(source) + suffix, str(target) + suffix)
    return target


@pytest.fixture
def world_db(world: World) -> Path:
    """The database each test gets a copy of (the web tests' adds their log-ins)."""
    return world.db_path


@pytest.fixture
def settings(world_db: Path, session_settings: Settings, tmp_path: Path) -> Settings:
    """Settings for one test: the session node, a private copy of the world's database."""
    db = copy_database(world_db, tmp_path / "test.db")
    return session_settings.with_(database_url=f"sqlite:///{db}")


@pytest.fixture
def ledger(settings: Settings, world: World) -> Iterator[Ledger]:
    opened = Ledger.open(settings)
    yield opened
    opened.close()
    world.revert()


@pytest.fixture
def orgs(ledger: Ledger) -> Organisations:
    return Organisations(ledger)


def postgres_url() -> str | None:
    """PostgreSQL for the store tests when 127.0.0.1:5432 answers (or as configured)."""
    url = os.environ.get("GRIDLEDGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    if os.environ.get("GRIDLEDGER_TEST_POSTGRES") == "0":
        return None
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return url
    except OSError:
        return None
