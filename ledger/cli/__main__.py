"""``python -m ledger.cli``: the same as ``gridledger``."""

from . import main

main()
