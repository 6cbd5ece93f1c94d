"""An installation made before seals (migration 0005) is upgraded by ``gridledger init``:
its rows are sealed once, as they are then; without the keystore password the upgrade is
refused before anything changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from ledger.accesslog import Draft, canonical_leaf
from ledger.cli import main
from ledger.merkle import leaf_hash
from ledger.seal import Sealer, log_head_sealed, row_sealed
from ledger.store import Store, current_revision, make_engine, migrate
from ledger.store.models import AccessEvent, Account, LogHead, OrgProfile

PASSWORD = "upgrade-password"


def _old_installation(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine, "0005")
    leaf = canonical_leaf(Draft(action="read", outcome="allowed", resident="0x" + "01" * 20, accessor="0x" + "02" * 20,
                                time=1, basis="duty").leaf(0, 0))  # fmt: skip
    with engine.begin() as c:
        c.execute(text("INSERT INTO accounts (address, label, kind, created_at) VALUES ('0x" + "03" * 20
                       + "', 'old-member', 'member', CURRENT_TIMESTAMP)"))  # fmt: skip
        c.execute(text("INSERT INTO org_profiles (org_id, code, name, created_at) VALUES ('0x" + "04" * 32
                       + "', 'office-old', 'Old office', CURRENT_TIMESTAMP)"))  # fmt: skip
        c.execute(
            text("INSERT INTO access_log (seq, resident, resident_seq, leaf, leaf_hash, time, accessor, action, "
                 "outcome, basis) VALUES (0, :r, 0, :leaf, :hash, 1, :a, 'read', 'allowed', 'duty')"),
            {"r": "0x" + "01" * 20, "a": "0x" + "02" * 20, "leaf": leaf, "hash": leaf_hash(leaf)},
        )  # fmt: skip
        c.execute(text("UPDATE log_head SET size = 1"))
    engine.dispose()


def _init(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str | None) -> object:
    monkeypatch.setenv("GRIDLEDGER_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("GRIDLEDGER_KEY_PASSWORD_FILE", raising=False)
    if password is None:
        monkeypatch.delenv("GRIDLEDGER_KEY_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("GRIDLEDGER_KEY_PASSWORD", password)
    return CliRunner().invoke(main, ["init"], catch_exceptions=False)


def test_init_seals_the_rows_of_an_installation_made_before_seals(db_url: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _old_installation(db_url)
    refused = _init(db_url, tmp_path, monkeypatch, None)
    assert refused.exit_code == 1 and "needs the keystore password" in refused.output  # type: ignore[attr-defined]
    engine = make_engine(db_url)
    assert current_revision(engine) == "0005"  # nothing was changed
    engine.dispose()

    done = _init(db_url, tmp_path, monkeypatch, PASSWORD)
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    assert "1 accounts, 1 org_profiles" in done.output  # type: ignore[attr-defined]
    store = Store(make_engine(db_url))
    sealer = Sealer.from_password(PASSWORD)
    try:
        with store.session() as session:
            assert row_sealed(sealer, "accounts", session.get(Account, "0x" + "03" * 20))
            assert row_sealed(sealer, "org_profiles", session.get(OrgProfile, "0x" + "04" * 32))
            event = session.get(AccessEvent, 0)
            assert event is not None and sealer.check_leaf(event.seal, event.leaf_hash)
            head = session.get(LogHead, 1)
            assert head is not None and log_head_sealed(sealer, head.seal, 1, bytes(event.leaf_hash))
        # once only: a seal removed after the upgrade stays a finding, it is not sealed again
        with store.engine.begin() as c:
            c.execute(text("UPDATE accounts SET seal = NULL"))
        assert _init(db_url, tmp_path, monkeypatch, PASSWORD).exit_code == 0  # type: ignore[attr-defined]
        with store.session() as session:
            assert session.get(Account, "0x" + "03" * 20).seal is None  # type: ignore[union-attr]
    finally:
        store.close()
