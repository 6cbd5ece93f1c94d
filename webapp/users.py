"""Web users and API tokens: made by the CLI (``gridledger user add``, ``gridledger token
create``) and the demo. A web user acts as one account; a token acts for one account in
the organisation and role it had when the token was made."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from sqlalchemy import select

from ledger.context import Ledger
from ledger.errors import InputError, NotFoundError
from ledger.store.models import ApiToken, Member, WebUser

from .security import MIN_PASSWORD, hash_password

TOKEN_PREFIX = "glt_"
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


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
        raise InputError("use 1-64 of a-z, 0-9, '-', '_' and '.'", field="username")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"at least {MIN_PASSWORD} characters", field="password")
    if not display_name.strip():
        raise InputError("give the person's name as it should be shown", field="display_name")
    address = ledger.address_of(account)
    with ledger.store.session() as db, db.begin():
        user = db.scalar(select(WebUser).where(WebUser.username == username))
        if user is not None and not replace:
            raise InputError(f"{username!r} is taken", field="username")
        if user is None:
            user = WebUser(username=username, address=address)
            db.add(user)
        user.address = address
        user.password_hash = hash_password(password, hasher)
        user.display_name = display_name.strip()[:100]
        user.disabled = False
        db.flush()
        db.expunge(user)
    return user


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once; only its hash is kept
    id: int
    org_id: str
    role: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(ledger: Ledger, account: str, name: str) -> IssuedToken:
    """A token for ``account`` in its current organisation and role (it must be active)."""
    if not name.strip():
        raise InputError("name the system that will use the token", field="name")
    address = ledger.address_of(account)
    with ledger.store.session() as db, db.begin():
        member = db.get(Member, address)
        if member is None or member.status != "active":
            raise NotFoundError(f"{account} is not an active member of any organisation; a token needs one")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(token_hash=token_hash(token), name=name.strip()[:100], address=address,
                       org_id=member.org_id, role=member.role)  # fmt: skip
        db.add(row)
        db.flush()
        return IssuedToken(token, row.id, member.org_id, member.role)


def revoke_token(ledger: Ledger, token_id: int) -> None:
    with ledger.store.session() as db, db.begin():
        row = db.get(ApiToken, token_id)
        if row is None:
            raise NotFoundError(f"no token #{token_id}")
        row.revoked_at = datetime.now(UTC)
