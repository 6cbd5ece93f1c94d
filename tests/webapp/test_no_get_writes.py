"""No GET writes, anywhere in the app: for every role and every GET route of every blueprint
(read from ``app.url_map``, path parameters filled with real ids of a small world and with
unknown and malformed ones), the request leaves the database as it was: the same rows in every
table, compared by count and by a digest of every column but a few bookkeeping ones.

Showing something is never a change: a read of content that must be logged is an explicit
POST (the committee's "show the content", "open the form", "show the changes"; the
department's "open"), so a crawler, a prefetch or a reload never writes in anyone's name."""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from ledger.anchoring import Anchorer
from ledger.categories import Category
from ledger.consent import LegalBasis, Purpose
from ledger.membership import Role
from tests.conftest import World
from webapp.services import Services
from webapp.users import create_token

from .conftest import HEALTH, YEAR, Auth

pytestmark = pytest.mark.chain

#: Every role of the app (the web users of tests/webapp/conftest.py).
ROLES = ["resident", "member1", "grid", "officer", "police", "admin", "other-admin", "suspended", "revoked", "stranger"]

#: Bookkeeping a GET may change, and why. Nothing else: every other column of every table,
#: domain or cache, must read the same after a GET.
#: - ``api_tokens.last_used_at``: when a token was last used, written at most once a minute
#:   (webapp/api/auth.py). A note about the caller, read by no decision and by no check.
#: - ``index_cursors`` (block number and hash) and ``seen_blocks``: the indexer's place in the
#:   chain. A page that catches the cache up with the chain writes only what the chain already
#:   says; blocks are mined every 0.2 s here, empty ones too, so the place moves on by itself.
#:   (Nothing is sent to the chain while the pages are asked, so no indexed row may change.)
BOOKKEEPING: dict[str, set[str] | None] = {
    "api_tokens": {"last_used_at"},
    "index_cursors": {"block_number", "block_hash"},
    "seen_blocks": None,  # the whole table
}

OTHER_RESIDENT = "cmte-b-resident"
UNKNOWN_ID = "0x" + "ab" * 32
UNKNOWN_ADDRESS = "0x" + "12" * 20


def digest(engine: Engine) -> dict[str, tuple[int, str]]:
    """Each table: (rows, SHA-256 over its rows in a fixed order, bookkeeping left out)."""
    found: dict[str, tuple[int, str]] = {}
    with engine.connect() as connection:
        for table in sorted(inspect(connection).get_table_names()):
            skipped = BOOKKEEPING.get(table, set())
            if skipped is None:
                continue
            columns = [c["name"] for c in inspect(connection).get_columns(table) if c["name"] not in skipped]
            rows = connection.execute(text(f'SELECT {", ".join(columns)} FROM "{table}"')).all()
            lines = sorted(repr(tuple(row)) for row in rows)
            found[table] = (len(rows), hashlib.sha256("\n".join(lines).encode()).hexdigest())
    return found


def changed(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> list[str]:
    return [
        f"{table}: {before.get(table, (0, ''))[0]} -> {after.get(table, (0, ''))[0]} rows"
        + ("" if before.get(table, (0, ""))[0] != after.get(table, (0, ""))[0] else " (same count, other content)")
        for table in sorted(set(before) | set(after))
        if before.get(table) != after.get(table)
    ]


@dataclass
class Ids:
    """Real ids of the small world, by the name of the path parameter they fill."""

    record: str
    other_record: str
    grant: str
    read: int
    emergency: int
    unanchored: int
    resident: str
    member: str
    other_resident: str
    request: str = ""  # a resident's rights request (ledger.rights)
    consent_request: str = ""  # a consent request waiting for the resident's answer


def small_world(svc: Services) -> Ids:
    """A certified record with an update waiting for signatures, a record of the other
    office's committee, a grant, a read under it, an emergency read waiting for review,
    a checkpoint, and a read after it."""
    ledger = svc.ledger
    rid, _ = svc.records.add(actor=World.grid_worker, subject=World.resident, category=Category.HEALTH, content=HEALTH)
    svc.records.sign(rid, signer=World.members[0])
    svc.records.sign(rid, signer=World.members[1])
    svc.records.update(rid, {**HEALTH, "family_doctor": "周医生"}, actor=World.grid_worker)
    svc.orgs.add_member(OTHER_RESIDENT, World.other_committee, Role.RESIDENT, actor=World.other_member)
    other, _ = svc.records.add(actor=World.other_member, subject=OTHER_RESIDENT, category=Category.HEALTH, content=HEALTH)
    gid, _ = svc.consent.issue(
        resident=World.resident, department=World.department, categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + YEAR,
    )  # fmt: skip
    read = svc.access.read(rid, accessor=World.officer).seq
    emergency = svc.access.read(rid, accessor=World.officer, justification="急救 ambulance").seq
    Anchorer(ledger, ledger.account(ledger.settings.anchorer)).run_until_anchored()
    unanchored = svc.access.read(rid, accessor=World.members[0], basis="duty").seq
    ledger.indexer().run_once()
    request = svc.rights.object_to(read, comment="我没想到", actor=World.resident).request_id
    consent_request = svc.requests.ask(World.officer, World.resident, [Category.HEALTH], Purpose.HEALTH_MANAGEMENT,
                               LegalBasis.CONSENT, int(time.time()) + YEAR, "慢病随访")  # fmt: skip
    return Ids(
        rid, other, gid, read, emergency, unanchored, ledger.address_of(World.resident),
        ledger.address_of(World.members[0]), ledger.address_of(OTHER_RESIDENT), request,
        consent_request,
    )  # fmt: skip


def fillings(name: str, ids: Ids) -> list[str]:
    """Values for a path parameter: real ones of the world, then unknown and malformed ones."""
    found = {
        "record_id": [ids.record, ids.other_record, UNKNOWN_ID, "not-an-id"],
        "grant_id": [ids.grant, UNKNOWN_ID, "not-an-id"],
        "grantId": [ids.grant, UNKNOWN_ID, "not-an-id"],  # the API's name for it
        "seq": [str(ids.read), str(ids.emergency), str(ids.unanchored), "999999", "99999999999999999999999"],
        "code": [World.committee, World.department, World.office, World.other_committee, "no-such-organisation"],
        "address": [ids.resident, ids.member, ids.other_resident, UNKNOWN_ADDRESS, "not-an-address"],
        "kind": ["csv", "pdf", "bundle", "nope"],
        "name": ["pico.css", "nope"],
        "filename": ["app.css"],
        "requestId": [ids.request, ids.consent_request, UNKNOWN_ID, "not-an-id"],  # rights and consent requests
        "subscriptionId": ["whs_" + "0" * 32, "not-an-id"],  # webhooks: unknown and malformed
    }
    assert name in found, f"a GET route has a path parameter {name!r} that this test does not fill: add it"
    return found[name]


def queries(endpoint: str, ids: Ids) -> list[str]:
    """Query strings that make a page do its work (a scope to audit or export, a filter)."""
    scope = f"from=2020-01-01&to=2099-12-31&department={World.department}"
    extra = {
        "committee.new_record": [f"resident={ids.resident}&category=health", "chosen=1&resident=&category="],
        "committee.queue": ["page=2"],
        "committee.history": ["page=2"],
        "department.record": [f"grant={ids.grant}", "basis=emergency"],
        "department.grants": ["show=all"],
        "resident.history": [f"department={World.department}&category=health", f"before={ids.unanchored}"],
        "office.home": ["days=30"],
        "office.audit": [scope, f"{scope}&integrity=y", f"resident={ids.resident}"],
        "office.export": [scope],
        "office.download": [scope, f"{scope}&integrity=y", f"resident={ids.resident}"],
        "office.members": ["q=cmte"],
        "office.grants": ["status=all"],
        "api.audit_findings": [scope, f"resident={ids.resident}"],
        "api.audit_bundle": [scope, f"resident={ids.resident}"],
        "api.department_accesses": ["outcome=allowed&category=health", f"before={ids.emergency}"],
        "api.resident_accesses": ["limit=5", f"department={World.department}&category=health"],
        "api.department_grants": ["status=all"],
    }
    return ["", *extra.get(endpoint, [])]


def get_urls(app: Flask, ids: Ids) -> Iterator[tuple[str, str]]:
    """(endpoint, URL) for every GET route, every filling of its path and each query."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in (rule.methods or set()):
            continue
        names = sorted(rule.arguments)
        for values in itertools.product(*(fillings(n, ids) for n in names)):
            path = rule.rule
            for name, value in zip(names, values, strict=True):
                path = path.replace(f"<{name}>", value)
                path = path.replace(f"<int:{name}>", value).replace(f"<path:{name}>", value)
            for query in queries(rule.endpoint, ids):
                yield rule.endpoint, path + (f"?{query}" if query else "")


def tokens(svc: Services) -> dict[str, str]:
    """An API token for each role that can hold one (an active member); the others send a
    made-up one."""
    found = {}
    for username in ROLES:
        label = {
            "resident": World.resident, "member1": World.members[0], "grid": World.grid_worker,
            "officer": World.officer, "police": World.police_officer, "admin": World.admin,
            "other-admin": World.other_admin,
        }.get(username)  # fmt: skip
        found[username] = (
            create_token(svc.ledger, label, f"system of {username}").token if label else "glt_" + "x" * 43
        )
    return found


def test_no_get_route_writes_for_any_role(app: Flask, client: FlaskClient, auth: Auth, svc: Services) -> None:
    ids = small_world(svc)
    held = tokens(svc)
    urls = list(get_urls(app, ids))
    endpoints = {endpoint for endpoint, _url in urls}
    assert {"committee.edit_record", "committee.queue", "office.download", "api.audit_bundle"} <= endpoints
    engine = svc.ledger.store.engine
    writes: list[str] = []
    statuses: dict[int, int] = {}
    for username in [None, *ROLES]:
        if username is not None:
            auth.login_as(username)
        headers: dict[str, Any] = {"Accept-Language": "en"}
        if username is not None:
            headers["Authorization"] = f"Bearer {held[username]}"
        # One digest around the role's whole crawl; only when it changed, each GET again, one
        # digest around each, to name the ones that write (a write is a write the second time too).
        before = digest(engine)
        for _endpoint, url in urls:
            response = client.get(url, headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code != 500, (username, url)
        if digest(engine) != before:
            for _endpoint, url in urls:
                before = digest(engine)
                response = client.get(url, headers=headers)
                after = digest(engine)
                if after != before:
                    writes.append(f"{username} GET {url} [{response.status_code}]: {'; '.join(changed(before, after))}")
            if not writes:
                writes.append(f"{username}: the crawl changed the database, no single GET did when asked again")
        if username is not None:
            auth.logout()
    assert not writes, "GET requests changed the database:\n" + "\n".join(writes)
    assert statuses.get(200, 0) > 100  # the pages did their work, not only refusals
