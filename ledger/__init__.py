"""gridledger: a permissioned ledger for community records.

Personal data stays in the community's own database; the chain holds only salted
commitments, signatures, consent grants and checkpoints of an append-only access log.
"""

__version__ = "0.1.0"
