"""Encrypted keystores for the accounts gridledger signs for.

Organisation and member accounts, and residents' custodial accounts, each live in
an eth-account (Web3 Secret Storage v3, scrypt) file ``var/keys/<address>.json``.
The password comes from ``GRIDLEDGER_KEY_PASSWORD`` (or ``..._FILE``) or a prompt.
No private key is ever written to the database, a log line or the repository; the
database only knows an account's address and label.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from threading import Lock

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from .errors import KeystoreError


class KeyStore:
    """A folder of encrypted keys, unlocked with one password and cached in memory."""

    def __init__(self, directory: Path, password: str | None, *, kdf_work: int = 2**14) -> None:
        self.directory = directory
        self._password = password
        self._kdf_work = kdf_work
        self._unlocked: dict[str, LocalAccount] = {}
        self._lock = Lock()

    def _require_password(self) -> str:
        if not self._password:
            raise KeystoreError(
                "no keystore password: set GRIDLEDGER_KEY_PASSWORD or GRIDLEDGER_KEY_PASSWORD_FILE, "
                "or run the command interactively to be asked"
            )
        return self._password

    def path_for(self, address: str) -> Path:
        return self.directory / f"{address.lower()}.json"

    def create(self) -> LocalAccount:
        """Makes a new random key, writes it encrypted (mode 0600) and returns it unlocked."""
        password = self._require_password()
        account: LocalAccount = Account.create()
        keystore = Account.encrypt(account.key, password, kdf="scrypt", iterations=self._kdf_work)
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        path = self.path_for(account.address)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(keystore, handle)
            handle.flush()
            os.fsync(handle.fileno())
        with self._lock:
            self._unlocked[account.address.lower()] = account
        return account

    def has(self, address: str) -> bool:
        return self.path_for(address).is_file()

    def account(self, address: str) -> LocalAccount:
        """The unlocked account for ``address``; decrypts its keystore on first use."""
        key = address.lower()
        with self._lock:
            cached = self._unlocked.get(key)
        if cached is not None:
            return cached
        path = self.path_for(address)
        try:
            keystore = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeystoreError(f"no key for {address} in {self.directory}") from None
        try:
            account: LocalAccount = Account.from_key(Account.decrypt(keystore, self._require_password()))
        except ValueError:
            raise KeystoreError(f"the password does not unlock the key of {address} ({path})") from None
        with self._lock:
            self._unlocked[key] = account
        return account

    def addresses(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(
            to_checksum_address("0x" + json.loads(p.read_text())["address"]) for p in self.directory.glob("*.json")
        )
