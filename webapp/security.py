"""Who is asking, and what they may do: log-in, sessions, CSRF, headers, rate limits.

What a person may do is decided on every request from the chain (``ledger.view``: the
account's organisation, role and status, and the organisation's kind, department kind and
office), never from the URL, the session or a table a database editor could change. The
session only says which web user logged in; the web user's row must carry its seal
(:mod:`ledger.seal`), or it is refused like a wrong password.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Table, bindparam, delete, func, select

from ledger.seal import row_sealed
from ledger.settings import Settings
from ledger.store import as_stored
from ledger.store.models import LoginFailure, OrgProfile, WebUser

from .services import services

csrf = CSRFProtect()

#: Where each role lands after logging in.
HOME = {
    "resident": "resident.home",
    "committee-member": "committee.home",
    "grid-worker": "committee.home",
    "department-officer": "department.home",
    "office-admin": "office.home",
}

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


def secret_key(settings: Settings) -> str:
    """GRIDLEDGER_SECRET_KEY, else a random key kept in var/web-secret (mode 0600), made
    once: several workers starting together all end up with the same key."""
    configured = os.environ.get("GRIDLEDGER_SECRET_KEY")
    if configured:
        return configured
    path: Path = settings.var_dir / "web-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".web-secret-{os.getpid()}-{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(draft, path)  # fails if another worker made it first: theirs is used
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


# -- passwords ---------------------------------------------------------------------------


def hasher() -> PasswordHasher:
    configured = current_app.config.get("PASSWORD_HASHER")
    return configured if isinstance(configured, PasswordHasher) else _DEFAULT_HASHER


_DEFAULT_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
MIN_PASSWORD = 8


def hash_password(password: str, ph: PasswordHasher | None = None) -> str:
    return (ph or _DEFAULT_HASHER).hash(password)


def check_password(stored: str, password: str) -> bool:
    try:
        return bool(hasher().verify(stored, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- the person acting -----------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """The logged-in person as the chain has them now (names from ``org_profiles``, for
    display only)."""

    user_id: int
    username: str
    display_name: str
    address: str
    org_id: str | None
    org_code: str | None
    org_name: str | None
    org_kind: str | None
    department_kind: str | None
    office_id: str | None  # the office over the organisation (the organisation itself for an office)
    role: str | None
    status: str | None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def acts_as(self, *roles: str) -> bool:
        return self.active and self.role in roles


_USERS = cast(Table, WebUser.__table__)
_PROFILES = cast(Table, OrgProfile.__table__)
_u = _USERS.c
# Built once: building a statement costs more than running it.
_USER = select(_u.id, _u.username, _u.password_hash, _u.address, _u.display_name, _u.disabled,
               as_stored(_u.seal)).where(_u.id == bindparam("uid"))  # fmt: skip
_PROFILE = select(_PROFILES.c.code, _PROFILES.c.name).where(_PROFILES.c.org_id == bindparam("org_id"))


def sealed_user(row: Any) -> bool:
    """Whether a ``web_users`` row carries its valid seal. One that does not was written or
    changed behind the installation's back: it is logged, and refused like a wrong password."""
    if row_sealed(services().ledger.sealer, "web_users", row):
        return True
    current_app.logger.warning(
        "web user #%s (%r) carries no valid seal: it was changed in the database behind the installation's "
        "back; refused. Run 'gridledger verify all'.", row.id, row.username,
    )  # fmt: skip
    return False


def _actor_of(row: Any) -> Actor:
    """The user's membership and organisation from the chain; the organisation's code and
    name from its profile (display only)."""
    view = services().ledger.view
    member = view.member(row.address)
    org = None if member is None else view.organisation(member.org_id)
    profile = None
    if member is not None:
        with services().ledger.store.engine.connect() as connection:
            profile = connection.execute(_PROFILE, {"org_id": member.org_id}).first()
    return Actor(
        user_id=row.id, username=row.username, display_name=row.display_name, address=row.address,
        org_id=None if member is None else member.org_id,
        org_code=None if profile is None else profile.code, org_name=None if profile is None else profile.name,
        org_kind=None if org is None else org.kind, department_kind=None if org is None else org.department_kind,
        office_id=None if org is None else org.office,
        role=None if member is None else member.role, status=None if member is None else member.status,
    )  # fmt: skip


def current_actor() -> Actor | None:
    """The logged-in user as the chain has them now (looked up once per request). Raises
    :class:`ledger.errors.NodeError` when the chain cannot be asked (the error page then
    sees nobody logged in)."""
    if "actor" in g:
        return g.actor  # type: ignore[no-any-return]
    g.actor = None
    uid = session.get("uid")
    if not isinstance(uid, int):
        return None
    with services().ledger.store.engine.connect() as connection:
        row = connection.execute(_USER, {"uid": uid}).first()
    if row is None or row.disabled or session.get("pw") != _stamp(row.password_hash) or not sealed_user(row):
        return None
    g.actor = _actor_of(row)
    return g.actor  # type: ignore[no-any-return]


def _stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def password_stamp(user: WebUser) -> str:
    """Changes with the password, so changing it ends every other session."""
    return _stamp(user.password_hash)


def require_roles(*roles: str) -> Callable[[], Any]:
    """A ``before_request`` hook for a blueprint: logged in, active, one of ``roles``."""

    def check() -> Any:
        actor = current_actor()
        if actor is None:
            return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
        if not actor.acts_as(*roles):
            abort(403)
        return None

    return check


def roles_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The same check for a single view."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            refused = require_roles(*roles)()
            return refused if refused is not None else view(*args, **kwargs)

        return wrapped

    return decorate


# -- log-in rate limiting ------------------------------------------------------------------


def client_address() -> str:
    return (request.remote_addr or "unknown")[:64]


def login_blocked(username: str) -> bool:
    window = datetime.now(UTC) - timedelta(seconds=current_app.config["LOGIN_LIMIT_WINDOW"])
    with services().ledger.store.session() as db:
        by_user = db.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.username == username, LoginFailure.at > window)
        )
        by_client = db.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.client == client_address(), LoginFailure.at > window)
        )
    return bool(
        (by_user or 0) >= current_app.config["LOGIN_LIMIT_PER_USER"]
        or (by_client or 0) >= current_app.config["LOGIN_LIMIT_PER_CLIENT"]
    )


def record_login_failure(username: str) -> None:
    with services().ledger.store.session() as db, db.begin():
        db.add(LoginFailure(username=username[:64], client=client_address()))
        # Old failures are of no use: keep the table small.
        db.execute(delete(LoginFailure).where(LoginFailure.at < datetime.now(UTC) - timedelta(days=1)))


def clear_login_failures(username: str) -> None:
    with services().ledger.store.session() as db, db.begin():
        db.execute(delete(LoginFailure).where(LoginFailure.username == username))


# -- cookies and headers -------------------------------------------------------------------


class _SessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request came over TLS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def _headers(response: Any) -> Any:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")  # pages hold personal data
    return response


def init_app(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    csrf.init_app(app)
    app.after_request(_headers)
    app.context_processor(lambda: {"actor": current_actor()})
