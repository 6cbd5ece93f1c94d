"""Web users and API tokens, as the web app knows them: defined in :mod:`ledger.webusers`
(the CLI and the demo make them without Flask), named here for the web app and its tests."""

from ledger.webusers import (
    MIN_PASSWORD,
    TOKEN_PREFIX,
    USERNAME_CHARS,
    IssuedToken,
    add_user,
    create_token,
    disable_user,
    hash_password,
    revoke_token,
    token_hash,
)

__all__ = [
    "MIN_PASSWORD",
    "TOKEN_PREFIX",
    "USERNAME_CHARS",
    "IssuedToken",
    "add_user",
    "create_token",
    "disable_user",
    "hash_password",
    "revoke_token",
    "token_hash",
]
