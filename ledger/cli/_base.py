"""What every command shares: the consoles, the settings, the ledger, and the ``gridledger``
group that turns a :class:`~ledger.errors.LedgerError` into one line and exit code 1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape

from ..errors import LedgerError
from ..settings import Settings

if TYPE_CHECKING:
    from ..context import Ledger

# Piped output (CI logs, files) gets room for the tables instead of Rich's 80 columns.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)


def load_settings(ask_password: bool = False) -> Settings:
    settings = Settings.from_env()
    if ask_password and settings.key_password is None and sys.stdin.isatty():
        password = click.prompt("Keystore password", hide_input=True)
        settings = settings.with_(key_password=password)
    return settings


@contextmanager
def open_ledger(upgrade: bool = False) -> Iterator[Ledger]:
    from ..context import Ledger

    ledger = Ledger.open(load_settings(ask_password=True), upgrade=upgrade)
    try:
        yield ledger
    finally:
        ledger.close()


class _Group(click.Group):
    """Turns every :class:`LedgerError` into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except LedgerError as exc:
            # The message is text, not markup: "pip install 'gridledger[demo]'" keeps its brackets.
            err.print(f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}", highlight=False)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="gridledger")
def main() -> None:
    """gridledger: a permissioned ledger for community records."""
