"""The ``gridledger`` command line: :data:`main`, one module per command group.

Each module adds its commands to :data:`main` when imported; a command imports what it
needs when it runs, so ``gridledger --help`` (and ``user``/``token``, which never import
Flask) stay quick."""

from __future__ import annotations

from . import (  # noqa: F401 - imported for the commands they add to main
    audit,
    backup,
    demo,
    deploy,
    grants,
    log,
    node,
    orgs,
    outbox,
    records,
    requests,
    rights,
    serve,
    setup,
    tokens,
    users,
    verify,
    webhooks,
    worker,
)
from ._base import main

__all__ = ["main"]
