"""``GET /metrics`` for a Prometheus server, and for nobody else.

The figures say how the office's installation is doing (how far behind anchoring is,
whether reads are closed, whether the last integrity check was clean); they hold no
personal data, but they are not for the public either. A scrape is answered when

* it comes straight from this machine (a loopback address, with no proxy's forwarding
  header: a request nginx passed on from outside also arrives from 127.0.0.1), unless
  ``GRIDLEDGER_METRICS_LOOPBACK=0``; or
* it carries ``Authorization: Bearer <GRIDLEDGER_METRICS_TOKEN>``.

Anything else gets 401 (a token is configured) or 403 (none is), in plain text. No
session, cookie or CSRF token is involved.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from flask import Blueprint, Response, request

from ledger.errors import NodeError
from ledger.metrics import collect

from ..services import services
from ..throttle import now
from .exposition import CONTENT_TYPE, families, render, unreachable

bp = Blueprint("metrics", __name__)

#: Headers a reverse proxy adds: a request carrying one did not come straight from this machine.
FORWARDING = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


@bp.get("/metrics")
def metrics() -> Any:
    refused = _refusal()
    if refused is not None:
        return refused
    try:
        ledger = services().ledger
    except NodeError:  # the node was down when this process first needed it
        return _text(render(unreachable()))
    figures = collect(ledger, at_ms=int(now().timestamp() * 1000))
    return _text(render(families(figures)))


def _text(body: str, status: int = 200, **headers: str) -> Response:
    return Response(body, status=status, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store", **headers})


def _refusal() -> Response | None:
    settings = services().settings
    if settings.metrics_loopback and _from_this_machine():
        return None
    token = settings.metrics_token
    if token is not None:
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
            return None
        return _text("a bearer token is needed: Authorization: Bearer <GRIDLEDGER_METRICS_TOKEN>\n", 401,
                     **{"WWW-Authenticate": 'Bearer realm="gridledger metrics"'})  # fmt: skip
    return _text("/metrics answers this machine only; set GRIDLEDGER_METRICS_TOKEN to scrape from elsewhere\n", 403)


def _from_this_machine() -> bool:
    if any(name in request.headers for name in FORWARDING):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
