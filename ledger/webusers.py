"""Web users and API tokens: made by the CLI (``gridledger user add``, ``gridledger token
create``) and the demo, checked by the web app (:mod:`webapp.security`, :mod:`webapp.api.auth`).
A web user acts as one account; a token acts for one account in the organisation and role
it had on chain when the token was made. Plain library code (argon2, SQLAlchemy): the CLI
makes log-ins without importing Flask.

Every row written here is sealed (:data:`ledger.seal.SEALED`) in the transaction that writes
it, and the web app refuses a row whose seal does not hold: a database editor cannot point a
log-in at another account, set a password, re-enable a user, or revive or widen a token.
A new password or disabling a user ends all of the user's sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from sqlalchemy import delete, select

from .context import Ledger
from .errors import InputError, Invalid, NotFoundError
from .seal import row_seal, row_sealed
from .store.models import ApiToken, WebSession, WebUser

TOKEN_PREFIX = "glt_"
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
MIN_PASSWORD = 8
DEFAULT_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile


def hash_password(password: str, ph: PasswordHasher | None = None) -> str:
    return (ph or DEFAULT_HASHER).hash(password)


def add_user(
    ledger: Ledger,
    username: str,
    password: str,
    *,
    account: str,
    display_name: str,
    hasher: PasswordHasher | None = None,
    replace: bool = False,
) -> WebUser:
    """A log-in for ``account`` (label or address). With ``replace``, an existing user of that
    name gets the new password and name instead of an error."""
    username = username.strip().lower()
    if not username or len(username) > 64 or set(username) - USERNAME_CHARS:
        raise InputError("use 1-64 of a-z, 0-9, '-', '_' and '.'", code=Invalid.BAD_USERNAME, field="username")
    if len(password) < MIN_PASSWORD:
        raise InputError(
            f"at least {MIN_PASSWORD} characters",
            code=Invalid.TOO_SHORT,
            field="password",
            params={"min": MIN_PASSWORD},
        )
    if not display_name.strip():
        raise InputError("give the person's name as it should be shown", code=Invalid.REQUIRED, field="display_name")
    address = ledger.address_of(account)
    sealer = ledger.sealer
    with ledger.store.session() as db, db.begin():
        user = db.scalar(select(WebUser).where(WebUser.username == username))
        if user is not None and not replace:
            raise InputError(f"{username!r} is taken", code=Invalid.TAKEN, field="username", params={"value": username})
        if user is None:
            user = WebUser(username=username, address=address)
            db.add(user)
        else:  # a new password: every session of the old one ends
            db.execute(delete(WebSession).where(WebSession.user_id == user.id))
        user.address = address
        user.password_hash = hash_password(password, hasher)
        user.display_name = display_name.strip()[:100]
        user.disabled = False
        db.flush()  # the seal covers the id
        user.seal = row_seal(sealer, "web_users", user)
        db.flush()
        db.expunge(user)
    return user


def disable_user(ledger: Ledger, username: str) -> None:
    """Stops a log-in from working and ends its sessions (``add_user(..., replace=True)``
    enables it again with a new password)."""
    sealer = ledger.sealer
    with ledger.store.session() as db, db.begin():
        user = db.scalar(select(WebUser).where(WebUser.username == username.strip().lower()))
        if user is None:
            raise NotFoundError(f"no web user {username!r}")
        intact = row_sealed(sealer, "web_users", user)
        user.disabled = True
        if intact:  # an altered row stays unsealed: refused anyway, and verify still reports it
            user.seal = row_seal(sealer, "web_users", user)
        db.execute(delete(WebSession).where(WebSession.user_id == user.id))


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once; only its hash is kept
    id: int
    org_id: str
    role: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(ledger: Ledger, account: str, name: str) -> IssuedToken:
    """A token for ``account`` in its organisation and role on chain now (it must be active)."""
    if not name.strip():
        raise InputError("name the system that will use the token", code=Invalid.REQUIRED, field="name")
    address = ledger.address_of(account)
    member = ledger.view.member(address)  # the chain's word, not the members table
    if member is None or not member.active:
        raise NotFoundError(f"{account} is not an active member of any organisation; a token needs one")
    sealer = ledger.sealer
    with ledger.store.session() as db, db.begin():
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(token_hash=token_hash(token), name=name.strip()[:100], address=address,
                       org_id=member.org_id, role=member.role)  # fmt: skip
        db.add(row)
        db.flush()  # the seal covers the id
        row.seal = row_seal(sealer, "api_tokens", row)
        return IssuedToken(token, row.id, member.org_id, member.role)


def revoke_token(ledger: Ledger, token_id: int) -> None:
    sealer = ledger.sealer
    with ledger.store.session() as db, db.begin():
        row = db.get(ApiToken, token_id)
        if row is None:
            raise NotFoundError(f"no token #{token_id}")
        intact = row_sealed(sealer, "api_tokens", row)
        row.revoked_at = datetime.now(UTC)
        if intact:  # an altered row stays unsealed: refused anyway, and verify still reports it
            row.seal = row_seal(sealer, "api_tokens", row)
