"""The ledger services, built once per process and shared by every request."""

from __future__ import annotations

import threading
from functools import cached_property

from flask import current_app

from ledger.access import Access
from ledger.accesslog import AccessLog
from ledger.consent import Consent
from ledger.context import Ledger
from ledger.inbox import Inbox
from ledger.organisations import Organisations
from ledger.records import Records
from ledger.requests import ConsentRequests
from ledger.rights import Rights
from ledger.settings import Settings
from ledger.webhooks import Webhooks

#: Seconds a web request waits for its transaction to be mined and indexed.
WRITE_TIMEOUT = 30.0


class Services:
    """Opened lazily (the app can start before the chain is deployed) and thread-safe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._ledger: Ledger | None = None

    @property
    def ledger(self) -> Ledger:
        with self._lock:
            if self._ledger is None:
                self._ledger = Ledger.open(self.settings)
            return self._ledger

    @cached_property
    def log(self) -> AccessLog:
        return self.ledger.log

    @cached_property
    def access(self) -> Access:
        return Access(self.ledger, self.log)

    @cached_property
    def records(self) -> Records:
        return Records(self.ledger, timeout=WRITE_TIMEOUT)

    @cached_property
    def consent(self) -> Consent:
        return Consent(self.ledger, timeout=WRITE_TIMEOUT)

    @cached_property
    def orgs(self) -> Organisations:
        return Organisations(self.ledger, timeout=WRITE_TIMEOUT)

    # -- the resident's inbox (issue 13) --------------------------------------------------

    @cached_property
    def inbox(self) -> Inbox:
        """On the app's clock (``CLOCK``: tests move it), read in the request."""
        return Inbox(self.ledger, log=self.log, now=_app_now_ms)

    # residents' rights requests (ledger.rights)
    @cached_property
    def rights(self) -> Rights:
        return Rights(self.ledger, records=self.records)

    # -- webhooks (ledger.webhooks) --

    @cached_property
    def webhooks(self) -> Webhooks:
        return Webhooks(self.ledger)
    @cached_property
    def requests(self) -> ConsentRequests:
        """Consent requests (:mod:`ledger.requests`), answered with :attr:`consent`."""
        return ConsentRequests(self.ledger, self.consent)

    def close(self) -> None:
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None


def services() -> Services:
    found: Services = current_app.extensions["gridledger"]
    return found


def _app_now_ms() -> int:
    from .throttle import now

    return int(now().timestamp() * 1000)
