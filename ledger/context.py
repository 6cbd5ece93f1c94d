"""One gridledger installation, opened: settings, store, chain, keys and outbox.

Built once per process (CLI command, worker, web app) and passed to services.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3
from web3.contract import Contract

from . import deployment as deployment_file
from ._internal.jsonrpc import JsonRpc
from .chain import CONTRACTS, Call, ErrorDecoder, artifact_hash, as_address, checksum_address, connect, contract
from .deployment import Deployment
from .errors import ConfigurationError, NodeError, NotFoundError, StoreError
from .keys import KeyStore
from .membership import MembershipCalls
from .outbox import Outbox, raise_for_revert
from .seal import row_seal, row_sealed
from .settings import Settings
from .store import Store
from .store.models import Account, Meta

if TYPE_CHECKING:
    from .accesslog import AccessLog
    from .chainview import ChainView
    from .indexer import Indexer
    from .seal import Sealer

BINDING_KEY = "deployment"


class Ledger:
    """Everything a command needs, built from :class:`Settings` once."""

    def __init__(self, settings: Settings, store: Store, w3: Web3) -> None:
        self.settings = settings
        self.store = store
        self.w3 = w3
        self.keys = KeyStore(settings.keys_dir, settings.key_password, kdf_work=settings.kdf_work)
        self.decoder = ErrorDecoder.for_settings(settings)
        self.outbox = Outbox(
            store,
            w3,
            self.decoder,
            chain_id=settings.chain_id,
            resend_after=max(3.0, 3 * settings.block_time),
            head_poll=min(0.05, settings.block_time / 10),
        )

    @classmethod
    def open(cls, settings: Settings, *, upgrade: bool = False) -> Ledger:
        store = Store.open(settings, upgrade=upgrade)
        return cls(settings, store, connect(settings))

    def close(self) -> None:
        if "rpc" in self.__dict__:
            self.rpc.close()
        self.store.close()

    # -- deployment ------------------------------------------------------------------

    @cached_property
    def deployment(self) -> Deployment:
        """The deployment this installation uses, checked against the node and the store."""
        found = deployment_file.load(self.settings.deployment_file)
        if found is None:
            raise ConfigurationError(
                f"nothing is deployed yet ({self.settings.deployment_file} is missing); run 'gridledger deploy'"
            )
        problem = deployment_file.mismatch(found, self.w3, self.artifact_hashes())
        if problem:
            raise ConfigurationError(
                f"the deployment in {self.settings.deployment_file} cannot be used: {problem}. "
                "Run 'gridledger deploy' (with --redeploy to start over)."
            )
        self.check_binding(found)
        return found

    def artifact_hashes(self) -> dict[str, str]:
        return {name: artifact_hash(self.settings, name) for name in CONTRACTS}

    def check_binding(self, deployment: Deployment) -> None:
        """Refuses a database that holds the data of another deployment."""
        with self.store.session() as session:
            bound = session.get(Meta, BINDING_KEY)
        if bound is not None and bound.value != deployment.binding():
            chain = json.loads(bound.value)
            raise StoreError(
                f"the database {self.store.engine.url.render_as_string(hide_password=True)} belongs to another deployment "
                f"(chain {chain['chainId']}, genesis {chain['genesisHash'][:10]}…, contracts {chain['contracts']}). "
                "Use a fresh database for a new deployment: move var/gridledger.db away or point DATABASE_URL elsewhere."
            )

    def require_unbound(self) -> None:
        """Refuses to deploy afresh into a database that already serves a deployment:
        its outbox would re-send old transactions to the new chain."""
        with self.store.session() as session:
            bound = session.get(Meta, BINDING_KEY)
        if bound is not None:
            raise StoreError(
                f"the database {self.store.engine.url.render_as_string(hide_password=True)} already serves the deployment "
                f"{bound.value}; nothing was deployed. A new deployment needs a fresh database: "
                "move var/gridledger.db away or point DATABASE_URL elsewhere."
            )

    def bind(self, deployment: Deployment) -> None:
        with self.store.session() as session, session.begin():
            existing = session.get(Meta, BINDING_KEY)
            if existing is None:
                session.add(Meta(key=BINDING_KEY, value=deployment.binding()))

    def contract(self, name: str) -> Contract:
        return contract(self.w3, self.settings, name, self.deployment.address(name))

    @cached_property
    def membership(self) -> MembershipCalls:
        return MembershipCalls(self.contract("Membership"))

    @cached_property
    def view(self) -> ChainView:
        """The chain's state for decisions, remembered in this process (one per process)."""
        from .chainview import ChainView

        return ChainView(self.w3, {name: self.contract(name) for name in CONTRACTS}, client=self.rpc)

    @cached_property
    def rpc(self) -> JsonRpc:
        """Raw JSON-RPC reads on kept-alive connections to the node web3 talks to, with its
        timeout (the chain view's hot path; one per process)."""
        return JsonRpc.of(self.w3)

    @property
    def can_seal(self) -> bool:
        return self.settings.key_password is not None

    @cached_property
    def sealer(self) -> Sealer:
        """Seals rows the chain cannot vouch for (:mod:`ledger.seal`); needs the keystore password."""
        from .seal import Sealer

        if self.settings.key_password is None:
            raise ConfigurationError(
                "sealing and checking seals needs the keystore password: set GRIDLEDGER_KEY_PASSWORD "
                "or GRIDLEDGER_KEY_PASSWORD_FILE"
            )
        return Sealer.from_password(self.settings.key_password)

    @cached_property
    def log(self) -> AccessLog:
        """The access log, with this installation's sealer when the keystore password is set
        (appending needs it; reading does not). One per process: it runs the group commit."""
        from .accesslog import AccessLog

        return AccessLog(self.store, self.sealer if self.can_seal else None)

    # -- accounts --------------------------------------------------------------------

    def new_account(self, label: str, kind: str) -> LocalAccount:
        """Creates a key for ``label`` (or returns the existing one) and records the label."""
        with self.store.session() as session:
            existing = session.scalar(select(Account).where(Account.label == label))
        if existing is not None:
            return self.keys.account(existing.address)
        account = self.keys.create()
        with self.store.session() as session, session.begin():
            row = Account(address=account.address, label=label, kind=kind)
            row.seal = row_seal(self.sealer, "accounts", row)
            session.add(row)
        return account

    def account(self, label_or_address: str) -> LocalAccount:
        """The unlocked account named by a label or an address we hold the key of."""
        return self.keys.account(self.address_of(label_or_address))

    def address_of(self, label_or_address: str) -> str:
        checksum = as_address(label_or_address)
        if checksum is not None:
            return checksum
        with self.store.session() as session:
            found = session.scalar(select(Account).where(Account.label == label_or_address))
        if found is None:
            raise NotFoundError(f"no account labelled {label_or_address!r}; see 'gridledger member list'")
        if self.can_seal and not row_sealed(self.sealer, "accounts", found):
            raise StoreError(
                f"the account labelled {label_or_address!r} was altered in the database (its seal does not match); "
                "not acting on it. Run 'gridledger verify all'."
            )
        return found.address

    def label_of(self, address: str) -> str | None:
        with self.store.session() as session:
            return session.scalar(select(Account.label).where(Account.address == checksum_address(address)))

    # -- writing ---------------------------------------------------------------------

    def submit(
        self,
        signer: LocalAccount,
        call: Call,
        rows: Callable[[Session, str], None] | None = None,
        *,
        wait: bool = True,
        timeout: float = 60.0,
    ) -> str:
        """The one way services write: simulate ``call`` (a refusal raises the contract's
        error and writes nothing), store it with the domain ``rows`` in one database
        transaction, then, when waiting, send it, wait for it, index it and raise a
        revert. Returns the transaction hash, known before it is sent."""
        self.outbox.prepare(signer)
        with self.store.session() as session, session.begin():
            queued = self.outbox.enqueue(session, signer, call, preflight=True)
            if rows is not None:
                rows(session, queued.tx_hash)
        if wait:
            done = self.outbox.wait([queued.tx_hash], timeout=timeout)
            self.indexer().run_once()
            self.saw_block(max((row.block_number or 0 for row in done), default=0))
            raise_for_revert(done)
        return queued.tx_hash

    def saw_block(self, number: int) -> None:
        """This process wrote something that was mined in block ``number``: its next decision
        sees it (a suspension, a checkpoint) at once, not up to HEAD_MAX_AGE later, as the
        view moves past the block."""
        if number and "view" in self.__dict__:
            with contextlib.suppress(NodeError):  # the write is done; the view catches up later
                self.view.head(newer_than=number - 1)

    # -- indexer ---------------------------------------------------------------------

    def indexer(self) -> Indexer:
        """The indexer of this installation (built once: its event decoder is not cheap)."""
        return self._indexer

    @cached_property
    def _indexer(self) -> Indexer:
        from .chain import artifact
        from .indexer import Indexer

        contracts = {name: (self.deployment.address(name), artifact(self.settings, name)["abi"]) for name in CONTRACTS}
        return Indexer(
            self.store, self.w3, contracts, start_block=self.deployment.block, window=self.settings.log_window
        )

    def sync(self, tx_hashes: list[str] | None = None, timeout: float = 60.0) -> None:
        """Sends pending writes, waits for ``tx_hashes`` to be mined, and indexes up to the head."""
        if tx_hashes:
            done = self.outbox.wait(tx_hashes, timeout=timeout)
            self.saw_block(max((row.block_number or 0 for row in done), default=0))
        else:
            self.outbox.pump()
        self.indexer().run_once()
