"""Token authentication for the JSON API: ``Authorization: Bearer glt_…``.

Only a token's SHA-256 is stored (:func:`webapp.users.token_hash`), in a sealed row
(:data:`ledger.seal.SEALED`): a row changed in the database (its account, organisation,
role, or a revocation undone) has no valid seal and is refused like an unknown token. A
token acts for one account in the organisation and role that account had on chain when the
token was made; on every request the chain's membership NOW (``ledger.view``, never the
``members`` table) must still match, so a suspended, revoked or moved member's tokens stop
working at once. The session cookie is never looked at: a browser's log-in does not
authenticate the API.

One query per request (the token's row; the chain's answers are remembered by the view);
``last_used_at`` is written at most once a minute per token, so reads do not turn into writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, NamedTuple, cast

from flask import current_app, g, request
from sqlalchemy import Table, bindparam, update
from sqlalchemy.exc import SQLAlchemyError

from ledger.seal import row_sealed
from ledger.store.models import ApiToken

from ..services import services
from ..users import TOKEN_PREFIX, token_hash
from .models import ErrorCode, error_answer

#: Seconds between two writes of a token's ``last_used_at``.
TOUCH_EVERY = 60
MAX_TOKEN = 200
REALM = "gridledger"

_TOKENS = cast(Table, ApiToken.__table__)
_t = _TOKENS.c
# On the driver itself (``Store.driver``): one statement on every call, where SQLAlchemy's
# execution cost several times the statement. ``revoked_at`` is read as stored: its seal
# covers only whether it is set, and an edited value must not break the read.
_LOOKUP = (
    "SELECT id, token_hash, name, address, org_id, role, revoked_at, last_used_at, seal "
    f"FROM {_TOKENS.name} WHERE token_hash = ?"
)


class _TokenRow(NamedTuple):
    id: int
    token_hash: str
    name: str
    address: str
    org_id: str
    role: str
    revoked_at: Any
    last_used_at: Any
    seal: Any


_TOUCH = (
    update(_TOKENS)
    .where(_t.id == bindparam("token_id"))
    .where((_t.last_used_at.is_(None)) | (_t.last_used_at < bindparam("stale")))
    .values(last_used_at=bindparam("now"))
)
#: Who each group of endpoints is for, as said in error messages.
ROLE_PLURALS = {
    "department-officer": "department officers",
    "resident": "residents",
    "office-admin": "office administrators",
}


@dataclass(frozen=True)
class Caller:
    """The system calling, as its token and the chain have it now."""

    token_id: int
    token_name: str
    address: str
    org_id: str
    role: str
    org_kind: str  # office | committee | department
    department_kind: str | None
    office_id: str  # the office over the organisation (itself for an office)


def caller() -> Caller:
    found: Caller = g.api_caller
    return found


def _unauthorised(code: ErrorCode, message: str) -> Any:
    body, status = error_answer(401, code, message)
    challenge = f'Bearer realm="{REALM}"'
    if code != ErrorCode.UNAUTHORIZED:
        challenge += ', error="invalid_token"'
    body.headers["WWW-Authenticate"] = challenge
    return body, status


def _aware(moment: Any) -> datetime | None:
    """A stored moment as an aware datetime: PostgreSQL hands back one; SQLite's driver the text
    SQLAlchemy wrote, naive, in UTC. Anything else is taken as never (the use is written again)."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return None
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def authenticate(*roles: str) -> Any:
    """Sets ``g.api_caller``; returns an error response (401/403) when the request may not go on."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    token = token.strip()
    if not header:
        return _unauthorised(ErrorCode.UNAUTHORIZED, "send an API token: 'Authorization: Bearer glt_…' "
                             "(make one with 'gridledger token create')")  # fmt: skip
    if scheme.lower() != "bearer" or not token:
        return _unauthorised(ErrorCode.INVALID_TOKEN, "the Authorization header must be 'Bearer <token>'")
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN:
        return _unauthorised(ErrorCode.INVALID_TOKEN, "this is not a gridledger API token (they start with 'glt_')")
    ledger = services().ledger
    with ledger.store.driver() as connection:
        cursor = connection.cursor()
        cursor.execute(ledger.store.driver_sql(_LOOKUP), (token_hash(token),))
        found = cursor.fetchone()
        cursor.close()
    row = None if found is None else _TokenRow(*found)
    if row is None:
        return _unauthorised(ErrorCode.INVALID_TOKEN, "unknown API token")
    if not row_sealed(ledger.sealer, "api_tokens", row):
        current_app.logger.warning(
            "API token #%s (%r) carries no valid seal: it was changed in the database behind the installation's "
            "back; refused. Run 'gridledger verify all'.", row.id, row.name,
        )  # fmt: skip
        return _unauthorised(ErrorCode.INVALID_TOKEN, "unknown API token")
    if row.revoked_at is not None:
        return _unauthorised(ErrorCode.INVALID_TOKEN, "this API token was revoked; ask for a new one")
    member = ledger.view.member(row.address)
    changed = None
    if member is None:
        changed = "the account is no longer a member of any organisation"
    elif not member.active:
        changed = f"the account is {member.status}"
    elif member.org_id != row.org_id:
        changed = "the account moved to another organisation"
    elif member.role != row.role:
        changed = "the account's role changed"
    org = None if changed else ledger.view.organisation(row.org_id)
    if org is None:  # a member's organisation is always on chain: only a change gets here
        return error_answer(403, ErrorCode.MEMBERSHIP_CHANGED, f"the token's membership changed: {changed}; "
                         "the token no longer works")  # fmt: skip
    if roles and row.role not in roles:
        wanted = " or ".join(ROLE_PLURALS.get(r, r) for r in roles)
        return error_answer(403, ErrorCode.FORBIDDEN, f"this endpoint is for {wanted}; this token's role is {row.role}")
    g.api_caller = Caller(row.id, row.name, row.address, row.org_id, row.role, org.kind, org.department_kind, org.office)
    _touch(row.id, _aware(row.last_used_at))
    return None


def _touch(token_id: int, last_used: datetime | None) -> None:
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=TOUCH_EVERY)
    if last_used is not None and last_used >= stale:
        return
    try:
        with services().ledger.store.engine.begin() as connection:
            # The condition again in SQL: workers racing on the same token write once.
            connection.execute(_TOUCH, {"token_id": token_id, "stale": stale, "now": now})
    except SQLAlchemyError as exc:  # a busy database must not fail the call itself
        current_app.logger.warning("could not record the use of API token #%s: %s", token_id, exc)


def token_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view needs a valid token whose account still holds its membership; with
    ``roles``, acting in one of them."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            refused = authenticate(*roles)
            return refused if refused is not None else view(*args, **kwargs)

        wrapped.api_roles = roles  # type: ignore[attr-defined]  # read by the OpenAPI tests
        return wrapped

    return decorate
