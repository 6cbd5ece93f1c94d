"""Errors raised by gridledger.

One root, :class:`LedgerError`, and a few subclasses that mean something to the
caller. Messages say what was expected, what was found, and what to do.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Root of every error gridledger raises on purpose."""


class ConfigurationError(LedgerError):
    """The settings, the deployment file or the installed tools are not usable."""


class CompilerError(ConfigurationError):
    """No suitable Solidity compiler, or the sources do not compile."""


class NodeError(LedgerError):
    """The chain node is missing, unreachable, not ours, or misbehaving."""


class KeystoreError(LedgerError):
    """A key cannot be found, created or unlocked."""


class StoreError(LedgerError):
    """The off-chain database refused or lost something."""


class EntriesLost(StoreError):
    """Access-log entries a restore from a backup lost (``log_gaps``): anchored on chain,
    their leaves gone. Not an alteration: the chain proves they existed."""


class NotFoundError(LedgerError):
    """A thing that was asked for does not exist."""


class InputError(LedgerError):
    """Input failed validation; ``field`` names the offending field (dotted path)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class ConflictError(LedgerError):
    """The thing changed since it was read (a concurrent update)."""


class LeaseLost(ConflictError):
    """Another worker took over a job this one held a lease for (:mod:`ledger.lease`)."""


class ContractRevert(LedgerError):
    """A contract call reverted; carries the decoded Solidity error name and arguments."""

    def __init__(self, name: str, args: dict[str, Any] | None = None, *, raw: str = "") -> None:
        self.name = name
        self.args_by_name = dict(args or {})
        self.raw = raw
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.args_by_name.items())
        super().__init__(f"{name}({shown})" if shown or name else f"reverted without data {raw}")


class VerificationError(LedgerError):
    """Data, a proof or the chain did not check out."""


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


class AccessRefused(LedgerError):
    """An access was refused; the refusal itself is in the access log as ``seq``."""

    def __init__(self, reason: str, message: str, *, seq: int | None = None) -> None:
        self.reason = reason
        self.seq = seq
        logged = f" (logged as access event #{seq})" if seq is not None else ""
        super().__init__(f"access refused: {message}{logged}")
