"""Keys: encrypted at rest, unlocked only with the password, never in the database."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger.context import Ledger
from ledger.errors import KeystoreError
from ledger.keys import KeyStore


def test_keystore_file_is_encrypted_and_private(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys", "correct horse", kdf_work=2**10)
    account = keys.create()
    path = keys.path_for(account.address)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    content = path.read_text()
    assert account.key.hex().removeprefix("0x") not in content
    assert json.loads(content)["crypto"]["kdf"] == "scrypt"
    assert keys.addresses() == [account.address]


def test_wrong_or_missing_password_is_refused(tmp_path: Path) -> None:
    account = KeyStore(tmp_path, "right", kdf_work=2**10).create()
    with pytest.raises(KeystoreError, match="does not unlock"):
        KeyStore(tmp_path, "wrong").account(account.address)
    with pytest.raises(KeystoreError, match="GRIDLEDGER_KEY_PASSWORD"):
        KeyStore(tmp_path, None).account(account.address)
    with pytest.raises(KeystoreError, match="no key for"):
        KeyStore(tmp_path, "right").account("0x" + "12" * 20)
    assert KeyStore(tmp_path, "right").account(account.address).address == account.address


def test_no_private_key_reaches_the_database(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    secrets = [
        ledger.account(label).key.hex().removeprefix("0x") for label in (world.admin, world.resident, "governance")
    ]
    dump = []
    with ledger.store.engine.connect() as connection:
        for (table,) in connection.execute(text("SELECT name FROM sqlite_master WHERE type='table'")):
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                dump.append(" ".join(v.hex() if isinstance(v, bytes) else str(v) for v in row))
    text_dump = "\n".join(dump).lower()
    assert dump, "the database should not be empty"
    for secret in secrets:
        assert secret not in text_dump
