"""Errors: HTML pages for people, JSON ``{"error", "message"}`` for API callers.

Each :class:`LedgerError` subclass maps to one HTTP status."""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ledger.errors import (
    AccessRefused,
    ConfigurationError,
    ConflictError,
    ConsentRequestConflict,
    ContractRevert,
    Forbidden,
    InputError,
    LedgerError,
    NodeError,
    NotAllowed,
    NotFoundError,
    VerificationError,
)

from . import presentation
from .security import HOME, current_actor

STATUS: list[tuple[type[LedgerError], int, str]] = [
    (InputError, 400, "invalid-input"),
    (NotFoundError, 404, "not-found"),
    (AccessRefused, 403, "access-refused"),
    (NotAllowed, 403, "not-allowed"),
    (ConflictError, 409, "conflict"),
    (ContractRevert, 409, "refused-by-contract"),
    (NodeError, 503, "chain-unavailable"),
    (ConfigurationError, 503, "not-configured"),
    (VerificationError, 500, "verification-failed"),
    (Forbidden, 403, "forbidden"),  # webhooks (ledger.webhooks)
    (LedgerError, 500, "ledger-error"),
]


def status_of(exc: LedgerError) -> tuple[int, str]:
    for kind, status, code in STATUS:
        if isinstance(exc, kind):
            return status, code
    return 500, "ledger-error"


def wants_json() -> bool:
    return request.path.startswith("/api/")


def api_error(status: int, code: str, message: str, /, **extra: Any) -> Any:
    body = {"error": code, "message": message, **extra}
    return jsonify(body), status


def own_menu() -> list[tuple[str, Any]]:
    """The menu of the area the logged-in user's own role works in, or none (not logged in,
    not active, no role with pages, the chain cannot be asked). An error page shows this
    one, never the menu of the area the request went to: a 403 must not list the pages of
    the area that was refused, and a page linking where one may not go helps nobody."""
    try:
        actor = current_actor()
    except LedgerError:
        return []
    if actor is None or not actor.active or actor.role not in HOME:
        return []
    blueprint = current_app.blueprints.get(HOME[actor.role].split(".")[0])
    if blueprint is None:
        return []
    return list(getattr(importlib.import_module(blueprint.import_name), "NAV", []))


def error_page(status: int, message: str) -> Any:
    return render_template("error.html", status=status, message=message, nav=own_menu()), status


def codes_of(exc: LedgerError) -> dict[str, Any]:
    """What an error says in codes, for an API caller: the field and code of an
    :class:`InputError`, the reason and log entry of an :class:`AccessRefused`, their params."""
    extra: dict[str, Any] = {}
    if isinstance(exc, InputError):
        if exc.field:
            extra["field"] = exc.field
        extra["code"] = str(exc.code)
        if exc.params:
            extra["params"] = exc.params
    if isinstance(exc, AccessRefused):
        extra["reason"] = str(exc.reason)
        if exc.params:
            extra["params"] = exc.params
        if exc.seq is not None:
            extra["seq"] = exc.seq
    if isinstance(exc, (NotAllowed, ConsentRequestConflict)):  # consent requests (ledger.requests)
        extra["code"] = str(exc.code)
        if exc.params:
            extra["params"] = exc.params
    return extra


def _ledger_error(exc: LedgerError) -> Any:
    status, code = status_of(exc)
    if wants_json():
        return api_error(status, code, str(exc), **codes_of(exc))
    return error_page(status, presentation.error(exc))


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    if wants_json():
        return api_error(status, (exc.name or "error").lower().replace(" ", "-"), exc.description or "")
    messages = {
        403: _("You are not allowed to see this page with the role you act in."),
        404: _("There is no such page."),
        405: _("That cannot be done this way."),
        413: _("What you sent is too large."),
        429: _("Too many attempts. Wait a few minutes and try again."),
    }
    return error_page(status, str(messages.get(status, exc.description)))


def _csrf_error(exc: CSRFError) -> Any:
    message = _("The form expired or did not come from this site. Go back, reload the page and try again.")
    return error_page(400, message)


def init_app(app: Flask) -> None:
    app.register_error_handler(LedgerError, _ledger_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
