"""Who is asking, and what they may do: log-in, sessions, CSRF, headers.

What a person may do is decided on every request from the chain (``ledger.view``: the
account's organisation, role and status, and the organisation's kind, department kind and
office), never from the URL, the session or a table a database editor could change. The
session only says which web user logged in, and only while its row in ``web_sessions``
lives; the web user's row must carry its seal (:mod:`ledger.seal`), or it is refused like a
wrong password. Failed log-ins are slowed down by :mod:`webapp.throttle`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, Request, abort, current_app, flash, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Table, bindparam, delete, insert, select

from ledger.organisations import OrgNames
from ledger.seal import row_sealed
from ledger.settings import Settings
from ledger.store import as_stored
from ledger.store.models import OrgProfile, WebSession, WebUser
from ledger.webusers import DEFAULT_HASHER

from . import throttle
from .services import services
from .throttle import Lane, now

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
    """The app's PASSWORD_HASHER (tests make it cheap), else the library's default
    (:mod:`ledger.webusers` hashes the passwords it stores with it)."""
    configured = current_app.config.get("PASSWORD_HASHER")
    return configured if isinstance(configured, PasswordHasher) else DEFAULT_HASHER


def check_password(stored: str, password: str) -> bool:
    try:
        return bool(hasher().verify(stored, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _dummy_hash() -> str:
    """The hash of a random password, made once with the app's hasher: the log-in of an
    unknown, disabled or unsealed user is checked against it, so that it costs what a real
    user's does and the answer's time does not tell which names exist."""
    ph = hasher()
    made = current_app.extensions.get("gridledger-dummy-hash")
    if made is None or made[0] is not ph:
        made = (ph, ph.hash(secrets.token_urlsafe(24)))
        current_app.extensions["gridledger-dummy-hash"] = made
    return str(made[1])


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
    org_names: OrgNames | None  # shown with webapp.names.org_name
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
_SESSIONS = cast(Table, WebSession.__table__)
_PROFILES = cast(Table, OrgProfile.__table__)
_u, _s = _USERS.c, _SESSIONS.c
# Built once: building a statement costs more than running it.
_USER = (_u.id, _u.username, _u.password_hash, _u.address, _u.display_name, _u.disabled, as_stored(_u.seal))
#: The session's user, only while the session's row lives (the one query of a request).
_SESSION_USER = (
    select(*_USER)
    .select_from(_USERS.join(_SESSIONS, _s.user_id == _u.id))
    .where(_u.id == bindparam("uid"), _s.id_hash == bindparam("sid_hash"), _s.expires_at > bindparam("now"))
)
_LOGIN_USER = select(*_USER).where(_u.username == bindparam("username"))
_PROFILE = select(_PROFILES.c.code, _PROFILES.c.name_zh, _PROFILES.c.name_en).where(
    _PROFILES.c.org_id == bindparam("org_id")
)
_NEW_SESSION = insert(_SESSIONS)
_END_SESSION = delete(_SESSIONS).where(_s.id_hash == bindparam("sid_hash"))
_EXPIRED_SESSIONS = delete(_SESSIONS).where(_s.expires_at <= bindparam("now"))


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


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
        org_code=None if profile is None else profile.code, org_names=None if profile is None else OrgNames.of_profile(profile),
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
    uid, sid = session.get("uid"), session.get("sid")
    if not isinstance(uid, int) or not isinstance(sid, str):
        return None
    with services().ledger.store.engine.connect() as connection:
        row = connection.execute(_SESSION_USER, {"uid": uid, "sid_hash": _digest(sid), "now": now()}).first()
    if row is None or row.disabled or not sealed_user(row):
        _keep_preferences()  # the session ended: forget it in this browser too
        g.session_ended = True
        return None
    g.actor = _actor_of(row)
    return g.actor  # type: ignore[no-any-return]


def require_roles(*roles: str) -> Callable[[], Any]:
    """A ``before_request`` hook for a blueprint: logged in, active, one of ``roles``."""

    def check() -> Any:
        actor = current_actor()
        if actor is None:
            if g.get("session_ended"):
                flash(_("Your session has ended. Log in again."))
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


# -- logging in and out ----------------------------------------------------------------------


@dataclass(frozen=True)
class LogIn:
    """What a log-in attempt came to: a user (``user_id`` and the stamp for the device
    cookie), a refusal to wait ``wait`` seconds, or neither (wrong name or password)."""

    user_id: int | None = None
    device_stamp: str | None = None
    wait: float = 0.0


def log_in(username: str, password: str) -> LogIn:
    """Checks a log-in against the throttles and the password.

    An unknown, disabled or unsealed user goes the way of a wrong password, step for step:
    the same two reads, a password check against a hash of the same cost, the same failure
    counted in both lanes. Only a user whose row is sealed can be trusted by a device cookie."""
    clock, rules, client = now(), throttle.rules(), throttle.client_address()
    store = services().ledger.store
    with store.engine.connect() as connection:
        row = connection.execute(_LOGIN_USER, {"username": username}).first()
        standing = throttle.standings(connection, client, username, rules, clock)
    user = row if row is not None and not row.disabled and sealed_user(row) else None
    stamp = None if user is None else throttle.device_stamp(user.password_hash)
    trusted = stamp is not None and throttle.device_knows(username, stamp)
    lanes = [Lane.CLIENT] if trusted else [Lane.CLIENT, Lane.ACCOUNT]
    wait = max((standing[lane].wait(rules[lane], clock) for lane in lanes if lane in standing), default=0.0)
    if wait > 0:
        return LogIn(wait=wait)
    right = check_password(_dummy_hash() if user is None else user.password_hash, password)
    if user is None or not right:
        with store.engine.begin() as connection:
            throttle.record_failure(connection, [(Lane.CLIENT, client), (Lane.ACCOUNT, username)], rules, clock)
        return LogIn()
    if not trusted and Lane.ACCOUNT in standing:
        with store.engine.begin() as connection:
            throttle.clear(connection, Lane.ACCOUNT, username)
    return LogIn(user_id=user.id, device_stamp=stamp)


def _keep_preferences() -> None:
    """Empties the session but for the language and the text size."""
    kept = {key: session[key] for key in ("lang", "large") if key in session}
    session.clear()
    session.update(kept)


def start_session(user_id: int) -> None:
    """A new session for ``user_id``: a fresh random id (no fixation), its SHA-256 stored
    with an expiry; the cookie carries the user id and the id."""
    session_id = secrets.token_urlsafe(32)
    created = now()
    expires = created + current_app.permanent_session_lifetime
    previous = session.get("sid")
    with services().ledger.store.engine.begin() as connection:
        connection.execute(_EXPIRED_SESSIONS, {"now": created})
        if isinstance(previous, str):  # this browser's earlier session, replaced
            connection.execute(_END_SESSION, {"sid_hash": _digest(previous)})
        connection.execute(_NEW_SESSION, {"id_hash": _digest(session_id), "user_id": user_id,
                                          "created_at": created, "expires_at": expires})  # fmt: skip
    _keep_preferences()
    session.permanent = True
    session["uid"] = user_id
    session["sid"] = session_id
    g.pop("actor", None)


def end_session() -> None:
    """Logs out: the session's row goes, so every copy of the cookie stops working."""
    session_id = session.get("sid")
    if isinstance(session_id, str):
        with services().ledger.store.engine.begin() as connection:
            connection.execute(_END_SESSION, {"sid_hash": _digest(session_id)})
    _keep_preferences()
    g.pop("actor", None)


# -- cookies and headers -------------------------------------------------------------------


def _with_token(request: Request) -> bool:
    return request.headers.get("Authorization", "")[:7].lower() == "bearer "


class _SessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request came over TLS. A call with an API
    token gets an empty session, never read from the cookie nor saved to it: the API never
    looks at the cookie (a browser's log-in does not authenticate it), and reading and signing
    it again cost on every call."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if _with_token(request):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if _with_token(request):
            return
        super().save_session(app, session, response)

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
